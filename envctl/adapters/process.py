"""The single subprocess choke point: every external command envctl runs goes through here.

Always an argv list, never a shell. Each child runs in its own session (its own process group),
so a signal meant for envctl reaches envctl alone and envctl stops its children in order: the
whole group, since a tool may start helpers of its own (``docker build`` its plugin). Children are
tracked so an interruption or a failure elsewhere can stop them (``terminate_all``: SIGTERM, then
SIGKILL after a grace period, at once after ``hurry()``). Work that runs a child outside this runner
(pyhelm3's helm, an Engine-API build stream) registers how to stop it with ``stoppable`` and is
stopped by the same ``terminate_all``.

Errors become ``ToolMissingError`` (not on PATH), ``ToolFailedError`` (non-zero exit) carrying the
argv and the tail of stderr, or ``TimedOutError`` (the ``timeout`` passed: the child was stopped).

With a ``log`` (``--verbose``), every command is reported once it ends: its argv, exit code and
duration. Values passed through the environment are never logged (only their names), nor stdin.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from envctl.errors import TimedOutError, ToolFailedError, ToolMissingError

__all__ = [
    "STOP_GRACE_SECONDS",
    "STREAMED_TAIL_LINES",
    "CompletedCommand",
    "SubprocessRunner",
    "install_hint",
    "stderr_tail",
]

# What a streamed command (``run(on_line=...)``) returns of each pipe: its last lines, at most this long.
STREAMED_TAIL_LINES = 200
_LINE_MAX = 64 * 1024

# How long a child may take to exit after SIGTERM before it gets SIGKILL (unless hurried).
STOP_GRACE_SECONDS = 5.0

# What to tell a user whose PATH lacks a tool: the tools' own install pages, which work in any
# workspace (one `envctl init` made has no scripts/ folder); `envctl doctor` names the pinned versions.
_INSTALL_HINTS = {
    "docker": "install Docker (https://docs.docker.com/engine/install/) or `apt-get install docker.io`",
    "k3d": "install k3d v5 (https://k3d.io/stable/#installation) and put it on PATH",
    "helm": "install helm v3 (https://helm.sh/docs/intro/install/) and put it on PATH",
    "kubectl": "see https://kubernetes.io/docs/tasks/tools/ or `apt-get install kubectl`",
    "git": "`apt-get install git`",
}


def install_hint(tool: str) -> str:
    return _INSTALL_HINTS.get(tool, f"install {tool} and make sure it is on PATH")


def stderr_tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass(frozen=True)
class CompletedCommand:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class SubprocessRunner:
    """Runs commands; one instance per envctl invocation (built in the composition root)."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        log: Callable[[str], None] | None = None,
        grace_seconds: float = STOP_GRACE_SECONDS,
    ) -> None:
        # The child environment is fixed here so adapters never read os.environ themselves.
        self._env = dict(os.environ if env is None else env)
        self._grace = grace_seconds
        self._log = log
        self._children: set[subprocess.Popen[bytes]] = set()
        self._stoppers: dict[int, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._hurry = threading.Event()

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    def which(self, tool: str) -> str | None:
        return shutil.which(tool, path=self._env.get("PATH"))

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        check: bool = True,
        on_line: Callable[[str], None] | None = None,
    ) -> CompletedCommand:
        """Run ``argv`` to completion.

        With ``on_line`` each line of stdout *and* stderr is passed on as it arrives (build
        progress), and only the last ``STREAMED_TAIL_LINES`` lines of each are returned: a build
        may print hundreds of MB, which envctl shows as it comes and never holds.
        """
        started = time.monotonic()
        proc = self._spawn(argv, env=env, cwd=cwd, stdin=stdin is not None)
        try:
            if on_line is None:
                out, err = proc.communicate(stdin, timeout=timeout)
            else:
                out, err = self._pump(proc, stdin, on_line, timeout)
        except BaseException as exc:
            self._stop(proc)
            self._report(argv, _stopped(exc), started, env)
            if isinstance(exc, subprocess.TimeoutExpired):
                raise self.timed_out(argv, timeout) from exc
            raise
        finally:
            self._forget(proc)
        self._report(argv, f"exit {proc.returncode}", started, env)
        done = CompletedCommand(
            tuple(argv),
            proc.returncode,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            time.monotonic() - started,
        )
        if check and done.returncode != 0:
            raise self.failure(done)
        return done

    def pipe(
        self,
        producer: Sequence[str],
        consumer: Sequence[str],
        *,
        timeout: float | None = None,
        on_chunk: Callable[[int], None] | None = None,
    ) -> tuple[CompletedCommand, CompletedCommand, int]:
        """``producer | consumer`` without a shell; returns both results and the bytes moved.

        Both exit codes are checked, unlike a shell pipe, so a failed ``docker save`` cannot
        hide behind a successful import (the k3d#1484 class of bug).
        """
        started = time.monotonic()
        prod = self._spawn(producer, stdin=False)
        cons = self._spawn(consumer, stdin=True)
        deadline = None if timeout is None else started + timeout
        try:
            err_reader, cons_out, cons_err = _Drain(prod.stderr), _Drain(cons.stdout), _Drain(cons.stderr)
            copy = _Copy(prod.stdout, cons.stdin, on_chunk)  # on a thread: a stalled save still times out
            copy.wait(_remaining(deadline), producer)
            if copy.broken:
                # The consumer died (e.g. the node's disk is full; its stderr says why): nobody reads
                # the producer's output any more, and without this it would block forever.
                self._stop(prod)
            cons.wait(timeout=_remaining(deadline))
            prod.wait(timeout=_remaining(deadline))
            prod_err = err_reader.result()
        except BaseException as exc:
            self._stop(prod)
            self._stop(cons)
            for argv in (producer, consumer):
                self._report(argv, _stopped(exc), started, None)
            if isinstance(exc, subprocess.TimeoutExpired):
                raise self.timed_out([*producer, "|", *consumer], timeout) from exc
            raise
        finally:
            self._forget(prod)
            self._forget(cons)
        self._report(producer, f"exit {prod.returncode} (piped into {Path(consumer[0]).name})", started, None)
        moved = copy.moved
        self._report(consumer, f"exit {cons.returncode} ({moved} bytes in)", started, None)
        seconds = time.monotonic() - started
        first = CompletedCommand(tuple(producer), prod.returncode, "", prod_err.decode(errors="replace"), seconds)
        second = CompletedCommand(
            tuple(consumer),
            cons.returncode,
            cons_out.result().decode(errors="replace"),
            cons_err.result().decode(errors="replace"),
            seconds,
        )
        # When the consumer broke the pipe, its failure is the cause (the producer was stopped).
        for result in (second, first) if copy.broken else (first, second):
            if result.returncode != 0:
                raise self.failure(result)
        return first, second, moved

    def _report(self, argv: Sequence[str], how: str, started: float, env: Mapping[str, str] | None) -> None:
        """One ``--verbose`` line per command: argv, how it ended, how long it took."""
        if self._log is None:
            return
        names = f" [env: {', '.join(sorted(env))}]" if env else ""  # names only: values may be secrets
        self._log(f"ran {shlex.join(argv)}{names} -> {how} in {time.monotonic() - started:.2f} s")

    def terminate_all(self) -> None:
        """Stop every running child (SIGTERM, then SIGKILL after the grace period, at once
        once hurried) and ask every ``stoppable`` piece of work to stop."""
        with self._lock:
            children = list(self._children)
            stoppers = list(self._stoppers.values())
        for stop in stoppers:
            stop()
        for proc in children:
            self._stop(proc)

    def hurry(self) -> None:
        """From now on children get SIGKILL without a grace period (a second Ctrl-C or SIGTERM).

        Called from a signal handler: it only sets an event and sends signals, taking no lock."""
        self._hurry.set()
        for proc in tuple(self._children):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)

    @contextlib.contextmanager
    def stoppable(self, stop: Callable[[], None]) -> Iterator[None]:
        """While the ``with`` body runs, ``terminate_all`` calls ``stop`` (from another thread)."""
        key = id(stop)
        with self._lock:
            self._stoppers[key] = stop
        try:
            yield
        finally:
            with self._lock:
                self._stoppers.pop(key, None)

    @staticmethod
    def timed_out(argv: Sequence[str], seconds: float | None) -> TimedOutError:
        tool = Path(argv[0]).name
        msg = f"`{' '.join(argv[:3])}` did not finish within {seconds or 0:g} s and was stopped"
        hint = f"raise the {tool} step's timeout in envctl.yaml if it is only slow (README \"Timeouts\")"
        return TimedOutError(msg, hint=hint, argv=list(argv))

    @staticmethod
    def failure(done: CompletedCommand) -> ToolFailedError:
        tool = Path(done.argv[0]).name
        detail = stderr_tail(done.stderr, 1) or stderr_tail(done.stdout, 1) or "no output"
        msg = f"`{' '.join(done.argv[:3])}` failed (exit {done.returncode}): {detail}"
        return ToolFailedError(
            msg,
            hint=f"rerun with --verbose to see {tool}'s full output",
            argv=list(done.argv),
            returncode=done.returncode,
            stderr=done.stderr,
        )

    def _spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        stdin: bool,
    ) -> subprocess.Popen[bytes]:
        child_env = dict(self._env)
        if env:
            child_env.update(env)
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_env,
                cwd=cwd,
                # Own process group: Ctrl-C reaches envctl first, which then stops children in order.
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            tool = Path(argv[0]).name
            msg = f"`{tool}` is not installed or not on PATH"
            raise ToolMissingError(msg, hint=install_hint(tool)) from exc
        with self._lock:
            self._children.add(proc)
        return proc

    def _pump(
        self,
        proc: subprocess.Popen[bytes],
        stdin: bytes | None,
        on_line: Callable[[str], None],
        timeout: float | None,
    ) -> tuple[bytes, bytes]:
        if stdin is not None and proc.stdin is not None:
            proc.stdin.write(stdin)
            proc.stdin.close()
        out = _Drain(proc.stdout, on_line, keep=STREAMED_TAIL_LINES)
        err = _Drain(proc.stderr, on_line, keep=STREAMED_TAIL_LINES)
        proc.wait(timeout=timeout)
        return out.result(), err.result()

    def _forget(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._children.discard(proc)

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop ``proc``'s whole process group: SIGTERM, SIGKILL after the grace period (or once hurried)."""
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL if self._hurry.is_set() else signal.SIGTERM)
        deadline = time.monotonic() + self._grace
        while proc.poll() is None and time.monotonic() < deadline and not self._hurry.is_set():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # The group may outlive its leader (a helper the tool started): it goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _stopped(exc: BaseException) -> str:
    return "stopped (timed out)" if isinstance(exc, subprocess.TimeoutExpired) else f"stopped ({type(exc).__name__})"


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.1, deadline - time.monotonic())


class _Copy:
    """Copies a producer's stdout into a consumer's stdin on a thread, so the caller can wait for
    it with a deadline (a read that never returns cannot be timed out in place)."""

    def __init__(
        self, source: IO[bytes] | None, sink: IO[bytes] | None, on_chunk: Callable[[int], None] | None
    ) -> None:
        self.moved = 0
        self.broken = False
        self._thread = threading.Thread(target=self._copy, args=(source, sink, on_chunk), daemon=True)
        self._thread.start()

    def _copy(self, source: IO[bytes] | None, sink: IO[bytes] | None, on_chunk: Callable[[int], None] | None) -> None:
        if source is None or sink is None:
            return
        reader = cast("io.BufferedReader", source)  # Popen's default buffering gives one
        try:
            while chunk := reader.read1(1 << 20):
                sink.write(chunk)
                self.moved += len(chunk)
                if on_chunk is not None:
                    on_chunk(len(chunk))
        except (BrokenPipeError, ValueError):  # the consumer died, or both were stopped under us
            self.broken = True
        with contextlib.suppress(BrokenPipeError, ValueError):
            sink.close()  # end of input for the consumer

    def wait(self, timeout: float | None, producer: Sequence[str]) -> None:
        """Wait for the copy to end; ``TimeoutExpired`` when ``timeout`` passes first."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise subprocess.TimeoutExpired(list(producer), timeout or 0)


class _Drain:
    """Reads a pipe to the end on a thread (so neither pipe of a child can fill and block it)."""

    def __init__(
        self, stream: IO[bytes] | None, on_line: Callable[[str], None] | None = None, *, keep: int | None = None
    ) -> None:
        # keep: the last lines kept (None: all); a line is at most _LINE_MAX bytes, the rest of a
        # longer one (output without newlines) comes as further lines
        self._chunks: deque[bytes] = deque(maxlen=keep)
        self._thread = threading.Thread(target=self._read, args=(stream, on_line), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes] | None, on_line: Callable[[str], None] | None) -> None:
        if stream is None:
            return
        while line := stream.readline(_LINE_MAX if on_line is not None else -1):
            self._chunks.append(line)
            if on_line is not None:
                on_line(line.decode(errors="replace").rstrip("\n"))

    def result(self) -> bytes:
        self._thread.join()
        return b"".join(self._chunks)
