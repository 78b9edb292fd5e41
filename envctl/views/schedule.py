"""The dry-run view of the `up` graph: each task, what it waits for, and why it runs."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from envctl.scheduler import TaskDescription

__all__ = ["graph_table"]


def graph_table(tasks: Sequence[TaskDescription]) -> Table:
    """Rows in start order; indentation shows depth in the graph (what can run at once)."""
    table = Table(
        title="envctl up --dry-run: the graph this run would execute (nothing was touched)", title_justify="left"
    )
    table.add_column("step", no_wrap=True)
    table.add_column("kind")
    table.add_column("after")
    table.add_column("reason")
    for task in tasks:
        table.add_row("  " * task.level + task.id, task.kind, ", ".join(task.after) or "—", task.reason or "")
    return table
