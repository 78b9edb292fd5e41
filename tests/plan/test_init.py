"""`envctl init`: discovery, context inference, and never overwriting without --force."""

from __future__ import annotations

from pathlib import Path

import yaml

from envctl.config import load_config
from tests.plan.conftest import git, init_repo


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


def test_names_skip_generic_folders() -> None:
    from envctl.discover import _unique_names

    names = _unique_names(
        [
            "src/cartservice/src/Dockerfile", "src/cartservice/src/Dockerfile.debug", "src/frontend/Dockerfile",
            "services/api/Dockerfile", "legacy/services/api/Dockerfile", "docker/Dockerfile", "cmd/server/Dockerfile",
            "tools/lint/lint.Dockerfile",
        ],
        "mono",
    )
    assert names == {
        "src/cartservice/src/Dockerfile": "cartservice",
        "src/cartservice/src/Dockerfile.debug": "cartservice-debug",
        "src/frontend/Dockerfile": "frontend",
        "services/api/Dockerfile": "api",
        "legacy/services/api/Dockerfile": "legacy-api",
        "docker/Dockerfile": "mono",
        "cmd/server/Dockerfile": "mono-2",
        "tools/lint/lint.Dockerfile": "lint",
    }


MONOREPO_WITH_TEMPLATES = {
    # the reference-app layout: one folder per service under src/, sources next to the Dockerfile
    "src/cartservice/src/Dockerfile": "FROM base\nCOPY . /app\n",
    "src/cartservice/src/Dockerfile.debug": "FROM base\nCOPY cart.csproj /app/\n",
    "src/cartservice/src/cart.csproj": "<Project/>\n",
    "src/frontend/Dockerfile": "FROM base\nCOPY main.go /src/\n",
    "src/frontend/main.go": "package main\n",
    # repo-root contexts and a shared library
    "services/api/Dockerfile": "FROM base\nCOPY libs/common /common\nCOPY services/api/app.py /\n",
    "services/api/app.py": "print('api')\n",
    "libs/common/util.py": "U = 1\n",
    # a nested duplicate of a service folder (a stale copy that still resolves)
    "legacy/services/api/Dockerfile": "FROM base\nCOPY services/api/app.py /\n",
    # a template init must leave out: its sources are placeholders
    "templates/service/Dockerfile": "FROM base\nCOPY services/SERVICE_NAME/app.py /\n",
    # a stale Dockerfile copying a folder that no longer exists
    "old/worker/Dockerfile": "FROM base\nCOPY worker/ /w\n",
}


def test_init_then_plan_on_a_monorepo_with_templates_and_duplicates(tmp_path: Path, run_envctl, plan_json) -> None:
    from tests.plan.conftest import commit_all, write_files

    root = init_repo(tmp_path / "mono")
    write_files(root, {"README.md": "# mono\n"})
    commit_all(root, "start")
    write_files(root, MONOREPO_WITH_TEMPLATES)
    commit_all(root, "services")
    done = run_envctl(root, "init")
    assert done.returncode == 0, done.stderr
    assert "templates: templates/service/Dockerfile left out (written commented out)" in done.stdout
    assert "worker: old/worker/Dockerfile left out" in done.stdout
    assert "(5 services, 2 left out because their inputs do not resolve)" in done.stdout
    config = load_config(root / "envctl.yaml")
    assert {name: (s.dockerfile, s.context) for name, s in config.services.items()} == {
        "cartservice": ("src/cartservice/src/Dockerfile", "src/cartservice/src"),
        "cartservice-debug": ("src/cartservice/src/Dockerfile.debug", "src/cartservice/src"),
        "frontend": ("src/frontend/Dockerfile", "src/frontend"),
        "api": ("services/api/Dockerfile", "."),
        "legacy-api": ("legacy/services/api/Dockerfile", "."),
    }
    text = (root / "envctl.yaml").read_text()
    assert "  # templates:  # templates/service/Dockerfile line 2: COPY source 'services/SERVICE_NAME/app.py'" in text
    # uncommenting a left-out entry gives a config envctl reads (and then refuses, with the same reason)
    uncommented = text.replace("  #   ", "    ").replace("  # templates:", "  templates:").replace("  # worker:", "  worker:")
    assert set(yaml.safe_load(uncommented)["services"]) >= {"templates", "worker"}
    plan = plan_json(root, "--base", "HEAD~1")
    assert {s["name"] for s in plan["services"]} == set(config.services)
    assert all(s["changed"] for s in plan["services"])  # none existed at HEAD~1


SEED_SHAPED = {
    "libs/shared/util.py": "X = 1\n",
    **{
        f"services/{name}/{file}": text
        for name in ("orchestrator", "celery_worker", "persona_runtime", "billing")
        for file, text in (
            ("Dockerfile", f"FROM python:3.12-slim\nCOPY libs/shared /app/libs\nCOPY services/{name} /app\n"),
            ("main.py", "print('hi')\n"),
        )
    },
}


def test_init_chart_writes_values_path_for_every_service_it_can_match(tmp_path: Path, run_envctl, plan_json) -> None:
    from tests.plan.conftest import commit_all, write_files
    from tests.support.charts import write_seed_chart

    root = init_repo(tmp_path / "seed")
    write_files(root, SEED_SHAPED)
    (root / "charts").mkdir()
    write_seed_chart(root / "charts")
    commit_all(root, "seed-shaped monorepo")
    done = run_envctl(root, "init")  # the only chart under charts/
    assert done.returncode == 0, done.stderr
    config = load_config(root / "envctl.yaml")
    assert config.release.chart == "charts/seed"
    assert {name: s.values_path for name, s in config.services.items()} == {
        "orchestrator": "image",  # the top-level block, by its repository's last segment
        "celery-worker": "celeryWorker.image",  # snake_case folder, camelCase key
        "persona-runtime": "personaRuntime.image",
        "billing": None,
    }
    lines = done.stdout.splitlines()
    assert "celery-worker: values_path celeryWorker.image (chart charts/seed, matched by key name)" in lines
    assert "orchestrator: values_path image (chart charts/seed, matched by repository)" in lines
    assert "chart charts/seed: image field adminPanel.image (registry.example.com/seed/admin:latest) matches no service" in lines
    assert "chart charts/seed: image field redis.image (redis:7-alpine) matches no service" in lines
    assert "billing: no image field of chart charts/seed matches; set values_path (or inject: rewrite) by hand" in lines
    assert {s["name"] for s in plan_json(root)["services"]} == set(config.services)


def test_init_chart_an_image_string_becomes_a_rewrite(tmp_path: Path, run_envctl) -> None:
    from tests.plan.conftest import commit_all, write_files

    root = init_repo(tmp_path / "ws")
    write_files(root, {
        "services/redis/Dockerfile": "FROM redis:7\nCOPY services/redis/redis.conf /etc/\n",
        "services/redis/redis.conf": "port 6379\n",
        "deploy/chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
        "deploy/chart/values.yaml": "cache:\n  image: docker.io/library/redis:7-alpine\n",
    })  # fmt: skip
    commit_all(root, "ws")
    done = run_envctl(root, "init", "--chart", "deploy/chart")
    assert done.returncode == 0, done.stderr
    spec = load_config(root / "envctl.yaml").services["redis"]
    assert (spec.values_path, spec.inject, spec.image_match) == (None, "rewrite", "docker.io/library/redis")
    missing = run_envctl(root, "init", "--force", "--chart", "deploy/nothing")
    assert missing.returncode == 2
    assert missing.stderr.splitlines()[0].startswith("error: no Helm chart at ")
    outside = run_envctl(root, "init", "--force", "--chart", "../elsewhere")
    assert outside.returncode == 2
