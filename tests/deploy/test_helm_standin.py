"""The helm stand-in renders as helm does: the values helm computes from its command line, Helm's own
engine (helm_python), hooks apart, and the post-renderer fed the non-hook manifests (helm 3)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from tests.deploy.conftest import DEMO_CHART, FakeHelm
from tests.support.charts import write_shop_chart

HOOK = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-check
  annotations:
    helm.sh/hook: post-install,pre-upgrade
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: check
          image: "{{ .Values.images.repository }}/check:{{ .Values.images.tag }}"
"""


def helm(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["helm", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False,
                          env=dict(os.environ))  # fmt: skip


def images(stream: str) -> list[str]:
    found = []
    for doc in yaml.safe_load_all(stream):
        if doc and doc.get("kind") in ("Deployment", "Job"):
            found += [c["image"] for c in doc["spec"]["template"]["spec"]["containers"]]
    return found


def test_values_files_in_order_then_set_over_the_chart_defaults(fake_helm: FakeHelm, tmp_path: Path) -> None:
    chart = write_shop_chart(tmp_path)
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("images: {repository: reg.example/shop, tag: a}\n")
    second.write_text("images: {tag: b}\n")
    base = ["template", "shop", str(chart), "--values", str(first), "-f", str(second)]

    files_only = helm(*base)
    with_set = helm(*base, "--set", "images.tag=c", "--set-string", "cartDatabase.image=redis:8")

    assert files_only.returncode == 0, files_only.stderr
    # Same kind: in the order of the template files' paths (redis.yaml, services.yaml).
    assert images(files_only.stdout) == [
        "redis:7-alpine", "reg.example/shop/adservice:b", "reg.example/shop/cartservice:b",
        "reg.example/shop/frontend:b",
    ]  # fmt: skip
    assert images(with_set.stdout) == [
        "redis:8", "reg.example/shop/adservice:c", "reg.example/shop/cartservice:c", "reg.example/shop/frontend:c",
    ]  # fmt: skip


def test_post_renderer_rewrites_the_manifests_but_not_the_hooks(fake_helm: FakeHelm, tmp_path: Path) -> None:
    chart = write_shop_chart(tmp_path)
    (chart / "templates" / "hook.yaml").write_text(HOOK)
    renderer = tmp_path / "rewrite"
    renderer.write_text('#!/bin/sh\nexec sed "s#$1#$2#"\n')
    renderer.chmod(0o755)
    post = ["--post-renderer", str(renderer), "--post-renderer-args", "v0.10.0", "--post-renderer-args=fp1"]

    template = helm("template", "shop", str(chart), "--values", "-", "--namespace", "ns", *post, stdin="{}")
    upgrade = helm("upgrade", "shop", str(chart), "--install", "--output", "json", "--values", "-", "--namespace",
                   "ns", *post, stdin="{}")  # fmt: skip
    manifest = helm("get", "manifest", "shop", "--namespace", "ns")

    assert template.returncode == 0, template.stderr
    prefix = "us-docker.pkg.dev/google-samples/microservices-demo"
    rewritten = ["redis:7-alpine", f"{prefix}/adservice:fp1", f"{prefix}/cartservice:fp1", f"{prefix}/frontend:fp1"]
    assert images(template.stdout) == [*rewritten, f"{prefix}/check:v0.10.0"]  # the hook comes last, untouched
    assert upgrade.returncode == 0, upgrade.stderr
    release = json.loads(upgrade.stdout)
    assert images(release["manifest"]) == rewritten
    assert [(h["name"], h["events"]) for h in release["hooks"]] == [("shop-check", ["post-install", "pre-upgrade"])]
    assert manifest.stdout == release["manifest"] + "\n"


def test_a_failing_post_renderer_fails_the_upgrade_and_records_nothing(fake_helm: FakeHelm, tmp_path: Path) -> None:
    renderer = tmp_path / "broken"
    renderer.write_text("#!/bin/sh\necho 'no rules' >&2\nexit 3\n")
    renderer.chmod(0o755)

    done = helm("upgrade", "demo", str(DEMO_CHART), "--install", "--values", "-", "--post-renderer", str(renderer),
                stdin="{}")  # fmt: skip
    missing = helm("template", "demo", str(DEMO_CHART), "--post-renderer", "no-such-renderer")

    assert done.returncode == 1
    assert done.stderr == (f"Error: error while running post render on files: error while running command {renderer}."
                           " error output:\nno rules\n\n")  # fmt: skip
    assert fake_helm.state()["releases"] in ({}, {"default/demo": []})
    assert missing.stderr.startswith("Error: unable to find binary at no-such-renderer")


def test_an_empty_release_has_no_manifest_field_as_helm_omits_it(fake_helm: FakeHelm) -> None:
    """pkg/release/release.go: ``Manifest string `json:"manifest,omitempty"```."""
    off = {svc: {"enabled": False} for svc in ("api", "web", "worker", "migrate", "schemaCheck")}
    done = helm("upgrade", "demo", str(DEMO_CHART), "--install", "--output", "json", "--values", "-",
                stdin=json.dumps(off))  # fmt: skip
    status = json.loads(helm("status", "demo", "--output", "json").stdout)

    assert done.returncode == 0, done.stderr
    assert "manifest" not in json.loads(done.stdout)
    assert "manifest" not in status and "chart" not in status
    assert list(status) == ["name", "info", "config", "version", "namespace"]
