"""The BuildKit backend: ``docker buildx build`` when buildx exists, else classic ``DOCKER_BUILDKIT=1``.

Which one a machine has (docs/tools.md, "docker CLI and BuildKit"; docs/tools-behaviour.md):
* ``docker buildx version`` succeeds → ``docker buildx build --load`` with ``--cache-from/--cache-to``,
  each kept per service (``buildkit_cache``: one shared location would keep one service's cache);
  ``type=gha`` only where buildx finds the cache service's URL and token (GitHub Actions).
* a client older than 23.0 (Debian's 20.10) still has the classic BuildKit path in ``docker build``;
  it has no ``--cache-to`` and takes only image refs in ``--cache-from``.
* otherwise (a new client without buildx) there is no BuildKit; the caller uses the Engine API.

Images a build is ``FROM`` (another service's image, through a build ARG): the ``docker`` driver and
classic BuildKit read them from the local image store; a ``docker-container`` (or any other) buildx
driver cannot see that store and would pull the name from a registry (docker/buildx#159, #2348). So
with such a driver a dependency is also exported as an OCI layout (``--output
type=oci,dest=DIR,tar=false`` next to ``--load``; two outputs need buildx and BuildKit 0.13+), and
each dependent gets ``--build-context <dependency ref>=oci-layout://DIR@<manifest digest>``, which
replaces its ``FROM <dependency ref>`` (docker/buildx@v0.36.1 build/opt.go; context names are
normalised image refs, util/buildflags/context.go). ``DependencyLayouts`` keeps those layouts.

Builds never tag: ``--iidfile`` gives the image ID and the caller tags it after success, so a failed
or cancelled build never owns the fingerprint ref. BuildKit writes its progress to stderr.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from envctl.adapters.build_log import BuildLog
from envctl.adapters.buildkit_cache import finish_local_exports, gha_usable, local_exports, scoped_spec
from envctl.adapters.buildkit_secrets import SecretRef
from envctl.adapters.process import SubprocessRunner
from envctl.errors import BuildError, BuildStepFailure, ToolMissingError

__all__ = [
    "BuildRequest",
    "BuildkitFlavor",
    "DependencyLayouts",
    "build_argv",
    "builder_needs_buildx",
    "cache_stats",
    "detect_driver",
    "detect_flavor",
    "failing_step",
    "run_build",
]

BuildkitFlavor = Literal["buildx", "classic"]

# Clients from 23.0 on hand `docker build` to buildx; without the plugin they have no BuildKit.
_BUILDX_IS_THE_BUILDER_FROM = 23
_STEP = re.compile(r"^#(\d+) (\[.+)$")
_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
_CACHED = re.compile(r"^#(\d+) CACHED$")


@dataclass(frozen=True)
class BuildRequest:
    """One image build, paths absolute.

    ``build_args`` go on the command line (only refs envctl made: a dependency's fingerprint ref);
    ``env_args`` are the configured build args, which may be secrets: the command line names them
    (``--build-arg NAME``) and the docker client reads each value from its own environment, where
    ``ps`` and ``/proc/<pid>/cmdline`` cannot show it (docs/tools-behaviour.md, "Build args and secrets").
    """

    context: str
    dockerfile: str
    iidfile: str = ""  # run_build fills it in
    build_args: Mapping[str, str] = field(default_factory=dict)
    env_args: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[SecretRef, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    network: str | None = None
    cache_from: Sequence[str] = ()
    cache_to: Sequence[str] = ()
    cache_scope: str = ""  # the service: every cache source and export is keyed to it
    contexts: Mapping[str, str] = field(default_factory=dict)  # --build-context NAME=VALUE (buildx only)
    oci_layout: str | None = None  # also export an OCI layout here, for dependents (buildx only)
    builder: str | None = None  # a named buildx builder (remote BuildKit, e.g. on the cluster); buildx only


def detect_flavor(runner: SubprocessRunner, docker_cli: str) -> BuildkitFlavor | None:
    """Which BuildKit path ``docker_cli`` offers, by asking it (never by guessing from PATH)."""
    if runner.run([docker_cli, "buildx", "version"], check=False, timeout=30).returncode == 0:
        return "buildx"
    version = runner.run([docker_cli, "version", "--format", "{{.Client.Version}}"], check=False, timeout=30)
    major = re.match(r"(\d+)\.", version.stdout.strip())
    if major is not None and int(major[1]) < _BUILDX_IS_THE_BUILDER_FROM:
        return "classic"
    return None


def detect_driver(runner: SubprocessRunner, docker_cli: str) -> str | None:
    """The current buildx builder's driver (``docker``, ``docker-container``, ...), from
    ``docker buildx inspect`` (its ``Driver:`` line, commands/inspect.go), or None."""
    done = runner.run([docker_cli, "buildx", "inspect"], check=False, timeout=60)
    match = re.search(r"^Driver:\s+(\S+)", done.stdout, re.MULTILINE)
    return match[1] if done.returncode == 0 and match else None


@dataclass(frozen=True)
class DependencyLayouts:
    """OCI layouts of the images other builds are FROM, for a builder that cannot see local images.

    ``root`` holds one layout folder per image ref (kept across runs, so a dependency built by an
    earlier run still reaches its dependents); ``exported`` are the refs some planned build is FROM.
    """

    root: Path
    driver: str | None
    exported: frozenset[str] = frozenset()

    @property
    def needed(self) -> bool:
        """The docker driver (and classic BuildKit, driver None) read the local image store."""
        return self.driver not in (None, "docker")

    def export_dir(self, ref: str) -> str | None:
        return str(self._folder(ref)) if self.needed and ref in self.exported else None

    def contexts(self, refs: Iterable[str]) -> dict[str, str]:
        """``--build-context`` values making each ``FROM <ref>`` read its layout; raises when one is missing."""
        if not self.needed:
            return {}
        found = {}
        for ref in refs:
            index = self._folder(ref) / "index.json"
            try:
                digest = json.loads(index.read_text(encoding="utf-8"))["manifests"][0]["digest"]
            except (OSError, ValueError, KeyError, IndexError) as exc:
                msg = f"the {self.driver} builder cannot see the local image {ref}, and no OCI layout of it exists"
                hint = (
                    "rebuild it with envctl (remove the local image), or use the docker driver: "
                    "`docker buildx use default`"
                )
                raise BuildError(msg, hint=hint) from exc
            found[ref] = f"oci-layout://{self._folder(ref)}@{digest}"
        return found

    def _folder(self, ref: str) -> Path:
        return self.root / re.sub(r"[^A-Za-z0-9_.-]", "_", ref)


def build_argv(
    flavor: BuildkitFlavor, docker_cli: str, request: BuildRequest, environ: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The exact command line and extra environment for one build."""
    if flavor == "buildx":
        # --builder NAME: a BuildKit instance elsewhere (a build machine, the shared cluster); --load
        # still brings the result into the local engine, which tags and pushes it.
        argv = [docker_cli, "buildx", "build", *(["--builder", request.builder] if request.builder else []), "--load"]
        env: dict[str, str] = {}
    else:
        if request.builder:
            raise builder_needs_buildx(request.builder)
        argv = [docker_cli, "build"]
        env = {"DOCKER_BUILDKIT": "1"}
    argv += ["--progress=plain", "--iidfile", request.iidfile, "-f", request.dockerfile]
    if request.target:
        argv += ["--target", request.target]
    if request.network:
        argv += ["--network", request.network]
    for key, value in sorted(request.build_args.items()):
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in sorted(request.env_args.items()):
        if key not in request.build_args:  # a dependency's ref wins over a configured value
            argv += ["--build-arg", key]
            env[key] = value
    for secret in request.secrets:
        argv += ["--secret", secret.spec]
    for key, value in sorted(request.labels.items()):
        argv += ["--label", f"{key}={value}"]
    for source in usable_cache_from(flavor, request.cache_from, environ):
        argv += ["--cache-from", scoped_spec(source, request.cache_scope, export=False)]
    for sink in usable_cache_to(flavor, request.cache_to, environ):
        argv += ["--cache-to", scoped_spec(sink, request.cache_scope, export=True)]
    if flavor == "buildx":
        for name, value in sorted(request.contexts.items()):
            argv += ["--build-context", f"{name}={value}"]
        if request.oci_layout:
            argv += ["--output", f"type=oci,dest={request.oci_layout},tar=false"]
    argv.append(request.context)
    return argv, env


def builder_needs_buildx(builder: str) -> ToolMissingError:
    """``build.builder`` names a buildx builder; without buildx it cannot be honoured, only refused."""
    msg = f"build.builder {builder!r} needs `docker buildx`, which this docker client does not have"
    return ToolMissingError(msg, hint="install the docker buildx plugin, or remove build.builder from envctl.yaml")


def run_build(
    runner: SubprocessRunner,
    flavor: BuildkitFlavor,
    docker_cli: str,
    request: BuildRequest,
    *,
    cwd: str,
    on_line: Callable[[str], None],
    timeout: float | None = None,
) -> tuple[str, list[str]]:
    """Run one build; returns (image ID, the kept log: ``BuildLog``, bounded). Raises
    ``BuildStepFailure`` naming the failed step."""
    kept = BuildLog()

    def keep(line: str) -> None:
        kept.add(line)
        on_line(line)

    # Local cache exports go to a fresh folder, swapped in only after success (buildkit_cache).
    exports = local_exports(usable_cache_to(flavor, request.cache_to, runner.env), request.cache_scope)
    finish_local_exports(exports, succeeded=False)  # leftovers of an interrupted run
    with tempfile.TemporaryDirectory(prefix="envctl-build-") as tmp:
        request = replace(request, iidfile=str(Path(tmp) / "iid"))
        argv, env = build_argv(flavor, docker_cli, request, runner.env)
        succeeded = False
        try:
            done = runner.run(argv, env=env, cwd=cwd, check=False, on_line=keep, timeout=timeout)
            succeeded = done.returncode == 0
        finally:
            finish_local_exports(exports, succeeded=succeeded)
        log = kept.lines()
        if done.returncode != 0:
            error = next((line for line in reversed(log) if line.strip()), f"exit {done.returncode}")
            raise BuildStepFailure(error, step=failing_step(log) or "(no step reported)", log=log)
        return Path(request.iidfile).read_text(encoding="utf-8").strip(), log


def usable_cache_from(flavor: BuildkitFlavor, sources: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    usable = [s for s in sources if gha_usable(s, environ)]
    if flavor == "classic":
        # Classic BuildKit reads each comma part of `type=…` as an image ref and silently ignores it.
        usable = [s for s in usable if "type=" not in s]
    return usable


def usable_cache_to(flavor: BuildkitFlavor, sinks: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    if flavor == "classic":
        return []  # `docker build --cache-to` is an unknown flag there
    return [s for s in sinks if gha_usable(s, environ)]


def failing_step(log: Sequence[str]) -> str | None:
    """The step BuildKit's plain progress marks as failed, e.g. ``[api 2/3] RUN make``."""
    steps: dict[str, str] = {}
    for line in log:
        if match := _STEP.match(line):
            steps.setdefault(match[1], match[2])
        elif (match := _ERROR.match(line)) and match[1] in steps:
            return steps[match[1]]
    return None


def cache_stats(log: Sequence[str]) -> tuple[int, int]:
    """(cached steps, build steps) from plain progress; FROM/context steps are not counted."""
    steps: set[str] = set()
    cached: set[str] = set()
    for line in log:
        if (match := _STEP.match(line)) and not re.search(r"\] FROM |\[internal\]", line):
            steps.add(match[1])
        elif match := _CACHED.match(line):
            cached.add(match[1])
    return len(cached & steps), len(steps)
