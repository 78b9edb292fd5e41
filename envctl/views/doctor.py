"""Renderers for `envctl doctor`: a rich table, and the JSON document (a contract, pinned by tests)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from envctl.checks import DoctorReport

__all__ = ["DOCTOR_JSON_VERSION", "doctor_dict", "doctor_table"]

DOCTOR_JSON_VERSION = 1
_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def doctor_dict(report: DoctorReport) -> dict[str, object]:
    return {
        "version": DOCTOR_JSON_VERSION,
        "ok": report.ok,
        "checks": [
            {"name": c.name, "status": c.status, "required": c.required, "detail": c.detail, "fix": c.fix}
            for c in report.checks
        ],
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
    return Group(table, *fixes)
