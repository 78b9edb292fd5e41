"""The pre-deploy image check and the rewrite, on charts rendered by Helm's own engine (helm_python)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from envctl.chart_values import image_fields
from envctl.image_check import (
    ExpectedImage,
    RewriteRule,
    RunningContainer,
    belongs,
    check_images,
    check_running,
    decode_rules,
    encode_rules,
    replacer,
)
from envctl.release import make_values
from envctl.rendered import normalize_reference, rendered_images, rewrite_images
from envctl.results import DeployedImage
from tests.deploy.conftest import DEMO_CHART
from tests.support.charts import SHOP_SERVICES, render, write_seed_chart, write_shop_chart

SEED_REFS = {
    "orchestrator": ("seed/orchestrator", "fp-orch"),
    "celery-worker": ("seed/celery-worker", "fp-celery"),
    "persona-runtime": ("seed/persona-runtime", "fp-persona"),
}


def _seed_values(chart: Path, paths: dict[str, str]) -> dict[str, object]:
    refs = {paths[s]: SEED_REFS[s] for s in paths}
    return make_values([chart / "values.yaml"], {}, refs)


def _expected(paths: dict[str, str]) -> list[ExpectedImage]:
    return [ExpectedImage(s, f"{SEED_REFS[s][0]}:{SEED_REFS[s][1]}", "values", p) for s, p in paths.items()]


def test_right_values_paths_pass_and_the_unlisted_images_are_warned(tmp_path: Path) -> None:
    chart = write_seed_chart(tmp_path)
    paths = {"orchestrator": "image", "celery-worker": "celeryWorker.image", "persona-runtime": "personaRuntime.image"}
    values = _seed_values(chart, paths)
    findings = check_images(render(chart, values), _expected(paths), fields=image_fields(values))
    assert [(f.level, f.service) for f in findings] == [("warning", None), ("warning", None)]
    assert "image redis:7-alpine (Deployment rel-orchestrator, init container wait-for-redis)" in findings[1].message
    assert "registry.example.com/seed/admin:latest" in findings[0].message
    listed = check_images(
        render(chart, values), _expected(paths), fields=image_fields(values),
        third_party=["docker.io/library/redis:7-alpine", "registry.example.com/seed/admin:latest"],
    )  # fmt: skip
    assert listed == []


def test_a_wrong_values_path_names_the_fields_the_chart_renders(tmp_path: Path) -> None:
    chart = write_seed_chart(tmp_path)
    paths = {"orchestrator": "image", "celery-worker": "celery.image", "persona-runtime": "personaRuntime.image"}
    values = _seed_values(chart, paths)
    findings = check_images(render(chart, values), _expected(paths), fields=image_fields(values))
    errors = [f for f in findings if f.level == "error"]
    assert len(errors) == 1
    assert errors[0].service == "celery-worker"
    assert errors[0].message.startswith(
        "service celery-worker: no rendered workload runs seed/celery-worker:fp-celery (values_path celery.image); "
        "the chart renders image fields: celeryWorker.image"
    )
    assert "personaRuntime.image" not in errors[0].message  # claimed by persona-runtime
    assert errors[0].hint.startswith("did you mean celeryWorker.image?")


def test_strict_images_makes_the_unlisted_image_an_error(tmp_path: Path) -> None:
    chart = write_seed_chart(tmp_path)
    paths = {"orchestrator": "image", "celery-worker": "celeryWorker.image", "persona-runtime": "personaRuntime.image"}
    values = _seed_values(chart, paths)
    findings = check_images(render(chart, values), _expected(paths), third_party=["redis:7-alpine"], strict=True)
    assert [(f.level, f.service) for f in findings] == [("error", None)]
    assert "--strict-images" not in findings[0].hint


def _shop_rules() -> list[RewriteRule]:
    return [RewriteRule(name, "", f"shop/{name}", f"shop/{name}:fp-{name}") for name in SHOP_SERVICES.values()]


def test_rewrite_gives_each_service_its_own_ref_and_leaves_others_alone(tmp_path: Path) -> None:
    chart = write_shop_chart(tmp_path)
    manifest = render(chart, {})
    rewritten = rewrite_images(manifest, replacer(_shop_rules()))
    images = {(i.name, i.image) for i in rendered_images(rewritten)}
    assert images == {
        ("adservice", "shop/adservice:fp-adservice"),
        ("cartservice", "shop/cartservice:fp-cartservice"),
        ("frontend", "shop/frontend:fp-frontend"),
        ("redis-cart", "redis:7-alpine"),
    }
    # The redis document is passed through byte for byte; the rewritten ones keep their source comment.
    redis_doc = next(d for d in manifest.split("---") if "redis-cart" in d)
    assert redis_doc in rewritten
    assert rewritten.count("# Source: shop/templates/services.yaml") == 1
    expected = [ExpectedImage(r.service, r.ref, "rewrite") for r in _shop_rules()]
    assert check_images(rewritten, expected, third_party=["redis:7-alpine"]) == []
    # Without the rewrite no service's ref is rendered: each required one is an error.
    errors = [f.service for f in check_images(manifest, expected, third_party=["redis:7-alpine"]) if f.level == "error"]
    assert errors == ["adservice", "cartservice", "frontend"]


def test_image_match_is_a_glob_over_the_repository(tmp_path: Path) -> None:
    chart = write_shop_chart(tmp_path)
    rule = RewriteRule("ads", "*/microservices-demo/ad*", "shop/ads", "shop/ads:fp")
    rewritten = rewrite_images(render(chart, {}), replacer([rule]))
    assert {i.name: i.image for i in rendered_images(rewritten)}["adservice"] == "shop/ads:fp"
    unmatched = ExpectedImage("ads", "shop/ads:fp", "rewrite")
    nothing = RewriteRule("ads", "*/nothing", "shop/ads", "shop/ads:fp")
    findings = check_images(rewrite_images(render(chart, {}), replacer([nothing])), [unmatched])
    assert findings[0].message == "service ads: inject: rewrite, but no rendered container image matches it"
    optional = ExpectedImage("ads", "shop/ads:fp", "rewrite", required=False)
    assert [f.service for f in check_images(render(chart, {}), [optional])] == [None] * 4


def test_the_post_renderer_process_rewrites_stdin(tmp_path: Path) -> None:
    manifest = render(write_shop_chart(tmp_path), {})
    done = subprocess.run(
        [sys.executable, "-m", "envctl.postrender", encode_rules(_shop_rules())],
        input=manifest, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout == rewrite_images(manifest, replacer(_shop_rules()))
    bad = subprocess.run(
        [sys.executable, "-m", "envctl.postrender", "[1]"], input="", capture_output=True, text=True, check=False
    )
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.startswith("error: envctl.postrender: unreadable rewrite rules")


def test_demo_chart_with_its_values_paths_passes() -> None:
    refs = {f"{s}.image": (f"envctl-demo/{s}", f"fp{s}") for s in ("api", "web", "worker", "migrate")}
    values = make_values([DEMO_CHART / "values.yaml"], {}, refs)
    expected = [ExpectedImage(s, f"envctl-demo/{s}:fp{s}", "values", f"{s}.image") for s in ("api", "web", "worker", "migrate")]
    assert check_images(render(DEMO_CHART, values), expected) == []


def test_documents_that_are_not_workloads_or_not_yaml_are_ignored() -> None:
    stream = "---\n# Source: x\n---\nkind: Service\nspec: {}\n---\n: : :\n---\nkind: Pod\nspec:\n  containers:\n  - image: a\n"
    assert [i.image for i in rendered_images(stream)] == ["a"]
    assert rewrite_images(stream, lambda _: None) == stream


_COMPONENT = st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)


@given(
    path=st.lists(_COMPONENT, min_size=1, max_size=3),
    tag=st.from_regex(r"[a-z0-9][a-z0-9.-]{0,8}", fullmatch=True),
    replace_with=_COMPONENT,
)
def test_rewrite_changes_exactly_the_matching_images(path: list[str], tag: str, replace_with: str) -> None:
    repository = "/".join(path)
    doc = {"kind": "Deployment", "metadata": {"name": "w"}, "spec": {"template": {"spec": {
        "initContainers": [{"name": "i", "image": f"{repository}:{tag}"}],
        "containers": [{"name": "c", "image": f"{repository}:{tag}"}, {"name": "o", "image": "other/x:1"}],
    }}}}  # fmt: skip
    stream = "---\n" + yaml.safe_dump(doc)
    rule = RewriteRule("s", "", f"mine/{path[-1]}", f"mine/{path[-1]}:{replace_with}")
    out = rendered_images(rewrite_images(stream, replacer([rule])))
    changed = [i.image for i in out if i.container in {"i", "c"}]
    assert changed == [rule.ref, rule.ref] or path[-1] == "x"
    assert next(i.image for i in out if i.container == "o") == ("other/x:1" if path[-1] != "x" else rule.ref)
    assert decode_rules(encode_rules([rule])) == [rule]


@given(st.sampled_from(["api", "docker.io/api", "index.docker.io/library/api", "library/api"]))
def test_docker_hub_spellings_normalize_alike(reference: str) -> None:
    assert normalize_reference(reference + ":1") == "docker.io/library/api:1"
    assert normalize_reference("localhost:5000/api:1") == "localhost:5000/api:1"


def test_a_base_image_with_no_injection_is_not_deployed() -> None:
    from envctl.config import ServiceSpec
    from envctl.image_check import injections

    spec = {"dockerfile": "D"}
    services = {
        "base": ServiceSpec.model_validate({**spec, "image": "d/base"}),
        "tool": ServiceSpec.model_validate({**spec, "image": "d/tool"}),
        "api": ServiceSpec.model_validate({**spec, "image": "d/api", "values_path": "api.image"}),
        "shared": ServiceSpec.model_validate({**spec, "image": "d/shared", "inject": "rewrite"}),
    }
    found = injections(services, {"base", "shared"})
    assert {name: (i.mode, i.required) for name, i in found.items()} == {
        "tool": ("rewrite", False),  # rewritten when the chart runs it; a chart that does not is fine
        "api": ("values", True),
        "shared": ("rewrite", True),  # a base too, but inject: rewrite says the chart runs it
    }


# --- after the wait: the images the pods run ---------------------------------------------------
def _deployed(service: str, ref: str, image: str, image_match: str = "") -> DeployedImage:
    return DeployedImage(service, ref, image, image_match)


def test_a_pod_running_its_services_repository_at_another_tag_is_a_mismatch() -> None:
    deployed = [_deployed("api", "envctl-demo/api:fp1", "envctl-demo/api")]
    containers = [
        RunningContainer("demo-api-1", "api", "envctl-demo/api:fp1", init=False),
        RunningContainer("demo-api-2", "api", "envctl-demo/api:stable", init=False),
        RunningContainer("demo-api-2", "wait-db", "envctl-demo/api:old", init=True),
        RunningContainer("demo-redis", "redis", "redis:7-alpine", init=False),  # third-party: not judged here
    ]
    assert check_running(containers, deployed) == [
        "pod demo-api-2 container api runs envctl-demo/api:stable, not envctl-demo/api:fp1 (service api)",
        "pod demo-api-2 init container wait-db runs envctl-demo/api:old, not envctl-demo/api:fp1 (service api)",
    ]


def test_registry_refs_and_rewrite_globs_say_which_service_an_image_belongs_to() -> None:
    api = _deployed("api", "k3d-reg:5000/envctl-demo/api:fp1", "envctl-demo/api")
    ad = _deployed("ad", "shop/adservice:fp2", "shop/adservice", "gcr.io/*/adservice")
    assert belongs(api, "k3d-reg:5000/envctl-demo/api:old")
    assert belongs(api, "docker.io/envctl-demo/api:old")
    assert belongs(ad, "gcr.io/google-samples/adservice:v0.10")  # the chart's own repository, by glob
    assert not belongs(ad, "gcr.io/google-samples/cartservice:v0.10")
    # The running ref equal to the built one (however spelled) is fine; the chart's stale one is not.
    running = [
        RunningContainer("p1", "c", "k3d-reg:5000/envctl-demo/api:fp1", init=False),
        RunningContainer("p2", "c", "gcr.io/google-samples/adservice:v0.10", init=False),
        RunningContainer("p3", "c", "docker.io/shop/adservice:fp2", init=False),
    ]
    assert check_running(running, [api, ad]) == [
        "pod p2 container c runs gcr.io/google-samples/adservice:v0.10, not shop/adservice:fp2 (service ad)"
    ]


def test_two_services_sharing_a_last_path_segment_do_not_flag_each_other() -> None:
    one = _deployed("a", "team-a/api:fp-a", "team-a/api")
    two = _deployed("b", "team-b/api:fp-b", "team-b/api")
    running = [RunningContainer("p", "c", "team-a/api:fp-a", init=False), RunningContainer("q", "c", "team-b/api:fp-b", init=False)]
    assert check_running(running, [one, two]) == []


def test_inject_none_builds_only_and_refuses_what_it_would_never_read() -> None:
    from pydantic import ValidationError

    from envctl.config import ServiceSpec
    from envctl.image_check import injections

    spec = {"dockerfile": "D"}
    services = {
        "job": ServiceSpec.model_validate({**spec, "image": "d/job", "inject": "none"}),
        "api": ServiceSpec.model_validate({**spec, "image": "d/api", "values_path": "api.image"}),
    }
    # Not a base of anything, yet not deployed: never loaded, never handed to the chart.
    assert set(injections(services, set())) == {"api"}
    for extra in ({"values_path": "job.image"}, {"image_match": "*/job"}):
        with pytest.raises(ValidationError, match="inject: none builds the image only"):
            ServiceSpec.model_validate({**spec, "image": "d/job", "inject": "none", **extra})
