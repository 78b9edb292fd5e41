"""The run record file, checked before anything reads it: right types, finite numbers, known values.

Run records live in the workspace, where anything may rewrite them (a merge, an editor, another
tool, a full disk). ``parse_record_text`` turns a file's text into plain data that every renderer
(table, JSON, markdown, Chrome trace, SVG, comparisons) can trust, or raises ``ValueError``
naming the first bad field — so a bad file is skipped with a warning (or refused, for
``--run``), never a traceback. ``NaN`` and ``Infinity`` are refused anywhere in the file: they
are not JSON, and would poison every sum and the JSON export.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["parse_record_text"]

_Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
_Count = Annotated[int, Field(ge=0)]
_KINDS = ("cluster", "plan", "build", "pull", "load", "deploy", "wait", "envctl-overhead")
_OUTCOMES = ("ok", "skipped", "failed", "cancelled")


class _Strict(BaseModel):
    # strict: "1" is not a number and 1 is not a bool; extra keys stay (later versions add fields).
    model_config = ConfigDict(strict=True, extra="allow")


class _Attrs(_Strict):
    """The span attributes the analysis and views compute with; others are passed through."""

    task: str | None = None
    after: list[str] | None = None
    reason: str | None = None
    error: str | None = None
    action: str | None = None
    load_mode: str | None = None
    backend: str | None = None
    node: str | None = None
    cache_hit: bool | None = None
    cache_hits: _Count | None = None
    cache_steps: _Count | None = None
    bytes_moved: _Count | None = None
    bytes_new: _Count | None = None
    image_size: _Count | None = None


class _Span(_Strict):
    name: str
    kind: str = Field(pattern=f"^({'|'.join(_KINDS)})$")
    start: _Seconds
    end: _Seconds
    outcome: str = Field("ok", pattern=f"^({'|'.join(_OUTCOMES)})$")
    service: str | None = None
    attrs: _Attrs = Field(default_factory=_Attrs)


class _Meta(_Strict):
    run_id: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z-]*$")
    started_at: str
    command: str
    git_commit: str | None = None
    git_branch: str | None = None
    changed_services: list[str] = Field(default_factory=list)
    ci: bool = False
    host: str = ""
    envctl_version: str = ""
    outcome: str = "running"
    exit_code: int | None = None
    duration_seconds: _Seconds | None = None


class _Record(_Strict):
    version: int
    run: _Meta
    spans: list[_Span]


def parse_record_text(text: str) -> dict[str, Any]:
    """The record in ``text`` as checked plain data (``ValueError`` naming the first problem)."""
    data = json.loads(text, parse_constant=_refuse_constant)
    if not isinstance(data, dict):
        msg = f"expected a JSON object, got {type(data).__name__}"
        raise ValueError(msg)  # noqa: TRY004 - callers treat every bad record alike
    if data.get("version") != 1:
        msg = f"unsupported run record version {data.get('version')!r}"
        raise ValueError(msg)
    try:
        checked = _Record.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        msg = f"{where}: {first['msg']}"
        raise ValueError(msg) from None
    for span in checked.spans:
        if span.end < span.start:
            msg = f"span {span.name!r} ends before it starts"
            raise ValueError(msg)
    # Only the fields the file had: an absent "after" means something else than an empty one.
    return checked.model_dump(mode="python", exclude_unset=True)


def _refuse_constant(name: str) -> float:
    msg = f"{name} is not a number JSON allows"
    raise ValueError(msg)
