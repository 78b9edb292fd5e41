"""Costs that cannot be measured on this machine, added to what was measured, and the figures per tool.

Three costs have no real tool here: a real ``k3d cluster create`` (the stand-in starts a containerd
container in ~1.5 s), a real ``helm upgrade`` (the stand-in is a small script) and a real pod start
(the kubelet stand-in readies a pod within a poll). Each is a flag with a published default (see
docs/benchmarks.md). The rule is the same for both pipelines: where the step ran, its modelled
duration is ``max(measured, model)`` — never below what was measured here — and every figure that
includes a model is marked ``modelled``.

envctl runs its steps as a graph, so a longer step only delays what depends on it: the modelled
wall time replays the run's recorded tasks (their ``task``/``after`` span attributes) with the
modelled durations, each task starting at the later of its recorded start and its dependencies'
modelled ends. dev-ci runs its steps in sequence, so its modelled total is the sum.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TOOLS = ("k3d", "Docker", "Helm", "readiness", "other")
_TASK_TOOL = (("cluster", "k3d"), ("deploy", "Helm"), ("wait", "readiness"))  # envctl's task → tool


@dataclass(frozen=True)
class Models:
    k3d_create: float  # seconds for a real k3d cluster create until API + DNS answer
    helm_upgrade: float  # seconds for a real helm upgrade of the chart, without --wait
    pod_start: float  # seconds from a rolled workload to its pods Ready, pods starting concurrently


@dataclass
class Figures:
    """One run of one pipeline: seconds per tool, measured and modelled, and bytes moved."""

    measured: dict[str, float]
    modelled: dict[str, float]
    total_measured: float
    total_modelled: float
    bytes_moved: int
    modelled_tools: tuple[str, ...] = ()  # the tools whose figure includes a model
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def is_modelled(self) -> bool:
        return bool(self.modelled_tools)


# --- envctl ------------------------------------------------------------------------------------
def envctl_figures(run: Mapping[str, Any], process_wall: float, models: Models) -> Figures:
    """``run`` is the body of ``envctl timings --output json``; ``process_wall`` the process's wall time."""
    spans = run["spans"]
    tools = run["tools"]
    created = any(s["kind"] == "cluster" and s["attrs"].get("action") == "created" for s in spans)
    deployed = any(s["kind"] == "deploy" and s["attrs"].get("action") not in (None, "skipped") for s in spans)
    recorded_wall = float(run["wall_seconds"])
    measured = {
        "k3d": tools.get("k3d", 0.0),
        "Docker": tools.get("docker", 0.0),
        "Helm": tools.get("helm", 0.0),
        "readiness": tools.get("pod readiness", 0.0),
        # interpreter start, imports, plan, lock and record: everything that is not a tool
        "other": tools.get("envctl overhead", 0.0) + max(0.0, process_wall - recorded_wall),
    }
    longer: dict[str, float] = {}
    if created:
        longer["cluster"] = models.k3d_create
    if deployed:
        longer["deploy"] = models.helm_upgrade
        longer["wait"] = models.pod_start  # the rolled pods start concurrently
    modelled = dict(measured)
    for task, tool in _TASK_TOOL:
        if task in longer:
            modelled[tool] = max(measured[tool], longer[task])
    delay = replay_delay(spans, longer)
    phases = {p["kind"]: p["seconds"] for p in run.get("phases", [])}
    return Figures(
        measured=measured,
        modelled=modelled,
        total_measured=process_wall,
        total_modelled=process_wall + delay,
        bytes_moved=sum(int(s["attrs"].get("bytes_moved", 0) or 0) for s in spans if s["kind"] == "load"),
        modelled_tools=tuple(t for task, t in _TASK_TOOL if task in longer),
        detail={
            "phases": phases,
            "cluster_created": created,
            "deployed": deployed,
            "modelled_delay": delay,
            # each build that ran: (service, start, end), for studying build order
            "builds": [
                (s["service"], s["start"], s["end"]) for s in spans if s["kind"] == "build" and s["outcome"] == "ok"
            ],
        },
    )


def replay_delay(spans: Sequence[Mapping[str, Any]], longer: Mapping[str, float]) -> float:
    """How much later the run would end if the tasks in ``longer`` lasted at least that long.

    Tasks are the spans' ``task`` attributes (one task may have several spans); a task starts at
    the later of its recorded start and the modelled end of every task it lists in ``after``.
    """
    tasks: dict[str, dict[str, Any]] = {}
    for span in spans:
        task = span["attrs"].get("task")
        if task is None:
            continue
        entry = tasks.setdefault(task, {"start": span["start"], "end": span["end"], "after": set()})
        entry["start"] = min(entry["start"], span["start"])
        entry["end"] = max(entry["end"], span["end"])
        entry["after"].update(span["attrs"].get("after") or ())
    if not tasks:
        return 0.0
    new_end: dict[str, float] = {}
    for name, task in sorted(tasks.items(), key=lambda kv: (kv[1]["start"], kv[1]["end"])):
        start = max([task["start"], *(new_end.get(dep, tasks[dep]["end"]) for dep in task["after"] if dep in tasks)])
        seconds = max(task["end"] - task["start"], longer.get(name, 0.0))
        new_end[name] = start + seconds
    return max(0.0, max(new_end.values()) - float(max(t["end"] for t in tasks.values())))


# --- dev-ci -------------------------------------------------------------------------------------
def devci_figures(steps: Mapping[str, float], bytes_moved: int, models: Models) -> Figures:
    """dev-ci's steps run in sequence: every one creates, upgrades with --wait and starts pods."""
    measured = {
        "k3d": steps["cluster"],
        "Docker": steps["build"] + steps["load"],
        "Helm": steps["deploy"] + steps["deploy_wait"],
        "readiness": steps["wait"],
        "other": 0.0,
    }
    modelled = dict(measured)
    modelled["k3d"] = max(steps["cluster"], models.k3d_create)
    modelled["Helm"] = max(steps["deploy"], models.helm_upgrade) + max(steps["deploy_wait"], models.pod_start)
    return Figures(
        measured=measured,
        modelled=modelled,
        total_measured=sum(measured.values()),
        total_modelled=sum(modelled.values()),
        bytes_moved=bytes_moved,
        modelled_tools=("k3d", "Helm"),
        detail={"steps": dict(steps)},
    )


# --- statistics -----------------------------------------------------------------------------------
def p90(values: Sequence[float]) -> float:
    """Nearest rank: the ⌈0.9·n⌉-th smallest value."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)] if ordered else 0.0


def median(values: Iterable[float]) -> float:
    items = list(values)
    return statistics.median(items) if items else 0.0
