"""Helm, through pyhelm3 0.5.8, behind one small adapter: the only module that imports pyhelm3.

**The one exception to the runner rule.** pyhelm3 runs helm itself, through a shell
(``asyncio.create_subprocess_shell(shlex.join(argv))`` and ``subprocess.run(..., shell=True)`` for
``helm version``), not through ``adapters/process.SubprocessRunner``. It is accepted because
pyhelm3 is the project's Helm dependency; the risks are contained here: every argument is still
an argv item that pyhelm3 quotes with ``shlex.join``, the executable is the absolute path the
runner's PATH resolves, charts are absolute ``Path``s (a relative ``"chart"`` validates as a repo
chart *name*), timeouts are strings with a unit (``--timeout 300`` is rejected by helm), and
``disable_validation`` is never passed (pyhelm3 splats it into one-character arguments).
The helm child inherits this process's environment (pyhelm3 takes no ``env``).

Errors: pyhelm3 classifies helm's stderr into its own error classes; ``classify`` maps those to
*transient* (another operation in progress, API 5xx, connection refused/reset, etcd), retried
with tenacity a bounded number of times with every attempt reported through ``Progress``, or
*genuine* (chart and resource errors), raised at once as ``DeployError`` with helm's message.
Values go to helm as one dict the caller has merged (pyhelm3's own merge concatenates lists).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import re
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential

from envctl.errors import ClusterError, DeployError, TimedOutError, ToolFailedError, ToolMissingError
from envctl.results import ReleaseRecord

if TYPE_CHECKING:
    from pyhelm3 import Client, Command

    from envctl.adapters.process import SubprocessRunner
    from envctl.progress import Progress

__all__ = [
    "TRANSIENT_MARKERS",
    "Helm",
    "LintResult",
    "ReleaseRecords",
    "ReleaseState",
    "RenderCache",
    "classify",
    "helm_reason",
    "lint",
    "run_sync",
]

T = TypeVar("T")
# SubprocessRunner.stoppable: while the returned context is open, stopping the run calls the callback.
Stoppable = Callable[[Callable[[], None]], contextlib.AbstractContextManager[None]]

# Lower-cased stderr fragments of failures that go away by themselves. API 5xx as client-go words
# them: 503 "currently unable to handle", 500 "an error on the server"/"internal error occurred",
# 504 "unable to return a response in the time allotted", 429 "too many requests".
TRANSIENT_MARKERS: tuple[str, ...] = (
    "another operation (install/upgrade/rollback) is in progress",
    "connection refused",
    "connection reset by peer",
    "etcdserver",
    "the server is currently unable to handle the request",
    "an error on the server",
    "internal error occurred",
    "the server was unable to return a response in the time allotted",
    "the server has received too many requests",
    "tls handshake timeout",
    "i/o timeout",
    "http2: client connection lost",
)

Kind = Literal["transient", "not-found", "cancelled", "genuine"]
_VERSION_TIMEOUT = 30.0  # seconds for `helm version` at start-up (it reads no cluster)
_HELM_PLUGIN_POST_RENDERERS = 4  # from helm 4, --post-renderer names a plugin, not an executable
_HISTORY_MAX = 10  # revisions kept (pyhelm3's default, which its own upgrade sends)

# pyhelm3 logs every command, and a WARNING for every failed one ("command failed: helm status
# ..." even when "not found" is the expected answer). Unconfigured, Python's last-resort handler
# would print those to stderr; envctl reports through Progress and output.py instead.
logging.getLogger("pyhelm3").addHandler(logging.NullHandler())
_VERBOSE = "rerun with --verbose for the full traceback"


def helm_reason(exc: BaseException) -> str:
    """Helm's message in one line: the first non-empty stderr line without ``Error: ``."""
    stderr = getattr(exc, "stderr", b"")
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else str(stderr or exc)
    first = (
        next((line.strip() for line in text.splitlines() if line.strip()), "")
        or str(exc)
        or type(exc).__name__
    )
    return first.removeprefix("Error: ")


def classify(exc: BaseException) -> Kind:
    """Which kind of failure a pyhelm3 error is (pure; the table is pinned by tests)."""
    from pyhelm3 import errors

    if not isinstance(exc, errors.Error):
        return "genuine"
    text = exc.stderr.decode(errors="replace").lower()
    if isinstance(exc, errors.ConnectionError) or any(marker in text for marker in TRANSIENT_MARKERS):
        return "transient"
    if isinstance(exc, errors.ReleaseNotFoundError):
        return "not-found"
    if isinstance(exc, errors.CommandCancelledError):
        return "cancelled"
    return "genuine"


@dataclass(frozen=True)
class ReleaseState:
    """One revision of a release as helm reports it."""

    name: str
    namespace: str
    revision: int
    status: str  # deployed, failed, pending-install, pending-upgrade, pending-rollback, ...
    description: str
    last_deployed: str | None = None  # helm's RFC 3339 time of this revision, when it says

    @property
    def pending(self) -> bool:
        return self.status.startswith("pending-") or self.status == "uninstalling"


def _state(release: dict[str, Any]) -> ReleaseState:
    """A release as helm's ``-o json`` prints it, read without pyhelm3's models: those index
    ``release["manifest"]``, which helm leaves out when the release renders nothing
    (docs/tools-behaviour.md, "Release JSON")."""
    info = release.get("info") or {}
    return ReleaseState(
        name=str(release["name"]),
        namespace=str(release.get("namespace") or ""),
        revision=int(release.get("version") or 0),
        status=str(info.get("status") or "unknown"),
        description=str(info.get("description") or ""),
        last_deployed=str(info["last_deployed"]) if info.get("last_deployed") else None,
    )


def _state_of(record: ReleaseRecord) -> ReleaseState:
    return ReleaseState(
        record.name, record.namespace, record.revision, record.status, record.description, record.last_deployed
    )


class ReleaseRecords(Protocol):
    """Helm's release records read where helm keeps them (adapters/helm_storage.py): answers
    ``helm status``, ``get values`` and ``get manifest`` would give, without a helm process. Any
    exception means "cannot tell": the adapter then asks helm."""

    def latest(self, name: str, namespace: str) -> ReleaseRecord | None: ...

    def revision(self, name: str, namespace: str, revision: int) -> ReleaseRecord | None: ...


class RenderCache(Protocol):
    """Rendered manifests kept across runs by a key that names everything the render depends on."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, manifest: str) -> None: ...


_UNFINISHED_INSTALL = ("pending-install", "uninstalling")  # nothing to roll back to: uninstall
_UNFINISHED_UPGRADE = ("pending-upgrade", "pending-rollback")  # roll back to the previous revision


class Helm:
    """Release operations for one cluster (one kubeconfig); every method is a coroutine."""

    def __init__(
        self,
        client: Callable[[], Client],
        command: Command,
        *,
        progress: Progress,
        attempts: int = 4,
        backoff: float = 1.0,
        create_namespace: bool = True,
        timeout: str = "300s",
        call_timeout: float | None = None,
        stoppable: Stoppable | None = None,
        records: ReleaseRecords | None = None,
        renders: RenderCache | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        # records: the release read from the cluster instead of `helm status`/`get` (None: always
        # helm); renders: `helm template` outputs kept across runs (None: always render).
        self._records, self._renders = records, renders
        self._settings = sorted((k, v) for k, v in (settings or {}).items() if k.startswith("HELM_"))
        # call_timeout bounds each helm call (timeouts.helm); stoppable is the runner's, so an
        # interruption stops a running helm as it stops every other child (README "Signals").
        self._call_timeout = call_timeout
        self._stoppable = stoppable
        # create_namespace=False on a shared cluster: envctl made the namespace (labelled) already,
        # and an admission policy may refuse helm's unlabelled create of it (README "Shared clusters").
        self._create_namespace = create_namespace
        self._timeout = timeout  # what pyhelm3's Command sends as --timeout; a post-rendered upgrade sends it too
        # pyhelm3's Client runs `helm version` when it is made: made on first use (see open).
        self._make_client = client
        self._made: Client | None = None
        self._client_lock = threading.Lock()
        self._command = command  # the same Command the client runs; pyhelm3's models need it
        self._progress = progress
        self._attempts = attempts
        self._backoff = backoff

    @classmethod
    def open(
        cls,
        runner: SubprocessRunner,
        kubeconfig: Path,
        *,
        timeout: str,
        progress: Progress,
        attempts: int = 4,
        backoff: float = 1.0,
        context: str | None = None,
        create_namespace: bool = True,
        call_timeout: float | None = None,
        version_timeout: float = _VERSION_TIMEOUT,
        records: ReleaseRecords | None = None,
        renders: RenderCache | None = None,
    ) -> Helm:
        """A ``Helm`` for the workspace ``kubeconfig``; ``timeout`` is a duration with a unit ("300s").

        ``context``: a kubeconfig context (``--kube-context``), for a shared cluster's kubeconfig.

        A helm that is not on PATH is ``ToolMissingError`` here. ``helm version`` (pyhelm3's
        constructor runs it) runs when a call first needs the version or pyhelm3's client: a call
        such as ``helm status`` or ``helm template`` needs neither, and a no-op ``up`` that reads
        the release from the cluster starts no helm at all.
        """
        from pyhelm3 import Command

        from envctl.adapters.process import install_hint

        if not kubeconfig.is_file():
            msg = f"no kubeconfig at {kubeconfig}"
            raise ClusterError(
                msg, hint="run `envctl up` to create or reuse the cluster (it writes this file)"
            )
        executable = runner.which("helm")
        if executable is None:
            msg = "`helm` is not installed or not on PATH"
            raise ToolMissingError(msg, hint=install_hint("helm"))
        command = _exec_command(Command)(
            executable=executable, default_timeout=timeout, kubeconfig=kubeconfig.resolve(), kubecontext=context,
            version_timeout=version_timeout,
        )
        return cls(
            functools.partial(_make_client, command, executable, version_timeout), command, progress=progress,
            attempts=attempts, backoff=backoff, create_namespace=create_namespace, timeout=timeout,
            call_timeout=call_timeout, stoppable=runner.stoppable, records=records, renders=renders,
            settings=runner.env,
        )  # fmt: skip

    @property
    def _client(self) -> Client:
        with self._client_lock:
            if self._made is None:
                self._made = self._make_client()
            return self._made

    @property
    def version(self) -> str:
        return str(self._client.version)

    async def current(self, name: str, namespace: str) -> ReleaseState | None:
        """The release's latest revision (``helm status``), or None when it is not installed."""
        from pyhelm3 import errors

        read, record = self._stored(lambda records: records.latest(name, namespace))
        if read:
            return None if record is None else _state_of(record)
        try:
            status = await self._call("status", name, lambda: self._command.status(name, namespace=namespace))
        except errors.ReleaseNotFoundError:
            return None
        return _state(status)

    async def values(self, name: str, namespace: str, revision: int) -> dict[str, Any]:
        """The user-supplied values of one revision (``helm get values --revision N``)."""
        from pyhelm3 import Release, ReleaseRevision

        read, record = self._stored(lambda records: records.revision(name, namespace, revision))
        if read and record is not None:
            return dict(record.config)

        command = self._command
        rev = ReleaseRevision(
            command,
            release=Release(command, name=name, namespace=namespace),
            revision=revision,
            status="unknown",
            updated="1970-01-01T00:00:00Z",
        )
        return await self._call("get values", name, rev.values)

    async def recover(self, name: str, namespace: str) -> ReleaseState | None:
        """Make a release left pending by an interrupted run proceedable (pyhelm3's intent method).

        pending-install/uninstalling → ``uninstall --wait`` (returns None); pending-upgrade/rollback →
        ``rollback --cleanup-on-fail --wait`` to the previous revision. The same commands as pyhelm3's
        ``get_proceedable_revision``, with helm's JSON read here (``_state``).
        """
        current = await self.current(name, namespace)
        if current is None:
            return None
        if current.status in _UNFINISHED_INSTALL:
            await self._call("recover", name, lambda: self._command.uninstall(name, namespace=namespace, wait=True))
            return None
        if current.status in _UNFINISHED_UPGRADE:
            await self._call(
                "recover",
                name,
                lambda: self._command.rollback(name, None, cleanup_on_fail=True, namespace=namespace, wait=True),
            )
            return await self.current(name, namespace)
        return current

    def _stored(self, read: Callable[[ReleaseRecords], ReleaseRecord | None]) -> tuple[bool, ReleaseRecord | None]:
        """(True, what the records say) or (False, None) when they cannot tell; after a failure
        this client stops asking them (no access to Secrets, another storage driver...)."""
        if self._records is None:
            return False, None
        try:
            return True, read(self._records)
        except Exception:  # noqa: BLE001 - any failure of the shortcut: helm itself answers instead
            self._records = None
            return False, None

    async def template(
        self, name: str, chart_dir: Path, values: dict[str, Any], *, namespace: str, post_render: str | None = None
    ) -> str:
        """``helm template``: the manifests an upgrade with ``values`` would install, as text.

        ``post_render``: the rewrite rules for envctl's post-renderer (``envctl.postrender``), so the
        text is what the upgrade with the same rules installs (docs/tools-behaviour.md, "Helm post-renderer").
        """
        key = self._render_key(name, chart_dir, values, namespace, post_render) if self._renders else None
        if key is not None and self._renders is not None and (kept := self._renders.get(key)) is not None:
            return kept
        argv = ["template", name, _absolute(chart_dir), "--namespace", namespace, "--values", "-"]
        argv += self._post_renderer(post_render)
        stdout: bytes = await self._call("template", name, lambda: self._command.run(argv, json.dumps(values).encode()))
        text = stdout.decode()
        if key is not None and self._renders is not None:
            self._renders.put(key, text)
        return text

    def _render_key(
        self, name: str, chart_dir: Path, values: dict[str, Any], namespace: str, post_render: str | None
    ) -> str | None:
        """What a ``helm template`` output depends on: the helm binary (path, size, mtime), its
        HELM_* settings, every file of the chart, the release name and namespace, the values and
        the post-renderer's rules (envctl's version is part of every cache key). ``helm template``
        reads no cluster (``lookup`` renders empty, capabilities are helm's defaults), so equal
        keys render equal text; a chart that draws random values or the time renders what it
        rendered first until an input changes (docs/tools-behaviour.md, "Helm release records").
        None when the binary or the chart cannot be read: then nothing is kept."""
        executable = Path(getattr(self._command, "helm_path", ""))
        try:
            binary = executable.stat()
            files = sorted(path for path in chart_dir.resolve().rglob("*") if path.is_file())
            chart = [(path.relative_to(chart_dir.resolve()).as_posix(), _sha256(path)) for path in files]
        except (OSError, ValueError):
            return None
        material = [str(executable), binary.st_size, binary.st_mtime_ns, self._settings, chart, name, namespace,
                    values, post_render]  # fmt: skip
        return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()

    async def manifest(self, name: str, namespace: str, revision: int) -> str:
        """The manifests one revision installed (``helm get manifest --revision N``)."""
        read, record = self._stored(lambda records: records.revision(name, namespace, revision))
        if read and record is not None:
            return record.manifest + "\n"  # helm prints the record's manifest and a newline
        argv = ["get", "manifest", name, "--namespace", namespace, "--revision", str(revision)]
        stdout: bytes = await self._call("get manifest", name, lambda: self._command.run(argv))
        return stdout.decode()

    def _post_renderer(self, rules: str | None) -> list[str]:
        """The flags that pipe the rendered manifests through ``python -m envctl.postrender RULES``."""
        if rules is None:
            return []
        if self._client.version.major >= _HELM_PLUGIN_POST_RENDERERS:
            msg = f"inject: rewrite needs helm 3's executable post-renderer; helm {self.version} takes only plugins"
            hint = "use helm 3.x (scripts/install-tools.sh), or give the services a values_path"
            raise ToolFailedError(msg, hint=hint)
        arguments = ("-m", "envctl.postrender", rules)
        return [f"--post-renderer={sys.executable}", *(f"--post-renderer-args={arg}" for arg in arguments)]

    async def install_or_upgrade(
        self,
        name: str,
        chart_dir: Path,
        values: dict[str, Any],
        *,
        namespace: str,
        description: str,
        post_render: str | None = None,
    ) -> ReleaseState:
        """``helm upgrade --install`` with ``values`` (already merged) as JSON on stdin; never --wait.

        With ``post_render`` (rewrite rules) the command line is built here, as pyhelm3's would be plus
        the post-renderer flags, and run through pyhelm3's command runner: its ``install_or_upgrade``
        has no parameter for a post-renderer.
        """
        if post_render is not None:
            return await self._upgrade_post_rendered(
                name, chart_dir, values, namespace=namespace, description=description, rules=post_render
            )
        client = self._client  # made (`helm version`) before the timed call, not inside its limit
        chart = await self._call("show chart", name, lambda: client.get_chart(chart_dir.resolve()))
        # The command pyhelm3's install_or_upgrade_release sends (no flag it would rename for helm 4 is
        # set), its JSON read by _state.
        status = await self._call(
            "upgrade",
            name,
            lambda: self._command.install_or_upgrade(
                name,
                chart.ref,
                values,
                create_namespace=self._create_namespace,
                description=description,
                namespace=namespace,
                repo=chart.repo,
                version=chart.metadata.version,
                wait=False,
            ),
        )
        return _state(status)

    async def _upgrade_post_rendered(
        self, name: str, chart_dir: Path, values: dict[str, Any], *, namespace: str, description: str, rules: str
    ) -> ReleaseState:
        argv = [
            "upgrade", name, _absolute(chart_dir), "--history-max", str(_HISTORY_MAX), "--install",
            "--output", "json", "--timeout", str(self._timeout), "--values", "-", "--description", description,
            "--namespace", namespace, *(["--create-namespace"] if self._create_namespace else []),
            *self._post_renderer(rules),
        ]  # fmt: skip
        stdout: bytes = await self._call("upgrade", name, lambda: self._command.run(argv, json.dumps(values).encode()))
        return _state(json.loads(stdout[stdout.index(b"{") :]))

    async def uninstall(self, name: str, namespace: str) -> ReleaseState | None:
        """Uninstall the release; returns the revision that was removed, or None if none was installed."""
        installed = await self.current(name, namespace)
        if installed is not None:
            client = self._client
            await self._call("uninstall", name, lambda: client.uninstall_release(name, namespace=namespace))
        return installed

    async def _call(self, action: str, release: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run one helm operation, stoppable and bounded by the call timeout (``TimedOutError``).

        pyhelm3 runs helm as an asyncio child and terminates it when its task is cancelled
        (docs/tools-behaviour.md, "pyhelm3"): stopping the call cancels this task from the
        thread that stops the run; the timeout cancels it the same way."""
        task, loop = asyncio.current_task(), asyncio.get_running_loop()

        def stop() -> None:
            if task is not None:
                with contextlib.suppress(RuntimeError):  # the loop already closed: the call is over
                    loop.call_soon_threadsafe(task.cancel)

        with self._stoppable(stop) if self._stoppable is not None else contextlib.nullcontext():
            try:
                async with asyncio.timeout(self._call_timeout):
                    return await self._retried(action, release, attempt)
            except TimeoutError as exc:
                limit = f"{self._call_timeout:g} s"
                msg = f"helm {action} of release {release} did not finish within {limit} and was stopped"
                hint = 'raise timeouts.helm in envctl.yaml if the cluster is only slow (README "Timeouts")'
                raise TimedOutError(msg, hint=hint, argv=["helm", action, release]) from exc

    async def _retried(self, action: str, release: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Retry transient failures, map genuine ones to DeployError."""
        from pyhelm3 import errors

        def report(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            self._progress.step(
                release,
                f"helm {action} attempt {state.attempt_number}/{self._attempts} failed "
                f"({helm_reason(exc) if exc else 'unknown'}); retrying in {delay:.1f} s",
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=max(self._backoff, 10.0)),
            retry=retry_if_exception(lambda exc: classify(exc) == "transient"),
            before_sleep=report,
            reraise=True,
        )
        try:
            async for try_ in retrying:
                with try_:
                    result = await attempt()
        except errors.ReleaseNotFoundError:
            raise  # callers decide what "not installed" means
        except errors.Error as exc:
            raise self._failure(action, release, exc) from exc
        except (
            ValueError,
            KeyError,
        ) as exc:  # JSON/YAML pyhelm3 could not read (pydantic errors are ValueErrors)
            msg = f"helm {action} of release {release}: unexpected output ({type(exc).__name__}: {exc})"
            raise DeployError(
                msg.splitlines()[0], hint=f"check `helm version` (envctl expects helm 3.x); {_VERBOSE}"
            ) from exc
        return result

    def _failure(self, action: str, release: str, exc: Exception) -> DeployError:
        reason = helm_reason(exc)
        kind = classify(exc)
        if kind == "transient":
            msg = (
                f"helm {action} of release {release} still failing after {self._attempts} attempts: {reason}"
            )
            hint = "check the cluster is up (`envctl status`); if another helm operation is running, wait and rerun"
        elif kind == "cancelled":
            msg = f"helm {action} of release {release} was interrupted: {reason}"
            hint = "rerun `envctl up`: a release left pending is recovered before the next upgrade"
        else:
            msg = f"helm {action} of release {release} failed: {reason}"
            hint = "fix the chart or values (try `helm template` on the chart with the same values files)"
        return DeployError(msg, hint=hint)


@dataclass(frozen=True)
class LintResult:
    ok: bool  # helm lint's exit status: false when any chart has an [ERROR]
    findings: tuple[tuple[str, str], ...]  # (INFO|WARNING|ERROR, message), in helm's order


_LINT_LINE = re.compile(r"^\[(INFO|WARNING|ERROR)\] (.*)$")


def lint(runner: SubprocessRunner, chart_dir: Path, values_files: tuple[Path, ...] = ()) -> LintResult:
    """``helm lint CHART --values F...`` through the runner (no cluster needed). Raises
    ``ToolMissingError`` without helm; a lint that finds errors is a result, not an exception."""
    argv = ["helm", "lint", _absolute(chart_dir), *(f"--values={_absolute(path)}" for path in values_files)]
    done = runner.run(argv, timeout=60, check=False)
    findings = tuple(
        (match[1], match[2]) for line in done.stdout.splitlines() if (match := _LINT_LINE.match(line.strip()))
    )
    if done.returncode != 0 and not findings:
        text = done.stderr or done.stdout
        detail = next((line.strip() for line in text.splitlines() if line.strip()), f"exit {done.returncode}")
        msg = f"`helm lint` failed: {detail.removeprefix('Error: ')}"
        raise ToolFailedError(msg, hint="run `helm lint` on the chart to see the full output")
    return LintResult(done.returncode == 0, findings)


def _absolute(path: Path) -> str:
    """A chart as pyhelm3 must be given one: an absolute path (a relative one reads as a repo chart name)."""
    return str(path.resolve())


@functools.cache
def _exec_command(base: type[Command]) -> type[Command]:
    """pyhelm3's ``Command`` with helm started as ``exec helm ...`` by the shell pyhelm3 goes through.

    pyhelm3 stops a cancelled call by terminating the process it started, then waits for its
    output to end. That process is ``/bin/sh -c 'helm ...'``, and dash (Debian's /bin/sh) does not
    exec a lone command: the shell would die and helm run on, holding the pipes, so the stop would
    wait for helm to finish by itself (docs/tools-behaviour.md, "pyhelm3"). With ``exec`` the
    process pyhelm3 terminates is helm itself.
    """

    class ExecCommand(base):  # type: ignore[misc]
        def __init__(self, *, executable: str, version_timeout: float = _VERSION_TIMEOUT, **options: Any) -> None:
            super().__init__(executable="exec", **options)
            self._helm, self._version_timeout = executable, version_timeout

        @property
        def helm_path(self) -> str:
            return self._helm

        async def run(self, command: list[str], input: bytes | None = None) -> bytes:  # noqa: A002 - pyhelm3's name
            result: bytes = await super().run([self._helm, *command], input)
            return result

        def client_version(self) -> Any:
            # pyhelm3's one synchronous call, at construction: run here as an argv list with a time
            # limit (pyhelm3 runs it through a shell with none, so a hung helm hung every verb)
            import semver

            argv = [self._helm, "version", "--template", "{{ .Version }}"]
            done = subprocess.run(argv, capture_output=True, check=True, timeout=self._version_timeout)
            return semver.Version.parse(done.stdout.decode().removeprefix("v"))

    return ExecCommand


def _make_client(command: Command, executable: str, version_timeout: float) -> Client:
    """pyhelm3's Client, whose constructor runs ``helm version``, with that call's failures mapped:
    a helm that cannot start is ``ToolMissingError``, one that hangs ``TimedOutError`` (exit 11)."""
    from pyhelm3 import Client

    from envctl.adapters.process import install_hint

    try:
        return Client(command, executable=executable)
    except subprocess.TimeoutExpired as exc:
        msg = f"`helm version` did not answer within {version_timeout:g} s"
        raise TimedOutError(msg, hint="check the helm installation: `helm version`", argv=[executable]) from exc
    except (AssertionError, FileNotFoundError) as exc:
        msg = "`helm` is not installed or not on PATH"
        raise ToolMissingError(msg, hint=install_hint("helm")) from exc
    except subprocess.CalledProcessError as exc:
        detail = helm_reason(exc) if exc.stderr else f"exit {exc.returncode}"
        msg = f"`helm version` failed: {detail}"
        raise ToolFailedError(msg, hint="check the helm installation: `helm version`", argv=[executable]) from exc
    except ValueError as exc:  # semver could not parse what `helm version` printed
        msg = f"`helm version` printed an unreadable version: {exc}"
        raise ToolFailedError(msg, hint="install helm 3.x (scripts/install-tools.sh)") from exc


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_sync(coro: Awaitable[T]) -> T:
    """Run a Helm coroutine from synchronous code (the scheduler's worker threads)."""
    return asyncio.run(coro)  # type: ignore[arg-type]
