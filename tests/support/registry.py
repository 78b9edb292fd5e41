"""A real v2 registry for tests: Debian's ``docker-registry`` (distribution 2.8) on 127.0.0.1.

Started as a subprocess with its own storage folder and stopped by the PID it was started with.
Loopback registries need no TLS for ``docker push``.

Usage::

    reg = start_registry(tmp_path)      # reg.address == "127.0.0.1:PORT"
    try:
        ...
    finally:
        stop_registry(reg)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RegistryHandle", "start_registry", "stop_registry", "stored_blob_bytes"]

_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    readonly:
      enabled: {readonly}
http:
  addr: 127.0.0.1:{port}
"""


@dataclass(frozen=True)
class RegistryHandle:
    address: str  # host:port, what image refs and envctl's registry client use
    storage: Path
    pid: int
    log: Path


def start_registry(workdir: Path, *, readonly: bool = False, timeout: float = 120.0) -> RegistryHandle:
    """Start a registry; ``readonly=True`` makes it refuse every push (for failure tests).

    The free port is found before the registry binds it, so another session may take it in
    between: the registry then exits at once and is started again on another port."""
    for attempt in range(5):
        try:
            return _start_registry(workdir, readonly=readonly, timeout=timeout)
        except _PortTaken:
            if attempt == 4:
                raise
    raise AssertionError  # unreachable


class _PortTaken(RuntimeError):
    pass


def _start_registry(workdir: Path, *, readonly: bool, timeout: float) -> RegistryHandle:
    exe = shutil.which("docker-registry")
    if exe is None:
        msg = "docker-registry is not installed: apt-get install docker-registry"
        raise RuntimeError(msg)
    workdir.mkdir(parents=True, exist_ok=True)
    storage = workdir / "storage"
    storage.mkdir(exist_ok=True)
    port = _free_port()
    config = workdir / "config.yml"
    config.write_text(
        _CONFIG.format(root=storage, port=port, readonly=str(readonly).lower()), encoding="utf-8"
    )
    log = workdir / "registry.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [exe, "serve", str(config)], stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    handle = RegistryHandle(address=f"127.0.0.1:{port}", storage=storage, pid=proc.pid, log=log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{handle.address}/v2/", timeout=1) as resp:
                if resp.status == 200:
                    return handle
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_registry(handle)
            text = log.read_text()
            msg = f"docker-registry did not answer on {handle.address}: {text[-2000:]}"
            raise (_PortTaken if "address already in use" in text else RuntimeError)(msg)
        time.sleep(0.1)


def stop_registry(handle: RegistryHandle) -> None:
    try:
        os.kill(handle.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(handle.pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.05)
    os.kill(handle.pid, signal.SIGKILL)
    os.waitpid(handle.pid, 0)


def stored_blob_bytes(handle: RegistryHandle) -> int:
    """Bytes of every blob the registry holds on disk (what pushes have moved into it, in total)."""
    blobs = handle.storage / "docker" / "registry" / "v2" / "blobs"
    return sum(p.stat().st_size for p in blobs.rglob("data") if p.is_file()) if blobs.exists() else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
