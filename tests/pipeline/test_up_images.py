"""`envctl up` proves the images it built: before the upgrade (the rendered chart runs them, exit 2
when not), after the wait (the pods run them, exit 7 when not), and for charts that take no
per-service image value (``inject: rewrite`` through Helm's post-renderer). Real Docker builds and
containerd nodes, the rendering helm stand-in, KMock and a kubelet that runs only present images."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.pipeline.conftest import UpWorld

pytestmark = pytest.mark.docker

NS = "envctl-demo"


def _config(world: UpWorld) -> dict[str, Any]:
    return yaml.safe_load((world.workspace / "envctl.yaml").read_text())


def _write_config(world: UpWorld, config: dict[str, Any]) -> None:
    (world.workspace / "envctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _helm_commands(world: UpWorld) -> list[list[str]]:
    if not world.helm_log.exists():
        return []
    return [json.loads(line)["argv"] for line in world.helm_log.read_text().splitlines() if line.strip()]


def _deployment_images(world: UpWorld) -> dict[str, list[str]]:
    listed = world.api._request("GET", f"/apis/apps/v1/namespaces/{NS}/deployments")
    return {
        item["metadata"]["name"]: [c["image"] for c in item["spec"]["template"]["spec"]["containers"]]
        for item in listed["items"]
    }


def test_a_wrong_values_path_stops_the_run_before_any_deploy(up_world: UpWorld) -> None:
    config = _config(up_world)
    config["services"]["worker"]["values_path"] = "workers.image"  # the chart reads worker.image
    _write_config(up_world, config)
    with up_world.kubelet():
        done = up_world.envctl("up")
    assert done.returncode == 2, done.stderr
    assert "error: service worker: no rendered workload runs " in done.stderr
    assert "(values_path workers.image)" in done.stderr
    assert "hint: did you mean worker.image?" in done.stderr
    assert "Traceback" not in done.stderr
    commands = [argv[0] for argv in _helm_commands(up_world)]
    assert "template" in commands and "upgrade" not in commands  # rendered and checked, never deployed
    [run] = up_world.runs()
    assert run["run"]["exit_code"] == 2


def test_a_chart_that_hard_codes_an_image_fails_after_the_wait(up_world: UpWorld) -> None:
    with up_world.kubelet():
        up_world.envctl("up", check=True)
        [first] = up_world.helm_upgrades()
        old = f"{first['api']['image']['repository']}:{first['api']['image']['tag']}"
        # A second Deployment that pins api at the tag of the first run (the image is on the node,
        # so its pod runs): the rendered chart still runs the new api ref in demo-api, so the
        # pre-deploy check passes and only the pods show the stale image.
        canary = (up_world.workspace / "charts" / "demo" / "templates" / "api-canary.yaml")
        canary.write_text(
            (up_world.workspace / "charts" / "demo" / "templates" / "api.yaml").read_text()
            .replace("{{ .Release.Name }}-api", "{{ .Release.Name }}-api-canary")
            .replace('"name" "api"', '"name" "api-canary"')
            .replace('"{{ .Values.api.image.repository }}:{{ .Values.api.image.tag }}"', f'"{old}"')
        )
        script = up_world.workspace / "examples" / "services" / "api" / "app" / "run.sh"
        script.write_text(script.read_text() + "\n# a code change\n")
        done = up_world.envctl("up")
    assert done.returncode == 7, done.stderr
    [_, second] = up_world.helm_upgrades()
    new = f"{second['api']['image']['repository']}:{second['api']['image']['tag']}"
    assert new != old
    assert f"runs {old}, not {new} (service api)" in done.stderr
    assert "api-canary" in done.stderr
    assert f"warning: image {old}" in done.stderr  # the pre-deploy check had named it: not built, not listed
    assert up_world.runs()[-1]["run"]["exit_code"] == 7


_SHOP_VALUES = {"images": {"repository": "example.org/shop", "tag": "v1"}, "services": {}}
_SHOP_TEMPLATE = """\
{{- range $name := .Values.services }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $.Release.Name }}-{{ $name }}
  labels:
    app.kubernetes.io/instance: {{ $.Release.Name }}
    app.kubernetes.io/name: {{ $name }}
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ $.Release.Name }}
      app.kubernetes.io/name: {{ $name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ $.Release.Name }}
        app.kubernetes.io/name: {{ $name }}
    spec:
      containers:
        - name: server
          image: {{ $.Values.images.repository }}/{{ $name }}:{{ $.Values.images.tag }}
          imagePullPolicy: IfNotPresent
{{- end }}
"""


def _shop_world(world: UpWorld) -> None:
    """The world's services deployed by a chart of the microservices reference app's shape: one
    global repository and tag, every service's image built from them (no per-service value)."""
    chart = world.workspace / "charts" / "shop"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    services = ["api", "worker", "web", "migrate"]
    (chart / "values.yaml").write_text(yaml.safe_dump({**_SHOP_VALUES, "services": services}))
    (chart / "templates" / "services.yaml").write_text(_SHOP_TEMPLATE)
    config = _config(world)
    config["release"]["chart"] = "charts/shop"
    config["release"]["values"] = []
    for name in services:
        del config["services"][name]["values_path"]  # inject defaults to rewrite
    config["services"]["web"]["inject"] = "rewrite"
    config["services"]["web"]["image_match"] = "example.org/*/web"
    _write_config(world, config)
    world.git("add", "-A")
    world.git("commit", "-q", "-m", "shop chart")


def test_rewrite_gives_every_service_its_own_ref_and_a_change_rolls_only_its_workload(up_world: UpWorld) -> None:
    _shop_world(up_world)
    with up_world.kubelet() as kubelet:
        first = json.loads(up_world.envctl("up", "--output", "json", check=True).stdout)
        images = _deployment_images(up_world)
        refs = {name: f"{up_world.prefix}/{name}" for name in ("api", "worker", "web", "migrate")}
        tags = {}
        for name, repository in refs.items():
            [image] = images[f"demo-{name}"]
            assert image.startswith(f"{repository}:fp-"), images  # its own fingerprint ref, not shop:v1
            tags[name] = image
        assert set(kubelet.handled.values()) == {"ready"}, kubelet.handled
        upgrade = next(argv for argv in _helm_commands(up_world) if argv[0] == "upgrade")
        assert any(arg.startswith("--post-renderer=") for arg in upgrade)
        assert "--post-renderer-args=envctl.postrender" in upgrade
        assert first["tasks"]["verify"]["outcome"] == "ok"

        deployments = {
            name: up_world.api.get("apps/v1/deployments", NS, f"demo-{name}") for name in ("api", "worker", "web")
        }
        script = up_world.workspace / "examples" / "services" / "worker" / "worker.sh"
        script.write_text(script.read_text() + "\n# a code change\n")
        second = json.loads(up_world.envctl("up", "--changed-only", "--output", "json", check=True).stdout)
        assert second["tasks"]["deploy"]["result"]["action"] == "upgraded"
        after = _deployment_images(up_world)
        assert after["demo-worker"] != [tags["worker"]] and after["demo-worker"][0].startswith(f"{refs['worker']}:fp-")
        for name in ("api", "web", "migrate"):
            assert after[f"demo-{name}"] == [tags[name]]
        # Only worker's Deployment was written: the others are the very objects of the first run.
        for name in ("api", "web"):
            now = up_world.api.get("apps/v1/deployments", NS, f"demo-{name}")
            assert now["spec"] == deployments[name]["spec"]
            assert now["metadata"]["generation"] == deployments[name]["metadata"]["generation"]
        # status renders the same way: the release's inputs are current.
        status = json.loads(up_world.envctl("status", "--output", "json").stdout)
        assert status["release"]["inputs"] == "current", status["release"]
        third = json.loads(up_world.envctl("up", "--output", "json", check=True).stdout)
        assert third["tasks"]["deploy"]["result"]["action"] == "skipped"


def test_up_dry_run_shows_the_verify_step(up_world: UpWorld) -> None:
    done = up_world.envctl("up", "--dry-run", check=True)
    assert "verify" in done.stdout
    assert not _helm_commands(up_world)
