"""What `envctl doctor` found: one ``Check`` per requirement, gathered in a ``DoctorReport``.

The data the doctor command computes and views/doctor.py renders (table and JSON contract), kept
apart from both so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ChartField", "ChartReport", "Check", "DoctorReport", "LintFinding", "Status"]

Status = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    required: bool
    fix: str | None = None


@dataclass(frozen=True)
class LintFinding:
    severity: str  # as helm lint prints it: INFO, WARNING, ERROR
    message: str


@dataclass(frozen=True)
class ChartField:
    """One image a chart's values hold, and the service that deploys through it (if any)."""

    path: str
    reference: str
    form: Literal["map", "string"]
    service: str | None
    how: str  # "values_path", "image_match", "rewrite (default match)" or "" when no service uses it


@dataclass(frozen=True)
class ChartReport:
    """`envctl doctor`'s chart section: lint findings, the image fields and which services use them."""

    chart: str
    lint: Status  # ok, warn (warnings), fail (errors), skip (helm absent or the lint did not run)
    lint_detail: str
    findings: tuple[LintFinding, ...]
    fields: tuple[ChartField, ...]
    problems: tuple[str, ...]  # a values_path that names no image block, a rewrite nothing matches
    missing: bool = False  # release.chart names no chart


@dataclass(frozen=True)
class DoctorReport:
    checks: tuple[Check, ...]
    chart: ChartReport | None = None  # None outside a workspace

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.required and c.status == "fail")

    @property
    def ok(self) -> bool:
        return not self.failed
