"""Plan a workspace end to end: snapshots → scans → image facts → ``make_plan``.

The one entry point for ``envctl plan`` and for ``envctl up``'s plan step:
``plan_workspace(config, root, config_path, runner, environ, base=..., changed_only=..., selected=...)``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

from envctl.adapters.process import SubprocessRunner
from envctl.config import EnvConfig
from envctl.errors import InputError
from envctl.inputs.localimages import docker_cli, local_image_refs
from envctl.inputs.scan import chart_changed, open_snapshots, scan_services, services_at
from envctl.plan import ImageFacts, Plan, make_plan

__all__ = ["check_selection", "plan_workspace"]


def check_selection(config: EnvConfig, selected: tuple[str, ...] | None) -> None:
    """InputError naming the unknown service names and listing the known ones."""
    if selected is None:
        return
    unknown = [name for name in selected if name not in config.services]
    if unknown:
        known = ", ".join(sorted(config.services)) or "none"
        msg = f"unknown service(s) {', '.join(unknown)} in --services (known: {known})"
        raise InputError(msg, hint="use the service names under `services:` in envctl.yaml")


def plan_workspace(
    config: EnvConfig,
    root: Path,
    config_path: Path,
    runner: SubprocessRunner,
    environ: Mapping[str, str],
    *,
    base: str | None = None,
    changed_only: bool = False,
    selected: tuple[str, ...] | None = None,
    facts: ImageFacts | None = None,
) -> Plan:
    """The plan for ``config``'s services. ``facts`` defaults to one ``docker image ls`` call."""
    check_selection(config, selected)
    looked_up: list[tuple[frozenset[str] | None, str]] = []
    lookup = None
    if facts is None:  # ask Docker while git works: the two are independent processes
        lookup = threading.Thread(
            target=lambda: looked_up.append(local_image_refs(runner, docker_cli(environ))), daemon=True
        )
        lookup.start()
    current, then = open_snapshots(runner, root, base)
    scan_now = scan_services(config.services, current, strict=True)
    scan_then = None
    chart = False
    if then is not None:
        rel_config = config_path.resolve().relative_to(root.resolve()).as_posix()
        scan_then = scan_services(services_at(then, rel_config, config), then, strict=False)
        chart = chart_changed(current, then, config.release.chart, config.release.values)
    if lookup is not None:
        lookup.join()
        local, note = looked_up[0] if looked_up else (None, "the local image lookup failed")
        facts = ImageFacts(local=local, note=note)
    return make_plan(
        scan_now,
        images={name: spec.image for name, spec in config.services.items()},
        third_party=config.images,
        base=scan_then,
        base_ref=base,
        facts=facts,
        changed_only=changed_only,
        selected=selected,
        chart_changed=chart,
    )
