"""envctl.yaml for shared clusters: provider, kubeconfig/context, name templates, ttl, pull secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from envctl.config import load_config
from envctl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, cluster: dict | None = None, release: dict | None = None) -> Path:
    doc: dict = {"version": 1}
    if cluster is not None:
        doc["cluster"] = cluster
    if release is not None:
        doc["release"] = release
    path = tmp_path / "envctl.yaml"
    path.write_text(yaml.safe_dump(doc))
    (tmp_path / "charts" / "demo").mkdir(parents=True, exist_ok=True)
    return path


def test_version_1_configs_stay_valid_and_mean_k3d():
    config = load_config(ROOT / "envctl.yaml")
    assert config.cluster.provider == "k3d"
    assert (config.cluster.kubeconfig, config.cluster.context) == (None, None)
    assert config.release.ttl == "72h"


def test_an_existing_cluster_with_a_registry_and_a_branch_namespace(tmp_path: Path):
    path = write(
        tmp_path,
        cluster={"provider": "existing", "kubeconfig": "~/.kube/ci", "context": "shared",
                 "registry": {"use": "registry.internal:5000", "pull_secret": "regcred", "create": False}},
        release={"name": "demo", "namespace": "pr-{pr}", "ttl": "24h"},
    )  # fmt: skip
    config = load_config(path)
    assert config.cluster.provider == "existing" and config.cluster.context == "shared"
    assert config.cluster.registry is not None and config.cluster.registry.pull_secret == "regcred"
    assert (config.release.namespace, config.release.ttl) == ("pr-{pr}", "24h")


@pytest.mark.parametrize(
    ("cluster", "release", "message"),
    [
        pytest.param({"provider": "existing"}, None, "needs registry.use: HOST:PORT", id="existing-without-registry"),
        pytest.param({"context": "x"}, None, "context is only read with provider: existing", id="k3d-with-context"),
        pytest.param({"provider": "gke"}, None, "cluster.provider = 'gke'", id="unknown-provider"),
        pytest.param(None, {"namespace": "pr-{sha}"}, "unknown placeholder {sha}", id="unknown-placeholder"),
        pytest.param(None, {"namespace": "Pr-{pr}"}, "only lower-case letters", id="upper-case-literal"),
        pytest.param(None, {"namespace": "a" * 64}, "longer than 63", id="too-long-namespace"),
        pytest.param(None, {"name": "r" * 54}, "longer than 53", id="too-long-release"),
        pytest.param(None, {"ttl": "3d"}, "release.ttl = '3d'", id="ttl-without-a-known-unit"),
    ],
)
def test_bad_shared_settings_name_the_key(tmp_path: Path, cluster: dict | None, release: dict | None, message: str):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, cluster, release))
    assert message in caught.value.message
    assert caught.value.hint

