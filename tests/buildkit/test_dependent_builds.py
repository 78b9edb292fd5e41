"""Issue 15 point 4: envctl builds images FROM another service's image on a docker-container builder.

No buildx runs here. The command lines are pinned exactly, and the build phase runs against a
buildx stand-in at the process boundary that behaves as a ``docker-container`` builder does where
it matters: it cannot see the local image store, so a ``FROM <local image>`` resolves only through a
``--build-context <ref>=oci-layout://DIR@DIGEST`` whose layout exists (docker/buildx#159, #2348);
it writes the OCI layout an ``--output type=oci,dest=DIR,tar=false`` asks for; everything else is
built for real by the classic BuildKit of Debian's 20.10 client, with the build-context FROM
replaced by the image the layout holds.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from envctl.adapters.buildkit import BuildRequest, DependencyLayouts, build_argv
from envctl.adapters.docker import DockerEngine
from envctl.adapters.process import SubprocessRunner
from envctl.errors import BuildError
from envctl.phases.build import BuildOptions, ImageBuilder
from envctl.pipeline import BUILD_SLOT, image_tasks
from envctl.plan import Plan, ServicePlan
from envctl.progress import CollectingProgress
from envctl.results import BuiltImage
from envctl.scheduler import Scheduler
from envctl.timing.spans import Recorder
from tests.conftest import classic_docker_cli


def test_buildx_argv_with_a_dependency_layout_and_an_export() -> None:
    request = BuildRequest(
        context="/ws", dockerfile="/ws/api/Dockerfile", iidfile="/i", build_args={"BASE_REF": "demo/base:fp-1"},
        contexts={"demo/base:fp-1": "oci-layout:///ws/.envctl/oci/demo_base_fp-1@sha256:ab"},
        oci_layout="/ws/.envctl/oci/demo_api_fp-2",
    )  # fmt: skip
    argv, _ = build_argv("buildx", "docker", request, {})
    assert argv == [
        "docker", "buildx", "build", "--load", "--progress=plain", "--iidfile", "/i", "-f", "/ws/api/Dockerfile",
        "--build-arg", "BASE_REF=demo/base:fp-1",
        "--build-context", "demo/base:fp-1=oci-layout:///ws/.envctl/oci/demo_base_fp-1@sha256:ab",
        "--output", "type=oci,dest=/ws/.envctl/oci/demo_api_fp-2,tar=false", "/ws",
    ]  # fmt: skip
    classic, _ = build_argv("classic", "docker", request, {})
    assert "--build-context" not in classic and "--output" not in classic  # classic BuildKit sees local images


def test_layouts_are_used_only_by_builders_that_cannot_see_local_images(tmp_path: Path) -> None:
    for driver in (None, "docker"):
        layouts = DependencyLayouts(tmp_path, driver, frozenset({"demo/base:fp-1"}))
        assert layouts.contexts(["demo/base:fp-1"]) == {} and layouts.export_dir("demo/base:fp-1") is None
    container = DependencyLayouts(tmp_path, "docker-container", frozenset({"demo/base:fp-1"}))
    assert container.export_dir("demo/base:fp-1") == str(tmp_path / "demo_base_fp-1")
    assert container.export_dir("demo/api:fp-2") is None  # nothing is built FROM it
    with pytest.raises(BuildError, match="cannot see the local image demo/base:fp-1"):
        container.contexts(["demo/base:fp-1"])
    folder = tmp_path / "demo_base_fp-1"
    folder.mkdir()
    (folder / "index.json").write_text(json.dumps({"manifests": [{"digest": "sha256:" + "1" * 64}]}))
    assert container.contexts(["demo/base:fp-1"]) == {"demo/base:fp-1": f"oci-layout://{folder}@sha256:{'1' * 64}"}


STANDIN = r'''#!{python}
"""docker with a docker-container buildx builder, as far as FROM and OCI outputs go (see the test module)."""
import hashlib, json, os, re, subprocess, sys
REAL = os.environ["REAL_DOCKER"]  # a pre-23 client: classic BuildKit reads the local image store
LAYOUT_REPO = os.environ["OCI_LAYOUT_REPO"]  # unique per test: sessions sharing the engine never meet
args = sys.argv[1:]
with open(os.environ["BUILDX_LOG"], "a") as fh:
    fh.write(json.dumps(args) + "\n")
if args[:2] == ["buildx", "version"]:
    print("github.com/docker/buildx v0.36.1"); sys.exit(0)
if args[:2] == ["buildx", "inspect"]:
    print("Name:          builder\nDriver:        docker-container"); sys.exit(0)
if args[:2] != ["buildx", "build"]:
    os.execv(REAL, [REAL, *args])
args = args[2:]
contexts, outputs, keep = {}, [], []
i = 0
while i < len(args):
    a = args[i]
    if a == "--load":
        i += 1; continue
    if a in ("--build-context", "--output", "--cache-from", "--cache-to"):
        value = args[i + 1]
        if a == "--build-context":
            name, _, where = value.partition("=")
            contexts[name] = where
        elif a == "--output":
            outputs.append(dict(f.split("=", 1) for f in value.split(",")))
        i += 2; continue
    keep.append(a); i += 1
# `--build-arg NAME` alone takes NAME's value from the client's environment, as docker does
build_args = {k: (v if sep else os.environ.get(k, "")) for k, sep, v in
              (keep[j + 1].partition("=") for j, a in enumerate(keep) if a == "--build-arg")}
dockerfile = open(keep[keep.index("-f") + 1]).read()
for line in dockerfile.splitlines():
    m = re.match(r"FROM\s+\$\{?(\w+)\}?", line)
    ref = build_args.get(m[1]) if m else None
    if ref and ref.startswith("envctl-test/dep-"):  # an image only the local store holds
        where = contexts.get(ref)
        if where is None:
            print(f"#3 ERROR: failed to resolve source metadata for docker.io/{ref}: pull access denied", file=sys.stderr)
            sys.exit(1)
        path, _, digest = where.removeprefix("oci-layout://").partition("@")
        index = json.load(open(os.path.join(path, "index.json")))
        entry = next(m for m in index["manifests"] if m["digest"] == digest)
        # The layout names the image it holds; classic BuildKit reads that image from the local store.
        keep[keep.index("--build-arg", keep.index(f"{m[1]}={ref}") - 1) + 1] = f"{m[1]}={entry['annotations']['envctl.test/image']}"
done = subprocess.run([REAL, "build", *keep], env={**os.environ, "DOCKER_BUILDKIT": "1"})
if done.returncode != 0:
    sys.exit(done.returncode)
iid = open(keep[keep.index("--iidfile") + 1]).read().strip()
for out in outputs:
    assert out == {"type": "oci", "dest": out["dest"], "tar": "false"}, out
    os.makedirs(os.path.join(out["dest"], "blobs", "sha256"), exist_ok=True)
    digest = "sha256:" + hashlib.sha256(iid.encode()).hexdigest()
    held = f"{LAYOUT_REPO}:{digest[7:19]}"  # what the layout holds, for classic BuildKit to read
    subprocess.run([REAL, "tag", iid, held], check=True)
    json.dump({"schemaVersion": 2, "manifests": [{"digest": digest, "annotations": {"envctl.test/image": held}}]},
              open(os.path.join(out["dest"], "index.json"), "w"))
'''


def _service(name: str, tag: str, dockerfile: str, **kw: object) -> ServicePlan:
    return ServicePlan(name=name, image=f"envctl-test/dep-{name}", tag=tag, fingerprint=tag, action="build",
                       reason="test", changed=True, changed_inputs=(), depends_on=tuple(kw.pop("depends_on", ())),  # type: ignore[arg-type]
                       dockerfile=dockerfile, context=".", build_args=kw.pop("build_args", {}), target=None, **kw)  # type: ignore[arg-type]  # fmt: skip


LAYOUT_REPO = f"envctl-test/oci-layout-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def workspace(tmp_path: Path, base_image: str, classic_docker: str) -> Iterator[tuple[Path, list[ServicePlan]]]:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "base.Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY a.txt /a.txt\n")
    (root / "api.Dockerfile").write_text("ARG BASE_REF\nFROM ${BASE_REF}\nCOPY b.txt /b.txt\n")
    (root / "a.txt").write_text("a\n")
    (root / "b.txt").write_text("b\n")
    tag = f"fp-{uuid.uuid4().hex[:8]}"
    base = _service("base", tag, "base.Dockerfile", build_args={"BASE_IMAGE": base_image})
    api = _service("api", tag, "api.Dockerfile", depends_on=("base",), dependency_args={"BASE_REF": "base"})
    yield root, [base, api]
    tags = [f"{LAYOUT_REPO}:{t}" for t in subprocess.run(
        [classic_docker, "images", "--format", "{{.Tag}}", LAYOUT_REPO], capture_output=True, text=True,
        check=False).stdout.split()]  # fmt: skip
    subprocess.run([classic_docker, "rmi", "-f", base.ref, api.ref, *tags], capture_output=True, check=False)


def _builder(root: Path, tmp_path: Path, layout_refs: frozenset[str]) -> ImageBuilder:
    exe = tmp_path / "docker"
    exe.write_text(STANDIN.replace("{python}", sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    runner = SubprocessRunner({"BUILDX_LOG": str(tmp_path / "buildx.jsonl"), "REAL_DOCKER": classic_docker_cli() or "docker",
                               "OCI_LAYOUT_REPO": LAYOUT_REPO})  # fmt: skip
    options = BuildOptions(docker_cli=str(exe), network="none", layout_refs=layout_refs)
    return ImageBuilder(workspace_root=root, docker=DockerEngine(), runner=runner, options=options,
                        recorder=Recorder(), progress=CollectingProgress())  # fmt: skip


def _build_all(services: list[ServicePlan], builder: ImageBuilder) -> list[BuiltImage]:
    """The images as `envctl up` makes them: its image tasks on the scheduler."""
    plan = Plan(base=None, services=tuple(services), images=(), chart_changed=False, needs_cluster=True)
    result = Scheduler(image_tasks(plan, builder), recorder=Recorder(), jobs=2, limits={BUILD_SLOT: 2}).run()
    if result.first_error is not None:
        raise result.first_error
    return [result.outcomes[f"build:{s.name}"].value for s in services]


def _builds(tmp_path: Path) -> list[list[str]]:
    lines = (tmp_path / "buildx.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if json.loads(line)[:2] == ["buildx", "build"]]


@pytest.mark.docker
def test_dependent_images_build_on_a_container_builder_through_oci_layouts(
    workspace: tuple[Path, list[ServicePlan]], tmp_path: Path
) -> None:
    root, (base, api) = workspace
    built = _build_all([base, api], _builder(root, tmp_path, frozenset({base.ref})))

    assert [b.action for b in built] == ["built", "built"]
    layout = root / ".envctl" / "oci" / base.ref.replace("/", "_").replace(":", "_")
    digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    base_argv, api_argv = _builds(tmp_path)
    assert base_argv[base_argv.index("--output") + 1] == f"type=oci,dest={layout},tar=false"
    assert "--build-context" not in base_argv
    assert api_argv[api_argv.index("--build-context") + 1] == f"{base.ref}=oci-layout://{layout}@{digest}"
    assert "--output" not in api_argv  # nothing is built FROM api
    # The dependent really is FROM the base: its file is there, on top of the base's.
    files = subprocess.run([classic_docker_cli() or "docker", "run", "--rm", "--network", "none", api.ref, "cat", "/a.txt", "/b.txt"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert files == "a\nb\n"


@pytest.mark.docker
def test_a_dependency_without_a_layout_is_refused_before_the_build_naming_the_fix(
    workspace: tuple[Path, list[ServicePlan]], tmp_path: Path
) -> None:
    """A base only the local store holds (built before, without a layout): the builder could only
    try to pull it, so envctl stops with the fix instead of sending a build that cannot work."""
    root, (base, api) = workspace
    _build_all([base], _builder(root, tmp_path, frozenset()))
    with pytest.raises(BuildError, match=f"cannot see the local image {base.ref}") as refused:
        _builder(root, tmp_path, frozenset()).build(api, {"BASE_REF": base.ref})
    assert "docker buildx use default" in (refused.value.hint or "")
    assert len(_builds(tmp_path)) == 1  # only base was ever sent to the builder
