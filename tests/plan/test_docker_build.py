"""Real BuildKit builds of the demo: the fingerprint tag moves exactly when the image would change."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from envctl.plan import Plan, ServicePlan, dependency_build_args
from tests.plan.conftest import commit_all, envctl_env, git

pytestmark = pytest.mark.docker

REPO_ROOT = Path(__file__).resolve().parents[2]
# Unique per session: runs from several worktrees share the engine and remove what they tagged.
PREFIX = f"envctl-test-plan-{uuid.uuid4().hex[:8]}"


def _as_plan(data: dict) -> Plan:
    services = tuple(
        ServicePlan(
            name=s["name"], image=s["image"], tag=s["tag"], fingerprint=s["fingerprint"], action=s["action"],
            reason=s["reason"], changed=s["changed"], changed_inputs=tuple(s["changed_inputs"]),
            depends_on=tuple(s["depends_on"]), dockerfile=s["dockerfile"], context=s["context"],
            build_args=s["build_args"], target=s["target"], dependency_args=s["dependency_args"],
        )
        for s in data["services"]
    )
    return Plan(base=data["base"], services=services, images=(), chart_changed=False, needs_cluster=True)


@pytest.fixture
def demo_repo(tmp_path: Path, base_image: str) -> Path:
    root = tmp_path / "demo"
    root.mkdir()
    for item in ("envctl.yaml", ".dockerignore", "examples"):
        source = REPO_ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / item)
    config = root / "envctl.yaml"
    config.write_text(config.read_text().replace("busybox:1.36", base_image).replace("envctl-demo/", f"{PREFIX}/"))
    for dockerfile in (root / "examples/services").glob("*/Dockerfile"):
        dockerfile.write_text(dockerfile.read_text().replace("envctl-demo/", f"{PREFIX}/"))
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.invalid")
    git(root, "config", "user.name", "t")
    commit_all(root, "demo")
    return root


def test_build_change_and_rebuild(demo_repo: Path, docker_engine: str, plan_json, tmp_path: Path) -> None:
    from envctl.config import load_config

    env = envctl_env(ENVCTL_DOCKER=docker_engine)
    built: list[str] = []

    def build(service: ServicePlan, plan: Plan, tag: str | None = None) -> str:
        ref = tag or service.ref
        iidfile = tmp_path / f"{service.name}.iid"
        argv = [docker_engine, "build", "--network", "none", "--iidfile", str(iidfile), "-f", service.dockerfile, "-t", ref]
        # the plan JSON shows build arg values as ***: the values are the config's
        configured = load_config(demo_repo / "envctl.yaml").services[service.name].build_args
        for key, value in {**configured, **dependency_build_args(service, plan)}.items():
            argv += ["--build-arg", f"{key}={value}"]
        done = subprocess.run([*argv, "."], cwd=demo_repo, capture_output=True, check=False, text=True,
                              env={**env, "DOCKER_BUILDKIT": "1"}, timeout=240)
        assert done.returncode == 0, done.stderr[-2000:]
        built.append(ref)
        return iidfile.read_text().strip()

    try:
        first = _as_plan(plan_json(demo_repo, env=env))
        assert {s.action for s in first.services} == {"build"}
        base_id = build(first.service("base"), first)
        api_id = build(first.service("api"), first)
        # what was built is now found locally by the plan (one `docker image ls`)
        second = plan_json(demo_repo, env=env)
        actions = {s["name"]: s["action"] for s in second["services"]}
        assert (actions["base"], actions["api"], actions["web"]) == ("skip", "skip", "build")
        assert second["local_images_checked"] is True

        # edits that never reach the image: same tag, and a rebuild gives the very same image
        (demo_repo / "examples/services/api/NOTES.txt").write_text("edited notes\n")
        (demo_repo / "examples/libs/common/README.md").write_text("edited readme\n")
        third = _as_plan(plan_json(demo_repo, "--base", "HEAD", env=env))
        assert third.service("api").tag == first.service("api").tag
        assert third.changed_services == ()
        assert build(third.service("api"), third, tag=f"{PREFIX}/api:rebuild-unchanged") == api_id

        # an edit that does reach it: new tag for api (and web, which copies api/static), new image
        (demo_repo / "examples/services/api/static/index.html").write_text("<p>api v2</p>\n")
        fourth = _as_plan(plan_json(demo_repo, "--base", "HEAD", env=env))
        assert fourth.changed_services == ("api", "web")
        assert fourth.service("api").tag != first.service("api").tag
        assert fourth.service("base").tag == first.service("base").tag
        assert build(fourth.service("api"), fourth) != api_id
        assert build(fourth.service("base"), fourth, tag=f"{PREFIX}/base:rebuild-unchanged") == base_id
        inspect = subprocess.run([docker_engine, "image", "inspect", fourth.service("api").ref], capture_output=True,
                                 text=True, check=True)
        assert json.loads(inspect.stdout)[0]["Id"] != api_id
    finally:
        if built:
            subprocess.run([docker_engine, "rmi", "-f", *set(built)], capture_output=True, check=False)


def test_image_holds_exactly_the_inputs_envctl_computed(demo_repo: Path, docker_engine: str) -> None:
    """migrate's own Dockerfile.dockerignore (an allow-list) is applied by BuildKit as envctl applies it."""
    from envctl.adapters.process import SubprocessRunner
    from envctl.config import load_config
    from envctl.inputs.gitstate import snapshot_worktree
    from envctl.inputs.scan import scan_services

    config = load_config(demo_repo / "envctl.yaml")
    inputs = scan_services(config.services, snapshot_worktree(SubprocessRunner(), demo_repo), strict=True).inputs
    expected = sorted(Path(p).name for p in inputs["migrate"].files if "/migrations/" in p or "/libs/common/" in p)
    ref = f"{PREFIX}/migrate:inputs-check"
    argv = [docker_engine, "build", "-q", "--network", "none", "-f", "examples/services/migrate/Dockerfile", "-t", ref,
            "--build-arg", f"BASE_IMAGE={config.services['migrate'].build_args['BASE_IMAGE']}", "."]
    try:
        done = subprocess.run(argv, cwd=demo_repo, capture_output=True, check=False, text=True, env={**envctl_env(), "DOCKER_BUILDKIT": "1"},
                              timeout=240)
        assert done.returncode == 0, done.stderr[-2000:]
        listed = subprocess.run([docker_engine, "run", "--rm", "--network", "none", ref, "ls", "/migrations", "/opt/common"],
                                capture_output=True, text=True, check=True).stdout.split()
        in_image = sorted(name for name in listed if not name.endswith(":"))
        assert in_image == expected == ["0001_init.sql", "db.sh", "lib.sh"]
    finally:
        subprocess.run([docker_engine, "rmi", "-f", ref], capture_output=True, check=False)
