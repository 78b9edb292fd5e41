"""The build phase against the real Docker engine (classic BuildKit of the 20.10 client).

Builds run as `up` runs them: the plan decides, `up`'s image tasks run on the scheduler
(``--jobs`` at a time, a dependency before its dependents, fail-fast or ``--keep-going``).
"""

from __future__ import annotations

import subprocess

import pytest

from envctl import __version__
from envctl.adapters.docker import DockerEngine
from envctl.adapters.process import SubprocessRunner
from envctl.errors import BuildError, BuildFailed
from envctl.phases.build import BuildOptions, ImageBuilder
from envctl.pipeline import BUILD_SLOT, image_tasks
from envctl.progress import CollectingProgress
from envctl.results import BuiltImage
from envctl.scheduler import Scheduler, ScheduleResult
from envctl.timing.spans import Recorder

pytestmark = pytest.mark.docker


def _builder(
    ws, docker_cli: str, *, backend: str = "auto", recorder: Recorder | None = None, progress=None
) -> ImageBuilder:
    return ImageBuilder(
        workspace_root=ws.root,
        docker=DockerEngine(),
        runner=SubprocessRunner(),
        options=BuildOptions(docker_cli=docker_cli, backend=backend, network="none"),
        recorder=recorder or Recorder(),
        progress=progress or CollectingProgress(),
    )


def _build_all(ws, builder: ImageBuilder, recorder: Recorder, *, jobs: int = 2, keep_going: bool = False) -> ScheduleResult:
    """Plan the workspace, then run `up`'s image tasks for it on the scheduler."""
    tasks = image_tasks(ws.plan(), builder)
    return Scheduler(tasks, recorder=recorder, jobs=jobs, limits={BUILD_SLOT: jobs}, fail_fast=not keep_going).run()


def _images(result: ScheduleResult) -> list[BuiltImage]:
    return [o.value for o in result.outcomes.values() if isinstance(o.value, BuiltImage)]


def _actions(result: ScheduleResult) -> dict[str, str]:
    return {image.service: image.action for image in _images(result)}


def test_builds_once_then_only_what_changed(workspace, docker_engine: str) -> None:
    progress, recorder = CollectingProgress(), Recorder()
    builder = _builder(workspace, docker_engine, recorder=recorder, progress=progress)
    first = _build_all(workspace, builder, recorder)
    everything = {"base", "api", "worker", "web", "migrate"}
    assert _actions(first) == dict.fromkeys(everything, "built")
    assert {image.backend for image in _images(first)} == {"buildkit-classic"}
    # One step per state change, the build log as details, one span per service saying how it ran.
    api_steps = [message.split(" (")[0] for subject, message in progress.steps if subject == "api"]
    assert api_steps[0] == "building with buildkit-classic" and api_steps[1].startswith("built in ")
    assert len(api_steps) == 2
    assert any(line.startswith("#") and "COPY examples/services/api/app /app" in line
               for subject, line in progress.details if subject == "api")  # fmt: skip
    api_span = next(s for s in recorder.spans() if s.service == "api")
    assert (api_span.kind, api_span.outcome, api_span.attrs["backend"]) == ("build", "ok", "buildkit-classic")
    assert api_span.attrs["image_size"] == next(i.size for i in _images(first) if i.service == "api")
    assert api_span.start >= next(s.end for s in recorder.spans() if s.service == "base")  # base first

    # The next plan finds every image locally and says skip; the phase obeys.
    assert {s.action for s in workspace.services()} == {"skip"}
    recorder = Recorder()
    again = _build_all(workspace, _builder(workspace, docker_engine, recorder=recorder), recorder)
    assert _actions(again) == dict.fromkeys(everything, "present")
    assert [s.outcome for s in recorder.spans()] == ["skipped"] * 5
    assert sorted(i.image_id for i in _images(again)) == sorted(i.image_id for i in _images(first))

    # The shared library: base, what builds FROM base, and migrate (which copies it too).
    workspace.edit("examples/libs/common/lib.sh", "echo shared v2\n")
    recorder = Recorder()
    shared = _build_all(workspace, _builder(workspace, docker_engine, recorder=recorder), recorder)
    rebuilt = {"base", "api", "worker", "migrate"}
    assert _actions(shared) == {name: "built" if name in rebuilt else "present" for name in everything}

    workspace.edit("examples/services/worker/worker.sh", "echo worker v2\n")
    recorder = Recorder()
    one = _build_all(workspace, _builder(workspace, docker_engine, recorder=recorder), recorder)
    assert _actions(one) == {name: "built" if name == "worker" else "present" for name in everything}

    api = next(s for s in workspace.services() if s.name == "api")
    labels = subprocess.run(
        [docker_engine, "image", "inspect", "-f", "{{json .Config.Labels}}", api.ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f'"dev.envctl.fingerprint":"{api.fingerprint}"' in labels
    assert '"dev.envctl.service":"api"' in labels
    assert f'"dev.envctl.version":"{__version__}"' in labels
    # The dependent really was built FROM the new base (BASE_REF got base's fingerprint ref).
    cat = subprocess.run(
        [docker_engine, "run", "--rm", "--network", "none", api.ref, "cat", "/opt/common/lib.sh"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert cat.stdout == "echo shared v2\n"


def test_failed_build_names_service_and_step_tags_nothing_and_keep_going_finishes_others(
    workspace, docker_engine: str
) -> None:
    dockerfile = "examples/services/web/Dockerfile"
    workspace.edit(
        dockerfile, (workspace.root / dockerfile).read_text() + "RUN echo compiling web && exit 3\n"
    )
    services = workspace.services()
    recorder = Recorder()
    result = _build_all(workspace, _builder(workspace, docker_engine, recorder=recorder), recorder, keep_going=True)
    error = result.first_error
    assert isinstance(error, BuildFailed)
    assert [o.id for o in result.failed] == ["build:web"]
    assert error.failure.step == "[4/4] RUN echo compiling web && exit 3"
    assert "exit code: 3" in error.failure.error
    assert any("compiling web" in line for line in error.failure.log_tail)
    assert error.message.splitlines()[0].startswith("build of web failed at step [4/4] RUN echo compiling web")
    assert sorted(image.service for image in _images(result)) == ["api", "base", "migrate", "worker"]
    web = next(s for s in services if s.name == "web")
    assert DockerEngine().inspect(web.ref) is None  # never tagged
    outcomes = {s.service: s.outcome for s in recorder.spans()}
    assert outcomes == {"base": "ok", "api": "ok", "worker": "ok", "web": "failed", "migrate": "ok"}


def test_failure_without_keep_going_never_starts_dependents(workspace, docker_engine: str) -> None:
    workspace.edit("examples/services/base/Dockerfile", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN false\n")
    services = workspace.services()
    recorder = Recorder()
    result = _build_all(workspace, _builder(workspace, docker_engine, recorder=recorder), recorder, jobs=1)
    assert [o.id for o in result.failed] == ["build:base"]
    assert isinstance(result.first_error, BuildFailed) and result.first_error.failure.service == "base"
    spans = {s.service: (s.outcome, s.attrs.get("reason")) for s in recorder.spans()}
    assert spans["base"][0] == "failed"
    assert spans["api"] == ("cancelled", "dependency build:base failed")
    assert spans["worker"] == ("cancelled", "dependency build:base failed")
    assert spans["web"] == ("cancelled", "stopped after build:base failed")
    for service in services:
        assert DockerEngine().inspect(service.ref) is None


def test_engine_backend_builds_with_the_legacy_builder(workspace, docker_engine: str) -> None:
    web = workspace.service("web")
    builder = _builder(workspace, docker_engine, backend="engine")
    built = builder.build(web, {})
    assert (built.action, built.backend) == ("built", "engine")
    facts = DockerEngine().inspect(web.ref)
    assert facts is not None and facts.image_id == built.image_id
    assert facts.labels["dev.envctl.service"] == "web"


def test_cache_registry_push_then_pull_instead_of_build(workspace, docker_engine: str, registry) -> None:
    web = workspace.service("web", cache_registry=registry.address)
    assert web.action == "build"  # the cache registry does not hold it yet
    pusher = ImageBuilder(
        workspace_root=workspace.root, docker=DockerEngine(), runner=SubprocessRunner(),
        options=BuildOptions(docker_cli=docker_engine, network="none", cache_registry=registry.address, push=True),
        recorder=Recorder(), progress=CollectingProgress(),
    )  # fmt: skip
    built = pusher.build(web, {})
    assert (built.action, built.pushed_to) == ("built", f"{registry.address}/{web.ref}")

    # A teammate / the next CI run: nothing local, the fingerprint tag is in the cache registry,
    # so the plan says pull (and says why), and the phase pulls instead of building.
    workspace.remove_images(docker_engine)
    assert DockerEngine().inspect(web.ref) is None
    web = workspace.service("web", cache_registry=registry.address)
    assert (web.action, web.reason) == ("pull", f"image {web.ref} is in the cache registry (image {web.ref} not built yet)")
    recorder = Recorder()
    puller = ImageBuilder(
        workspace_root=workspace.root, docker=DockerEngine(), runner=SubprocessRunner(),
        options=BuildOptions(docker_cli=docker_engine, network="none", cache_registry=registry.address),
        recorder=recorder, progress=CollectingProgress(),
    )  # fmt: skip
    pulled = puller.build(web, {})
    assert (pulled.action, pulled.backend, pulled.image_id) == ("pulled", "registry", built.image_id)
    assert [(s.kind, s.outcome) for s in recorder.spans()] == [("pull", "ok")]

    # Third-party images: pulled only when absent.
    third = f"{registry.address}/{web.ref}"
    assert puller.pull(third).action == "present"
    subprocess.run([docker_engine, "rmi", third], check=True, capture_output=True)
    assert puller.pull(third).action == "pulled"


def test_a_skipped_image_that_vanished_is_an_error_naming_it(workspace, docker_engine: str) -> None:
    web = workspace.service("web")
    _builder(workspace, docker_engine).build(web, {})
    skipped = workspace.service("web")
    assert skipped.action == "skip"
    workspace.remove_images(docker_engine)  # gone between the plan and the build
    with pytest.raises(BuildError, match=rf"the plan skipped web .* but {skipped.ref} is not in the local Docker engine"):
        _builder(workspace, docker_engine).build(skipped, {})
