"""Release records read from the cluster (adapters/helm_storage.py) against what helm prints, and the
helm adapter's kept renders: both let a no-op `envctl up` start no helm process."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envctl.adapters.helm import Helm, run_sync
from envctl.adapters.helm_storage import SecretRecords, UnreadableRecordError, decode_record
from envctl.adapters.kube import connect, get_json
from envctl.adapters.process import SubprocessRunner
from envctl.progress import CollectingProgress
from tests.deploy.conftest import DEMO_CHART, FakeHelm
from tests.support.kube_api import KubeApi
from tests.support.node_kubelet import EveryImageKubelet

VALUES: dict[str, Any] = {"api": {"image": {"repository": "envctl-demo/api", "tag": "t1"}}, "web": {"enabled": False}}


class DictRenders:
    """A RenderCache in memory (the product keeps it in .envctl/cache: tests/test_facts_cache.py)."""

    def __init__(self) -> None:
        self.kept: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.kept.get(key)

    def put(self, key: str, manifest: str) -> None:
        self.kept[key] = manifest


@pytest.fixture
def api_world(fake_helm: FakeHelm, tmp_path: Path) -> Iterator[tuple[KubeApi, Path]]:
    with KubeApi() as api, EveryImageKubelet(api, "ci"):
        fake_helm.switch("FAKE_HELM_KUBE_URL", api.url)  # the stand-in stores releases there, as helm 3 does
        yield api, api.write_kubeconfig(tmp_path / "api-kubeconfig")


def records_of(kubeconfig: Path) -> SecretRecords:
    def get(path: str, query: Mapping[str, str]) -> Any:
        client = connect(kubeconfig)
        try:
            return get_json(client, path, query)
        finally:
            client.close()

    return SecretRecords(get)


def helm_with(fake_helm: FakeHelm, **kwargs: Any) -> Helm:
    return Helm.open(SubprocessRunner(dict(os.environ)), fake_helm.kubeconfig, timeout="300s",
                     progress=CollectingProgress(), **kwargs)  # fmt: skip


def test_the_records_answer_what_helm_status_and_get_print(fake_helm: FakeHelm, api_world: tuple) -> None:
    _, kubeconfig = api_world
    plain = helm_with(fake_helm)
    assert run_sync(plain.current("demo", "ci")) is None
    assert records_of(kubeconfig).latest("demo", "ci") is None
    run_sync(plain.install_or_upgrade("demo", DEMO_CHART, VALUES, namespace="ci", description="first"))
    changed = {**VALUES, "api": {"image": {"repository": "envctl-demo/api", "tag": "t2"}}}
    run_sync(plain.install_or_upgrade("demo", DEMO_CHART, changed, namespace="ci", description="second"))

    read = helm_with(fake_helm, records=records_of(kubeconfig))
    fake_helm.clear_log()
    assert run_sync(read.current("demo", "ci")) == run_sync(plain.current("demo", "ci"))
    for revision in (1, 2):
        assert run_sync(read.values("demo", "ci", revision)) == run_sync(plain.values("demo", "ci", revision))
        assert run_sync(read.manifest("demo", "ci", revision)) == run_sync(plain.manifest("demo", "ci", revision))
    # Only the plain adapter's calls reached helm: 1 status + 2 × (get values, get manifest).
    assert [argv[:2] for argv in fake_helm.argvs()] == [
        ["status", "demo"], ["get", "values"], ["get", "manifest"], ["get", "values"], ["get", "manifest"],
    ]  # fmt: skip
    current = run_sync(read.current("demo", "ci"))
    assert current is not None and (current.revision, current.status, current.description) == (2, "deployed", "second")


def test_records_that_cannot_be_read_leave_the_answer_to_helm(fake_helm: FakeHelm, api_world: tuple) -> None:
    api, _ = api_world
    plain = helm_with(fake_helm)
    run_sync(plain.install_or_upgrade("demo", DEMO_CHART, VALUES, namespace="ci", description="first"))
    refused = api.write_kubeconfig(fake_helm.kubeconfig.parent / "refused", namespace="ci")
    refused.write_text(refused.read_text().replace(api.url, "http://127.0.0.1:9"))  # nothing listens there
    read = helm_with(fake_helm, records=records_of(refused))
    fake_helm.clear_log()
    current = run_sync(read.current("demo", "ci"))
    assert current is not None and current.description == "first"
    assert [argv[0] for argv in fake_helm.argvs()] == ["status"]


def test_a_kept_render_is_reused_until_an_input_changes(fake_helm: FakeHelm, tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    chart.mkdir()
    for path in DEMO_CHART.rglob("*"):
        if path.is_file():
            (chart / path.relative_to(DEMO_CHART)).parent.mkdir(parents=True, exist_ok=True)
            (chart / path.relative_to(DEMO_CHART)).write_bytes(path.read_bytes())
    renders = DictRenders()
    helm = helm_with(fake_helm, renders=renders)

    def rendered(values: dict[str, Any] = VALUES, *, name: str = "demo", post_render: str | None = None) -> int:
        fake_helm.clear_log()
        run_sync(helm.template(name, chart, values, namespace="ci", post_render=post_render))
        return len([argv for argv in fake_helm.argvs() if argv[0] == "template"])

    first = run_sync(helm.template("demo", chart, VALUES, namespace="ci"))
    assert rendered() == 0  # same inputs: the kept text
    assert run_sync(helm.template("demo", chart, VALUES, namespace="ci")) == first
    assert rendered({**VALUES, "web": {"enabled": True}}) == 1  # values
    assert rendered(name="other") == 1  # release name
    assert rendered(post_render="[]") == 1  # the post-renderer's rules
    (chart / "templates" / "extra.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n")
    assert rendered() == 1  # a chart file
    assert rendered() == 0
    assert len(renders.kept) == 5  # one per distinct input; the product's store keeps the last few


def test_a_new_helm_setting_or_binary_renders_again(fake_helm: FakeHelm, tmp_path: Path) -> None:
    renders = DictRenders()
    run_sync(helm_with(fake_helm, renders=renders).template("demo", DEMO_CHART, VALUES, namespace="ci"))
    fake_helm.clear_log()
    run_sync(helm_with(fake_helm, renders=renders).template("demo", DEMO_CHART, VALUES, namespace="ci"))
    assert fake_helm.argvs() == []
    fake_helm.switch("HELM_KUBEVERSION_NOTE", "set")
    run_sync(helm_with(fake_helm, renders=renders).template("demo", DEMO_CHART, VALUES, namespace="ci"))
    assert [argv[0] for argv in fake_helm.argvs()] == ["template"]
    fake_helm.switch("HELM_KUBEVERSION_NOTE", None)
    fake_helm.clear_log()
    helm = fake_helm.bin_dir / "helm"
    target = helm.resolve()
    helm.unlink()
    (fake_helm.bin_dir / "helm").write_text(f'#!/bin/sh\nexec {target} "$@"\n')  # another binary, same answers
    (fake_helm.bin_dir / "helm").chmod(0o755)
    run_sync(helm_with(fake_helm, renders=renders).template("demo", DEMO_CHART, VALUES, namespace="ci"))
    assert [argv[0] for argv in fake_helm.argvs()] == ["template"]


def _secret(release: object, *, gzipped: bool = True) -> dict[str, Any]:
    raw = json.dumps(release).encode()
    inner = base64.b64encode(gzip.compress(raw) if gzipped else raw)
    return {"metadata": {"name": "sh.helm.release.v1.demo.v1"}, "data": {"release": base64.b64encode(inner).decode()}}


def test_a_record_decodes_gzipped_or_plain_as_helm_reads_it() -> None:
    release = {"name": "demo", "namespace": "ci", "version": 3, "config": {"a": 1}, "manifest": "---\nx: 1",
               "info": {"status": "deployed", "description": "d", "last_deployed": "2026-12-02T10:00:00Z"}}  # fmt: skip
    for gzipped in (True, False):
        record = decode_record(_secret(release, gzipped=gzipped))
        assert (record.name, record.revision, record.status, record.description) == ("demo", 3, "deployed", "d")
        assert (record.config, record.manifest, record.last_deployed) == ({"a": 1}, "---\nx: 1", "2026-12-02T10:00:00Z")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(release=json_values, gzipped=st.booleans(), data=json_values)
def test_any_secret_decodes_or_is_unreadable_never_a_crash(release: object, gzipped: bool, data: object) -> None:
    for secret in (_secret(release, gzipped=gzipped), {"metadata": {"name": "x"}, "data": data}, {"data": {"release": data}}):
        with contextlib.suppress(UnreadableRecordError):  # the one failure it may report
            decode_record(secret)  # type: ignore[arg-type]
