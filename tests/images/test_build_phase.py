"""The build phase against the real Docker engine (classic BuildKit of the 20.10 client)."""

from __future__ import annotations

import subprocess

import pytest

from envctl import __version__
from envctl.adapters.docker import DockerEngine
from envctl.adapters.process import SubprocessRunner
from envctl.phases.build import BuildFailed, BuildOptions, ImageBuilder, build_images
from envctl.progress import CollectingProgress
from envctl.timing.spans import Recorder

pytestmark = pytest.mark.docker


def _builder(ws, docker_cli: str, *, backend: str = "auto", recorder: Recorder | None = None) -> ImageBuilder:
    return ImageBuilder(
        workspace_root=ws.root,
        docker=DockerEngine(),
        runner=SubprocessRunner(),
        options=BuildOptions(docker_cli=docker_cli, backend=backend, network="none"),
        recorder=recorder or Recorder(),
        progress=CollectingProgress(),
    )


def _actions(images) -> dict[str, str]:
    return {image.service: image.action for image in images}


def test_builds_once_then_only_what_changed(workspace, docker_engine: str) -> None:
    first = build_images(workspace.services(), builder=_builder(workspace, docker_engine), jobs=2)
    assert _actions(first) == {"base": "built", "api": "built", "web": "built", "solo": "built"}
    assert {image.backend for image in first} == {"buildkit-classic"}

    recorder = Recorder()
    again = build_images(workspace.services(), builder=_builder(workspace, docker_engine, recorder=recorder))
    assert _actions(again) == {"base": "present", "api": "present", "web": "present", "solo": "present"}
    assert [s.outcome for s in recorder.spans()] == ["skipped"] * 4
    assert [image.image_id for image in again] == [image.image_id for image in first]

    (workspace.root / "libs/common/lib.txt").write_text("shared v2\n")
    shared = build_images(workspace.services(), builder=_builder(workspace, docker_engine))
    assert _actions(shared) == {"base": "built", "api": "built", "web": "built", "solo": "present"}

    (workspace.root / "services/api/app.txt").write_text("api v2\n")
    one = build_images(workspace.services(), builder=_builder(workspace, docker_engine))
    assert _actions(one) == {"base": "present", "api": "built", "web": "present", "solo": "present"}

    api = next(s for s in workspace.services() if s.name == "api")
    labels = subprocess.run(
        [docker_engine, "image", "inspect", "-f", "{{json .Config.Labels}}", api.ref],
        capture_output=True, text=True, check=True,
    ).stdout
    assert f'"dev.envctl.fingerprint":"{api.fingerprint}"' in labels
    assert '"dev.envctl.service":"api"' in labels
    assert f'"dev.envctl.version":"{__version__}"' in labels
    # The dependent really was built FROM the new base: it holds the changed shared file.
    cat = subprocess.run([docker_engine, "run", "--rm", "--network", "none", api.ref, "cat", "/app/common/lib.txt"],
                         capture_output=True, text=True, check=True)
    assert cat.stdout == "shared v2\n"


def test_failed_build_names_service_and_step_tags_nothing_and_keep_going_finishes_others(
    workspace, docker_engine: str
) -> None:
    (workspace.root / "services/web/Dockerfile").write_text(
        "ARG BASE\nFROM ${BASE}\nCOPY services/web /app/web\nRUN echo compiling web && exit 3\n"
    )
    services = workspace.services()
    recorder = Recorder()
    with pytest.raises(BuildFailed) as caught:
        build_images(services, builder=_builder(workspace, docker_engine, recorder=recorder), keep_going=True)
    failure = caught.value
    assert [f.service for f in failure.failures] == ["web"]
    assert failure.failures[0].step == "[3/3] RUN echo compiling web && exit 3"
    assert "exit code: 3" in failure.failures[0].error
    assert any("compiling web" in line for line in failure.failures[0].log_tail)
    assert failure.message.splitlines()[0].startswith("build of web failed at step [3/3] RUN echo compiling web")
    assert sorted(image.service for image in failure.built) == ["api", "base", "solo"]
    web = next(s for s in services if s.name == "web")
    assert DockerEngine().inspect(web.ref) is None  # never tagged
    outcomes = {s.service: s.outcome for s in recorder.spans()}
    assert outcomes == {"base": "ok", "api": "ok", "web": "failed", "solo": "ok"}


def test_failure_without_keep_going_never_starts_dependents(workspace, docker_engine: str) -> None:
    (workspace.root / "services/base/Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN false\n")
    services = workspace.services()
    recorder = Recorder()
    with pytest.raises(BuildFailed) as caught:
        build_images(services, builder=_builder(workspace, docker_engine, recorder=recorder), jobs=1)
    assert [f.service for f in caught.value.failures] == ["base"]
    spans = {s.service: (s.outcome, s.attrs.get("reason")) for s in recorder.spans()}
    assert spans["base"][0] == "failed"
    assert spans["api"] == ("cancelled", "a dependency failed")
    assert spans["web"] == ("cancelled", "a dependency failed")
    assert spans["solo"] == ("cancelled", "stopped after another build failed")
    for service in services:
        assert DockerEngine().inspect(service.ref) is None


def test_engine_backend_builds_with_the_legacy_builder(workspace, docker_engine: str) -> None:
    solo = next(s for s in workspace.services() if s.name == "solo")
    builder = _builder(workspace, docker_engine, backend="engine")
    built = builder.build_one(solo)
    assert (built.action, built.backend) == ("built", "engine")
    facts = DockerEngine().inspect(solo.ref)
    assert facts is not None and facts.image_id == built.image_id
    assert facts.labels["dev.envctl.service"] == "solo"
