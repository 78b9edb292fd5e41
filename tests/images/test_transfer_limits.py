"""A registry pull or push through the Engine API is bounded and stoppable as an Engine-API build
is: past ``transfer_timeout`` (``timeouts.load``) its connection is closed and it is exit 11; the
run's stop closes it too. The registry here accepts connections and never answers, so only the
limit or the stop can end the transfer (the daemon itself waits on it)."""

from __future__ import annotations

import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from envctl.adapters.docker import DockerEngine
from envctl.adapters.process import SubprocessRunner
from envctl.errors import BuildError, ExitCode, TimedOutError
from tests.support.gate import wait_until

pytestmark = pytest.mark.docker


@contextmanager
def silent_registry() -> Iterator[tuple[str, threading.Event]]:
    """``(host:port, an event set once the daemon connected)``: a server that accepts and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    connected = threading.Event()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            connected.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}", connected
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


def test_a_pull_from_a_registry_that_never_answers_is_stopped_at_its_limit(docker_engine: str) -> None:
    # Whether the daemon reached the registry within the limit depends on the machine's speed; either
    # way nothing answers it, so only the limit can end the pull.
    with silent_registry() as (address, _connected):
        engine = DockerEngine(transfer_timeout=2)
        with pytest.raises(TimedOutError) as caught:
            engine.pull(f"{address}/envctl-test/silent:{uuid.uuid4().hex[:8]}")
    assert caught.value.exit_code == ExitCode.TIMED_OUT
    assert caught.value.message.endswith("did not finish within 2 s and was stopped")
    assert "timeouts.load" in (caught.value.hint or "")


def test_a_push_is_bounded_and_stopping_the_run_stops_it(docker_engine: str, base_image: str) -> None:
    runner = SubprocessRunner()
    with silent_registry() as (address, connected):
        target = f"{address}/envctl-test/silent-{uuid.uuid4().hex[:8]}:1"
        subprocess.run([docker_engine, "tag", base_image, target], check=True, capture_output=True)
        try:
            engine = DockerEngine(transfer_timeout=600, stoppable=runner.stoppable)  # only the stop can end it
            outcome: list[BaseException] = []

            def push() -> None:
                try:
                    engine.push(target)
                except BaseException as exc:  # noqa: BLE001 - what the load phase would see
                    outcome.append(exc)

            worker = threading.Thread(target=push)
            worker.start()
            wait_until(connected.is_set, "the daemon connected to the registry", alive=worker.is_alive)
            runner.terminate_all()
            worker.join(60)
            assert not worker.is_alive()
        finally:
            subprocess.run([docker_engine, "rmi", target], capture_output=True, check=False)
    assert len(outcome) == 1 and isinstance(outcome[0], BuildError), outcome
    assert outcome[0].message == f"docker push of {target} was stopped"
