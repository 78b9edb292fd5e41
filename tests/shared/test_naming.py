"""Namespace/release names from templates: always DNS-1123 labels, stable, and cut with a hash."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envctl.naming import (
    DNS_LABEL,
    NAMESPACE_MAX,
    RELEASE_MAX,
    NameFacts,
    check_template,
    label_value,
    render_name,
    safe_label,
)

LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
facts_text = st.text(min_size=1, max_size=150).filter(lambda t: re.search(r"[A-Za-z0-9]", t) is not None)
any_facts = st.builds(NameFacts, branch=facts_text, pr=st.integers(1, 10**7).map(str), user=facts_text,
                      workspace=facts_text)  # fmt: skip
templates = st.sampled_from(["{branch}", "pr-{pr}", "{workspace}-{branch}", "{user}-{branch}-x", "preview-{pr}",
                             "{workspace}{branch}{user}{pr}"])  # fmt: skip


@pytest.mark.parametrize(
    ("template", "facts", "expected"),
    [
        pytest.param("pr-{pr}", NameFacts(pr="123"), "pr-123", id="pull-request"),
        pytest.param("{branch}", NameFacts(branch="feature/Login_Page"), "feature-login-page", id="slashes-and-case"),
        pytest.param("{workspace}-{branch}", NameFacts(branch="main", workspace="Acme.Shop"), "acme-shop-main",
                     id="two-placeholders"),
        pytest.param("dev-{user}", NameFacts(user="Ünïcode Ärger"), "dev-n-code-rger", id="non-ascii-dropped"),
        pytest.param("envctl-demo", NameFacts(), "envctl-demo", id="no-placeholder-unchanged"),
        pytest.param("{branch}", NameFacts(branch="--main--"), "main", id="dashes-trimmed"),
    ],
)
def test_examples(template: str, facts: NameFacts, expected: str) -> None:
    assert render_name(template, facts, what="release.namespace") == expected


def test_a_long_branch_is_cut_with_a_hash_of_the_whole_name() -> None:
    long_a = "feature/" + "a" * 80 + "-one"
    long_b = "feature/" + "a" * 80 + "-two"
    name_a = render_name("pr-{branch}", NameFacts(branch=long_a), what="ns")
    name_b = render_name("pr-{branch}", NameFacts(branch=long_b), what="ns")
    assert len(name_a) == NAMESPACE_MAX and DNS_LABEL.match(name_a)
    assert name_a.startswith("pr-feature-aaaa") and re.search(r"-[0-9a-f]{8}$", name_a)
    assert name_a != name_b
    assert render_name("pr-{branch}", NameFacts(branch=long_a), what="ns") == name_a  # stable across runs


def test_release_names_stop_at_helms_limit() -> None:
    name = render_name("{branch}", NameFacts(branch="b" * 70), what="release.name", max_length=RELEASE_MAX)
    assert len(name) == RELEASE_MAX and DNS_LABEL.match(name)


@pytest.mark.parametrize(
    ("template", "facts", "message"),
    [
        pytest.param("pr-{pr}", NameFacts(), "uses {pr}, but no pr is known", id="unknown-fact"),
        pytest.param("{branch}", NameFacts(branch="///"), "renders to an empty name", id="nothing-left"),
        pytest.param("{sha}", NameFacts(), "unknown placeholder {sha}", id="unknown-placeholder"),
        pytest.param("pr-{pr", NameFacts(pr="1"), "write placeholders as", id="unclosed-brace"),
    ],
)
def test_what_cannot_be_rendered_is_named(template: str, facts: NameFacts, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        render_name(template, facts, what="release.namespace")


@pytest.mark.parametrize(
    ("template", "ok"),
    [("pr-{pr}", True), ("{workspace}-{branch}", True), ("demo", True), ("Pr-{pr}", False), ("a_{branch}", False),
     ("-demo", False), ("{nope}", False), ("demo-", False)],
)  # fmt: skip
def test_check_template(template: str, ok: bool) -> None:
    if ok:
        assert check_template(template) == template
    else:
        with pytest.raises(ValueError, match=f"^{re.escape(repr(template))}: "):
            check_template(template)


@settings(max_examples=300)
@given(template=templates, facts=any_facts)
def test_every_rendered_name_is_a_dns_label(template: str, facts: NameFacts) -> None:
    for limit in (NAMESPACE_MAX, RELEASE_MAX):
        name = render_name(template, facts, what="ns", max_length=limit)
        assert DNS_LABEL.match(name) and len(name) <= limit
        assert render_name(template, facts, what="ns", max_length=limit) == name


@given(st.from_regex(DNS_LABEL, fullmatch=True).filter(lambda t: len(t) <= NAMESPACE_MAX))
def test_a_valid_label_is_kept_as_it_is(name: str) -> None:
    assert safe_label(name) == name
    assert render_name("{branch}", NameFacts(branch=name), what="ns") == name


@given(st.text(min_size=NAMESPACE_MAX + 1, max_size=200, alphabet="abcdefghij-/"),
       st.text(min_size=NAMESPACE_MAX + 1, max_size=200, alphabet="abcdefghij-/"))  # fmt: skip
def test_distinct_long_names_stay_distinct(a: str, b: str) -> None:
    cut_a, cut_b = safe_label(a), safe_label(b)
    if a != b and len(cut_a) == len(cut_b) == NAMESPACE_MAX:
        assert cut_a != cut_b


@given(st.text(max_size=200))
def test_label_values_are_valid(text: str) -> None:
    value = label_value(text)
    assert LABEL_VALUE.match(value) and len(value) <= NAMESPACE_MAX
    assert label_value(text) == value
