"""The `up` graph, pure: edges, and history-informed start order (longest expected chain first)."""

from __future__ import annotations

import threading

from envctl.pipeline import Phases, chain_seconds, make_tasks
from envctl.plan import Plan, ServicePlan
from envctl.scheduler import Scheduler, Task
from envctl.timing.spans import Recorder


def _service(name: str, depends_on: tuple[str, ...] = ()) -> ServicePlan:
    return ServicePlan(
        name=name, image=f"demo/{name}", tag="fp-0", fingerprint="0" * 64, action="build", reason="test",
        changed=True, changed_inputs=(), depends_on=depends_on, dockerfile=f"{name}/Dockerfile", context=".",
        build_args={}, target=None,
    )  # fmt: skip


PLAN = Plan(
    base=None,
    services=(_service("base"), _service("api", ("base",)), _service("worker", ("base",)), _service("web")),
    images=(),
    chart_changed=False,
    needs_cluster=True,
)


def test_chain_seconds_adds_the_longest_chain_built_from_a_service() -> None:
    chain = chain_seconds(PLAN, {"base": 1.0, "api": 5.0, "worker": 2.0, "web": 4.0})
    assert chain == {"base": 6.0, "api": 5.0, "worker": 2.0, "web": 4.0}
    assert chain_seconds(PLAN, {}) == dict.fromkeys(("base", "api", "worker", "web"), 0.0)


def test_graph_edges_loads_wait_for_their_build_and_the_cluster_deploy_for_every_load() -> None:
    def never(*_: object) -> None:
        raise AssertionError

    phases = Phases(cluster=never, build=never, pull=never, load=never, deploy=never, wait=never)
    paths = {"base": None, "api": "api.image", "worker": "worker.image", "web": "web.image"}
    tasks = {t.id: t for t in make_tasks(PLAN, phases, paths, expected={"web": 9.0})}
    assert tasks["build:api"].after == ("build:base",)
    assert "load:base" not in tasks  # build-only: nothing deploys it
    assert tasks["load:web"].after == ("build:web", "cluster")
    assert set(tasks["deploy"].after) == {"cluster", "load:api", "load:worker", "load:web"}
    assert tasks["wait"].after == ("cluster", "deploy")
    assert tasks["build:web"].priority == 9.0 > tasks["build:base"].priority


def test_scheduler_starts_the_highest_priority_ready_task_first() -> None:
    started: list[str] = []
    lock = threading.Lock()

    def work(ctx) -> None:  # noqa: ANN001
        with lock:
            started.append(ctx.task.id)

    tasks = [Task(name, "build", work, priority=p) for name, p in (("quick", 0.5), ("slow", 9.0), ("mid", 3.0))]
    Scheduler(tasks, recorder=Recorder(), jobs=1).run()
    assert started == ["slow", "mid", "quick"]
