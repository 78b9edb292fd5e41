"""Adapters of the image phases: exact BuildKit command lines, log parsing, refs, daemon errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from envctl.adapters.buildkit import BuildRequest, build_argv, cache_stats, detect_flavor, failing_step
from envctl.adapters.containerd import ContainerdNodes, Node, normalize_ref
from envctl.adapters.docker import DockerEngine, split_ref
from envctl.adapters.process import SubprocessRunner
from envctl.errors import DaemonUnavailableError
from envctl.phases.load import RegistryTarget
from tests.conftest import classic_docker_cli

REQUEST = BuildRequest(
    context="/ws",
    dockerfile="/ws/services/api/Dockerfile",
    iidfile="/tmp/b/iid",
    build_args={"BASE": "demo/base:fp-1", "A": "1"},
    labels={"dev.envctl.service": "api"},
    target="runtime",
    network="none",
    cache_from=("type=local,src=/c", "type=gha", "demo/api:cache"),
    cache_to=("type=local,dest=/c,mode=max", "type=gha,mode=max"),
)
COMMON = [
    "--progress=plain", "--iidfile", "/tmp/b/iid", "-f", "/ws/services/api/Dockerfile", "--target", "runtime",
    "--network", "none", "--build-arg", "A=1", "--build-arg", "BASE=demo/base:fp-1",
    "--label", "dev.envctl.service=api",
]  # fmt: skip


def test_buildx_argv_outside_github_actions_drops_the_gha_cache() -> None:
    argv, env = build_argv("buildx", "docker", REQUEST, {})
    assert argv == ["docker", "buildx", "build", "--load", *COMMON,
                    "--cache-from", "type=local,src=/c", "--cache-from", "demo/api:cache",
                    "--cache-to", "type=local,dest=/c,mode=max", "/ws"]  # fmt: skip
    assert env == {}


def test_buildx_argv_in_github_actions_keeps_the_gha_cache() -> None:
    argv, _ = build_argv("buildx", "docker", REQUEST, {"ACTIONS_CACHE_URL": "https://cache/", "ACTIONS_RUNTIME_TOKEN": "t"})
    assert argv[argv.index("--label") + 2 :] == [
        "--cache-from", "type=local,src=/c", "--cache-from", "type=gha", "--cache-from", "demo/api:cache",
        "--cache-to", "type=local,dest=/c,mode=max", "--cache-to", "type=gha,mode=max", "/ws",
    ]  # fmt: skip


def test_classic_argv_sets_docker_buildkit_and_keeps_only_image_caches() -> None:
    argv, env = build_argv("classic", "/usr/bin/docker", REQUEST, {"ACTIONS_CACHE_URL": "x"})
    assert argv == ["/usr/bin/docker", "build", *COMMON, "--cache-from", "demo/api:cache", "/ws"]
    assert env == {"DOCKER_BUILDKIT": "1"}


def test_minimal_request_has_no_optional_flags() -> None:
    argv, _ = build_argv(
        "classic", "docker", BuildRequest(context="/ws", dockerfile="/ws/D", iidfile="/i"), {}
    )
    assert argv == ["docker", "build", "--progress=plain", "--iidfile", "/i", "-f", "/ws/D", "/ws"]


PLAIN_LOG = """\
#4 [1/3] FROM docker.io/envctl-test/busybox:1
#4 DONE 0.0s
#5 [internal] load build context
#6 [2/3] COPY a.txt /app/a.txt
#6 CACHED
#7 [3/3] RUN make && false
#7 sha256:0fef436407a72f8fad97acbb1d170fadfdeca964fbd31a44093f6065fac7d1dc
#7 ERROR: executor failed running [/bin/sh -c make && false]: exit code: 1
------
 > [3/3] RUN make && false:
------""".splitlines()


def test_failing_step_and_cache_stats_from_plain_progress() -> None:
    assert failing_step(PLAIN_LOG) == "[3/3] RUN make && false"
    assert failing_step(PLAIN_LOG[:5]) is None
    assert cache_stats(PLAIN_LOG) == (1, 2)


def _stand_in_docker(tmp_path: Path, script: str) -> str:
    path = tmp_path / "docker"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_detect_flavor_asks_the_client(tmp_path: Path) -> None:
    runner = SubprocessRunner()
    with_buildx = _stand_in_docker(
        tmp_path, '[ "$1 $2" = "buildx version" ] && exit 0\necho "unknown: $*" >&2; exit 2\n'
    )
    assert detect_flavor(runner, with_buildx) == "buildx"
    (tmp_path / "old").mkdir()
    old = _stand_in_docker(
        tmp_path / "old",
        '[ "$1" = version ] && [ "$3" = "{{.Client.Version}}" ] && echo 20.10.24+dfsg1 && exit 0\nexit 1\n',
    )
    assert detect_flavor(runner, old) == "classic"
    (tmp_path / "new").mkdir()
    new = _stand_in_docker(tmp_path / "new", '[ "$1" = version ] && echo 28.2.2 && exit 0\nexit 1\n')
    assert detect_flavor(runner, new) is None


def test_detect_flavor_of_the_real_clients_here() -> None:
    classic = classic_docker_cli()
    if classic is None:
        pytest.skip("needs a docker client older than 23.0 (Debian's docker.io 20.10) on PATH")
    runner = SubprocessRunner()
    assert detect_flavor(runner, classic) == "classic"
    if Path("/usr/local/bin/docker").exists():
        assert detect_flavor(runner, "/usr/local/bin/docker") is None  # 28.2 without buildx


@pytest.mark.parametrize(
    ("ref", "normalized"),
    [
        ("api:fp-1", "docker.io/library/api:fp-1"),
        ("demo/api:fp-1", "docker.io/demo/api:fp-1"),
        ("127.0.0.1:5000/demo/api:fp-1", "127.0.0.1:5000/demo/api:fp-1"),
        ("ghcr.io/o/api:1", "ghcr.io/o/api:1"),
        ("localhost/api:1", "localhost/api:1"),
    ],
)
def test_normalize_ref_matches_containerd_names(ref: str, normalized: str) -> None:
    assert normalize_ref(ref) == normalized


def test_split_ref_and_registry_refs() -> None:
    assert split_ref("127.0.0.1:5000/a/b:fp-1") == ("127.0.0.1:5000/a/b", "fp-1")
    assert split_ref("127.0.0.1:5000/a/b") == ("127.0.0.1:5000/a/b", "latest")
    target = RegistryTarget("127.0.0.1:5111", cluster_address="k3d-envctl-registry:5000")
    assert target.push_ref("demo/api:fp-1") == "127.0.0.1:5111/demo/api:fp-1"
    assert target.chart_ref("ghcr.io/o/api:1") == "k3d-envctl-registry:5000/o/api:1"


def test_ctr_argv_with_and_without_a_node_address() -> None:
    nodes = ContainerdNodes(SubprocessRunner(), "/usr/bin/docker")
    assert nodes.ctr(Node("k3d-dev-server-0"), "images", "ls", "-q") == [
        "/usr/bin/docker", "exec", "k3d-dev-server-0", "ctr", "-n", "k8s.io", "images", "ls", "-q",
    ]  # fmt: skip
    assert nodes.ctr(Node("n1", "/run/n1/c.sock"), "images", "import", "-", stdin=True) == [
        "/usr/bin/docker", "exec", "-i", "n1", "ctr", "-a", "/run/n1/c.sock", "-n", "k8s.io", "images", "import", "-",
    ]  # fmt: skip


def test_a_daemon_that_does_not_answer_names_the_socket(tmp_path: Path) -> None:
    socket = f"unix://{tmp_path}/docker.sock"
    with pytest.raises(DaemonUnavailableError) as caught:
        DockerEngine({"DOCKER_HOST": socket}).inspect("demo/api:fp-1")
    assert caught.value.message.startswith(f"the Docker daemon does not answer at {socket}")
    assert "start Docker" in (caught.value.hint or "")
