"""What the spans say: critical path, time per tool, statistics over runs, regressions.

Definitions (the figures `envctl timings` shows are computed exactly as written here):

- **Critical path** of a run: start at the span that ends last (ties: the longer one). Its
  predecessor is, among the spans it declared as dependencies (``attrs["after"]`` holds task ids,
  matched against other spans' ``attrs["task"]``, else their name), the one that ended last. A span
  without an ``after`` attribute gets as predecessor the span that ended last at or before its
  start (5 ms tolerance). Repeat until a span has no predecessor. The path is the chain, in time
  order; a span on it is "critical". Its length is the wall time of the run.
- **Totals by tool**: for each tool (``TOOL_BY_KIND``: cluster → k3d; build, pull, load → docker;
  deploy → helm; wait → pod readiness) the *wall time* during which at least one of its spans ran
  (union of intervals, so parallel builds count once). **envctl overhead** = the run's wall time
  covered by no tool span, plus time of ``plan``/``envctl-overhead`` spans that overlaps tool spans.
- **Phase duration** in a run: the union of the intervals of that kind's spans. **Service step
  duration**: the sum of that service's spans of that kind.
- **Median / p95** over runs: ``statistics.median``; p95 is the nearest-rank value (the
  ⌈0.95·n⌉-th smallest).
- **Regression**: the latest run's value ≥ ``ratio`` × the median of the earlier runs *and* at
  least ``min_delta`` seconds more (so 0.2 s → 0.4 s is not flagged), with ≥ 2 earlier runs.

The advice drawn from these figures is in ``timing/advice.py``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from envctl.timing.history import RunRecord
from envctl.timing.spans import Span

__all__ = [
    "TOOL_BY_KIND",
    "RunAnalysis",
    "Stat",
    "analyze",
    "compare_runs",
    "critical_path",
    "p95",
    "phase_seconds",
    "union_seconds",
]

TOOL_BY_KIND = {
    "cluster": "k3d",
    "build": "docker",
    "pull": "docker",
    "load": "docker",
    "deploy": "helm",
    "wait": "pod readiness",
}
TOOLS: tuple[str, ...] = ("k3d", "docker", "helm", "pod readiness", "envctl overhead")
PHASE_ORDER: tuple[str, ...] = ("plan", "cluster", "pull", "build", "load", "deploy", "wait", "envctl-overhead")
PHASE_LABEL = {"load": "image load", "build": "image build", "pull": "image pull", "wait": "pod readiness"}
_TOLERANCE = 0.005
_MIN_BASELINE_RUNS = 2  # a regression needs at least this many earlier runs to compare with


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    total, end = 0.0, -math.inf
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def _intersection_seconds(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> float:
    return union_seconds(a) + union_seconds(b) - union_seconds([*a, *b])


def critical_path(spans: Sequence[Span]) -> list[Span]:
    """The chain of spans that decided the run's end (see the module docstring)."""
    if not spans:
        return []
    by_task: dict[str, Span] = {}  # a task with several spans (one per node) ends with its last one
    for span in spans:
        key = str(span.attrs.get("task", span.name))
        if key not in by_task or span.end > by_task[key].end:
            by_task[key] = span
    current = max(spans, key=lambda s: (s.end, s.seconds))
    path = [current]
    seen = {id(current)}
    while True:
        if "after" in current.attrs:
            deps = [by_task[d] for d in current.attrs["after"] or () if d in by_task]
        else:
            deps = [s for s in spans if s.end <= current.start + _TOLERANCE and id(s) not in seen]
        deps = [d for d in deps if id(d) not in seen]
        if not deps:
            break
        current = max(deps, key=lambda s: (s.end, s.seconds))
        path.append(current)
        seen.add(id(current))
    return list(reversed(path))


def phase_seconds(spans: Iterable[Span], kind: str) -> float:
    return union_seconds((s.start, s.end) for s in spans if s.kind == kind)


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass(frozen=True)
class RunAnalysis:
    wall_seconds: float
    critical: tuple[Span, ...]
    critical_by_phase: tuple[tuple[str, float], ...]  # (kind, seconds on the critical path), largest first
    tools: tuple[tuple[str, float], ...]  # (tool, wall seconds), in TOOLS order
    phases: tuple[tuple[str, float, str], ...]  # (kind, wall seconds, worst outcome)

    def is_critical(self, span: Span) -> bool:
        return any(span is c for c in self.critical)


def analyze(run: RunRecord) -> RunAnalysis:
    spans = list(run.spans)
    wall = run.wall_seconds
    path = critical_path(spans)
    on_path: dict[str, float] = {}
    for span in path:
        on_path[span.kind] = on_path.get(span.kind, 0.0) + span.seconds
    gaps = wall - sum(on_path.values())
    if gaps > _TOLERANCE:
        on_path["envctl-overhead"] = on_path.get("envctl-overhead", 0.0) + gaps
    tool_intervals: dict[str, list[tuple[float, float]]] = {}
    for span in spans:
        if span.kind in TOOL_BY_KIND:
            tool_intervals.setdefault(TOOL_BY_KIND[span.kind], []).append((span.start, span.end))
    any_tool = [iv for ivs in tool_intervals.values() for iv in ivs]
    own = [(s.start, s.end) for s in spans if s.kind not in TOOL_BY_KIND]
    overhead = max(0.0, wall - union_seconds(any_tool)) + _intersection_seconds(own, any_tool)
    tools = [(tool, union_seconds(tool_intervals.get(tool, []))) for tool in TOOLS[:-1]]
    tools.append(("envctl overhead", overhead))
    phases = []
    for kind in PHASE_ORDER:
        of_kind = [s for s in spans if s.kind == kind]
        if of_kind:
            phases.append((kind, phase_seconds(of_kind, kind), _worst(s.outcome for s in of_kind)))
    return RunAnalysis(
        wall_seconds=wall,
        critical=tuple(path),
        critical_by_phase=tuple(sorted(on_path.items(), key=lambda kv: -kv[1])),
        tools=tuple(tools),
        phases=tuple(phases),
    )


def _worst(outcomes: Iterable[str]) -> str:
    # A phase that did any work is "ok" even if some of its steps had nothing to do.
    rank = {"skipped": 0, "ok": 1, "cancelled": 2, "failed": 3}
    return max(outcomes, key=lambda o: rank.get(o, 0), default="ok")


@dataclass(frozen=True)
class Stat:
    """One compared figure: a phase (``service`` None) or a service's step of a kind."""

    kind: str
    service: str | None
    runs: int
    median: float
    p95: float
    latest: float
    baseline: float | None  # median of the runs before the latest
    regression: bool

    @property
    def label(self) -> str:
        return f"{self.service} {self.kind}" if self.service else PHASE_LABEL.get(self.kind, self.kind)


def compare_runs(runs: Sequence[RunRecord], *, ratio: float = 1.5, min_delta: float = 1.0) -> list[Stat]:
    """Per phase and per (service, kind): median/p95 over ``runs`` (oldest first) and the latest."""
    if not runs:
        return []
    series: dict[tuple[str, str | None], list[float]] = {}
    for index, run in enumerate(runs):
        values: dict[tuple[str, str | None], float] = {}
        for kind in PHASE_ORDER:
            if any(s.kind == kind for s in run.spans):
                values[(kind, None)] = phase_seconds(run.spans, kind)
        for span in run.spans:
            if span.service:
                key = (span.kind, span.service)
                values[key] = values.get(key, 0.0) + span.seconds
        values[("total", None)] = run.wall_seconds
        for step, value in values.items():
            series.setdefault(step, [math.nan] * len(runs))[index] = value
    stats = []
    for (kind, service), raw in series.items():
        present = [v for v in raw if not math.isnan(v)]
        latest = raw[-1]
        if math.isnan(latest):
            continue
        earlier = [v for v in raw[:-1] if not math.isnan(v)]
        baseline = statistics.median(earlier) if earlier else None
        regression = (
            baseline is not None
            and len(earlier) >= _MIN_BASELINE_RUNS
            and latest >= ratio * baseline
            and latest - baseline >= min_delta
        )
        stats.append(
            Stat(kind, service, len(present), statistics.median(present), p95(present), latest, baseline, regression)
        )
    order = {k: i for i, k in enumerate(("total", *PHASE_ORDER))}
    return sorted(stats, key=lambda s: (s.service is not None, s.service or "", order.get(s.kind, 99)))
