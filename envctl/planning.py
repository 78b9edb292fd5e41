"""Plan a workspace end to end: gather the facts, then decide (``plan.make_plan``, pure).

The facts the plan needs are gathered here, before any decision: the workspace's files (git
snapshots, now and at ``--base``), the images the local Docker store holds (one ``docker image
ls``, asked while git works) and, with a cache registry, which fingerprint tags it holds (one tag
list per image repository). So the plan can say ``pull`` and the build phase only obeys.

The one entry point for ``envctl plan``, ``envctl status`` and ``envctl up``'s plan step.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.adapters.docker import local_image_refs
from envctl.adapters.process import SubprocessRunner
from envctl.config import EnvConfig
from envctl.errors import EnvctlError, InputError
from envctl.facts_cache import FactsCache
from envctl.inputs.gitstate import git_prefix, list_worktree, snapshot_filesystem, snapshot_worktree
from envctl.inputs.scan import Scan, chart_changed, config_at, open_snapshots, scan_services
from envctl.plan import ImageFacts, Plan, make_plan, tag_for
from envctl.scan_cache import changed_identities, keepable, load_scan, scan_key, store_scan

if TYPE_CHECKING:
    from envctl.adapters.registry import RegistryClient  # urllib.request, http, ssl: only with a cache registry

__all__ = ["check_selection", "plan_workspace", "registry_tags"]

LocalImages = tuple[frozenset[str] | None, str]  # (refs, why not) as adapters.docker answers


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
    *,
    docker_cli: str = "docker",
    cache_registry: str | None = None,
    base: str | None = None,
    changed_only: bool = False,
    selected: tuple[str, ...] | None = None,
    facts: ImageFacts | None = None,
    registry_serves_cluster: bool = False,
    scan_cache: FactsCache | None = None,
) -> Plan:
    """The plan for ``config``'s services; ``facts`` (what exists already) are looked up unless given.

    ``registry_serves_cluster``: ``cache_registry`` is the registry the cluster pulls from, so an
    image it holds is skipped rather than pulled. ``scan_cache``: keep the working tree's scan
    there across runs (scan_cache.py; not with ``base``, which compares two snapshots)."""
    check_selection(config, selected)
    looked_up: list[LocalImages] = []
    lookup = None
    if facts is None:  # ask Docker while git works: the two are independent processes
        lookup = threading.Thread(target=lambda: looked_up.append(local_image_refs(runner, docker_cli)), daemon=True)
        lookup.start()
    scan_then = None
    chart = False
    secret_ids = tuple(sorted(config.build.secrets))
    if base is None and scan_cache is not None:
        scan_now = _scan_worktree(config, root, runner, scan_cache, secret_ids)
    else:
        current, then = open_snapshots(runner, root, base)
        scan_now = scan_services(config.services, current, strict=True, secret_ids=secret_ids)
        if then is not None:
            rel_config = config_path.resolve().relative_to(root.resolve()).as_posix()
            config_then = config_at(then, rel_config, config)
            scan_then = scan_services(
                config_then.services, then, strict=False, secret_ids=tuple(sorted(config_then.build.secrets))
            )
            chart = chart_changed(current, then, config.release.chart, config.release.values)
    images = {name: spec.image for name, spec in config.services.items()}
    if facts is None:
        assert lookup is not None  # noqa: S101 - started above whenever facts were not given
        lookup.join()
        local, note = looked_up[0] if looked_up else (None, "the local image lookup failed")
        cached: frozenset[str] | None = None
        registry_note = ""
        if cache_registry is not None:
            from envctl.adapters.registry import RegistryClient

            cached, registry_note = registry_tags(RegistryClient(cache_registry), _wanted_refs(scan_now, images, local))
        facts = ImageFacts(local=local, registry=cached, note=note, registry_note=registry_note,
                           registry_serves_cluster=registry_serves_cluster)  # fmt: skip
    return make_plan(
        scan_now,
        images=images,
        third_party=config.images,
        base=scan_then,
        base_ref=base,
        facts=facts,
        changed_only=changed_only,
        selected=selected,
        chart_changed=chart,
        public_args=frozenset(config.build.public_args),
    )


def _scan_worktree(
    config: EnvConfig, root: Path, runner: SubprocessRunner, cache: FactsCache, secret_ids: tuple[str, ...]
) -> Scan:
    """The working tree's scan, kept across runs under a key of everything it reads (scan_cache.py)."""
    prefix = git_prefix(runner, root)
    if prefix is None:  # not in git: no listing to key a kept scan on
        return scan_services(config.services, snapshot_filesystem(root), strict=True, secret_ids=secret_ids)
    listing = list_worktree(runner, root, prefix)
    # envctl's own state folder (the cache's parent), workspace-relative: left out of the key
    state = cache.folder.parent.resolve().relative_to(root.resolve()).as_posix() + "/"
    identities = changed_identities(listing, root, state)  # read once: the key and the scan see the same files
    key = scan_key(config.services, listing, identities, state, secret_ids)
    kept = load_scan(cache, key, config.services, secret_ids)
    if kept is not None:
        return kept
    current = snapshot_worktree(runner, root, prefix, listing, identities=identities)
    listed = len(current.paths)
    scan = scan_services(config.services, current, strict=True, secret_ids=secret_ids)
    if len(current.paths) == listed and keepable(scan, state):  # it read no file git ignores (in no listing)
        store_scan(cache, key, scan)
    return scan


def _wanted_refs(scan: Scan, images: Mapping[str, str], local: frozenset[str] | None) -> list[str]:
    """The fingerprint refs the local store lacks (or may lack): the ones a cache could supply."""
    refs = [f"{images[name]}:{tag_for(fingerprint)}" for name, fingerprint in scan.fingerprints.items()]
    return [ref for ref in refs if local is None or ref not in local]


def registry_tags(registry: RegistryClient, refs: list[str]) -> tuple[frozenset[str] | None, str]:
    """``(refs the registry holds, note)``: one tag list per repository; ``(None, why)`` when it does not answer."""
    by_repository: dict[str, set[str]] = {}
    for ref in refs:
        repository, _, tag = ref.rpartition(":")
        by_repository.setdefault(repository, set()).add(tag)
    found: set[str] = set()
    try:
        for repository, tags in sorted(by_repository.items()):
            held = set(registry.tags(repository))
            found.update(f"{repository}:{tag}" for tag in tags & held)
    except EnvctlError as exc:
        return None, f"cache registry {registry.address} not usable: {exc.message}"
    return frozenset(found), ""
