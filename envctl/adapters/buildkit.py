"""The BuildKit backend: ``docker buildx build`` when buildx exists, else classic ``DOCKER_BUILDKIT=1``.

Which one a machine has (shared/reference/libraries.md §4.2):
* ``docker buildx version`` succeeds → ``docker buildx build --load`` with ``--cache-from/--cache-to``,
  each kept per service (``buildkit_cache``: one shared location would keep one service's cache);
  ``type=gha`` only where buildx finds the cache service's URL and token (GitHub Actions).
* a client older than 23.0 (Debian's 20.10) still has the classic BuildKit path in ``docker build``;
  it has no ``--cache-to`` and takes only image refs in ``--cache-from``.
* otherwise (a new client without buildx) there is no BuildKit; the caller uses the Engine API.

Builds never tag: ``--iidfile`` gives the image ID and the caller tags it after success, so a failed
or cancelled build never owns the fingerprint ref. BuildKit writes its progress to stderr.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from envctl.adapters.buildkit_cache import finish_local_exports, gha_usable, local_exports, scoped_spec
from envctl.adapters.docker import BuildStepFailure
from envctl.adapters.process import SubprocessRunner

__all__ = [
    "BuildRequest",
    "BuildkitFlavor",
    "build_argv",
    "cache_stats",
    "detect_flavor",
    "failing_step",
    "run_build",
]

BuildkitFlavor = Literal["buildx", "classic"]

_STEP = re.compile(r"^#(\d+) (\[.+)$")
_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
_CACHED = re.compile(r"^#(\d+) CACHED$")


@dataclass(frozen=True)
class BuildRequest:
    """One image build, paths absolute."""

    context: str
    dockerfile: str
    iidfile: str = ""  # run_build fills it in
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    network: str | None = None
    cache_from: Sequence[str] = ()
    cache_to: Sequence[str] = ()
    cache_scope: str = ""  # the service: every cache source and export is keyed to it


def detect_flavor(runner: SubprocessRunner, docker_cli: str) -> BuildkitFlavor | None:
    """Which BuildKit path ``docker_cli`` offers, by asking it (never by guessing from PATH)."""
    if runner.run([docker_cli, "buildx", "version"], check=False, timeout=30).returncode == 0:
        return "buildx"
    version = runner.run([docker_cli, "version", "--format", "{{.Client.Version}}"], check=False, timeout=30)
    major = re.match(r"(\d+)\.", version.stdout.strip())
    # Clients from 23.0 on hand `docker build` to buildx; without the plugin they have no BuildKit.
    if major is not None and int(major[1]) < 23:
        return "classic"
    return None


def build_argv(
    flavor: BuildkitFlavor, docker_cli: str, request: BuildRequest, environ: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    """The exact command line and extra environment for one build."""
    if flavor == "buildx":
        argv = [docker_cli, "buildx", "build", "--load"]
        env: dict[str, str] = {}
    else:
        argv = [docker_cli, "build"]
        env = {"DOCKER_BUILDKIT": "1"}
    argv += ["--progress=plain", "--iidfile", request.iidfile, "-f", request.dockerfile]
    if request.target:
        argv += ["--target", request.target]
    if request.network:
        argv += ["--network", request.network]
    for key, value in sorted(request.build_args.items()):
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in sorted(request.labels.items()):
        argv += ["--label", f"{key}={value}"]
    for source in usable_cache_from(flavor, request.cache_from, environ):
        argv += ["--cache-from", scoped_spec(source, request.cache_scope, export=False)]
    for sink in usable_cache_to(flavor, request.cache_to, environ):
        argv += ["--cache-to", scoped_spec(sink, request.cache_scope, export=True)]
    argv.append(request.context)
    return argv, env


def run_build(
    runner: SubprocessRunner,
    flavor: BuildkitFlavor,
    docker_cli: str,
    request: BuildRequest,
    *,
    cwd: str,
    on_line: Callable[[str], None],
) -> tuple[str, list[str]]:
    """Run one build; returns (image ID, log). Raises ``BuildStepFailure`` naming the failed step."""
    log: list[str] = []

    def keep(line: str) -> None:
        log.append(line)
        on_line(line)

    # Local cache exports go to a fresh folder, swapped in only after success (buildkit_cache).
    exports = local_exports(usable_cache_to(flavor, request.cache_to, runner.env), request.cache_scope)
    finish_local_exports(exports, succeeded=False)  # leftovers of an interrupted run
    with tempfile.TemporaryDirectory(prefix="envctl-build-") as tmp:
        request = replace(request, iidfile=str(Path(tmp) / "iid"))
        argv, env = build_argv(flavor, docker_cli, request, runner.env)
        succeeded = False
        try:
            done = runner.run(argv, env=env, cwd=cwd, check=False, on_line=keep)
            succeeded = done.returncode == 0
        finally:
            finish_local_exports(exports, succeeded=succeeded)
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
