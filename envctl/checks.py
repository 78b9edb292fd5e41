"""What `envctl doctor` found: one ``Check`` per requirement, gathered in a ``DoctorReport``.

The data the doctor command computes and views/doctor.py renders (table and JSON contract), kept
apart from both so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Check", "DoctorReport", "Status"]

Status = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    required: bool
    fix: str | None = None


@dataclass(frozen=True)
class DoctorReport:
    checks: tuple[Check, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.required and c.status == "fail")

    @property
    def ok(self) -> bool:
        return not self.failed
