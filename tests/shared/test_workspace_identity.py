"""The facts behind the name placeholders, from CI variables first and git second."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envctl.config import ReleaseSpec
from envctl.errors import ConfigError
from envctl.naming import DNS_LABEL, NameFacts
from envctl.workspace_identity import name_facts, resolve_release, workspace_id


@pytest.mark.parametrize(
    "url",
    ["git@github.com:acme/shop.git", "https://github.com/acme/shop", "https://token@github.com/acme/shop.git",
     "ssh://git@github.com:22/acme/shop.git", "https://github.com/acme/shop/"],
)  # fmt: skip
def test_every_clone_of_a_repository_is_the_same_workspace(url: str):
    assert workspace_id(url, "checkout-dir") == "acme/shop"


def test_without_a_remote_the_folder_names_the_workspace():
    assert workspace_id(None, "shop") == "shop"
    assert workspace_id("/srv/git/shop", "shop") == "shop"  # a local path is not a repository identity


def test_a_pull_request_run_names_its_branch_and_number():
    env = {"GITHUB_REF": "refs/pull/123/merge", "GITHUB_HEAD_REF": "feature/login", "GITHUB_ACTOR": "alice",
           "GITHUB_REF_NAME": "123/merge"}  # fmt: skip
    assert name_facts(env, None, "acme/shop") == NameFacts("feature/login", "123", "alice", "acme/shop")


def test_a_branch_push_and_a_laptop():
    push = {"GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main", "GITHUB_ACTOR": "bot"}
    assert name_facts(push, "detached?", "w") == NameFacts("main", None, "bot", "w")
    assert name_facts({"USER": "bob"}, "wip/x", "w") == NameFacts("wip/x", None, "bob", "w")


def test_namespace_flag_wins_and_templates_render():
    spec = ReleaseSpec(name="demo", namespace="pr-{pr}")
    facts = NameFacts(branch="b", pr="7", user="u", workspace="w")
    assert resolve_release(spec, facts).namespace == "pr-7"
    assert resolve_release(spec, facts, namespace="team-{user}").namespace == "team-u"
    assert resolve_release(spec, facts, namespace="fixed").namespace == "fixed"


def test_an_unknown_fact_or_a_bad_flag_is_bad_input():
    with pytest.raises(ConfigError, match=r"uses \{pr\}, but no pr is known") as caught:
        resolve_release(ReleaseSpec(namespace="pr-{pr}"), NameFacts(branch="main"))
    assert "--namespace" in (caught.value.hint or "")
    with pytest.raises(ConfigError, match="is not a DNS-1123 label"):
        resolve_release(ReleaseSpec(), NameFacts(), namespace="Bad_NS")


@given(st.text(min_size=1, max_size=100).filter(str.strip))
def test_any_branch_gives_a_valid_namespace(branch: str):
    spec = ReleaseSpec(namespace="{workspace}-{branch}")
    try:
        target = resolve_release(spec, NameFacts(branch=branch, workspace="shop"))
    except ConfigError:
        return  # nothing usable left of the branch name: reported, never a bad name
    assert DNS_LABEL.match(target.namespace) and len(target.namespace) <= 63


def test_the_origin_remote_is_read_from_a_real_repository(tmp_path):
    import subprocess

    from envctl.adapters.git import Git
    from envctl.adapters.process import SubprocessRunner

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    repo = Git(SubprocessRunner(), tmp_path)
    assert repo.remote_url() is None
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", "git@github.com:acme/shop.git"], check=True)
    assert workspace_id(repo.remote_url(), tmp_path.name) == "acme/shop"
