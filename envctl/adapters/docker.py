"""Docker: a thin wrapper over the docker SDK for the image operations envctl needs, plus the one
CLI call ``envctl plan`` makes (``local_image_refs``), with their errors mapped.

The SDK is imported lazily (``envctl plan`` must not import it: it lists local images with one
``docker image ls`` through the process choke point instead). A daemon that does not answer
becomes ``DaemonUnavailableError`` naming the socket; everything else stays close to the SDK.
The SDK has no BuildKit (docker/docker-py#2230): its streaming build is the Engine-API backend,
the legacy builder, used when no BuildKit-capable CLI is available.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl.adapters.build_log import BuildLog
from envctl.errors import BuildError, BuildStepFailure, DaemonUnavailableError, EnvctlError, TimedOutError

if TYPE_CHECKING:
    import docker
    import requests

    from envctl.adapters.process import SubprocessRunner

__all__ = ["DockerEngine", "ImageFacts", "docker_socket", "labelled_containers", "local_image_refs", "split_ref"]

# SubprocessRunner.stoppable: while the returned context is open, stopping the run calls the callback.
Stoppable = Callable[[Callable[[], None]], contextlib.AbstractContextManager[None]]

_DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_LIST_TIMEOUT = 5.0


def docker_socket(environ: Mapping[str, str]) -> str:
    return environ.get("DOCKER_HOST") or _DEFAULT_SOCKET


def split_ref(ref: str) -> tuple[str, str]:
    """``"reg:5000/a/b:tag"`` → ``("reg:5000/a/b", "tag")`` (a port colon is not a tag colon)."""
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return repo, tag


@dataclass(frozen=True)
class ImageFacts:
    ref: str
    image_id: str  # the config digest, "sha256:…": what containerd lists as the image's ID
    size: int
    labels: Mapping[str, str]
    diff_ids: tuple[str, ...]  # uncompressed layer digests, bottom first


def local_image_refs(runner: SubprocessRunner, docker_cli: str = "docker") -> tuple[frozenset[str] | None, str]:
    """``(refs, note)``: every ``repository:tag`` in the local store, or ``(None, why not)``.

    One cheap CLI call, never the SDK: ``envctl plan`` must start fast and still work when Docker
    is absent or not answering (the plan then says so in its reasons).
    """
    if runner.which(docker_cli) is None:
        return None, f"`{docker_cli}` is not installed"
    argv = [docker_cli, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]
    try:
        done = runner.run(argv, timeout=_LIST_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return None, f"the Docker engine did not answer within {_LIST_TIMEOUT:.0f} s"
    except EnvctlError as exc:
        return None, exc.message
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"`docker image ls` failed: {last}"
    return frozenset(line.strip() for line in done.stdout.splitlines() if line.strip()), ""


def labelled_containers(runner: SubprocessRunner, docker_cli: str, label: str) -> tuple[str, ...] | None:
    """``"<id> <name> <state>"`` of every container carrying ``label`` (``key=value``), sorted; None
    when Docker does not answer. One CLI call: the identity of a k3d cluster's nodes, which changes
    whenever k3d creates, recreates, adds or removes one (a new container has a new id)."""
    argv = [docker_cli, "ps", "-a", "--no-trunc", "--filter", f"label={label}",
            "--format", "{{.ID}} {{.Names}} {{.State}}"]  # fmt: skip
    try:
        done = runner.run(argv, timeout=_LIST_TIMEOUT, check=False)
    except (subprocess.TimeoutExpired, EnvctlError):
        return None
    if done.returncode != 0:
        return None
    return tuple(sorted(line.strip() for line in done.stdout.splitlines() if line.strip()))


class _OwnConnection:
    """The HTTP connection of one Engine-API build, pull or push, which ``close()`` shuts from another thread.

    The SDK hides the response behind a generator; a response hook on a client of the build's own
    catches it. A shut socket ends the blocked read at once (EOF), and the daemon sees the client
    leave. ``close()`` before the response exists shuts it as soon as it arrives.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.closed = False
        self.expired = False

    def opened(self, response: requests.Response, *_args: object, **_kwargs: object) -> None:
        sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
        with self._lock:
            self._socket = sock if isinstance(sock, socket.socket) else None
            closed = self.closed
        if closed:
            self._shut()

    def expire(self) -> None:
        self.expired = True
        self.close()

    def close(self) -> None:
        with self._lock:
            self.closed = True
        self._shut()

    def _shut(self) -> None:
        with self._lock:
            sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _cut(verb: str, ref: str, limit: float | None, *, expired: bool) -> EnvctlError:
    """The error of a pull or push whose connection was closed: past its limit, or stopped."""
    if expired and limit is not None:
        msg = f"docker {verb} of {ref} did not finish within {limit:g} s and was stopped"
        hint = 'raise timeouts.load in envctl.yaml if the registry is only slow (README "Timeouts")'
        return TimedOutError(msg, hint=hint, argv=["docker-api", verb, ref])
    msg = f"docker {verb} of {ref} was stopped"
    return BuildError(msg, hint="the run was interrupted")


class DockerEngine:
    """One docker SDK client per envctl invocation, made on first use."""

    def __init__(
        self, environ: Mapping[str, str] | None = None, *, timeout: int = 300, transfer_timeout: float | None = None,
        stoppable: Stoppable | None = None,
    ) -> None:  # fmt: skip
        self._environ = dict(os.environ if environ is None else environ)
        self._timeout = timeout  # each socket read (the SDK's own timeout)
        # a whole pull or push (timeouts.load), and the runner's hook that stops it on an interruption
        self._transfer_timeout, self._stoppable = transfer_timeout, stoppable
        self._client: docker.DockerClient | None = None

    @property
    def socket(self) -> str:
        return docker_socket(self._environ)

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            import docker

            try:
                client = docker.DockerClient(base_url=self.socket, version="auto", timeout=self._timeout)
            except docker.errors.DockerException as exc:
                raise self._unavailable(exc) from exc
            self._client = client
        return self._client

    def ping(self) -> None:
        import docker

        try:
            self.client.ping()
        except (docker.errors.DockerException, OSError) as exc:
            raise self._unavailable(exc) from exc

    def inspect(self, ref: str) -> ImageFacts | None:
        """Facts about a local image, or ``None`` when the engine has no such image."""
        import docker

        try:
            attrs = self.client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            if exc.status_code == HTTPStatus.NOT_FOUND:
                return None
            raise
        except (docker.errors.DockerException, OSError) as exc:
            raise self._unavailable(exc) from exc
        config = attrs.get("Config") or {}
        return ImageFacts(
            ref=ref,
            image_id=attrs["Id"],
            size=int(attrs.get("Size") or 0),
            labels=dict(config.get("Labels") or {}),
            diff_ids=tuple((attrs.get("RootFS") or {}).get("Layers") or ()),
        )

    def layer_sizes(self, ref: str) -> list[int]:
        """Uncompressed size of each non-empty layer, bottom first (aligned with ``diff_ids``)."""
        history = self.client.api.history(ref)  # newest first; empty layers have Size 0
        sizes = [int(h.get("Size") or 0) for h in reversed(history)]
        facts = self.inspect(ref)
        count = len(facts.diff_ids) if facts else 0
        # Steps that make no layer (ENV, LABEL, …) report size 0; keep the last `count` that can be layers.
        non_empty = [s for s in sizes if s > 0]
        return (non_empty + [0] * count)[:count] if len(non_empty) <= count else non_empty[-count:]

    def tag(self, source: str, ref: str) -> None:
        repo, tag = split_ref(ref)
        self.client.api.tag(source, repo, tag, force=True)

    def pull(self, ref: str, on_line: Callable[[str], None] | None = None) -> None:
        repo, tag = split_ref(ref)
        for chunk in self._transfer("pull", ref, lambda api: api.pull(repo, tag=tag, stream=True, decode=True)):
            if "error" in chunk:
                msg = f"pull of {ref} failed: {chunk['error']}"
                raise BuildError(msg, hint="check the registry answers and holds that tag")
            if on_line is not None and chunk.get("status"):
                on_line(f"{chunk.get('id', '')} {chunk['status']}".strip())

    def push(self, ref: str, on_line: Callable[[str], None] | None = None) -> None:
        """Push ``ref``, passing each layer's status line to ``on_line`` (what moved is read from the
        registry afterwards, see phases/load.py)."""
        repo, tag = split_ref(ref)
        for chunk in self._transfer("push", ref, lambda api: api.push(repo, tag=tag, stream=True, decode=True)):
            if "error" in chunk:
                msg = f"push of {ref} failed: {chunk['error']}"
                raise BuildError(msg, hint="check the registry answers and accepts pushes")
            status, layer = chunk.get("status", ""), chunk.get("id", "")
            if on_line is not None and status and status != "Pushing":
                on_line(f"{layer} {status}".strip())

    def _transfer(
        self, verb: str, ref: str, start: Callable[[docker.APIClient], Iterator[dict[str, Any]]]
    ) -> Iterator[dict[str, Any]]:
        """A pull or push stream on a connection of its own, which the run's stop and the transfer
        limit close as they close an Engine-API build's; past the limit, ``TimedOutError``."""
        limit = self._transfer_timeout
        with self._closable(limit, self._stoppable) as (api, connection):
            try:
                yield from start(api)
            except Exception as exc:  # what a shut socket raises depends on where the read was (urllib3, requests)
                if connection.closed:
                    raise _cut(verb, ref, limit, expired=connection.expired) from exc
                raise
            if connection.closed:  # a shut socket can also read as the end of the stream
                raise _cut(verb, ref, limit, expired=connection.expired)

    @contextlib.contextmanager
    def _closable(
        self, limit: float | None, stoppable: Stoppable | None
    ) -> Iterator[tuple[docker.APIClient, _OwnConnection]]:
        """A client of its own (its one request is the caller's, so the response hook sees only
        that) whose connection ``stoppable`` (the runner's) and, after ``limit`` seconds, a timer close."""
        import docker

        api = docker.APIClient(base_url=self.socket, version=self.client.api.api_version, timeout=self._timeout)
        connection = _OwnConnection()
        api.hooks["response"].append(connection.opened)
        timer = None if limit is None else threading.Timer(limit, connection.expire)
        try:
            with stoppable(connection.close) if stoppable is not None else contextlib.nullcontext():
                if timer is not None:
                    timer.daemon = True
                    timer.start()
                yield api, connection
        finally:
            if timer is not None:
                timer.cancel()
            api.close()

    def build(
        self,
        *,
        context: Path,
        dockerfile: Path,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        target: str | None,
        network: str | None,
        on_line: Callable[[str], None],
        timeout: float | None = None,
        stoppable: Stoppable | None = None,
    ) -> tuple[str, list[str]]:
        """Legacy-builder build through the Engine API; returns (image ID, the kept log: ``BuildLog``,
        bounded), as ``buildkit.run_build`` does, and tags nothing.

        Tagging is the caller's job, after success, so a failed build never owns the ref.

        The build is stopped by closing its connection (the daemon then cancels it and removes its
        step container, docs/tools-behaviour.md "Engine-API builds"): when ``stoppable`` (the
        runner's) calls for it, or after ``timeout`` seconds (``TimedOutError``).
        """
        with self._closable(timeout, stoppable) as (api, connection):
            try:
                return self._stream_build(api, connection, context=context, dockerfile=dockerfile,
                                          build_args=build_args, labels=labels, target=target, network=network,
                                          on_line=on_line)  # fmt: skip
            except Exception as exc:
                if connection.expired and timeout is not None:
                    limit = f"{timeout:g} s"
                    msg = f"the Engine-API build of {dockerfile.name} did not finish within {limit} and was stopped"
                    hint = 'raise timeouts.build in envctl.yaml if it is only slow (README "Timeouts")'
                    raise TimedOutError(msg, hint=hint, argv=["docker-api", "build", str(context)]) from exc
                raise

    @staticmethod
    def _stream_build(
        api: docker.APIClient,
        connection: _OwnConnection,
        *,
        context: Path,
        dockerfile: Path,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        target: str | None,
        network: str | None,
        on_line: Callable[[str], None],
    ) -> tuple[str, list[str]]:
        log = BuildLog()  # bounded: a step may print hundreds of MB
        image_id: str | None = None
        step = "(before the first step)"
        stream = api.build(
            path=str(context),
            dockerfile=str(dockerfile),
            buildargs=dict(build_args),
            labels=dict(labels),
            target=target,
            network_mode=network,
            rm=True,
            forcerm=True,
            decode=True,
        )
        for chunk in stream:
            if "stream" in chunk:
                for line in chunk["stream"].splitlines():
                    if line.startswith("Step "):
                        step = line
                    if line.strip():
                        log.add(line)
                        on_line(line)
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = str(chunk["aux"]["ID"])
            if "error" in chunk:
                error = chunk["error"].strip()
                log.add(error)
                on_line(error)
                raise BuildStepFailure(error, step=step, log=log.lines())
        if connection.closed:
            msg = "the build was stopped"
            raise BuildStepFailure(msg, step=step, log=log.lines())
        if image_id is None:
            msg = "the engine reported no image ID for the build"
            raise BuildStepFailure(msg, step=step, log=log.lines())
        return image_id, log.lines()

    def _unavailable(self, exc: BaseException) -> DaemonUnavailableError:
        msg = f"the Docker daemon does not answer at {self.socket} ({type(exc).__name__})"
        hint = (
            "start Docker (`sudo systemctl start docker`, Docker Desktop, or scripts/docker-engine.sh start)"
            " or point DOCKER_HOST at a running daemon"
        )
        return DaemonUnavailableError(msg, hint=hint)
