"""SIGINT and SIGTERM, one contract: both stop a command the same way (README "Signals").

CI runners and ``timeout`` cancel with SIGTERM, a terminal with Ctrl-C (SIGINT); envctl treats them
alike. While ``handling()`` is in force (``cli.main`` wraps every command in it):

* the **first** signal raises ``Interrupted`` (a ``KeyboardInterrupt``) in the main thread, so the
  code that runs the command unwinds as on Ctrl-C: the scheduler stops running children and records
  the partial run, context managers release the workspace lock and remove temporary folders;
* **every later** signal never raises (that would abandon the stop half-way and lose the run
  record): it *hurries* the stop instead, calling each callback given to ``on_hurry`` (the
  subprocess runner's: kill children at once instead of granting them a grace period);
* ``exit_code()`` is what the process then exits with: 128 + the first signal's number (130 for
  SIGINT, 143 for SIGTERM), the shell's convention.

``deferred()`` holds a first signal back for a block that must finish (writing the run record):
it is raised when the block ends. Only the main thread handles signals (Python's rule); the
callbacks run there, between two bytecodes, so they only set events and send signals.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Interrupted", "deferred", "exit_code", "handling", "on_hurry", "received"]

_HANDLED = (signal.SIGINT, signal.SIGTERM)
_SIGINT_EXIT = 128 + signal.SIGINT


class Interrupted(KeyboardInterrupt):
    """The first SIGINT or SIGTERM of a command; ``exit_code`` is 128 + its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _State:
    def __init__(self) -> None:
        self.first: int | None = None  # the signal that interrupted the command
        self.pending: int | None = None  # a first signal held back by deferred()
        self.deferring = 0
        self.hurry: list[Callable[[], None]] = []


_state = _State()


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if _state.first is not None:
        for hurry in tuple(_state.hurry):
            hurry()
        return
    _state.first = signum
    if _state.deferring:
        _state.pending = signum
        return
    raise Interrupted(signum)


@contextmanager
def handling() -> Iterator[None]:
    """Install the contract for the ``with`` body (main thread only; elsewhere a no-op), then put
    the previous handlers back, so an in-process caller (a test) keeps its own Ctrl-C."""
    global _state  # noqa: PLW0603 - one contract per process: the signal handlers are process-wide too
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state = _State()
    previous = {signum: signal.getsignal(signum) for signum in _HANDLED}
    for signum in _HANDLED:
        signal.signal(signum, _on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def received() -> int | None:
    """The signal that interrupted the command, if one did."""
    return _state.first


def exit_code() -> int:
    """128 + the first signal's number; 130 (Ctrl-C) for an interruption that came another way."""
    return _SIGINT_EXIT if _state.first is None else 128 + _state.first


@contextmanager
def on_hurry(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` on each signal after the first, while the ``with`` body runs."""
    hurry = _state.hurry
    hurry.append(callback)
    try:
        yield
    finally:
        hurry.remove(callback)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a first signal back until the ``with`` body is done, then raise it."""
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1
    if not _state.deferring and _state.pending is not None:
        signum, _state.pending = _state.pending, None
        raise Interrupted(signum)
