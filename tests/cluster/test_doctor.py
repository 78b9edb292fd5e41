"""`envctl doctor` as a user runs it: a controlled PATH, in and out of a workspace."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from envctl.commands.doctor import PINNED
from tests.cluster.conftest import STANDIN, K3dWorld
from tests.support.cli import run_envctl

REPO = Path(__file__).resolve().parents[2]
HELM_STANDIN = REPO / "tests" / "standins" / "helm"


def _doctor(cwd: Path, path: str, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K3D_STANDIN", "FAKE_HELM"))}
    env.update({"PATH": path, "COLUMNS": "100", "HOME": str(cwd), **(extra or {})})
    return run_envctl("doctor", *args, cwd=cwd, env=env)


def _bin(tmp_path: Path, **tools: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name, target in tools.items():
        (folder / name).symlink_to(target)
    return folder


def test_missing_tools_print_their_install_commands_and_exit_3(tmp_path: Path) -> None:
    empty = _bin(tmp_path)

    done = _doctor(tmp_path, str(empty))

    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    assert "fix docker: sudo apt-get install -y docker.io   # or https://docs.docker.com/engine/install/" in lines
    # The tools' own install pages and the pinned versions: not scripts/install-tools.sh, which is
    # what `make up` just tried, and which a workspace made by `envctl init` does not have.
    assert f"fix k3d: install k3d {PINNED['k3d']}: https://k3d.io/stable/#installation (put it on PATH)" in lines
    assert f"fix helm: install helm {PINNED['helm']}: https://helm.sh/docs/intro/install/ (put it on PATH)" in lines
    assert "install-tools" not in done.stdout + done.stderr
    # Every missing tool says which PATH was searched.
    report = json.loads(_doctor(tmp_path, str(empty), "--output", "json").stdout)
    details = {c["name"]: c["detail"] for c in report["checks"]}
    assert details["k3d"] == f"not installed: no `k3d` in PATH={empty} (envctl is tested with {PINNED['k3d']})"
    assert details["helm"] == f"not installed: no `helm` in PATH={empty} (envctl is tested with {PINNED['helm']})"
    assert any(line.startswith("fix kubectl: see https://kubernetes.io/docs/tasks/tools/") for line in lines)
    assert re.search(r"cluster \(optional\)\s*│\s*skip\s*│\s*skipped: not in a workspace", done.stdout)
    assert "error: 3 required check(s) failed: docker, k3d, helm" in done.stderr


def test_docker_is_checked_through_the_client_envctl_builds_with(tmp_path: Path) -> None:
    """ENVCTL_DOCKER names the client builds use: doctor checks that one, not the `docker` on PATH."""
    named = tmp_path / "docker-27" / "docker"

    done = _doctor(tmp_path, "/usr/bin:/bin", "--output", "json", extra={"ENVCTL_DOCKER": str(named)})

    [docker] = [c for c in json.loads(done.stdout)["checks"] if c["name"] == "docker"]
    assert (docker["status"], docker["detail"]) == ("fail", f"not installed (no {named})")


@pytest.mark.docker
def test_json_report_inside_a_workspace(tmp_path: Path, docker_engine: str, cluster_name: str) -> None:
    (tmp_path / "envctl.yaml").write_text(f"version: 1\ncluster:\n  name: {cluster_name}\n")
    tools = _bin(tmp_path, k3d=STANDIN, helm=HELM_STANDIN, docker=Path(docker_engine))

    done = _doctor(tmp_path, f"{tools}{os.pathsep}/usr/bin{os.pathsep}/bin", "--output", "json",
                   extra={"K3D_STANDIN_DOCKER": docker_engine})  # fmt: skip

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["version"] == 1 and report["ok"] is True
    checks = {c["name"]: c for c in report["checks"]}
    assert [c["name"] for c in report["checks"]] == ["docker", "k3d", "helm", "kubectl", "disk", "cluster", "chart"]
    assert all(set(c) == {"name", "status", "required", "detail", "fix"} for c in report["checks"])
    assert checks["docker"]["status"] == "ok" and checks["docker"]["detail"].startswith("server 20.10")
    assert checks["k3d"] == {"name": "k3d", "status": "ok", "required": True, "detail": "v5.8.3", "fix": None}
    # The helm stand-in reports the pinned v3.17.3 (tests/standins/helm_table.py).
    assert checks["helm"]["status"] == "ok" and checks["helm"]["detail"] == "v3.17.3"
    assert checks["kubectl"]["required"] is False
    assert checks["cluster"]["detail"] == f"'{cluster_name}' absent; `envctl up` creates it"
    # release.chart defaults to charts/demo, which this workspace lacks: a warning, not a failure.
    assert (checks["chart"]["status"], checks["chart"]["required"]) == ("warn", False)
    assert checks["chart"]["detail"] == f"no Helm chart at {tmp_path.resolve() / 'charts/demo'} (no Chart.yaml)"


@pytest.mark.docker
def test_cluster_check_names_what_differs(k3d_world: K3dWorld, cluster_name: str, tmp_path: Path) -> None:
    from envctl.config import ClusterSpec
    from envctl.phases.cluster import cluster_fingerprint

    made = ClusterSpec(name=cluster_name)
    k3d_world.k3d.create(made, cluster_fingerprint(made))
    (tmp_path / "envctl.yaml").write_text(f"version: 1\ncluster:\n  name: {cluster_name}\n  agents: 2\n")
    tools = _bin(tmp_path, helm=HELM_STANDIN)

    done = _doctor(tmp_path, f"{tools}{os.pathsep}{k3d_world.env['PATH']}", "-o", "json",
                   extra={"K3D_STANDIN_DOCKER": k3d_world.docker})  # fmt: skip

    cluster = next(c for c in json.loads(done.stdout)["checks"] if c["name"] == "cluster")
    assert cluster["status"] == "warn"
    assert cluster["detail"] == f"'{cluster_name}' differs from the config: agents: 0 -> 2"
    assert cluster["fix"].startswith("envctl up --recreate")


def test_pinned_versions_match_the_installer() -> None:
    script = (REPO / "scripts" / "install-tools.sh").read_text()
    found = dict(re.findall(r'^(K3D|HELM)_VERSION="(v[\d.]+)"$', script, re.MULTILINE))
    assert found == {"K3D": PINNED["k3d"], "HELM": PINNED["helm"]}


@pytest.mark.parametrize(
    ("tool", "version", "status"),
    [
        pytest.param("k3d", "v5.4.9", "warn", id="k3d-older-minor"),
        pytest.param("k3d", "v5.8.5", "ok", id="k3d-newer-patch"),
        pytest.param("k3d", "v4.4.8", "fail", id="k3d-v4"),
        pytest.param("helm", "v3.15.4", "warn", id="helm-older-minor"),
        pytest.param("helm", "v3.18.0", "ok", id="helm-newer-minor"),
        pytest.param("helm", "v4.0.1", "warn", id="helm-next-major"),
    ],
)
def test_a_found_tool_outside_the_supported_range_is_a_warning(
    tmp_path: Path, tool: str, version: str, status: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = {"k3d": f"#!/bin/sh\necho 'k3d version {version}'\necho 'k3s version v1.31.5-k3s1 (default)'\n",
            "helm": f"#!/bin/sh\nprintf '%s' '{version}'\n"}  # fmt: skip
    (bin_dir / tool).write_text(fake[tool])
    (bin_dir / tool).chmod(0o755)

    done = _doctor(tmp_path, f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "--output", "json")

    check = next(c for c in json.loads(done.stdout)["checks"] if c["name"] == tool)
    assert check["status"] == status, check
    if status == "warn":
        assert check["detail"].startswith(f"{version} is outside the supported range"), check
        assert f"(pinned {PINNED[tool]})" in check["detail"] and PINNED[tool] in check["fix"]


def test_chart_section_maps_image_fields_to_services(tmp_path: Path) -> None:
    from tests.support.charts import write_seed_chart

    (tmp_path / "charts").mkdir()
    write_seed_chart(tmp_path / "charts")
    service = "    dockerfile: services/{0}/Dockerfile\n    image: seed/{0}\n"
    (tmp_path / "envctl.yaml").write_text(
        "version: 1\nrelease:\n  chart: charts/seed\nservices:\n"
        "  orchestrator:\n" + service.format("orchestrator") + "    values_path: image\n"
        "  celery-worker:\n" + service.format("celery-worker") + "    values_path: celery.image\n"
        "  admin:\n" + service.format("admin") + "    inject: rewrite\n"
        "  redis:\n" + service.format("redis") + "    image_match: redis\n"
    )  # fmt: skip
    empty = _bin(tmp_path)

    report = json.loads(_doctor(tmp_path, str(empty), "--output", "json").stdout)

    chart = report["chart"]
    assert chart["chart"] == "charts/seed"
    assert chart["lint"] == {"status": "skip", "detail": "skipped (no helm on PATH)", "findings": []}
    assert [(f["path"], f["service"], f["how"]) for f in chart["image_fields"]] == [
        ("image", "orchestrator", "values_path"),
        ("celeryWorker.image", None, None),
        ("personaRuntime.image", None, None),
        ("adminPanel.image", "admin", "rewrite (default match)"),
        ("redis.image", "redis", "image_match"),
    ]
    assert chart["image_fields"][4] == {
        "path": "redis.image", "reference": "redis:7-alpine", "form": "string", "service": "redis", "how": "image_match",
    }  # fmt: skip
    assert chart["problems"] == [
        (
            "service celery-worker: values_path celery.image names no image block in the chart's values "
            "(did you mean celeryWorker.image?)"
        )
    ]
    check = next(c for c in report["checks"] if c["name"] == "chart")
    assert (check["status"], check["required"]) == ("warn", False)
    assert check["detail"].startswith("charts/seed: 5 image field(s), 3 used by services; lint skipped (no helm on PATH)")
    table = _doctor(tmp_path, str(empty)).stdout
    assert "chart charts/seed" in table and "celery-worker (values_path)" not in table
    assert re.search(r"redis\.image\s*│\s*redis:7-alpine\s*│\s*redis \(image_match\)", table)
