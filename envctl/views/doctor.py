"""Renderers for `envctl doctor`: a rich table, and the JSON document (a contract, pinned by tests)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from envctl.checks import ChartReport, DoctorReport

__all__ = ["DOCTOR_JSON_VERSION", "doctor_dict", "doctor_table"]

DOCTOR_JSON_VERSION = 1
_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}
_LINT_STYLE = {"ERROR": "bold red", "WARNING": "yellow", "INFO": "dim"}


def doctor_dict(report: DoctorReport) -> dict[str, object]:
    return {
        "version": DOCTOR_JSON_VERSION,
        "ok": report.ok,
        "checks": [
            {"name": c.name, "status": c.status, "required": c.required, "detail": c.detail, "fix": c.fix}
            for c in report.checks
        ],
        "chart": _chart_dict(report.chart) if report.chart else None,
    }


def _chart_dict(chart: ChartReport) -> dict[str, object]:
    return {
        "chart": chart.chart,
        "lint": {
            "status": chart.lint,
            "detail": chart.lint_detail,
            "findings": [{"severity": f.severity, "message": f.message} for f in chart.findings],
        },
        "image_fields": [
            {"path": f.path, "reference": f.reference, "form": f.form, "service": f.service, "how": f.how or None}
            for f in chart.fields
        ],
        "problems": list(chart.problems),
    }


def doctor_table(report: DoctorReport) -> Group:
    """The table, then one unwrapped ``fix <check>: <command>`` line per problem (copy-pasteable)."""
    table = Table(title="envctl doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for c in report.checks:
        name = c.name if c.required else f"{c.name} (optional)"
        table.add_row(name, Text(c.status, style=_STYLE[c.status]), Text(c.detail))
    # Not wrapped or cropped: the command must survive copy and paste from a narrow terminal.
    fixes = [
        Text(f"fix {c.name}: {c.fix}", no_wrap=True, overflow="ignore")
        for c in report.checks
        if c.fix and c.status != "ok"
    ]
    return Group(table, *(_chart_table(report.chart),) if report.chart and report.chart.fields else (), *fixes)


def _chart_table(chart: ChartReport) -> Table:
    """The chart's image fields, each with the service that deploys through it, then lint's findings."""
    table = Table(title=f"chart {chart.chart}")
    table.add_column("image field")
    table.add_column("image", overflow="fold")
    table.add_column("service")
    for field in chart.fields:
        who = f"{field.service} ({field.how})" if field.service else Text("no service", style="dim")
        table.add_row(field.path, field.reference, who)
    for finding in chart.findings:
        label = Text(f"lint {finding.severity}", style=_LINT_STYLE.get(finding.severity, ""))
        table.add_row(label, finding.message, "")
    return table
