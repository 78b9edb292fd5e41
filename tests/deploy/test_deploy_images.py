"""The deploy phase proves its images before the upgrade: a wrong values_path stops it (exit 2,
nothing deployed), and ``inject: rewrite`` services reach a chart with one global repository and
tag through Helm's post-renderer - the same rewrite feeding the check, the hash and the upgrade."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from envctl.adapters.helm import run_sync
from envctl.config import ReleaseSpec
from envctl.errors import ExitCode, ImageNotRenderedError, ToolFailedError
from envctl.image_check import Injection, encode_rules
from envctl.phases.deploy import ImagePolicy, deploy_release
from envctl.progress import CollectingProgress
from envctl.rendered import rendered_images
from envctl.results import DeployResult
from envctl.timing.spans import Recorder
from tests.deploy.conftest import DEMO_CHART, FakeHelm
from tests.support.charts import SHOP_SERVICES, write_shop_chart

SPEC = ReleaseSpec(name="demo", namespace="ci", timeout="300s")


def _values(service: str, path: str) -> Injection:
    return Injection(service, f"envctl-demo/{service}", "values", path, "", required=True)


def _run(fake: FakeHelm, chart: Path, refs: dict[str, str], policy: ImagePolicy) -> tuple[DeployResult, CollectingProgress]:
    progress = CollectingProgress()
    result = deploy_release(
        SPEC, chart, [], refs, policy=policy, helm=fake.helm(progress), progress=progress, recorder=Recorder()
    )
    return result, progress


def test_a_wrong_values_path_fails_before_the_upgrade_naming_the_field(fake_helm: FakeHelm, tmp_path: Path) -> None:
    chart = tmp_path / "demo"
    shutil.copytree(DEMO_CHART, chart)
    policy = ImagePolicy({"api": _values("api", "api.image"), "worker": _values("worker", "workers.image")})
    with pytest.raises(ImageNotRenderedError) as caught:
        _run(fake_helm, chart, {"api": "envctl-demo/api:fp1", "worker": "envctl-demo/worker:fp2"}, policy)
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert caught.value.message == (
        "service worker: no rendered workload runs envctl-demo/worker:fp2 (values_path workers.image); "
        "the chart renders image fields: worker.image, web.image, migrate.image"
    )
    assert caught.value.hint is not None and caught.value.hint.startswith("did you mean worker.image?")
    assert [argv[0] for argv in fake_helm.argvs()] == ["template"]  # no status, no upgrade
    assert fake_helm.state()["releases"] == {}


def test_strict_images_refuses_an_image_neither_built_nor_listed(fake_helm: FakeHelm, tmp_path: Path) -> None:
    chart = tmp_path / "demo"
    shutil.copytree(DEMO_CHART, chart)
    services = {s: _values(s, f"{s}.image") for s in ("api", "worker", "web")}
    refs = {s: f"envctl-demo/{s}:fp-{s}" for s in services}
    with pytest.raises(ImageNotRenderedError, match=r"image envctl-demo/migrate:dev \(Job demo-migrate"):
        _run(fake_helm, chart, refs, ImagePolicy(services, strict=True))
    # Listed under images:, the same image is fine.
    result, progress = _run(fake_helm, chart, refs, ImagePolicy(services, ("envctl-demo/migrate:dev",), strict=True))
    assert result.action == "installed"
    assert not [step for step in progress.steps if "warning" in step[1]]


def _manifest(fake: FakeHelm, revision: int) -> str:
    """What the release stores (``helm get manifest``): the post-rendered manifests."""
    return run_sync(fake.helm(CollectingProgress()).manifest("demo", "ci", revision))


def _shop(tmp_path: Path) -> tuple[Path, dict[str, Injection], dict[str, str]]:
    chart = write_shop_chart(tmp_path)
    services = {
        name: Injection(name, f"envctl-shop/{image}", "rewrite", None, "", required=False)
        for name, image in SHOP_SERVICES.items()
    }
    refs = {name: f"envctl-shop/{image}:fp-{name}" for name, image in SHOP_SERVICES.items()}
    return chart, services, refs


def test_rewrite_gives_each_service_its_ref_through_the_post_renderer(fake_helm: FakeHelm, tmp_path: Path) -> None:
    chart, services, refs = _shop(tmp_path)
    result, progress = _run(fake_helm, chart, refs, ImagePolicy(services, ("redis:7-alpine",)))
    assert result.action == "installed"
    rules = encode_rules([services[name].rule(refs[name]) for name in SHOP_SERVICES])
    post = [f"--post-renderer={sys.executable}", "--post-renderer-args=-m",
            "--post-renderer-args=envctl.postrender", f"--post-renderer-args={rules}"]  # fmt: skip
    kc = str(fake_helm.kubeconfig)
    template = ["template", "demo", str(chart), "--namespace", "ci", "--values", "-"]
    argvs = fake_helm.argvs()
    # Rendered plainly (which rules match something?), then through the post-renderer, then installed through it.
    assert argvs[0] == [*template, "--kubeconfig", kc]
    assert argvs[1] == ["version", "--template", "{{ .Version }}"]  # the post-renderer needs helm 3
    assert argvs[2] == [*template, *post, "--kubeconfig", kc]
    assert argvs[-1][0] == "upgrade" and argvs[-1][-len(post) - 2 : -2] == post
    manifest = _manifest(fake_helm, result.revision)
    running = sorted(image.image for image in rendered_images(manifest))
    assert running == sorted([*refs.values(), "redis:7-alpine"])  # each its own ref; redis left alone
    assert not [step for step in progress.steps if "warning" in step[1]]

    # One service's new ref changes only its image; the same refs again are skipped.
    again, _ = _run(fake_helm, chart, {**refs, "cartService": "envctl-shop/cartservice:fp-new"}, ImagePolicy(services, ("redis:7-alpine",)))
    assert again.action == "upgraded" and again.input_hash != result.input_hash
    after = {image.name: image.image for image in rendered_images(_manifest(fake_helm, again.revision))}
    before = {image.name: image.image for image in rendered_images(manifest)}
    assert {name for name in after if after[name] != before[name]} == {"cartservice"}
    skipped, _ = _run(fake_helm, chart, {**refs, "cartService": "envctl-shop/cartservice:fp-new"}, ImagePolicy(services, ("redis:7-alpine",)))
    assert skipped.action == "skipped"


def test_a_rewrite_that_matches_nothing_is_an_error_only_when_asked_for(fake_helm: FakeHelm, tmp_path: Path) -> None:
    chart, services, refs = _shop(tmp_path)
    # A default rewrite (no inject, no image_match) the chart never runs needs nothing.
    services["tool"] = Injection("tool", "envctl-shop/tool", "rewrite", None, "", required=False)
    result, _ = _run(fake_helm, chart, {**refs, "tool": "envctl-shop/tool:fp"}, ImagePolicy(services, ("redis:7-alpine",)))
    assert result.action == "installed"
    # Asked for (image_match set), it must match something.
    services["tool"] = Injection("tool", "envctl-shop/tool", "rewrite", None, "*/toolbox", required=True)
    with pytest.raises(ImageNotRenderedError, match="service tool: inject: rewrite, but no rendered container image matches it"):
        _run(fake_helm, chart, {**refs, "tool": "envctl-shop/tool:fp"}, ImagePolicy(services, ("redis:7-alpine",)))


def test_helm_4_cannot_post_render_an_executable(fake_helm: FakeHelm, tmp_path: Path) -> None:
    fake_helm.switch("FAKE_HELM_VERSION", "v4.0.0")
    chart, services, refs = _shop(tmp_path)
    with pytest.raises(ToolFailedError, match="inject: rewrite needs helm 3's executable post-renderer"):
        _run(fake_helm, chart, refs, ImagePolicy(services, ("redis:7-alpine",)))
    assert "upgrade" not in [argv[0] for argv in fake_helm.argvs()]
