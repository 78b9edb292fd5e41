"""One `envctl up` (or `down`) at a time per workspace: an OS file lock on ``.envctl/up.lock`` (filelock).

The lock is released by the kernel when its holder exits, even on ``kill -9``, so a crashed run
never leaves the workspace locked. The holder writes its pid and command to ``up.lock.owner``
so the second run can say who it is waiting for.

Usage (the lead's `up` command)::

    with workspace_lock(ws.state_dir, wait=not no_wait_lock, on_wait=output.info):
        ...run the graph...
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from envctl.errors import LockedError, StateUnwritableError

__all__ = ["LOCK_NAME", "workspace_lock"]

LOCK_NAME = "up.lock"


def _owner(owner_file: Path) -> str:
    try:
        text = owner_file.read_text(encoding="utf-8").strip()
    except OSError:
        return "another envctl process"
    return text or "another envctl process"


@contextmanager
def workspace_lock(
    state_dir: Path,
    *,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
    command: str = "envctl up",
    poll_seconds: float = 0.2,
) -> Iterator[Path]:
    """Hold the workspace lock for the ``with`` body; yields the lock file's path.

    Free: taken at once. Held by another process: with ``wait`` the message goes to ``on_wait``
    once and we block until it is free (Ctrl-C still works); without it ``LockedError`` (exit 9).
    """
    path = state_dir / LOCK_NAME
    owner_file = state_dir / f"{LOCK_NAME}.owner"
    # thread_local=False: the lock belongs to the process, whichever thread releases it.
    lock = FileLock(path, thread_local=False, is_singleton=False)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout:
        holder = _owner(owner_file)
        if not wait:
            msg = f"the workspace is locked by {holder} ({path})"
            raise LockedError(msg, hint="wait for it to finish, or run again without --no-wait-lock to wait") from None
        if on_wait is not None:
            on_wait(f"waiting for {holder} to finish (lock {path})…")
        lock.acquire(timeout=-1, poll_interval=poll_seconds)
    except OSError as exc:  # (after Timeout, itself an OSError) a read-only or full .envctl
        msg = f"cannot take the workspace lock {path}: {exc.strerror or exc}"
        hint = f"make {state_dir} writable (envctl keeps its lock, kubeconfig and run records there)"
        raise StateUnwritableError(msg, hint=hint) from exc
    try:
        with contextlib.suppress(OSError):  # who holds the lock is a courtesy for the next waiter
            owner_file.write_text(f"{command} (pid {os.getpid()})\n", encoding="utf-8")
        yield path
    finally:
        with contextlib.suppress(OSError):
            owner_file.unlink(missing_ok=True)
        lock.release()
