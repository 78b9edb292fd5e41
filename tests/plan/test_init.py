"""`envctl init`: discovery, context inference, and never overwriting without --force."""

from __future__ import annotations

from pathlib import Path

import yaml

from envctl.config import load_config
from tests.plan.conftest import git


def test_init_discovers_services_and_contexts(monorepo: Path, run_envctl, plan_json) -> None:
    (monorepo / "envctl.yaml").unlink()
    # a self-contained service whose sources exist only from its own folder
    (monorepo / "tools/lint").mkdir(parents=True)
    (monorepo / "tools/lint/Dockerfile").write_text("FROM a\nCOPY lint.sh /\n")
    (monorepo / "tools/lint/lint.sh").write_text("true\n")
    # vendored and git-ignored trees are not services
    (monorepo / "vendor/thing").mkdir(parents=True)
    (monorepo / "vendor/thing/Dockerfile").write_text("FROM a\n")
    (monorepo / ".gitignore").write_text("build/\n")
    (monorepo / "build/out").mkdir(parents=True)
    (monorepo / "build/out/Dockerfile").write_text("FROM a\n")
    done = run_envctl(monorepo, "init")
    assert done.returncode == 0, done.stderr
    config = load_config(monorepo / "envctl.yaml")
    contexts = {name: (spec.dockerfile, spec.context) for name, spec in config.services.items()}
    assert contexts == {
        "api": ("services/api/Dockerfile", "."),
        "web": ("services/web/Dockerfile", "."),
        "worker": ("services/worker/Dockerfile", "."),
        "lint": ("tools/lint/Dockerfile", "tools/lint"),
    }
    assert "lint: tools/lint/Dockerfile, image mono/lint, context tools/lint: its own folder" in done.stdout
    assert "api: services/api/Dockerfile, image mono/api, context .: the workspace root" in done.stdout
    # the written config plans straight away
    assert {s["name"] for s in plan_json(monorepo)["services"]} == {"api", "web", "worker", "lint"}


def test_init_refuses_to_overwrite(monorepo: Path, run_envctl) -> None:
    before = (monorepo / "envctl.yaml").read_text()
    done = run_envctl(monorepo, "init")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == f"error: {monorepo / 'envctl.yaml'} already exists; nothing written"
    assert (monorepo / "envctl.yaml").read_text() == before
    forced = run_envctl(monorepo, "init", "--force")
    assert forced.returncode == 0, forced.stderr
    assert yaml.safe_load((monorepo / "envctl.yaml").read_text())["version"] == 1


def test_init_without_dockerfiles(tmp_path: Path, run_envctl) -> None:
    git(tmp_path, "init", "-q")
    done = run_envctl(tmp_path, "init")
    assert done.returncode == 2
    assert "no Dockerfile found" in done.stderr
    assert not (tmp_path / "envctl.yaml").exists()
