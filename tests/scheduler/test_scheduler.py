"""The graph executor with real work (subprocesses, threads): overlap, pipelining, failures, bounds.

Overlap and ordering are shown with barriers (tasks that can only finish if another runs at the same
time, or once another has finished), never with sleeps compared to the clock: a slow machine makes
these tests slower, never red. A broken scheduler breaks a barrier (its timeout) instead of hanging.
"""

from __future__ import annotations

import threading
import time

import pytest

from envctl.adapters.process import SubprocessRunner
from envctl.errors import ToolFailedError
from envctl.scheduler import Scheduler, Task
from envctl.timing.spans import Recorder

runner = SubprocessRunner()


def sleeper(seconds: float):
    def run(ctx):
        runner.run(["sleep", str(seconds)])
        return f"slept {seconds}"

    return run


def failing(ctx):
    runner.run(["false"])


# Bounds a wait that only a broken scheduler would exhaust (then the task fails and the test says so).
HANG = 60.0


def cooperative(done: threading.Event | None = None):
    """Work that checks the cancel event between small steps, like a build streaming its log, until
    ``done`` is set (never, when None: then only a cancel ends it)."""

    def run(ctx):
        deadline = time.monotonic() + HANG
        while not (done is not None and done.is_set()):
            ctx.raise_if_cancelled()
            assert time.monotonic() < deadline, "never cancelled"
            time.sleep(0.02)
        return "done"

    return run


def meet(barrier: threading.Barrier, result: str = "met"):
    """A task that finishes only when ``barrier.parties`` tasks run at the same time."""

    def run(ctx):
        barrier.wait()
        return result

    return run


def spans_by_name(recorder: Recorder):
    return {s.name: s for s in recorder.spans()}


def keeping(results: dict[str, object], key: str, work):
    """A task that stores its value where its dependents read it (the pipeline's run state, in small)."""

    def run(ctx):
        results[key] = work(ctx)
        return results[key]

    return run


def test_independent_tasks_overlap_and_record_edges():
    rec = Recorder()
    both = threading.Barrier(2, timeout=HANG)
    done: dict[str, object] = {}
    tasks = [
        Task("cluster", "cluster", keeping(done, "cluster", meet(both))),
        Task("build:api", "build", keeping(done, "build:api", meet(both)), service="api"),
        Task("deploy", "deploy", lambda _ctx: sorted(done), after=("cluster", "build:api")),
    ]
    result = Scheduler(tasks, recorder=rec, jobs=2).run()
    spans = spans_by_name(rec)
    cluster, build, deploy = spans["cluster"], spans["build:api"], spans["deploy"]
    assert cluster.start < build.end and build.start < cluster.end  # they ran at the same time
    assert deploy.start >= max(cluster.end, build.end)
    assert result.ok
    assert result.value("deploy") == ["build:api", "cluster"]
    assert deploy.attrs["after"] == ["cluster", "build:api"] and deploy.attrs["task"] == "deploy"
    assert build.service == "api" and build.kind == "build" and build.outcome == "ok"


def test_a_task_starts_when_its_own_dependencies_are_done_not_after_unrelated_ones():
    rec = Recorder()
    loaded_a = threading.Event()
    done: dict[str, object] = {}

    def load_a(ctx):
        loaded_a.set()
        return done["a"]

    tasks = [
        Task("build:a", "build", keeping(done, "a", sleeper(0)), service="a"),
        # b finishes only after a was loaded: a scheduler holding load:a back for b would fail it
        Task("build:b", "build", cooperative(loaded_a), service="b"),
        Task("load:a", "load", load_a, after=("build:a",), service="a"),
    ]
    result = Scheduler(tasks, recorder=rec, jobs=3).run()
    assert result.ok, result.first_error
    spans = spans_by_name(rec)
    assert spans["load:a"].start >= spans["build:a"].end
    assert spans["load:a"].end <= spans["build:b"].end  # loaded while b was still building
    assert result.value("load:a") == "slept 0"


def test_a_failure_cancels_its_dependents_only_when_keeping_going():
    rec = Recorder()
    tasks = [
        Task("build:a", "build", failing, service="a"),
        Task("build:b", "build", sleeper(0.3), service="b"),
        Task("load:a", "load", sleeper(0), after=("build:a",), service="a"),
        Task("load:b", "load", sleeper(0), after=("build:b",), service="b"),
        Task("deploy", "deploy", sleeper(0), after=("load:a", "load:b")),
    ]
    result = Scheduler(tasks, recorder=rec, jobs=2, fail_fast=False).run()
    outcomes = {tid: o.outcome for tid, o in result.outcomes.items()}
    assert outcomes == {"build:a": "failed", "build:b": "ok", "load:a": "cancelled", "load:b": "ok", "deploy": "cancelled"}
    assert isinstance(result.first_error, ToolFailedError) and result.first_error.argv == ["false"]
    assert not result.ok
    spans = spans_by_name(rec)
    assert spans["build:a"].outcome == "failed" and "exit 1" in spans["build:a"].attrs["error"]
    assert spans["load:a"].attrs["reason"] == "dependency build:a failed"
    assert spans["deploy"].attrs["reason"] == "dependency build:a failed"  # the root cause, two hops up
    assert spans["load:b"].outcome == "ok"


def test_fail_fast_stops_new_work_and_signals_running_tasks():
    rec = Recorder()
    tasks = [
        Task("build:a", "build", failing, service="a"),
        Task("build:b", "build", cooperative(), service="b"),  # runs until cancelled
        Task("build:c", "build", sleeper(0), service="c"),  # independent, but jobs=2 keeps it waiting
    ]
    result = Scheduler(tasks, recorder=rec, jobs=2, fail_fast=True).run()
    outcomes = {tid: o.outcome for tid, o in result.outcomes.items()}
    assert outcomes == {"build:a": "failed", "build:b": "cancelled", "build:c": "cancelled"}
    spans = spans_by_name(rec)
    assert spans["build:c"].attrs["reason"] == "stopped after build:a failed"
    assert spans["build:b"].outcome == "cancelled"


def test_keep_going_runs_independent_work_after_a_failure():
    rec = Recorder()
    finished_a = threading.Event()

    def failing_a(ctx):
        try:
            failing(ctx)
        finally:
            finished_a.set()  # b outlives a's failure

    tasks = [
        Task("build:a", "build", failing_a, service="a"),
        Task("build:b", "build", cooperative(finished_a), service="b"),
        Task("build:c", "build", sleeper(0), service="c"),
    ]
    result = Scheduler(tasks, recorder=rec, jobs=2, fail_fast=False).run()
    assert {tid: o.outcome for tid, o in result.outcomes.items()} == {
        "build:a": "failed",
        "build:b": "ok",
        "build:c": "ok",
    }


def test_jobs_bounds_concurrency():
    rec = Recorder()
    active, peak, lock = [0], [0], threading.Lock()
    pairs = threading.Barrier(2, timeout=HANG)  # two at a time must run together to get past it

    def work(ctx):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        pairs.wait()
        with lock:
            active[0] -= 1

    Scheduler([Task(f"b{i}", "build", work) for i in range(6)], recorder=rec, jobs=2).run()
    assert peak[0] == 2
    spans = rec.spans()
    assert len(spans) == 6
    for span in spans:  # the recorded spans agree: never three at once
        assert sum(1 for other in spans if other.start <= span.start < other.end) <= 2


def test_a_skipped_task_counts_as_done_for_its_dependents():
    rec = Recorder()

    def up_to_date(ctx):
        ctx.span.skip("image exists")
        return "api:abc"

    done: dict[str, object] = {}
    tasks = [
        Task("build:api", "build", keeping(done, "api", up_to_date), service="api"),
        Task("load:api", "load", lambda _ctx: done["api"], after=("build:api",)),
    ]
    result = Scheduler(tasks, recorder=rec).run()
    assert result.outcomes["build:api"].outcome == "skipped" and result.value("load:api") == "api:abc"
    assert spans_by_name(rec)["build:api"].attrs["reason"] == "image exists"
    assert result.ok


def test_tasks_with_own_spans_record_only_their_own():
    rec = Recorder()

    def fine_grained(ctx):
        for node in ("server-0", "agent-0"):
            with rec.span(f"load api → {node}", "load", service="api", node=node):  # the edges come from bind
                pass

    Scheduler([Task("load:api", "load", fine_grained, own_spans=True, after=())], recorder=rec).run()
    spans = rec.spans()
    assert [s.name for s in spans] == ["load api → server-0", "load api → agent-0"]
    assert spans[0].attrs == {"node": "server-0", "task": "load:api", "after": []}


def test_describe_orders_by_depth_and_rejects_bad_graphs():
    tasks = [
        Task("deploy", "deploy", sleeper(0), after=("load:api",), reason="chart or images changed"),
        Task("build:api", "build", sleeper(0), service="api", reason="Dockerfile input changed"),
        Task("cluster", "cluster", sleeper(0), reason="no cluster named envctl"),
        Task("load:api", "load", sleeper(0), after=("build:api", "cluster"), service="api"),
    ]
    rows = Scheduler(tasks, recorder=Recorder()).describe()
    assert [(r.id, r.level, r.after) for r in rows] == [
        ("build:api", 0, ()),
        ("cluster", 0, ()),
        ("load:api", 1, ("build:api", "cluster")),
        ("deploy", 2, ("load:api",)),
    ]
    assert rows[0].reason == "Dockerfile input changed"
    with pytest.raises(ValueError, match="cycle"):
        Scheduler([Task("a", "build", sleeper(0), after=("b",)), Task("b", "load", sleeper(0), after=("a",))], recorder=Recorder())
    with pytest.raises(ValueError, match="unknown task"):
        Scheduler([Task("a", "build", sleeper(0), after=("nope",))], recorder=Recorder())
    with pytest.raises(ValueError, match="unknown kind"):
        Scheduler([Task("a", "compile", sleeper(0))], recorder=Recorder())


def test_a_slot_bounds_its_tasks_while_others_still_start():
    """Builds share --jobs slots; the cluster task (no slot) starts although every build slot is busy."""
    rec = Recorder()
    running: list[int] = []
    lock = threading.Lock()
    now = {"builds": 0}
    release = threading.Event()

    def build(ctx):
        with lock:
            now["builds"] += 1
            running.append(now["builds"])
        release.wait(10)
        with lock:
            now["builds"] -= 1

    def cluster(ctx):
        with lock:
            started_with = now["builds"]
        release.set()  # the cluster started while two builds held both slots
        return started_with

    tasks = [Task(f"build:{i}", "build", build, slot="build") for i in range(4)]
    tasks.append(Task("cluster", "cluster", cluster))
    result = Scheduler(tasks, recorder=rec, jobs=3, limits={"build": 2}).run()
    assert result.ok
    assert max(running) == 2
    assert result.value("cluster") == 2
