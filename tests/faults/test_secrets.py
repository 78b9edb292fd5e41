"""Secrets never leak: build args print as ``***`` unless declared public, their values reach the
docker client only through its environment, and BuildKit secrets are passed by reference.

The canary is a real ``envctl up`` (real git, Docker with classic BuildKit, containerd node, the
k3d/helm stand-ins, KMock): one token is a build arg, an env secret and a file secret. While the
build is held at a gate, no process on the machine has the token in its command line; after the
run, the token is in no output, run record, timings output or CI summary — and the build did read
it (a RUN step compares the secret files with the build arg and fails otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from envctl.adapters.buildkit import BuildRequest, build_argv
from envctl.adapters.buildkit_secrets import SecretRef
from tests.faults.conftest import assert_contract, run_envctl
from tests.pipeline.conftest import UpWorld, make_world
from tests.support.gate import Gate

CONFIG = """\
version: 1
release: {{chart: charts/demo}}
services:
  api:
    dockerfile: svc/Dockerfile
    image: ws/api
    build_args: {{TOKEN: {token}, MODE: {mode}}}
build:
  public_args: [MODE]
{secrets}"""


def workspace(root: Path, *, arg: str = "tok-1", mode: str = "fast", secrets: str = "") -> Path:
    (root / "svc").mkdir(parents=True, exist_ok=True)
    (root / "charts" / "demo").mkdir(parents=True, exist_ok=True)
    (root / "svc" / "Dockerfile").write_text("FROM busybox\nARG TOKEN MODE\nRUN echo $MODE\n")
    (root / "envctl.yaml").write_text(CONFIG.format(token=arg, mode=mode, secrets=secrets))
    return root


def plan(root: Path, **env: str) -> dict:
    done = run_envctl(root, "plan", "--output", "json", env={**os.environ, "ENVCTL_DOCKER": "/nonexistent", **env})
    assert_contract(done, (0,))
    [service] = json.loads(done.stdout)["services"]
    return service


def test_plan_json_shows_build_args_redacted_unless_public(tmp_path: Path) -> None:
    workspace(tmp_path, arg="s3cr3t-value")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@x", "commit",
                                                                 "-qm", "ws"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / ".envctl").mkdir()  # as `up` leaves it: plans keep their scan there
    for _ in range(2):  # the second plan reads the scan the first one kept under .envctl/
        service = plan(tmp_path)
        assert service["build_args"] == {"TOKEN": "***", "MODE": "fast"}
    done = run_envctl(tmp_path, "up", "--dry-run")
    assert "s3cr3t-value" not in done.stdout + done.stderr
    kept = [path for path in tmp_path.joinpath(".envctl").rglob("*") if path.is_file()]
    assert kept  # the scan cache was written…
    assert not [path for path in kept if b"s3cr3t-value" in path.read_bytes()]  # …without the value


def test_fingerprint_hashes_build_arg_values_and_secret_ids_never_secret_values(tmp_path: Path) -> None:
    secret_file = tmp_path / "npmrc"
    secret_file.write_text("one")
    secrets = f"  secrets:\n    npm: {{file: {secret_file}}}\n    tok: {{env: NPM_TOKEN}}\n"
    first = plan(workspace(tmp_path / "ws", secrets=secrets), NPM_TOKEN="a")["fingerprint"]
    secret_file.write_text("two")
    assert plan(tmp_path / "ws", NPM_TOKEN="b")["fingerprint"] == first  # values: not hashed
    assert plan(workspace(tmp_path / "ws", secrets=secrets, arg="tok-2"))["fingerprint"] != first  # arg: hashed
    fewer = "  secrets:\n    tok: {env: NPM_TOKEN}\n"
    assert plan(workspace(tmp_path / "ws", secrets=fewer))["fingerprint"] != first  # ids: hashed


@pytest.mark.parametrize(
    ("secrets", "says"),
    [
        ("  secrets:\n    npm: {env: A, file: /x}\n", "exactly one of env"),
        ("  secrets:\n    npm: {}\n", "exactly one of env"),
        ("  secrets:\n    npm: {file: ../outside}\n", "leaves the workspace"),
        ("  secrets:\n    'a/b': {env: A}\n", "secrets"),
        ("  secrets:\n    npm: {env: 'A B'}\n", "env"),
        ("  public_args: ['A=B']\n", "public_args"),
    ],
)
def test_bad_secret_settings_are_one_error_line(tmp_path: Path, secrets: str, says: str) -> None:
    done = run_envctl(workspace(tmp_path, secrets=secrets), "plan")
    assert_contract(done, (2,))
    assert says in done.stderr.splitlines()[0], done.stderr


def test_build_args_travel_in_the_clients_environment_and_secrets_by_reference() -> None:
    request = BuildRequest(
        context="/ws", dockerfile="/ws/D", iidfile="/i", build_args={"BASE_REF": "demo/base:fp-1"},
        env_args={"TOKEN": "s3cr3t", "BASE_REF": "configured"},
        secrets=(SecretRef("npm", env="NPM_TOKEN"), SecretRef("rc", src="/home/u/.npmrc")),
    )  # fmt: skip
    for flavor in ("buildx", "classic"):
        argv, env = build_argv(flavor, "docker", request, {})
        assert "s3cr3t" not in " ".join(argv)
        assert env["TOKEN"] == "s3cr3t" and "BASE_REF" not in env  # the dependency's ref wins
        at = argv.index("-f") + 2
        assert argv[at:at + 8] == ["--build-arg", "BASE_REF=demo/base:fp-1", "--build-arg", "TOKEN",
                                   "--secret", "id=npm,env=NPM_TOKEN", "--secret", "id=rc,src=/home/u/.npmrc"]


def _canary_world(world: UpWorld, gate: Gate, token: str, secret_file: Path) -> None:
    dockerfile = world.workspace / "examples" / "services" / "web" / "Dockerfile"
    checks = ('[ -n "$TOKEN" ] && [ "$(cat /run/secrets/tok)" = "$TOKEN" ] '
              '&& [ "$(cat /run/secrets/tokfile)" = "$TOKEN" ] && echo "the token is $TOKEN"')  # fmt: skip
    dockerfile.write_text(
        dockerfile.read_text()
        + "ARG TOKEN\n"
        + f"RUN --mount=type=secret,id=tok --mount=type=secret,id=tokfile {checks}\n"
        + f"RUN echo {uuid.uuid4().hex} >/dev/null && {gate.shell_wait('web-build')}\n"
    )
    config_path = world.workspace / "envctl.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["services"]["web"]["build_args"]["TOKEN"] = token
    config["build"]["network"] = "host"  # the gated step reaches the gate over the host's loopback
    config["build"]["secrets"] = {"tok": {"env": "ENVCTL_TEST_TOKEN"}, "tokfile": {"file": str(secret_file)}}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    world.git("commit", "-qam", "web takes a token")


def _cmdlines() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # the process ended meanwhile
                continue
    return found


@pytest.mark.docker
def test_a_token_given_as_build_arg_and_secrets_never_leaks(tmp_path: Path, classic_docker: str,
                                                             base_image: str) -> None:  # fmt: skip
    token = f"canary-{uuid.uuid4().hex}"
    secret_file = tmp_path / "token-file"  # outside the workspace, as a runner's token file is
    secret_file.write_text(token)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    with make_world(tmp_path / "world", classic_docker, base_image) as world, Gate() as gate, world.kubelet():
        _canary_world(world, gate, token, secret_file)
        world.env.update(ENVCTL_TEST_TOKEN=token, GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(outputs))
        # The whole demo, not `--services web`: the chart's hook Job runs migrate's image, which helm
        # waits for, so an up on a fresh cluster needs every image built.
        proc = world.popen("--verbose", "up")
        gate.wait_arrived("web-build", alive=lambda: proc.poll() is None)
        # The build is running now: its client's command line names the arg and the secrets only.
        cmdlines = _cmdlines()
        builds = [line for line in cmdlines.values() if "--build-arg TOKEN " in line]
        assert builds and all("--secret id=tok,env=ENVCTL_TEST_TOKEN" in line for line in builds), builds
        assert not [line for line in cmdlines.values() if token in line]
        gate.release("web-build")
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        shown = [out, err, summary.read_text(), outputs.read_text()]
        shown += [p.read_text() for p in (world.workspace / ".envctl" / "runs").glob("*.json")]
        for args in (("plan", "--output", "json"), ("up", "--dry-run"), ("timings", "--output", "json"),
                     ("timings", "--output", "markdown"), ("timings", "--output", "chrome-trace")):
            done = world.envctl(*args)
            assert done.returncode == 0, done.stderr
            shown += [done.stdout, done.stderr]
    assert "the token is ***" in err  # the step's own output, masked (and the step passed: it read the secrets)
    leaks = [text for text in shown if token in text]
    assert not leaks, leaks[0][-2000:]
