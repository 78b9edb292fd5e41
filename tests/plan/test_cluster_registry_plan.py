"""A shared cluster's registry is where the cluster pulls from: what it holds is skipped, not pulled
into this machine's store, unless a build here needs it as its FROM image (real git, no Docker:
the facts of what exists are given as `envctl up` would have gathered them)."""

from __future__ import annotations

from pathlib import Path

from envctl.adapters.process import SubprocessRunner
from envctl.config import load_config
from envctl.plan import ImageFacts, Plan
from envctl.planning import plan_workspace
from tests.plan.conftest import commit_all, init_repo, write_files

FILES = {
    "envctl.yaml": """\
version: 1
services:
  base:
    dockerfile: base/Dockerfile
    image: shop/base
  api:
    dockerfile: api/Dockerfile
    image: shop/api
  web:
    dockerfile: web/Dockerfile
    image: shop/web
""",
    "base/Dockerfile": "FROM busybox:1.36\nCOPY base/lib /lib/shop\n",
    "base/lib/a.py": "A = 1\n",
    "api/Dockerfile": "ARG BASE_REF=shop/base:latest\nFROM ${BASE_REF}\nCOPY api/app.py /app/\n",
    "api/app.py": "print('api')\n",
    "web/Dockerfile": "FROM busybox:1.36\nCOPY web/index.html /srv/\n",
    "web/index.html": "<p>web</p>\n",
}


def _plan(root: Path, *, in_registry: set[str], serves_cluster: bool) -> Plan:
    config_path = root / "envctl.yaml"
    first = plan_workspace(load_config(config_path), root, config_path, SubprocessRunner(),
                           facts=ImageFacts(local=frozenset(), registry=frozenset()))  # fmt: skip
    held = frozenset(first.service(name).ref for name in in_registry)
    facts = ImageFacts(local=frozenset(), registry=held, registry_serves_cluster=serves_cluster)
    return plan_workspace(load_config(config_path), root, config_path, SubprocessRunner(), facts=facts)


def _actions(plan: Plan) -> dict[str, tuple[str, str | None]]:
    return {s.name: (s.action, s.found_in) for s in plan.services}


def test_what_the_clusters_registry_holds_is_skipped_and_a_base_a_build_needs_is_pulled(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo")
    write_files(root, FILES)
    commit_all(root, "shop")

    everything = _plan(root, in_registry={"base", "api", "web"}, serves_cluster=True)
    assert _actions(everything) == {"base": ("skip", "registry"), "api": ("skip", "registry"),
                                    "web": ("skip", "registry")}  # fmt: skip
    assert "already in the cluster's registry" in everything.service("api").reason

    # api changed (its tag is not in the registry): it builds here FROM base, so base is pulled.
    api_missing = _plan(root, in_registry={"base", "web"}, serves_cluster=True)
    assert _actions(api_missing) == {"base": ("pull", None), "api": ("build", None), "web": ("skip", "registry")}
    assert api_missing.service("base").reason.endswith("pulled: api build FROM it")

    # A plain cache registry (not the one the cluster pulls from): what it holds is pulled, as before.
    cache = _plan(root, in_registry={"base", "api", "web"}, serves_cluster=False)
    assert _actions(cache) == {"base": ("pull", None), "api": ("pull", None), "web": ("pull", None)}
