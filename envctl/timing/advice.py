"""Bottleneck advice for one run: every sentence carries the figures it rests on.

The figures are ``timing/analysis.py``'s (critical path, its share per phase, time per tool). Span
attributes read here: load spans ``load_mode`` ("import"/"registry"), ``bytes_moved``, ``bytes_new``
(bytes the node lacked, if the loader knows); build spans ``cache_hit`` (bool) or
``cache_hits``/``cache_steps``; cluster spans ``action`` ("created"/"reused"/"started"...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from envctl.timing.analysis import PHASE_LABEL, RunAnalysis, phase_seconds
from envctl.timing.history import RunRecord

__all__ = ["Advice", "advise"]

# When advice speaks up: a phase owning this share of the critical path (and at least a second), loads
# owning this share, envctl's own overhead over both a floor and a share of the run.
_DOMINANT_SHARE, _DOMINANT_MIN_SECONDS = 0.4, 1.0
_LOAD_SHARE = 0.25
_OVERHEAD_MIN_SECONDS, _OVERHEAD_SHARE = 2.0, 0.1


@dataclass(frozen=True)
class Advice:
    topic: str  # critical-path / load / build-cache / cluster / overhead
    text: str


def advise(run: RunRecord, analysis: RunAnalysis, history: Sequence[RunRecord] = ()) -> list[Advice]:
    """Bottleneck advice for ``run``; every sentence carries the figures it rests on."""
    advice: list[Advice] = []
    wall = analysis.wall_seconds or 1e-9
    share = {kind: secs / wall for kind, secs in analysis.critical_by_phase}
    if analysis.critical_by_phase:
        top, secs = analysis.critical_by_phase[0]
        if share[top] >= _DOMINANT_SHARE and secs >= _DOMINANT_MIN_SECONDS:
            advice.append(
                Advice(
                    "critical-path",
                    f"{PHASE_LABEL.get(top, top)} is {share[top]:.0%} of the critical path "
                    f"({secs:.1f} s of {wall:.1f} s)",
                )
            )
    loads = [s for s in run.spans if s.kind == "load" and s.outcome == "ok"]
    imports = [s for s in loads if s.attrs.get("load_mode") == "import" and int(s.attrs.get("bytes_moved") or 0) > 0]
    if imports:
        moved = sum(int(s.attrs["bytes_moved"]) for s in imports)
        known = [s for s in imports if s.attrs.get("bytes_new") is not None]
        load_secs = sum(s.seconds for s in imports)
        if known:
            moved_known = sum(int(s.attrs["bytes_moved"]) for s in known)
            new = sum(int(s.attrs["bytes_new"]) for s in known)
            mostly_old = sum(1 for s in known if int(s.attrs["bytes_new"]) < 0.5 * int(s.attrs["bytes_moved"]))
            if moved_known and new < moved_known:
                saved = 1 - new / moved_known
                advice.append(
                    Advice(
                        "load",
                        f"{mostly_old} of {len(loads)} loads were imports of mostly unchanged layers "
                        f"({_mb(moved_known)} moved, {_mb(new)} new) — registry load mode would move "
                        f"{saved:.0%} fewer bytes "
                        "(set `load: {mode: registry}` in envctl.yaml)",
                    )
                )
        elif share.get("load", 0) >= _LOAD_SHARE:
            advice.append(
                Advice(
                    "load",
                    f"image load is {share['load']:.0%} of the critical path: {len(imports)} import(s) "
                    f"moved {_mb(moved)} "
                    f"in {load_secs:.1f} s — registry load mode pushes only the layers the registry lacks",
                )
            )
    builds = [s for s in run.spans if s.kind == "build" and s.outcome == "ok"]
    cold = [
        s
        for s in builds
        if s.attrs.get("cache_hit") is False or (s.attrs.get("cache_steps") and not s.attrs.get("cache_hits"))
    ]
    if cold:
        secs = sum(s.seconds for s in cold)
        advice.append(
            Advice(
                "build-cache",
                f"{len(cold)} of {len(builds)} builds had no cache hits ({secs:.1f} s of build time) — keep a BuildKit "
                "layer cache between runs (`build.cache_from`/`cache_to`: type=gha in CI, a local directory "
                "on a laptop)",
            )
        )
    created = [
        s
        for s in run.spans
        if s.kind == "cluster" and str(s.attrs.get("action", "")).startswith(("create", "recreate"))
    ]
    if created:
        secs = phase_seconds(run.spans, "cluster")  # the whole create (list, create, kubeconfig, readiness)
        runs_created = sum(
            1
            for r in history
            if any(
                s.kind == "cluster" and str(s.attrs.get("action", "")).startswith(("create", "recreate"))
                for s in r.spans
            )
        )
        often = f"; created in {runs_created} of the last {len(history)} runs" if len(history) > 1 else ""
        advice.append(
            Advice(
                "cluster",
                f"the cluster was created this run ({secs:.1f} s, {share.get('cluster', 0):.0%} of the critical "
                f"path{often}) — "
                "keep it between runs (`envctl down` without --delete-cluster) so `envctl up` reuses it",
            )
        )
    overhead = dict(analysis.tools).get("envctl overhead", 0.0)
    if overhead >= _OVERHEAD_MIN_SECONDS and overhead / wall >= _OVERHEAD_SHARE:
        advice.append(
            Advice("overhead", f"envctl's own overhead is {overhead:.1f} s ({overhead / wall:.0%} of the run)")
        )
    return advice


def _mb(count: int) -> str:
    return f"{count / 1e6:.1f} MB"
