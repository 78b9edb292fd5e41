"""Spans: the timing record of every phase and per-service step of a run.

One monotonic clock per run; span times are seconds since the run started. A span is recorded
whatever its outcome: an exception inside ``Recorder.span`` marks it ``failed`` and re-raises;
KeyboardInterrupt, asyncio's CancelledError and any exception whose class says
``span_outcome = "cancelled"`` (the scheduler's ``Cancelled``) mark it ``cancelled`` instead, and
so does any error once the run was interrupted (``Recorder.interrupt``): a child stopped by the
interruption fails, but the step was cancelled, not broken.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["KINDS", "OUTCOMES", "Recorder", "Span", "SpanHandle", "SpanKind"]

SpanKind = Literal["cluster", "plan", "build", "pull", "load", "deploy", "wait", "envctl-overhead"]
Outcome = Literal["ok", "skipped", "failed", "cancelled"]
KINDS: tuple[str, ...] = ("cluster", "plan", "build", "pull", "load", "deploy", "wait", "envctl-overhead")
OUTCOMES: tuple[str, ...] = ("ok", "skipped", "failed", "cancelled")


def _outcome_of(exc: BaseException) -> str:
    """``cancelled`` for an interruption or cancellation, else ``failed``."""
    if isinstance(exc, KeyboardInterrupt) or type(exc).__name__ == "CancelledError":
        return "cancelled"
    return "cancelled" if getattr(exc, "span_outcome", "failed") == "cancelled" else "failed"


@dataclass
class Span:
    name: str
    kind: str
    start: float
    end: float
    outcome: str = "ok"
    service: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "service": self.service,
            "start": round(self.start, 6),
            "end": round(self.end, 6),
            "seconds": round(self.seconds, 6),
            "outcome": self.outcome,
            "attrs": self.attrs,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Span:
        return cls(
            name=data["name"],
            kind=data["kind"],
            start=float(data["start"]),
            end=float(data["end"]),
            outcome=data.get("outcome", "ok"),
            service=data.get("service"),
            attrs=dict(data.get("attrs") or {}),
        )


class SpanHandle:
    """What a step may say about its own span while it runs."""

    def __init__(self, span: Span) -> None:
        self._span = span

    def set(self, **attrs: Any) -> None:
        self._span.attrs.update(attrs)

    def skip(self, reason: str) -> None:
        self._span.outcome = "skipped"
        self._span.attrs["reason"] = reason

    @property
    def skipped(self) -> bool:
        return self._span.outcome == "skipped"


class Recorder:
    """Collects spans for one run; thread-safe, cheap (one clock read at each edge)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._origin = clock()
        self._spans: list[Span] = []
        self._lock = threading.Lock()
        self._bound = threading.local()
        self._interrupted = ""

    def interrupt(self, reason: str) -> None:
        """The run was interrupted: spans that end with an error from now on are ``cancelled``."""
        self._interrupted = reason

    def now(self) -> float:
        return self._clock() - self._origin

    @contextmanager
    def bind(self, **attrs: Any) -> Iterator[None]:
        """Attributes every span recorded *on this thread* inherits for the ``with`` body.

        The scheduler binds a task's dependency edges (``task``/``after``) around tasks that record
        their own spans, so phases stay unaware of the graph and the critical path still follows it.
        """
        previous = getattr(self._bound, "attrs", {})
        self._bound.attrs = {**previous, **attrs}
        try:
            yield
        finally:
            self._bound.attrs = previous

    @contextmanager
    def span(self, name: str, kind: str, service: str | None = None, **attrs: Any) -> Iterator[SpanHandle]:
        if kind not in KINDS:
            msg = f"unknown span kind {kind!r}"
            raise ValueError(msg)
        inherited = getattr(self._bound, "attrs", {})
        span = Span(name=name, kind=kind, start=self.now(), end=0.0, service=service, attrs={**inherited, **attrs})
        handle = SpanHandle(span)
        try:
            yield handle
        except BaseException as exc:
            span.outcome = "cancelled" if self._interrupted else _outcome_of(exc)
            if self._interrupted:
                span.attrs.setdefault("reason", self._interrupted)
            if span.outcome == "failed":
                span.attrs.setdefault("error", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise
        finally:
            span.end = self.now()
            with self._lock:
                self._spans.append(span)

    def add(self, span: Span) -> None:
        """Record a span measured elsewhere (e.g. readiness times observed by the waiter)."""
        for key, value in getattr(self._bound, "attrs", {}).items():
            span.attrs.setdefault(key, value)
        with self._lock:
            self._spans.append(span)

    def spans(self) -> list[Span]:
        with self._lock:
            return sorted(self._spans, key=lambda s: (s.start, s.end))
