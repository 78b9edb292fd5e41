"""The dependency-graph executor behind `envctl up`: the only source of concurrency in a run.

A run is a set of ``Task``s, each with an id, the ids it must wait for (``after``), a span kind,
an optional service and a callable. ``Scheduler.run()`` starts every task whose dependencies all
succeeded on a bounded thread pool (``jobs``), so independent work overlaps (cluster creation
with builds) and a task starts as soon as *its own* dependencies are done (a load right after its
build, not after every build). A task may name a ``slot``: at most ``limits[slot]`` tasks of that
slot run at once (builds are bounded by ``--jobs`` while the cluster task waits on k3d).

Tasks do not pass values through the scheduler: the graph's owner (``pipeline.py``) gives them a
typed run state to write their result into and read their dependencies' from. The value a task
returns is kept on its ``TaskOutcome`` for the run report.

Failure semantics:
- a failed task cancels its transitive dependents; they are recorded as ``cancelled`` spans with
  ``reason = "dependency <id> failed"``;
- ``fail_fast=True`` (default): no new task starts after the first failure and the shared cancel
  event is set; a task that is about to start work calls ``ctx.raise_if_cancelled()``, and a long
  one that waits (the pod wait) watches the same event and stops early; other running tasks are let
  finish (finished work is kept); tasks never started are recorded ``cancelled``;
- ``fail_fast=False`` (keep going): independent tasks still run to completion;
- Ctrl-C or SIGTERM (a KeyboardInterrupt in the calling thread, ``interrupts.Interrupted`` under
  envctl's handlers): the cancel event is set, the recorder is told (a span that ends with an error
  from now on is the interruption's doing: ``cancelled``, not ``failed``), ``on_cancel`` is called
  (pass ``SubprocessRunner.terminate_all``) until the running tasks end, they are recorded
  ``cancelled``, and ``SchedulerInterrupted`` (a ``KeyboardInterrupt`` carrying the partial
  ``ScheduleResult``) is raised so the caller can write the partial run record. A further signal
  does not break this off (envctl's handlers only hurry the children's end).

Timing: each task runs inside ``recorder.span(task.name, task.kind, service=task.service,
task=<id>, after=[<dependency ids>], **task.attrs)``. The ``task``/``after`` attributes are the
dependency edges ``timing.analysis.critical_path`` follows. A task that records finer spans
itself sets ``own_spans=True``: the scheduler then binds those attributes to the spans the task
records on its thread (``Recorder.bind``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

from envctl.interrupts import Interrupted
from envctl.timing.spans import KINDS, Recorder, Span, SpanHandle

__all__ = [
    "Cancelled",
    "ScheduleResult",
    "Scheduler",
    "SchedulerInterrupted",
    "Task",
    "TaskContext",
    "TaskDescription",
    "TaskOutcome",
]


class Cancelled(Exception):
    """Raised inside a task whose work was cancelled (another task failed, or Ctrl-C)."""

    span_outcome: ClassVar[str] = "cancelled"  # how timing.spans records a span it ends


@dataclass(frozen=True)
class Task:
    """One unit of work: ``run(ctx)`` returns the value kept on the task's outcome."""

    id: str
    kind: str
    run: Callable[[TaskContext], object]
    after: tuple[str, ...] = ()
    service: str | None = None
    reason: str = ""  # why the task is in the graph (shown by --dry-run)
    name: str | None = None  # span name; defaults to the id
    own_spans: bool = False  # the task records its own (finer) spans
    attrs: Mapping[str, object] = field(default_factory=dict)
    priority: float = 0.0  # among ready tasks, higher starts first (e.g. the longest expected chain)
    slot: str | None = None  # tasks sharing a slot run at most ``Scheduler.limits[slot]`` at once

    @property
    def span_name(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class TaskContext:
    """What a running task may use: its span (unless it records its own) and the cancel event."""

    task: Task
    span: SpanHandle | None
    cancel_event: threading.Event

    def raise_if_cancelled(self) -> None:
        if self.cancel_event.is_set():
            msg = f"{self.task.id} cancelled"
            raise Cancelled(msg)


@dataclass(frozen=True)
class TaskOutcome:
    id: str
    outcome: str  # ok / skipped / failed / cancelled
    value: object = None
    error: BaseException | None = None
    reason: str = ""


@dataclass(frozen=True)
class ScheduleResult:
    outcomes: Mapping[str, TaskOutcome]
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(o.outcome in ("ok", "skipped") for o in self.outcomes.values())

    @property
    def failed(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes.values() if o.outcome == "failed"]

    @property
    def first_error(self) -> BaseException | None:
        """The error of the first task that failed (in completion order), to report to the user."""
        return next((o.error for o in self.outcomes.values() if o.outcome == "failed"), None)

    def value(self, task_id: str) -> object:
        return self.outcomes[task_id].value


@dataclass(frozen=True)
class TaskDescription:
    """One line of the dry-run view: the task, what it waits for, why it runs, its depth."""

    id: str
    kind: str
    service: str | None
    after: tuple[str, ...]
    reason: str
    level: int


class SchedulerInterrupted(KeyboardInterrupt):
    """Ctrl-C arrived while the graph ran; ``result`` holds what finished and what was cancelled."""

    def __init__(self, result: ScheduleResult) -> None:
        super().__init__("interrupted")
        self.result = result


_BLOCKING = ("failed", "cancelled")
_PENDING = TaskOutcome("", "pending")


def _blocked_reason(dep: str, outcome: TaskOutcome) -> str:
    """Name the root cause: a dependency that failed, even several hops up the graph."""
    if outcome.outcome == "failed":
        return f"dependency {dep} failed"
    if outcome.reason.startswith("dependency "):
        return outcome.reason
    return f"dependency {dep} cancelled"


class Scheduler:
    def __init__(
        self,
        tasks: Iterable[Task],
        *,
        recorder: Recorder,
        jobs: int = 4,
        limits: Mapping[str, int] | None = None,
        fail_fast: bool = True,
        on_cancel: Callable[[], None] | None = None,
        cancel_event: threading.Event | None = None,
        poll_seconds: float = 0.05,
    ) -> None:
        self.tasks: dict[str, Task] = {}
        for task in tasks:
            if task.id in self.tasks:
                msg = f"duplicate task id {task.id!r}"
                raise ValueError(msg)
            if task.kind not in KINDS:
                msg = f"task {task.id!r}: unknown kind {task.kind!r}"
                raise ValueError(msg)
            self.tasks[task.id] = task
        for task in self.tasks.values():
            unknown = [dep for dep in task.after if dep not in self.tasks]
            if unknown:
                msg = f"task {task.id!r} depends on unknown task(s) {unknown}"
                raise ValueError(msg)
        self._levels = self._topological_levels()
        self.recorder = recorder
        self.jobs = max(1, jobs)
        self.limits = {slot: max(1, limit) for slot, limit in (limits or {}).items()}
        self.fail_fast = fail_fast
        self.on_cancel = on_cancel
        self.cancel_event = cancel_event or threading.Event()
        self._poll = poll_seconds
        self._interrupted = threading.Event()

    def describe(self) -> list[TaskDescription]:
        """The graph in start order (by depth, then declaration order), touching nothing."""
        order = sorted(self.tasks, key=lambda tid: self._levels[tid])
        return [
            TaskDescription(t.id, t.kind, t.service, t.after, t.reason, self._levels[t.id])
            for t in (self.tasks[tid] for tid in order)
        ]

    def run(self) -> ScheduleResult:
        outcomes: dict[str, TaskOutcome] = {}
        running: dict[Future[tuple[object, str]], str] = {}
        stopped_by: str | None = None  # first failure, under fail_fast
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="envctl-task")
        try:
            while True:
                self._cancel_blocked(outcomes)
                if stopped_by is None and not self.cancel_event.is_set():
                    for task in self._ready(outcomes, running):
                        if len(running) >= self.jobs:
                            break
                        if task.slot is not None and self._busy(task.slot, running) >= self.limits.get(
                            task.slot, self.jobs
                        ):
                            continue  # its slot is full: a ready task of another slot may start
                        running[pool.submit(self._execute, task)] = task.id
                if not running:
                    break
                done, _ = wait(list(running), timeout=self._poll, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = self._collect(running[future], future)
                    outcomes[outcome.id] = outcome
                    del running[future]  # only now: a Ctrl-C in between must not lose the outcome
                    if outcome.outcome == "failed" and self.fail_fast and stopped_by is None:
                        stopped_by = outcome.id
                        self.cancel_event.set()
        except KeyboardInterrupt as exc:
            self._interrupted.set()
            self.cancel_event.set()
            reason = f"interrupted ({exc})" if isinstance(exc, Interrupted) else "interrupted (Ctrl-C)"
            self.recorder.interrupt(reason)
            self._stop_running(list(running))
            for future, task_id in running.items():
                if task_id not in outcomes:
                    outcomes[task_id] = self._collect(task_id, future, interrupted=reason)
            self._cancel_rest(outcomes, reason)
            pool.shutdown(wait=True)
            raise SchedulerInterrupted(ScheduleResult(MappingProxyType(outcomes), interrupted=True)) from None
        pool.shutdown(wait=True)
        if stopped_by is not None:
            self._cancel_rest(outcomes, f"stopped after {stopped_by} failed")
        elif self.cancel_event.is_set():
            self._cancel_rest(outcomes, "cancelled")
        return ScheduleResult(MappingProxyType(outcomes))

    # -- internals ---------------------------------------------------------------------------

    def _busy(self, slot: str, running: Mapping[Future[tuple[object, str]], str]) -> int:
        return sum(1 for task_id in running.values() if self.tasks[task_id].slot == slot)

    def _stop_running(self, futures: list[Future[tuple[object, str]]]) -> None:
        """Call ``on_cancel`` until the running tasks end: a task may start a child process just
        after the first call (it had not seen the cancel event yet), so one call is not enough."""
        while True:
            if self.on_cancel is not None:
                self.on_cancel()
            _, pending = wait(futures, timeout=0.5)
            if not pending:
                return

    def _execute(self, task: Task) -> tuple[object, str]:
        """Runs on a worker thread; returns (value, outcome) or raises the task's error."""
        if task.own_spans:
            with self.recorder.bind(task=task.id, after=list(task.after)):
                value = task.run(TaskContext(task, None, self.cancel_event))
            return value, "ok"
        attrs = {**task.attrs, "task": task.id, "after": list(task.after)}
        with self.recorder.span(task.span_name, task.kind, service=task.service, **attrs) as handle:
            try:
                value = task.run(TaskContext(task, handle, self.cancel_event))
            except Exception as exc:
                if self._interrupted.is_set() and not isinstance(exc, Cancelled):
                    # Its child was stopped by on_cancel: the failure is the interruption's doing.
                    msg = f"{task.id} interrupted"
                    raise Cancelled(msg) from exc
                raise
        return value, "skipped" if handle.skipped else "ok"

    def _collect(
        self, task_id: str, future: Future[tuple[object, str]], *, interrupted: str = ""
    ) -> TaskOutcome:
        try:
            value, outcome = future.result()
        except (Cancelled, KeyboardInterrupt) as exc:
            return TaskOutcome(task_id, "cancelled", error=exc, reason="cancelled while running")
        except BaseException as exc:  # noqa: BLE001 - a task's error is its outcome, reported by the caller
            if interrupted:
                return TaskOutcome(task_id, "cancelled", error=exc, reason=interrupted)
            return TaskOutcome(task_id, "failed", error=exc, reason=str(exc).splitlines()[0] if str(exc) else "")
        return TaskOutcome(task_id, outcome, value=value)

    def _ready(
        self, outcomes: Mapping[str, TaskOutcome], running: Mapping[Future[tuple[object, str]], str]
    ) -> list[Task]:
        busy = set(running.values())
        ready = [
            t
            for t in self.tasks.values()
            if t.id not in outcomes
            and t.id not in busy
            and all(dep in outcomes and outcomes[dep].outcome in ("ok", "skipped") for dep in t.after)
        ]
        return sorted(ready, key=lambda t: -t.priority)  # stable: equal priorities keep declaration order

    def _cancel_blocked(self, outcomes: dict[str, TaskOutcome]) -> None:
        """Cancel (transitively) every task with a dependency that failed or was cancelled."""
        changed = True
        while changed:
            changed = False
            for task in self.tasks.values():
                if task.id in outcomes:
                    continue
                bad = next((d for d in task.after if outcomes.get(d, _PENDING).outcome in _BLOCKING), None)
                if bad is not None:
                    reason = _blocked_reason(bad, outcomes[bad])
                    self._record_cancelled(task, reason)
                    outcomes[task.id] = TaskOutcome(task.id, "cancelled", reason=reason)
                    changed = True

    def _cancel_rest(self, outcomes: dict[str, TaskOutcome], reason: str) -> None:
        self._cancel_blocked(outcomes)
        for task in self.tasks.values():
            if task.id not in outcomes:
                self._record_cancelled(task, reason)
                outcomes[task.id] = TaskOutcome(task.id, "cancelled", reason=reason)

    def _record_cancelled(self, task: Task, reason: str) -> None:
        now = self.recorder.now()
        attrs = {**task.attrs, "task": task.id, "after": list(task.after), "reason": reason}
        self.recorder.add(Span(task.span_name, task.kind, now, now, "cancelled", task.service, attrs))

    def _topological_levels(self) -> dict[str, int]:
        levels: dict[str, int] = {}
        visiting: set[str] = set()

        def level(tid: str) -> int:
            if tid in levels:
                return levels[tid]
            if tid in visiting:
                msg = f"dependency cycle through task {tid!r}"
                raise ValueError(msg)
            visiting.add(tid)
            deps = self.tasks[tid].after
            levels[tid] = 1 + max((level(d) for d in deps), default=-1)
            visiting.discard(tid)
            return levels[tid]

        for tid in self.tasks:
            level(tid)
        return levels
