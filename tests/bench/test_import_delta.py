"""The import-delta filter (scripts/seedbench/delta.py): a docker-archive becomes an OCI layout
without the layers a node holds, and the real containerd here imports it (scripts/bench_import_delta.py)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.demo_world import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

from seedbench.delta import DOCKER_LAYER, write_delta_layout


def _config(layers: list[bytes]) -> bytes:
    diff_ids = [_digest(layer) for layer in layers]
    return json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()


def _docker_archive(tmp_path: Path, layers: list[bytes], *, tag: str = "envctl-test/app:v1",
                    link_last: bool = False) -> Path:  # fmt: skip
    """A docker-archive as ``docker save`` (Engine 20.10) writes one: v1-ID layer dirs, config, manifest.json."""
    archive = tmp_path / "save.tar"
    config = _config(layers)
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    paths = []
    with tarfile.open(archive, mode="w") as tar:
        for i, layer in enumerate(layers):
            path = f"{i:064x}/layer.tar"
            if link_last and i == len(layers) - 1:
                info = tarfile.TarInfo(path)
                info.type, info.linkname = tarfile.SYMTYPE, f"../{0:064x}/layer.tar"
                tar.addfile(info)
            else:
                _add(tar, f"{i:064x}/VERSION", b"1.0")
                _add(tar, path, layer)
            paths.append(path)
        _add(tar, config_name, config)
        _add(tar, "manifest.json", json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": paths}]).encode())
    return archive


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layout(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_layers_the_node_holds_are_left_out_and_the_manifest_still_names_them(tmp_path: Path) -> None:
    big, code = b"b" * 100_000, b"c" * 1_000
    out = io.BytesIO()
    stats = write_delta_layout(_docker_archive(tmp_path, [big, code]), out, {_digest(big)})
    files = _layout(out.getvalue())
    assert stats.layers_skipped == 1 and stats.layers_sent == 1 and stats.sent == [_digest(code)]
    assert big not in files.values() and files[f"blobs/sha256/{_digest(code)[7:]}"] == code
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    [entry] = json.loads(files["index.json"])["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == "docker.io/envctl-test/app:v1"
    assert entry["platform"] == {"architecture": "amd64", "os": "linux"}
    manifest = files[f"blobs/sha256/{entry['digest'][7:]}"]
    assert _digest(manifest) == entry["digest"] == stats.manifest_digest
    body = json.loads(manifest)
    assert [(layer["digest"], layer["size"], layer["mediaType"]) for layer in body["layers"]] == [
        (_digest(big), len(big), DOCKER_LAYER),
        (_digest(code), len(code), DOCKER_LAYER),
    ]
    config = _config([big, code])
    assert body["config"]["digest"] == _digest(config) and files[f"blobs/sha256/{_digest(config)[7:]}"] == config
    assert stats.bytes_out == len(out.getvalue()) < len(big)


def test_a_layer_of_the_same_size_as_a_held_one_is_still_sent(tmp_path: Path) -> None:
    held, changed = b"x" * 4_096, b"y" * 4_096  # a code edit that keeps the tar's size
    out = io.BytesIO()
    stats = write_delta_layout(_docker_archive(tmp_path, [changed]), out, {_digest(held)})
    assert stats.sent == [_digest(changed)]


def test_a_linked_repeated_layer_keeps_its_place_in_the_manifest_and_is_sent_once(tmp_path: Path) -> None:
    layer = b"z" * 2_048
    out = io.BytesIO()
    stats = write_delta_layout(_docker_archive(tmp_path, [layer, b"q" * 100, layer], link_last=True), out, set())
    files = _layout(out.getvalue())
    entry = json.loads(files["index.json"])["manifests"][0]
    digests = [layer_["digest"] for layer_ in json.loads(files[f"blobs/sha256/{entry['digest'][7:]}"])["layers"]]
    assert digests[0] == digests[2] == _digest(layer)
    assert stats.layers_sent == 2


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layers=st.lists(st.binary(min_size=0, max_size=3_000), min_size=1, max_size=5), data=st.data())
def test_whatever_the_node_holds_the_manifest_is_the_same(
    tmp_path: Path, layers: list[bytes], data: st.DataObject
) -> None:
    held = {_digest(layers[i]) for i in data.draw(st.sets(st.sampled_from(range(len(layers)))))}
    full, delta = io.BytesIO(), io.BytesIO()
    archive = _docker_archive(tmp_path, layers)
    whole = write_delta_layout(archive, full, set())
    part = write_delta_layout(archive, delta, held)
    assert part.manifest_digest == whole.manifest_digest
    assert set(part.sent) == {_digest(layer) for layer in layers} - held
    assert part.bytes_out <= whole.bytes_out


@pytest.mark.docker
@pytest.mark.timeout(900)
def test_containerd_imports_the_delta_and_the_image_is_whole(tmp_path: Path, docker_engine: str) -> None:
    out = tmp_path / "delta.json"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_import_delta.py"), "--big-mb", "8",
                           "--code-mb", "0.25", "--repeat", "1", "--json", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=850, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    for check in result["checks"]:
        assert check["tag_listed"] and check["id_listed"] and check["complete"] and check["marker_ok"]
        assert check["same_manifest_as_full_import"]
    ways = result["ways"]
    assert ways["delta"]["median_bytes"] < ways["full"]["median_bytes"] / 4
    assert ways["ingest"]["median_bytes"] < ways["full"]["median_bytes"] / 4
    assert "not found" in result["partial_docker_archive"]
