"""Machine and CI formats of the timing record: JSON, markdown, Chrome trace, end-of-run lines.

JSON contract (``envctl timings --output json``), version 1 — additive changes keep the
version; anything else bumps it::

    {"version": 1,
     "run": {<RunMeta fields: run_id, started_at, command, git_commit, git_branch,
              changed_services, ci, host, envctl_version, outcome, exit_code,
              duration_seconds>,
             "wall_seconds": float,
             "phases": [{"kind", "seconds", "outcome"}],            # PHASE_ORDER order
             "tools": {"k3d", "docker", "helm", "pod readiness", "envctl overhead": seconds},
             "critical_path": [{"name", "kind", "service", "seconds"}],  # time order
             "critical_by_phase": {kind: seconds},
             "advice": [{"topic", "text"}],
             "spans": [{"name", "kind", "service", "start", "end", "seconds", "outcome",
                        "critical": bool, "attrs": {...}}]},
     "compare": null | {"runs": [run_id, ...] (oldest first),
                        "stats": [{"kind", "service", "runs", "median", "p95", "latest",
                                   "baseline", "regression"}]},
     "unreadable": [path, ...]}     # history files skipped as corrupt

Seconds are rounded to milliseconds. Chrome trace: the Trace Event Format's JSON object form,
"X" (complete) events in microseconds; one process per phase, one thread per service.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from envctl.timing.advice import Advice
from envctl.timing.analysis import PHASE_LABEL, PHASE_ORDER, RunAnalysis, Stat, analyze
from envctl.timing.history import RunRecord

__all__ = ["chrome_trace", "markdown", "phase_summary_lines", "timings_json"]

JSON_VERSION = 1


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def timings_json(
    run: RunRecord,
    analysis: RunAnalysis,
    advice: Sequence[Advice] = (),
    compare: tuple[Sequence[RunRecord], Sequence[Stat]] | None = None,
    unreadable: Sequence[Path] = (),
) -> dict[str, Any]:
    body: dict[str, Any] = {
        **run.meta.to_dict(),
        "wall_seconds": _r(analysis.wall_seconds),
        "phases": [{"kind": k, "seconds": _r(s), "outcome": o} for k, s, o in analysis.phases],
        "tools": {tool: _r(secs) for tool, secs in analysis.tools},
        "critical_path": [
            {"name": s.name, "kind": s.kind, "service": s.service, "seconds": _r(s.seconds)} for s in analysis.critical
        ],
        "critical_by_phase": {k: _r(s) for k, s in analysis.critical_by_phase},
        "advice": [{"topic": a.topic, "text": a.text} for a in advice],
        "spans": [
            {
                "name": s.name,
                "kind": s.kind,
                "service": s.service,
                "start": _r(s.start),
                "end": _r(s.end),
                "seconds": _r(s.seconds),
                "outcome": s.outcome,
                "critical": analysis.is_critical(s),
                "attrs": s.attrs,
            }
            for s in run.spans
        ],
    }
    compared = None
    if compare is not None:
        runs, stats = compare
        compared = {
            "runs": [r.meta.run_id for r in runs],
            "stats": [
                {
                    "kind": s.kind,
                    "service": s.service,
                    "runs": s.runs,
                    "median": _r(s.median),
                    "p95": _r(s.p95),
                    "latest": _r(s.latest),
                    "baseline": _r(s.baseline),
                    "regression": s.regression,
                }
                for s in stats
            ],
        }
    return {"version": JSON_VERSION, "run": body, "compare": compared, "unreadable": [str(p) for p in unreadable]}


def phase_summary_lines(run: RunRecord, analysis: RunAnalysis | None = None) -> list[str]:
    """One short line per phase for the end of `envctl up`: ``image build   12.3 s  ok``."""
    analysis = analysis or analyze(run)
    lines = [f"{PHASE_LABEL.get(kind, kind):<14}{secs:>8.1f} s  {outcome}" for kind, secs, outcome in analysis.phases]
    lines.append(f"{'total':<14}{analysis.wall_seconds:>8.1f} s  {run.meta.outcome}")
    return lines


def markdown(
    run: RunRecord,
    analysis: RunAnalysis,
    advice: Sequence[Advice] = (),
    stats: Sequence[Stat] | None = None,
) -> str:
    """A job-summary section (GitHub-flavoured markdown) for ``$GITHUB_STEP_SUMMARY``."""
    meta = run.meta
    changed = ", ".join(meta.changed_services) or "none"
    out = [
        f"### envctl `{meta.command}` — {meta.outcome}, {analysis.wall_seconds:.1f} s",
        "",
        f"Run `{meta.run_id}` · commit `{(meta.git_commit or 'unknown')[:12]}` · changed services: {changed}",
        "",
        "| phase | seconds | outcome | on critical path |",
        "|---|---:|---|---:|",
    ]
    on_path = dict(analysis.critical_by_phase)
    for kind, secs, outcome in analysis.phases:
        out.append(f"| {PHASE_LABEL.get(kind, kind)} | {secs:.1f} | {outcome} | {on_path.get(kind, 0.0):.1f} |")
    out += ["", "**Time by tool:** " + " · ".join(f"{tool} {secs:.1f} s" for tool, secs in analysis.tools), ""]
    chain = " → ".join(f"{s.name} ({s.seconds:.1f} s)" for s in analysis.critical)
    out += [f"**Critical path:** {chain or 'no spans'}", ""]
    if advice:
        out += ["**Advice**", ""] + [f"- {a.text}" for a in advice] + [""]
    if stats:
        out += ["| step | runs | median s | p95 s | latest s | |", "|---|---:|---:|---:|---:|---|"]
        for s in stats:
            flag = "⚠ regression" if s.regression else ""
            out.append(f"| {s.label} | {s.runs} | {s.median:.1f} | {s.p95:.1f} | {s.latest:.1f} | {flag} |")
        out.append("")
    return "\n".join(out)


def _micros(seconds: float) -> int:
    """Whole microseconds; 0 for a value no trace viewer could place (a record's finite times can
    still subtract to infinity)."""
    micros = seconds * 1e6
    return round(micros) if math.isfinite(micros) else 0


def chrome_trace(run: RunRecord, analysis: RunAnalysis) -> dict[str, Any]:
    """Trace Event Format (opens in Perfetto / chrome://tracing): a process per phase, a thread per service."""
    kinds = sorted({s.kind for s in run.spans}, key=lambda k: PHASE_ORDER.index(k) if k in PHASE_ORDER else 99)
    pid_of = {kind: index + 1 for index, kind in enumerate(kinds)}
    events: list[dict[str, Any]] = []
    tid_of: dict[tuple[str, str], int] = {}  # (kind, service or ""): a record may hold either for "none"
    for kind in kinds:
        pid = pid_of[kind]
        events.append(
            {"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": PHASE_LABEL.get(kind, kind)}}
        )
        events.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": pid}})
        services = sorted({s.service or "" for s in run.spans if s.kind == kind})
        for index, service in enumerate(services):
            tid_of[(kind, service)] = index
            events.append(
                {"ph": "M", "name": "thread_name", "pid": pid, "tid": index, "args": {"name": service or kind}}
            )
    events.extend(
        {
            "name": span.name,
            "cat": span.kind,
            "ph": "X",
            "ts": _micros(span.start),
            "dur": _micros(span.seconds),
            "pid": pid_of[span.kind],
            "tid": tid_of[(span.kind, span.service or "")],
            "args": {"outcome": span.outcome, "critical": analysis.is_critical(span), **span.attrs},
        }
        for span in run.spans
    )
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"run_id": run.meta.run_id, "command": run.meta.command},
    }
