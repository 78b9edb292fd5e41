"""`envctl up` end to end on real Docker/containerd/git, with the k3d and helm stand-ins and KMock."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid

import pytest

from tests.pipeline.conftest import UpWorld

pytestmark = pytest.mark.docker


def _spans(run: dict, kind: str) -> list[dict]:
    return [s for s in run["spans"] if s["kind"] == kind]


def _by_service(run: dict, kind: str) -> dict[str, dict]:
    return {s["service"]: s for s in _spans(run, kind) if s.get("service")}


def test_up_builds_loads_deploys_and_waits_then_a_second_up_is_a_no_op(up_world: UpWorld) -> None:
    # One slow build (never cached: a unique step) makes the pipelining observable.
    _slow_build(up_world, "web", seconds=4)
    with up_world.kubelet() as kubelet:
        first = up_world.envctl("up", check=True)
        assert "api" in first.stderr
        [run] = up_world.runs()
        assert run["run"]["outcome"] == "ok" and run["run"]["exit_code"] == 0
        builds = _by_service(run, "build")
        assert set(builds) == {"base", "api", "worker", "web", "migrate"}
        assert all(s["outcome"] == "ok" for s in builds.values())
        # The cluster is ensured while images build: the spans intersect.
        cluster = _spans(run, "cluster")
        cluster_start, cluster_end = min(s["start"] for s in cluster), max(s["end"] for s in cluster)
        assert any(s["start"] < cluster_end and s["end"] > cluster_start for s in builds.values())
        # Pipelined: some image is loaded before the last build ends.
        loads = _spans(run, "load")
        assert {s["service"] for s in loads} == {"api", "worker", "web", "migrate"}
        assert min(s["start"] for s in loads) < max(s["end"] for s in builds.values())
        assert sum(s["attrs"].get("bytes_moved", 0) for s in loads) > 0
        # Every pod ran because its image really was on the node.
        assert set(kubelet.handled.values()) == {"ready"}, kubelet.handled
        [values] = up_world.helm_upgrades()
        assert values["api"]["image"]["tag"].startswith("fp-")
        assert values["api"]["image"]["repository"] == f"{up_world.prefix}/api"
        waits = _spans(run, "wait")
        assert {s["service"] for s in waits} >= {"api", "worker", "web", "migrate"}
        # The critical path follows the graph's edges: the slow web build → its load → deploy → wait.
        timings = json.loads(up_world.envctl("timings", "--output", "json", check=True).stdout)
        path = [(step["kind"], step["service"]) for step in timings["run"]["critical_path"]]
        assert ("build", "web") in path and ("load", "web") in path, path
        assert [kind for kind, _ in path][-2:] == ["deploy", "wait"], path

        second = up_world.envctl("up", "--output", "json", check=True)
        report = json.loads(second.stdout)
        assert report["version"] == 1 and report["outcome"] == "ok" and report["error"] is None
        assert report["tasks"]["deploy"]["result"]["action"] == "skipped"
        assert report["tasks"]["cluster"]["result"]["action"] == "reused"
        assert {t["result"]["action"] for k, t in report["tasks"].items() if k.startswith("build:")} == {"present"}
        assert report["run_id"] == up_world.runs()[-1]["run"]["run_id"]
        runs = up_world.runs()
        assert len(runs) == 2
        again = runs[-1]
        assert all(s["outcome"] == "skipped" for s in _spans(again, "build")), _spans(again, "build")
        assert sum(s["attrs"].get("bytes_moved", 0) for s in _spans(again, "load")) == 0
        [deploy] = [s for s in _spans(again, "deploy") if s["name"].startswith("deploy ")]
        assert deploy["outcome"] == "skipped"
        assert len(up_world.helm_upgrades()) == 1  # no second upgrade
        assert any(s["attrs"].get("action") == "reused" for s in _spans(again, "cluster")), _spans(again, "cluster")
        assert "skipped" in second.stderr


def test_one_changed_service_rebuilds_loads_and_rolls_only_that_service(up_world: UpWorld) -> None:
    with up_world.kubelet():
        up_world.envctl("up", check=True)
        script = up_world.workspace / "examples" / "services" / "worker" / "worker.sh"
        script.write_text(script.read_text() + "\n# a code change\n")
        up_world.envctl("up", "--changed-only", check=True)
    last = up_world.runs()[-1]
    built = {name for name, s in _by_service(last, "build").items() if s["outcome"] == "ok"}
    assert built == {"worker"}
    moved = {s["service"] for s in _spans(last, "load") if s["attrs"].get("bytes_moved", 0) > 0}
    assert moved == {"worker"}
    first, second = up_world.helm_upgrades()
    changed = {svc for svc in ("api", "worker", "web", "migrate") if first[svc]["image"] != second[svc]["image"]}
    assert changed == {"worker"}


def test_up_with_services_keeps_the_deployed_images_of_the_others(up_world: UpWorld, tmp_path) -> None:
    # In GitHub Actions, `up` also writes the job summary and step outputs.
    up_world.env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "summary.md")
    up_world.env["GITHUB_OUTPUT"] = str(tmp_path / "output.txt")
    with up_world.kubelet():
        up_world.envctl("up", check=True)
        summary = (tmp_path / "summary.md").read_text()
        assert "critical path" in summary.lower() and "|" in summary
        outputs = dict(line.split("=", 1) for line in (tmp_path / "output.txt").read_text().splitlines())
        assert set(json.loads(outputs["changed_services"])) == {"base", "api", "migrate", "web", "worker"}
        assert float(outputs["duration_seconds"]) > 0 and outputs["run_id"] == up_world.runs()[-1]["run"]["run_id"]
        for service, name in (("api", "app/run.sh"), ("worker", "worker.sh")):
            path = up_world.workspace / "examples" / "services" / service / name
            path.write_text(path.read_text() + "\n# changed\n")
        up_world.envctl("up", "--services", "worker", check=True)
    last = up_world.runs()[-1]
    assert {name for name, s in _by_service(last, "build").items() if s["outcome"] == "ok"} == {"worker"}
    first, second = up_world.helm_upgrades()
    # api changed on disk but was not selected: it keeps the image the release ran, not a chart default.
    assert second["api"]["image"] == first["api"]["image"]
    assert second["worker"]["image"]["tag"] != first["worker"]["image"]["tag"]


def test_a_failed_build_cancels_only_its_dependents_and_is_recorded(up_world: UpWorld) -> None:
    dockerfile = up_world.workspace / "examples" / "services" / "base" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN exit 3\n")
    done = up_world.envctl("up", "--keep-going")
    assert done.returncode == 4, done.stderr
    assert "base" in done.stderr.splitlines()[-2] or "base" in done.stderr
    [run] = up_world.runs()
    assert run["run"]["outcome"] == "failed" and run["run"]["exit_code"] == 4
    builds = _by_service(run, "build")
    assert builds["base"]["outcome"] == "failed"
    assert {builds["web"]["outcome"], builds["migrate"]["outcome"]} == {"ok"}
    # api and worker build FROM base: never started, recorded as cancelled, never tagged.
    cancelled = {s["attrs"].get("task") or s["name"] for s in run["spans"] if s["outcome"] == "cancelled"}
    assert {"build:api", "build:worker", "deploy"} <= cancelled
    images = up_world.envctl("plan", "--output", "json", check=True)
    assert '"name": "api"' in images.stdout


def test_ctrl_c_leaves_a_readable_partial_run_and_a_waiting_up_then_resumes(up_world: UpWorld) -> None:
    _slow_build(up_world, "web", seconds=20)
    dockerfile = up_world.workspace / "examples" / "services" / "web" / "Dockerfile"
    with up_world.kubelet():
        first = up_world.popen("up")
        deadline = time.monotonic() + 120
        # Interrupt while the slow build runs (the other images are done or in progress).
        while time.monotonic() < deadline:
            if _building("sleep 20"):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the slow build step never started")
        # Two `up`s never run at once on a workspace: one refuses on request, one waits.
        refused = up_world.envctl("up", "--no-wait-lock")
        assert refused.returncode == 9, refused.stderr
        assert "hint:" in refused.stderr
        dockerfile.write_text("".join(line for line in dockerfile.read_text().splitlines(True) if "sleep" not in line))
        second = up_world.popen("up")
        time.sleep(1.5)
        assert second.poll() is None  # blocked on the lock
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 130, err
        assert "error: interrupted" in err
        _, second_err = second.communicate(timeout=240)
        assert second.returncode == 0, second_err
        assert "waiting for" in second_err
    interrupted, resumed = up_world.runs()
    assert interrupted["run"]["outcome"] == "cancelled" and interrupted["run"]["exit_code"] == 130
    assert any(s["outcome"] == "cancelled" for s in interrupted["spans"])
    assert resumed["run"]["outcome"] == "ok"
    # What the interrupted run finished stays finished: those builds are skipped by the next one.
    finished = {s["service"] for s in _spans(interrupted, "build") if s["outcome"] in ("ok", "skipped")}
    assert finished, "some build finished before the interrupt"
    assert all(_by_service(resumed, "build")[name]["outcome"] == "skipped" for name in finished)


def _slow_build(world: UpWorld, service: str, seconds: int) -> None:
    dockerfile = world.workspace / "examples" / "services" / service / "Dockerfile"
    step = f"RUN echo {uuid.uuid4().hex} >/dev/null && sleep {seconds}\n"
    dockerfile.write_text(dockerfile.read_text() + step)
    world.git("commit", "-qam", f"slow {service} build")


def _building(step: str) -> bool:
    """Is a build's RUN step running now? (Container processes are visible in the host's table.)"""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return any(line.endswith(step) or line == step for line in out.splitlines())


def test_a_crash_looping_pod_fails_the_run_fast_naming_pod_and_reason(up_world: UpWorld) -> None:
    with up_world.kubelet(crash=frozenset({"worker"})):
        started = time.monotonic()
        done = up_world.envctl("up", "--timeout", "300s")
        elapsed = time.monotonic() - started
    assert done.returncode == 7, done.stderr
    error = next(line for line in done.stderr.splitlines() if line.startswith("error:"))
    assert "demo-worker" in error and "CrashLoopBackOff" in error
    assert elapsed < 60  # not the 300 s deadline: the waiter fails as soon as it sees the state
    [run] = up_world.runs()
    assert run["run"]["outcome"] == "failed" and run["run"]["exit_code"] == 7
    waits = {s["service"]: s["outcome"] for s in _spans(run, "wait")}
    assert waits["worker"] == "failed"


def test_dry_run_prints_the_graph_and_touches_nothing(up_world: UpWorld) -> None:
    done = up_world.envctl("up", "--dry-run", check=True)
    assert "build:api" in done.stdout and "deploy" in done.stdout and "load:web" in done.stdout
    assert not (up_world.workspace / ".envctl").exists()
