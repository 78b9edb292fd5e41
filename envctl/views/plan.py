"""Plan renderers: a rich table for people, ``$GITHUB_OUTPUT`` lines for workflows."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text

from envctl.plan import Plan

__all__ = ["github_lines", "plan_summary", "plan_table"]

_STYLE = {"build": "bold yellow", "pull": "cyan", "skip": "green"}


def plan_table(plan: Plan) -> Table:
    title = f"plan vs {plan.base}" if plan.base else "plan (vs images built locally)"
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("service", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("tag", no_wrap=True)
    table.add_column("reason")
    for item in plan.services:
        table.add_row(item.name, Text(item.action, style=_STYLE[item.action]), item.tag, Text(item.reason))
    return table


def plan_summary(plan: Plan) -> str:
    counts = {action: sum(1 for s in plan.services if s.action == action) for action in ("build", "pull", "skip")}
    parts = [f"{n} to {action}" for action, n in counts.items() if n]
    cluster = "needed" if plan.needs_cluster else "not needed (nothing that reaches an image or the chart changed)"
    chart = "; chart changed" if plan.chart_changed else ""
    return f"{', '.join(parts) or 'no services'}{chart}; cluster {cluster}"


def github_lines(plan: Plan) -> list[str]:
    """``name=value`` lines for ``$GITHUB_OUTPUT`` (values are single-line)."""
    changed = json.dumps(list(plan.changed_services), separators=(",", ":"))
    return [f"changed_services={changed}", f"needs_cluster={'true' if plan.needs_cluster else 'false'}"]
