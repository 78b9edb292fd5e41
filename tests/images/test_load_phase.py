"""The load phase against a real containerd node and a real registry.

Each "run" is one ``ImageLoader`` loading images one per call, as `up`'s load tasks do; the images
are built by `up`'s own image tasks on the scheduler.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from envctl.adapters.containerd import ContainerdNodes, Node, normalize_ref
from envctl.adapters.docker import DockerEngine
from envctl.adapters.process import SubprocessRunner
from envctl.errors import LoadFailed
from envctl.phases.build import BuildOptions, ImageBuilder
from envctl.phases.load import ImageLoader, LoadMode
from envctl.pipeline import BUILD_SLOT, image_tasks
from envctl.progress import CollectingProgress
from envctl.results import BuiltImage, ClusterInfo, LoadResult
from envctl.scheduler import Scheduler
from envctl.timing.spans import Recorder
from tests.support.containerd_node import node_image_refs, start_node, stop_node
from tests.support.registry import start_registry, stop_registry, stored_blob_bytes

pytestmark = pytest.mark.docker


def _build(ws, docker_cli, names: tuple[str, ...]) -> list[BuiltImage]:
    """The images of ``names`` (and what they build FROM), made by `up`'s image tasks."""
    plan = ws.plan(selected=names)
    recorder = Recorder()
    builder = ImageBuilder(
        workspace_root=ws.root, docker=DockerEngine(), runner=SubprocessRunner(),
        options=BuildOptions(docker_cli=docker_cli, network="none"), recorder=recorder, progress=CollectingProgress(),
    )  # fmt: skip
    result = Scheduler(image_tasks(plan, builder), recorder=recorder, jobs=2, limits={BUILD_SLOT: 2}).run()
    assert result.ok, result.first_error
    return [result.value(f"build:{name}") for name in names]


@dataclass(frozen=True)
class Registry:
    """A cluster registry's two names (``results.ClusterRegistry``): pushed to here, pulled from there."""

    push_address: str
    cluster_address: str


def _load(
    images: list[BuiltImage], nodes: list[Node], mode: LoadMode, docker_cli: str, *,
    registry: str | None = None, inside: str | None = None, recorder: Recorder | None = None,
) -> list[LoadResult]:  # fmt: skip
    """One run's loads: a loader for a cluster with these nodes (and registry), one image per call."""
    loader = ImageLoader(
        mode, containerd=ContainerdNodes(SubprocessRunner(), docker_cli), docker=DockerEngine(),
        recorder=recorder or Recorder(), progress=CollectingProgress(), nodes_of=lambda _: nodes,
    )  # fmt: skip
    names = Registry(registry, inside or registry) if registry else None
    cluster = ClusterInfo("test", "reused", Path("/nonexistent"), tuple(n.container for n in nodes), names, "0")
    return [loader.load(image, cluster) for image in images]


def test_imports_only_what_the_node_lacks_then_moves_nothing(
    workspace, docker_engine, containerd_node
) -> None:
    node = Node(containerd_node.name, containerd_node.socket_path)
    images = _build(workspace, docker_engine, ("base", "web"))

    recorder = Recorder()
    first = _load(images, [node], "import", docker_engine, recorder=recorder)
    assert [(r.service, r.nodes[0].outcome) for r in first] == [("base", "imported"), ("web", "imported")]
    assert all(r.bytes_moved > r.image_size / 2 for r in first)  # the whole image travelled
    spans = sorted(recorder.spans(), key=lambda s: s.service)
    assert [(s.kind, s.outcome, s.attrs["load_mode"], s.attrs["node"]) for s in spans] == [
        ("load", "ok", "import", node.container),
        ("load", "ok", "import", node.container),
    ]
    assert [(s.attrs["bytes_moved"], s.attrs["image_size"]) for s in spans] == [
        (r.bytes_moved, r.image_size) for r in first
    ]
    held = node_image_refs(docker_engine, containerd_node)
    for image in images:
        assert normalize_ref(image.ref) in held and image.image_id in held

    recorder = Recorder()
    second = _load(images, [node], "import", docker_engine, recorder=recorder)
    assert [r.nodes[0].outcome for r in second] == ["present", "present"]
    assert sum(r.bytes_moved for r in second) == 0
    assert [(s.outcome, s.attrs["bytes_moved"], s.attrs["node"]) for s in recorder.spans()] == [
        ("skipped", 0, node.container),
        ("skipped", 0, node.container),
    ]

    # Same image under a new tag: the node gets the tag, not a second copy.
    retag = f"{workspace.prefix}/web:fp-{uuid.uuid4().hex[:16]}"
    subprocess.run([docker_engine, "tag", images[1].ref, retag], check=True)
    alias = type(images[1])(**{**images[1].__dict__, "ref": retag})
    third = _load([alias], [node], "import", docker_engine)
    assert (third[0].nodes[0].outcome, third[0].bytes_moved) == ("retagged", 0)
    assert normalize_ref(retag) in node_image_refs(docker_engine, containerd_node)


def test_failures_name_image_and_node_and_are_not_recorded_as_loaded(
    workspace, docker_engine, containerd_node, base_image
) -> None:
    workspace.edit("examples/services/web/site/index.html", uuid.uuid4().hex)  # an image no node has yet
    images = _build(workspace, docker_engine, ("web",))
    gone = Node(f"envctl-test-gone-{uuid.uuid4().hex[:6]}", None)
    # A running container without containerd: every ctr command in it fails.
    no_ctr = f"envctl-test-noctr-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [docker_engine, "run", "-d", "--name", no_ctr, "--network", "none", base_image, "sleep", "300"],
        check=True,
        capture_output=True,
    )
    good = Node(containerd_node.name, containerd_node.socket_path)
    recorder = Recorder()
    try:
        with pytest.raises(LoadFailed) as caught:
            _load(images, [gone, Node(no_ctr, None), good], "import", docker_engine, recorder=recorder)
    finally:
        subprocess.run([docker_engine, "rm", "-f", no_ctr], check=False, capture_output=True)
    err = caught.value
    assert err.message.startswith(f"loading {images[0].ref} (web) into {gone.container} failed: cannot list")
    assert "(and 1 more)" in err.message
    outcomes = [(n.node, n.outcome, n.bytes_moved > 0) for n in err.result.nodes]
    assert outcomes == [
        (gone.container, "failed", False),
        (no_ctr, "failed", False),
        (good.container, "imported", True),
    ]
    assert [s.outcome for s in recorder.spans()] == ["failed", "failed", "ok"]
    assert normalize_ref(images[0].ref) in node_image_refs(docker_engine, containerd_node)

    # The next run retries exactly what is missing: the good node is not touched again.
    recorder = Recorder()
    with pytest.raises(LoadFailed) as again:
        _load(images, [gone, good], "import", docker_engine, recorder=recorder)
    assert [(n.outcome, n.bytes_moved) for n in again.value.result.nodes] == [
        ("failed", 0),
        ("present", 0),
    ]


def test_a_node_whose_disk_fills_up_names_image_node_and_cause(workspace, docker_engine, base_image) -> None:
    workspace.edit("examples/services/web/site/index.html", uuid.uuid4().hex)
    images = _build(workspace, docker_engine, ("web",))
    name = f"envctl-test-full-{uuid.uuid4().hex[:6]}"
    node = start_node(docker_engine, name, socket_path=f"/run/{name}/containerd.sock", root_size="600k")
    recorder = Recorder()
    try:
        with pytest.raises(LoadFailed) as caught:
            _load(images, [Node(node.name, node.socket_path)], "import", docker_engine, recorder=recorder)
        held = node_image_refs(docker_engine, node)
    finally:
        stop_node(docker_engine, node)
    err = caught.value
    assert err.message.startswith(f"loading {images[0].ref} (web) into {name} failed:")
    assert "no space left on device" in err.message
    assert [(n.node, n.outcome) for n in err.result.nodes] == [(name, "failed")]
    assert [s.outcome for s in recorder.spans()] == ["failed"]
    assert normalize_ref(images[0].ref) not in held


def _big_image(docker_cli: str, root: Path, prefix: str, base_image: str, code: str) -> BuiltImage:
    """A 3 MB incompressible layer and a tiny code layer on top (what a code-only change touches)."""
    if not (root / "big.bin").exists():
        root.mkdir(parents=True, exist_ok=True)
        (root / "big.bin").write_bytes(os.urandom(3 << 20))
    (root / "code.txt").write_text(code)
    (root / "Dockerfile").write_text(f"FROM {base_image}\nCOPY big.bin /data/big.bin\nCOPY code.txt /app/\n")
    ref = f"{prefix}/big:fp-{uuid.uuid5(uuid.NAMESPACE_OID, code).hex[:16]}"
    subprocess.run(
        [docker_cli, "build", "-q", "-t", ref, str(root)],
        check=True,
        capture_output=True,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )
    facts = DockerEngine().inspect(ref)
    assert facts is not None
    return BuiltImage("big", ref, facts.image_id, facts.size, "built", "test", 0.0)


def test_registry_mode_pushes_only_the_changed_layer(
    workspace, docker_engine, registry, containerd_node
) -> None:
    root = workspace.root / "big"
    target = {"registry": registry.address, "inside": "registry.cluster:5000"}
    v1 = [_big_image(docker_engine, root, workspace.prefix, workspace.base_image, "v1\n")]
    stored = stored_blob_bytes(registry)
    first = _load(v1, [], "registry", docker_engine, **target)
    first_moved = stored_blob_bytes(registry) - stored
    assert first[0].mode == "registry"
    assert first[0].chart_ref == f"registry.cluster:5000/{v1[0].ref}"
    assert first[0].bytes_moved > 3_000_000  # random data does not compress

    v2 = [_big_image(docker_engine, root, workspace.prefix, workspace.base_image, "v2\n")]
    stored = stored_blob_bytes(registry)
    second = _load(v2, [], "registry", docker_engine, **target)
    second_moved = stored_blob_bytes(registry) - stored
    assert 0 < second[0].bytes_moved < 10_000  # just the code layer
    # What envctl reports matches what landed on the registry's disk (plus the manifest, ~1 KB).
    assert second[0].bytes_moved <= second_moved < second[0].bytes_moved + 2_000
    assert second_moved < first_moved / 100

    # auto: the registry holds every layer but the tiny one, so it is chosen, and says why.
    v3 = [_big_image(docker_engine, root, workspace.prefix, workspace.base_image, "v3\n")]
    node = Node(containerd_node.name, containerd_node.socket_path)
    auto = _load(v3, [node], "auto", docker_engine, **target)
    assert auto[0].mode == "registry"
    assert auto[0].reason.startswith("auto: push ~0.0 MB of layers the registry lacks vs import 5.")
    no_registry = _load(v3, [node], "auto", docker_engine, registry="127.0.0.1:9")
    assert (no_registry[0].mode, no_registry[0].reason) == ("import", "auto: no cluster registry answers")
    assert no_registry[0].nodes[0].outcome == "imported"


def test_a_registry_that_refuses_the_push_is_reported_and_nothing_is_recorded_as_loaded(
    workspace, docker_engine, tmp_path
) -> None:
    refusing = start_registry(tmp_path / "readonly", readonly=True)
    try:
        image = _big_image(
            docker_engine, workspace.root / "big", workspace.prefix, workspace.base_image, "ro\n"
        )
        recorder = Recorder()
        with pytest.raises(LoadFailed) as caught:
            _load(
                [image],
                [],
                "registry",
                docker_engine,
                registry=refusing.address,
                recorder=recorder,
            )
    finally:
        stop_registry(refusing)
    err = caught.value
    assert err.message.startswith(
        f"loading {image.ref} (big) into registry:{refusing.address} failed: push of "
    )
    assert err.hint is not None and err.hint.startswith("check the registry accepts pushes")
    assert [(n.outcome, n.bytes_moved) for n in err.result.nodes] == [("failed", 0)]
    assert [(s.outcome, s.attrs["load_mode"]) for s in recorder.spans()] == [("failed", "registry")]
