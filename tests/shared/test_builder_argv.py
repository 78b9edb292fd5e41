"""build.builder and registry caches: the exact `docker buildx build` command line (no buildx here)."""

from __future__ import annotations

import pytest

from envctl.adapters.buildkit import BuildRequest, build_argv
from envctl.errors import ToolMissingError

REQUEST = BuildRequest(
    context="/ws", dockerfile="/ws/D", iidfile="/i", builder="cluster-builder", cache_scope="api",
    cache_from=("type=registry,ref=registry.internal:5000/demo/cache",),
    cache_to=("type=registry,ref=registry.internal:5000/demo/cache,mode=max",),
)  # fmt: skip


def test_a_named_builder_and_a_shared_registry_cache() -> None:
    argv, env = build_argv("buildx", "docker", REQUEST, {})
    assert argv == [
        "docker", "buildx", "build", "--builder", "cluster-builder", "--load",
        "--progress=plain", "--iidfile", "/i", "-f", "/ws/D",
        "--cache-from", "type=registry,ref=registry.internal:5000/demo/cache:api",
        "--cache-to", "type=registry,ref=registry.internal:5000/demo/cache:api,mode=max",
        "/ws",
    ]  # fmt: skip
    assert env == {}


def test_a_builder_without_buildx_is_refused_not_ignored() -> None:
    with pytest.raises(ToolMissingError, match=r"build\.builder 'cluster-builder' needs `docker buildx`"):
        build_argv("classic", "/usr/bin/docker", REQUEST, {})


def test_the_build_phase_refuses_a_builder_where_the_client_has_no_buildx(tmp_path) -> None:
    import shutil

    from envctl.adapters.process import SubprocessRunner
    from envctl.phases.build import BuildOptions, ImageBuilder
    from envctl.progress import NullProgress
    from envctl.timing.spans import Recorder

    client = "/usr/bin/docker" if shutil.which("/usr/bin/docker") else "docker"  # this machine: no buildx plugin
    builder = ImageBuilder(workspace_root=tmp_path, docker=None, runner=SubprocessRunner(),  # type: ignore[arg-type]
                           options=BuildOptions(docker_cli=client, builder="remote"), recorder=Recorder(),
                           progress=NullProgress())  # fmt: skip
    with pytest.raises(ToolMissingError, match=r"build\.builder 'remote' needs `docker buildx`"):
        _ = builder.backend
