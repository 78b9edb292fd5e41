"""The --dry-run view of the graph: every task, its dependencies and its reason, nothing run."""

from __future__ import annotations

from rich.console import Console

from envctl.scheduler import Scheduler, Task
from envctl.timing.spans import Recorder
from envctl.views.schedule import graph_table


def never(ctx):
    msg = "a dry run must not run tasks"
    raise AssertionError(msg)


def test_dry_run_lists_the_graph_without_running_it():
    recorder = Recorder()
    scheduler = Scheduler(
        [
            Task("cluster", "cluster", never, reason="cluster envctl-demo does not exist"),
            Task("build:api", "build", never, service="api", reason="examples/services/api/app.py changed"),
            Task("load:api", "load", never, after=("build:api", "cluster"), service="api", reason="node lacks envctl-demo/api:3f2a"),
            Task("deploy", "deploy", never, after=("load:api",), reason="values changed"),
        ],
        recorder=recorder,
    )
    console = Console(width=160, record=True)
    console.print(graph_table(scheduler.describe()))
    text = console.export_text()
    lines = [line.strip() for line in text.splitlines()]
    assert any(line.startswith("│ cluster") and "cluster envctl-demo does not exist" in line for line in lines)
    assert any("load:api" in line and "build:api, cluster" in line and "node lacks envctl-demo/api:3f2a" in line for line in lines)
    assert text.index("build:api ") < text.index("  load:api") < text.index("    deploy")  # indented by depth
    assert recorder.spans() == []
