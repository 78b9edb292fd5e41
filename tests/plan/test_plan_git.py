"""`envctl plan --base REF` on real git monorepos: exactly the services whose image inputs changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.plan.conftest import commit_all, envctl_env, git, write_files

REPO_ROOT = Path(__file__).resolve().parents[2]


def changed(plan: dict) -> list[str]:
    return sorted(s["name"] for s in plan["services"] if s["changed"])


def by_name(plan: dict) -> dict[str, dict]:
    return {s["name"]: s for s in plan["services"]}


def test_nothing_changed(monorepo: Path, plan_json) -> None:
    plan = plan_json(monorepo, "--base", "v1")
    assert changed(plan) == []
    assert plan["needs_cluster"] is False
    assert plan["base"] == "v1"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param("libs/common/db.py", ["api", "worker"], id="shared-lib"),
        pytest.param("services/api/static/index.html", ["api", "web"], id="sibling-folder-copied-by-web"),
        pytest.param("services/api/app.py", ["api"], id="one-service"),
        pytest.param("services/web/pages/about.md", ["web"], id="ignore-exception"),
        pytest.param("services/worker/fast.sh", ["worker"], id="arg-selected-file"),
        pytest.param("services/api/NOTES.txt", [], id="uncopied-file"),
        pytest.param("libs/common/README.md", [], id="ignored-file"),
        pytest.param("services/worker/slow.sh", [], id="file-of-the-other-build-arg"),
    ],
)
def test_one_edit(monorepo: Path, plan_json, edit: str, expected: list[str]) -> None:
    before = by_name(plan_json(monorepo))
    with (monorepo / edit).open("a") as handle:
        handle.write("# edited\n")
    plan = plan_json(monorepo, "--base", "v1")
    assert changed(plan) == expected
    assert plan["needs_cluster"] is bool(expected)
    for item in plan["services"]:
        if item["changed"]:
            assert edit in item["changed_inputs"]
            assert item["tag"] != before[item["name"]]["tag"]
        else:
            assert item["changed_inputs"] == []
            assert item["tag"] == before[item["name"]]["tag"]  # same inputs, same image tag


def test_reason_names_file_instruction_and_line(monorepo: Path, plan_json) -> None:
    (monorepo / "libs/common/db.py").write_text("DB = 'mysql'\n")
    api = by_name(plan_json(monorepo, "--base", "v1"))["api"]
    assert api["reason"].startswith(
        "libs/common/db.py changed; copied by `COPY libs/common /app/common` (Dockerfile line 3)"
    )
    assert api["action"] == "build"


def test_dirty_and_committed_states_fingerprint_alike(monorepo: Path, plan_json) -> None:
    (monorepo / "services/api/app.py").write_text("print('v2')\n")
    (monorepo / "services/api/static/new.css").write_text("p{}\n")  # untracked
    dirty = plan_json(monorepo, "--base", "v1")
    assert by_name(dirty)["api"]["changed_inputs"] == ["services/api/app.py", "services/api/static/new.css"]
    assert "services/api/static/new.css added" in by_name(dirty)["web"]["reason"]
    commit_all(monorepo, "v2")
    committed = plan_json(monorepo, "--base", "v1")
    assert [s["fingerprint"] for s in committed["services"]] == [s["fingerprint"] for s in dirty["services"]]
    assert changed(plan_json(monorepo, "--base", "HEAD")) == []


def test_deleted_file_is_a_change(monorepo: Path, plan_json) -> None:
    (monorepo / "libs/common/util.py").unlink()
    plan = plan_json(monorepo, "--base", "v1")
    assert changed(plan) == ["api", "worker"]
    assert by_name(plan)["api"]["reason"].startswith("libs/common/util.py removed; was copied by")


def test_build_arg_change_in_config(monorepo: Path, plan_json) -> None:
    config = monorepo / "envctl.yaml"
    config.write_text(config.read_text().replace("MODE: fast", "MODE: slow"))
    worker = by_name(plan_json(monorepo, "--base", "v1"))["worker"]
    assert worker["changed"] is True
    assert set(worker["changed_inputs"]) == {"build_args", "services/worker/fast.sh", "services/worker/slow.sh"}


def test_dockerfile_change(monorepo: Path, plan_json) -> None:
    dockerfile = monorepo / "services/web/Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "ENV X=1\n")
    web = by_name(plan_json(monorepo, "--base", "v1"))["web"]
    assert web["changed_inputs"] == ["services/web/Dockerfile"]
    assert web["reason"].startswith("services/web/Dockerfile changed")


def test_changed_only_skips_the_rest(monorepo: Path, plan_json) -> None:
    (monorepo / "services/api/app.py").write_text("print('v2')\n")
    actions = {s["name"]: (s["action"], s["reason"]) for s in plan_json(monorepo, "--base", "v1", "--changed-only")["services"]}
    assert actions["web"] == ("skip", "unchanged since v1 (--changed-only)")
    assert actions["api"][0] == "build"
    assert actions["api"][1].endswith("local images could not be checked (`/nonexistent/docker` is not installed)")


def test_services_filter(monorepo: Path, plan_json) -> None:
    assert [s["name"] for s in plan_json(monorepo, "--services", "web,api")["services"]] == ["api", "web"]


def test_chart_change_needs_cluster(monorepo: Path, plan_json) -> None:
    write_files(monorepo, {"charts/demo/Chart.yaml": "name: demo\n"})
    plan = plan_json(monorepo, "--base", "v1")
    assert (changed(plan), plan["chart_changed"], plan["needs_cluster"]) == ([], True, True)


def test_github_output(monorepo: Path, run_envctl, tmp_path: Path) -> None:
    (monorepo / "libs/common/db.py").write_text("x\n")
    target = tmp_path / "github_output"
    target.write_text("earlier=1\n")
    done = run_envctl(monorepo, "plan", "--base", "v1", "--output", "github",
                      env=envctl_env(GITHUB_OUTPUT=str(target)))
    assert done.returncode == 0, done.stderr
    lines = ['changed_services=["api","worker"]', "needs_cluster=true"]
    assert done.stdout.splitlines() == lines
    assert target.read_text().splitlines() == ["earlier=1", *lines]


def test_workspace_in_a_subfolder_of_the_repo(monorepo: Path, plan_json) -> None:
    sub = monorepo / "nested"
    shutil.copytree(monorepo, sub, ignore=shutil.ignore_patterns(".git"))
    commit_all(monorepo, "nested copy")
    (sub / "services/api/app.py").write_text("print('nested')\n")
    assert changed(plan_json(sub, "--base", "HEAD")) == ["api"]


def test_non_git_workspace_hashes_files_directly(monorepo: Path, plan_json, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(monorepo, plain, ignore=shutil.ignore_patterns(".git"))
    in_git = plan_json(monorepo)
    outside = plan_json(plain)
    # git's index hashes and files hashed directly agree, so the tags agree
    assert [s["fingerprint"] for s in outside["services"]] == [s["fingerprint"] for s in in_git["services"]]


def test_demo_workspace_dependencies(tmp_path: Path, plan_json) -> None:
    """The bundled demo: api and worker build FROM base, so a shared-lib edit reaches them."""
    root = tmp_path / "demo"
    root.mkdir()
    for item in ("envctl.yaml", ".dockerignore", "examples", "charts", "values"):
        source = REPO_ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / item)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.invalid")
    git(root, "config", "user.name", "t")
    commit_all(root, "demo")
    plan = plan_json(root)
    assert next(s["name"] for s in plan["services"]) == "base"
    assert by_name(plan)["api"]["depends_on"] == ["base"]
    assert by_name(plan)["api"]["dependency_args"] == {"BASE_REF": "base"}
    with (root / "examples/libs/common/db.sh").open("a") as handle:
        handle.write("# edited\n")
    (root / "examples/libs/common/README.md").write_text("ignored\n")
    (root / "examples/services/migrate/migrations/0002_next.draft.sql").write_text("-- ignored by its own file\n")
    after = plan_json(root, "--base", "HEAD")
    assert changed(after) == ["api", "base", "migrate", "worker"]
    assert by_name(after)["api"]["changed_inputs"] == ["service:base"]
    assert by_name(after)["api"]["reason"].startswith("builds FROM base, which changed")
    assert json.dumps(after).count("README.md") == 0
