"""Scan a workspace: snapshots (working tree, ``--base REF``) → every service's inputs and fingerprint.

This is the I/O half of planning (git through the runner, files on disk); ``plan.make_plan`` is
the pure half that turns two scans and the image facts into actions and reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from envctl.adapters.process import SubprocessRunner
from envctl.config import EnvConfig, ServiceSpec
from envctl.errors import InputError
from envctl.inputs.context import PathIndex, join
from envctl.inputs.fingerprint import ServiceInputs, SourceResolver, collect_inputs, compute_fingerprints
from envctl.inputs.gitstate import (
    Snapshot,
    git_prefix,
    snapshot_at_ref,
    snapshot_filesystem,
    snapshot_worktree,
)

__all__ = ["Scan", "chart_changed", "config_at", "open_snapshots", "scan_services"]


@dataclass(frozen=True)
class Scan:
    """Every service's inputs and fingerprint at one snapshot.

    ``unbuildable`` holds services whose inputs could not be read there (only tolerated for the
    ``--base`` side: a service broken at REF and fixed now has simply changed).
    """

    label: str
    inputs: Mapping[str, ServiceInputs]
    fingerprints: Mapping[str, str]
    unbuildable: Mapping[str, str]


def open_snapshots(runner: SubprocessRunner, root: Path, base: str | None) -> tuple[Snapshot, Snapshot | None]:
    """The working tree, and the tree at ``base`` when given (InputError outside git)."""
    prefix = git_prefix(runner, root)
    if prefix is None:
        if base is not None:
            msg = f"--base {base!r} needs a git repository, and {root} is not in one"
            raise InputError(msg, hint="drop --base (the plan then compares with the images built here)")
        return snapshot_filesystem(root), None
    current = snapshot_worktree(runner, root, prefix)
    return current, (snapshot_at_ref(runner, root, base) if base is not None else None)


def config_at(snapshot: Snapshot, config_path: str, fallback: EnvConfig) -> EnvConfig:
    """The config at ``snapshot`` (build args and secrets may differ there); the current config
    when the file is missing or invalid at that point."""
    text = snapshot.text(config_path)
    if text is None:
        return fallback
    try:
        return EnvConfig.model_validate(yaml.safe_load(text))
    except Exception:  # noqa: BLE001 - an old config that no longer validates: compare with today's
        return fallback


def scan_services(
    services: Mapping[str, ServiceSpec], snapshot: Snapshot, *, strict: bool, secret_ids: tuple[str, ...] = ()
) -> Scan:
    """Inputs and fingerprints of ``services``; with ``strict`` the first bad input is raised.
    ``secret_ids``: the ids of ``build.secrets`` (every build gets them; only ids are hashed)."""
    resolver = SourceResolver(snapshot)
    by_repo = {spec.image: name for name, spec in services.items()}
    inputs: dict[str, ServiceInputs] = {}
    unbuildable: dict[str, str] = {}
    for name, spec in services.items():
        try:
            inputs[name] = replace(collect_inputs(name, spec, resolver, by_repo), secret_ids=secret_ids)
        except InputError as exc:
            if strict:
                raise
            unbuildable[name] = exc.message
    # a service whose dependency is unbuildable cannot be fingerprinted either
    for name in list(inputs):
        if any(dep in unbuildable for dep in inputs[name].depends_on):
            unbuildable[name] = f"depends on {', '.join(d for d in inputs[name].depends_on if d in unbuildable)}"
            del inputs[name]
    return Scan(snapshot.label, inputs, compute_fingerprints(inputs), unbuildable)


def chart_changed(current: Snapshot, base: Snapshot, chart: str, values: tuple[str, ...]) -> bool:
    """Did any file of the chart folder or any values file differ between the two snapshots?"""
    chart = join("", chart)
    index_now, index_then = PathIndex(current.paths), PathIndex(base.paths)
    now = set(index_now.under(chart)) | {v for v in (join("", p) for p in values) if v in current}
    then = set(index_then.under(chart)) | {v for v in (join("", p) for p in values) if v in base}
    if now != then:
        return True
    return any(current.blob(path) != base.blob(path) for path in now)
