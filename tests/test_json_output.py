"""`--output json` on every verb, on every path: success, failure, --dry-run.

stdout is exactly one JSON document with its ``version`` (and an ``error`` object, ``{exit_code,
message, hint}``, when the verb failed); the lines meant for a reader -- progress, warnings, what
was written, the ``error:``/``hint:`` pair -- are on stderr. The verbs are listed from
``envctl/commands/``, so a new verb fails here until its paths are in the table.
"""

from __future__ import annotations

import json
import os
import pkgutil
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import envctl.commands
from tests.support.cli import committed_workspace, quiet_env, run_envctl
from tests.support.kube_api import KubeApi
from tests.support.kube_server_side import ServerSideEmulator
from tests.timing.sample import sample_run

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = {
    "envctl.yaml": "version: 1\nservices:\n  api:\n    dockerfile: svc/api/Dockerfile\n    image: demo/api\n",
    "svc/api/Dockerfile": "FROM busybox:1.36\nCOPY svc/api/app.sh /app.sh\n",
    "svc/api/app.sh": "echo api\n",
    "fresh/svc/cart/src/Dockerfile": "FROM busybox:1.36\n",
}


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    stderr: str = ""  # a human line that must be on stderr (never on stdout)
    world: str = "plain"  # plain: a workspace without k3d/helm; shared: provider existing on a test API


CASES: dict[str, dict[str, Case]] = {
    "init": {
        "success": Case(("init", "fresh"), 0, stderr="wrote "),
        "failure": Case(("init",), 2),  # envctl.yaml exists
    },
    "plan": {
        "success": Case(("plan",), 0),
        "failure": Case(("plan", "--services", "nope"), 2),
        "usage": Case(("plan", "--bogus"), 2),
    },
    "up": {
        "dry-run": Case(("up", "--dry-run"), 0, stderr="warning: `k3d` is not installed"),
        "failure": Case(("up",), 3),
        "usage": Case(("up", "--jobs", "0"), 2),
    },
    "down": {
        "success": Case(("down",), 0, stderr="release demo: not installed"),
        "failure": Case(("down", "--delete-cluster"), 2),
    },
    "status": {
        "failure": Case(("status",), 3),  # k3d missing: the report, then its error
        "shared": Case(("status",), 7, world="shared"),  # the release is not deployed
    },
    "timings": {
        "success": Case(("timings",), 0, world="runs"),
        "failure": Case(("timings",), 2),
        "usage": Case(("timings", "--last", "0"), 2),
    },
    "doctor": {
        "failure": Case(("doctor",), 3),
    },
    "gc": {
        "dry-run": Case(("gc", "--dry-run"), 0, world="shared"),
        "success": Case(("gc",), 0, world="shared"),
        "failure": Case(("gc",), 8),  # no kubeconfig
    },
    "rbac": {
        "success": Case(("rbac", "--namespace-prefix", "pr-"), 0),
        "failure": Case(("rbac", "--namespace-prefix", "PR_"), 2),
    },
    "(unknown verb)": {
        "usage": Case(("deploy",), 2),
    },
}


def test_every_verb_is_in_the_table() -> None:
    verbs = {m.name for m in pkgutil.iter_modules(envctl.commands.__path__)}
    assert verbs == set(CASES) - {"(unknown verb)"}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return committed_workspace(tmp_path / "ws", WORKSPACE)


@pytest.fixture
def test_api() -> Iterator[KubeApi]:
    with KubeApi(emulator=ServerSideEmulator) as api:
        yield api


def _prepare(world: str, workspace: Path, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    env = {**quiet_env(), "PATH": f"{tmp_path / 'no-tools'}{os.pathsep}/usr/bin:/bin", "COLUMNS": "120",
           "HOME": str(tmp_path)}  # fmt: skip
    if world == "runs":
        from envctl.timing.history import RunHistory

        RunHistory(workspace / ".envctl" / "runs").write(sample_run())
    if world == "shared":
        api: KubeApi = request.getfixturevalue("test_api")
        bin_dir = tmp_path / "bin"  # the helm stand-in, keeping its releases in the test API
        bin_dir.mkdir()
        (bin_dir / "helm").symlink_to(ROOT / "tests" / "standins" / "helm")
        env |= {"PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "FAKE_HELM_KUBE_URL": api.url,
                "FAKE_HELM_STATE": str(tmp_path / "helm-state.json"), "FAKE_HELM_LOG": str(tmp_path / "helm.log")}
        shutil.copytree(ROOT / "charts" / "demo", workspace / "charts" / "demo")
        config = {"version": 1, "services": {"api": {"dockerfile": "svc/api/Dockerfile", "image": "demo/api"}},
                  "cluster": {"provider": "existing", "kubeconfig": str(api.write_kubeconfig(tmp_path / "kubeconfig")),
                              "registry": {"use": "127.0.0.1:5999", "create": False}},
                  "release": {"name": "demo", "namespace": "pr-1", "chart": "charts/demo"}}  # fmt: skip
        (workspace / "envctl.yaml").write_text(yaml.safe_dump(config))
    return env


@pytest.mark.parametrize(
    "case",
    [pytest.param(case, id=f"{verb}-{path}") for verb, paths in CASES.items() for path, case in paths.items()],
)
def test_json_is_one_versioned_document_on_stdout(
    workspace: Path, tmp_path: Path, request: pytest.FixtureRequest, case: Case
) -> None:
    env = _prepare(case.world, workspace, tmp_path, request)

    done = run_envctl(*case.args, "--output", "json", cwd=workspace, env=env)

    assert done.returncode == case.code, done.stderr
    document = json.loads(done.stdout)  # the whole of stdout: one document, nothing else
    assert document["version"] == 1
    if case.code == 0:
        assert document.get("error") is None, document
    else:
        error = document["error"]
        assert error["exit_code"] == case.code
        assert done.stderr.splitlines()[-2:] == [f"error: {error['message']}", f"hint: {error['hint']}"]
    if case.stderr:
        assert case.stderr in done.stderr
        assert case.stderr not in done.stdout


@pytest.mark.parametrize("flag", [("-o", "json"), ("--output=json",), ("-ojson",)])
@pytest.mark.parametrize("args", [("up",), ("plan", "--bogus")])
def test_every_spelling_of_the_flag_gets_the_error_as_json(
    workspace: Path, args: tuple[str, ...], flag: tuple[str, ...]
) -> None:
    """Even a usage error typer reports before the verb runs: the flag is read from the command line."""
    done = run_envctl(*args, *flag, cwd=workspace)

    assert done.returncode in (2, 3), done.stderr
    assert json.loads(done.stdout)["error"]["exit_code"] == done.returncode


def test_up_names_every_missing_tool_in_one_error(
    workspace: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = _prepare("plain", workspace, tmp_path, request)

    done = run_envctl("up", cwd=workspace, env=env)

    assert done.returncode == 3
    assert done.stderr.splitlines()[0] == "error: `k3d` and `helm` are not installed or not on PATH"
    assert "https://k3d.io" in done.stderr and "https://helm.sh" in done.stderr
    assert not (workspace / ".envctl").exists()  # checked before anything is touched


def test_up_dry_run_warns_of_missing_tools_and_chart_and_still_plans(
    workspace: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = _prepare("plain", workspace, tmp_path, request)

    done = run_envctl("up", "--dry-run", cwd=workspace, env=env)

    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert [w.split(":")[1].strip() for w in warnings] == ["`k3d` is not installed or not on PATH",
                                                           "`helm` is not installed or not on PATH",
                                                           "chart charts/demo not found at " +
                                                           str(workspace / "charts" / "demo")]  # fmt: skip
    assert "build:api" in done.stdout  # the graph is still shown
    document = json.loads(run_envctl("up", "--dry-run", "-o", "json", cwd=workspace, env=env).stdout)
    assert document["dry_run"] is True and len(document["warnings"]) == 3
    assert {"cluster", "build:api"} <= {task["id"] for task in document["graph"]}
    assert document["plan"]["services"][0]["name"] == "api"
