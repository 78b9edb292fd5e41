"""Finding a chart's image fields and pairing them with services (what init --chart and doctor use)."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from envctl.chart_values import ImageField, field_key, image_fields, match_fields, name_key
from tests.deploy.conftest import DEMO_CHART
from tests.support.charts import write_seed_chart


def test_the_seed_chart_fields_in_document_order(tmp_path: Path) -> None:
    values = yaml.safe_load((write_seed_chart(tmp_path) / "values.yaml").read_text())
    assert image_fields(values) == [
        ImageField("image", "registry.example.com/seed/orchestrator", "latest", "map"),
        ImageField("celeryWorker.image", "registry.example.com/seed/celery-worker", "latest", "map"),
        ImageField("personaRuntime.image", "registry.example.com/seed/persona-runtime", "latest", "map"),
        ImageField("adminPanel.image", "registry.example.com/seed/admin", "latest", "map"),
        ImageField("redis.image", "redis", "7-alpine", "string"),
    ]


def test_seed_services_match_by_key_name_then_by_repository(tmp_path: Path) -> None:
    values = yaml.safe_load((write_seed_chart(tmp_path) / "values.yaml").read_text())
    services = {
        "orchestrator": "seed/orchestrator",
        "celery-worker": "seed/celery_worker",
        "persona": "seed/persona-runtime",  # not the key name: matched by the repository
        "billing": "seed/billing",
    }
    matches, left_fields, left_services = match_fields(image_fields(values), services)
    assert [(m.service, m.field.path, m.by) for m in matches] == [
        ("orchestrator", "image", "repository"),
        ("celery-worker", "celeryWorker.image", "key name"),
        ("persona", "personaRuntime.image", "repository"),
    ]
    assert [f.path for f in left_fields] == ["adminPanel.image", "redis.image"]
    assert left_services == ["billing"]


def test_a_service_two_fields_match_equally_is_left_unmatched() -> None:
    fields = [ImageField("a.image", "x/api", "1", "map"), ImageField("b.image", "y/api", "1", "map")]
    matches, left_fields, left_services = match_fields(fields, {"api": "me/api"})
    assert (matches, len(left_fields), left_services) == ([], 2, ["api"])


def test_the_demo_chart_matches_its_own_config() -> None:
    values = yaml.safe_load((DEMO_CHART / "values.yaml").read_text())
    services = {s: f"envctl-demo/{s}" for s in ("base", "api", "web", "worker", "migrate")}
    matches, left_fields, left_services = match_fields(image_fields(values), services)
    assert {m.service: m.field.path for m in matches} == {s: f"{s}.image" for s in ("api", "web", "worker", "migrate")}
    assert (left_fields, left_services) == ([], ["base"])


def test_field_keys() -> None:
    assert [field_key(ImageField(p, "r", "t", "map")) for p in ("image", "celeryWorker.image", "apiImage", "global.images.web")] == [
        "", "celeryWorker", "api", "web",
    ]  # fmt: skip


_WORDS = st.lists(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), min_size=1, max_size=3)


@given(_WORDS)
def test_naming_styles_compare_equal(words: list[str]) -> None:
    camel = words[0] + "".join(w.capitalize() for w in words[1:])
    assert name_key("_".join(words)) == name_key("-".join(words)) == name_key(camel)


@given(st.recursive(st.none() | st.integers() | st.text(max_size=8),
                    lambda inner: st.dictionaries(st.text(max_size=6), inner, max_size=4) | st.lists(inner, max_size=3),
                    max_leaves=20))  # fmt: skip
def test_any_values_tree_is_scanned_without_error(tree: object) -> None:
    fields = image_fields({"root": tree})
    assert all(f.path.startswith("root") for f in fields)
