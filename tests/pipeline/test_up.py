"""`envctl up` end to end on real Docker/containerd/git, with the k3d and helm stand-ins and KMock."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests.pipeline.conftest import UpWorld
from tests.support.gate import Gate, wait_until

# Where the k3d stand-in's nodes (like k3s nodes) serve containerd.
K3S_SOCKET = "/run/k3s/containerd/containerd.sock"

pytestmark = pytest.mark.docker


def _spans(run: dict, kind: str) -> list[dict]:
    return [s for s in run["spans"] if s["kind"] == kind]


def _by_service(run: dict, kind: str) -> dict[str, dict]:
    return {s["service"]: s for s in _spans(run, kind) if s.get("service")}


def test_up_builds_loads_deploys_and_waits_then_a_second_up_is_a_no_op(up_world: UpWorld) -> None:
    # Overlap and pipelining are made to happen, not hoped for: web's build holds at a gate, the
    # stand-in's create holds at another, and the test releases each once the other side is there.
    with Gate() as gate, up_world.kubelet() as kubelet:
        _gated_build(up_world, "web", gate.shell_wait("web-build"))
        up_world.env["K3D_STANDIN_CREATE_GATE"] = gate.url("cluster-create")
        proc = up_world.popen("up", "--jobs", "3")  # the held create and build never starve the rest
        def alive():
            return proc.poll() is None
        gate.wait_arrived("web-build", alive=alive)
        gate.wait_arrived("cluster-create", alive=alive)
        gate.release("cluster-create")  # the cluster is ready while web still builds…
        wait_until(lambda: _on_node(up_world) >= {"api", "worker", "migrate"}, "the other images loaded", alive=alive)
        gate.release("web-build")  # …and every other image was loaded before web's build ended
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "api" in err
        [run] = up_world.runs()
        assert run["run"]["outcome"] == "ok" and run["run"]["exit_code"] == 0
        builds = _by_service(run, "build")
        assert set(builds) == {"base", "api", "worker", "web", "migrate"}
        assert all(s["outcome"] == "ok" for s in builds.values())
        # The cluster is ensured while images build: the spans intersect.
        cluster = _spans(run, "cluster")
        cluster_start, cluster_end = min(s["start"] for s in cluster), max(s["end"] for s in cluster)
        assert builds["web"]["start"] < cluster_end and builds["web"]["end"] > cluster_start
        # Pipelined: the other images were loaded before the last build ended.
        loads = _by_service(run, "load")
        assert set(loads) == {"api", "worker", "web", "migrate"}
        assert all(loads[name]["start"] < builds["web"]["end"] for name in ("api", "worker", "migrate"))
        assert sum(s["attrs"].get("bytes_moved", 0) for s in loads.values()) > 0
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
        # ... then the check that the pods run the built images (a wait-kind step of its own).
        assert [kind for kind, _ in path][-3:] == ["deploy", "wait", "wait"] and path[-1] == ("wait", None), path

        helm_before = len(up_world.helm_calls())
        second = up_world.envctl("up", "--output", "json", check=True)
        # Nothing changed: no helm process at all (the render is kept, the release read from its
        # Secret through the API, and `helm version` only runs when pyhelm3's client is needed).
        assert up_world.helm_calls()[helm_before:] == []
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
    with Gate() as gate, up_world.kubelet():
        dockerfile = _gated_build(up_world, "web", gate.shell_wait("web-build"))
        first = up_world.popen("up")
        def alive():
            return first.poll() is None
        # Interrupt while web's build is held, once api (built FROM base) exists: base has finished.
        gate.wait_arrived("web-build", alive=alive)
        wait_until(lambda: _built(up_world, "api"), "api built", alive=alive)
        # Two `up`s never run at once on a workspace: one refuses on request, one waits.
        refused = up_world.envctl("up", "--no-wait-lock")
        assert refused.returncode == 9, refused.stderr
        assert "hint:" in refused.stderr
        dockerfile.write_text("".join(line for line in dockerfile.read_text().splitlines(True) if "wget" not in line))
        second = up_world.popen("up")
        assert second.stderr is not None
        waiting = second.stderr.readline()  # blocked on the lock, and says so
        assert "waiting for envctl up" in waiting, waiting
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=120)
        assert first.returncode == 130, err
        assert "error: interrupted" in err
        _, second_err = second.communicate(timeout=300)
        assert second.returncode == 0, second_err
    interrupted, resumed = up_world.runs()
    assert interrupted["run"]["outcome"] == "cancelled" and interrupted["run"]["exit_code"] == 130
    assert any(s["outcome"] == "cancelled" for s in interrupted["spans"])
    assert resumed["run"]["outcome"] == "ok"
    # What the interrupted run finished stays finished: those builds are skipped by the next one.
    finished = {s["service"] for s in _spans(interrupted, "build") if s["outcome"] in ("ok", "skipped")}
    assert {"base", "api"} <= finished
    assert all(_by_service(resumed, "build")[name]["outcome"] == "skipped" for name in finished)


def _gated_build(world: UpWorld, service: str, wait_command: str) -> Path:
    """Append a never-cached RUN step to ``service``'s Dockerfile that waits on the test's gate.
    The step reaches the gate over the host's loopback, so builds run with ``--network host``."""
    dockerfile = world.workspace / "examples" / "services" / service / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + f"RUN echo {uuid.uuid4().hex} >/dev/null && {wait_command}\n")
    config_path = world.workspace / "envctl.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["build"]["network"] = "host"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    world.git("commit", "-qam", f"gated {service} build")
    return dockerfile


def _on_node(world: UpWorld) -> set[str]:
    """The services whose image (by this world's name) the cluster's node holds right now."""
    done = subprocess.run(
        [world.docker, "exec", world.node, "ctr", "-a", K3S_SOCKET, "-n", "k8s.io", "images", "ls", "-q"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    prefix = f"docker.io/{world.prefix}/"
    return {ref.removeprefix(prefix).split(":")[0] for ref in done.stdout.split() if ref.startswith(prefix)}


def _built(world: UpWorld, service: str) -> bool:
    done = subprocess.run([world.docker, "images", "-q", f"{world.prefix}/{service}"],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    return bool(done.stdout.strip())


def test_a_crash_looping_pod_fails_the_run_fast_naming_pod_and_reason(up_world: UpWorld) -> None:
    with up_world.kubelet(crash=frozenset({"worker"})):
        done = up_world.envctl("up", "--timeout", "300s", "--output", "json")
    assert done.returncode == 7, done.stderr
    # The reason, not the deadline: the waiter failed on the state it saw (a deadline names none).
    error = next(line for line in done.stderr.splitlines() if line.startswith("error:"))
    assert "demo-worker" in error and "CrashLoopBackOff" in error
    # stdout is the run's report with the same error in it, and nothing else.
    report = json.loads(done.stdout)
    assert report["outcome"] == "failed" and report["error"]["exit_code"] == 7
    assert error == f"error: {report['error']['message']}"
    [run] = up_world.runs()
    assert run["run"]["outcome"] == "failed" and run["run"]["exit_code"] == 7
    waits = {s["service"]: s["outcome"] for s in _spans(run, "wait")}
    assert waits["worker"] == "failed"


def test_dry_run_prints_the_graph_and_touches_nothing(up_world: UpWorld) -> None:
    done = up_world.envctl("up", "--dry-run", check=True)
    assert "build:api" in done.stdout and "deploy" in done.stdout and "load:web" in done.stdout
    assert "warning:" not in done.stderr  # the tools and the chart are there
    document = json.loads(up_world.envctl("up", "--dry-run", "-o", "json", check=True).stdout)
    assert document["warnings"] == [] and {"build:api", "load:web", "deploy"} <= {t["id"] for t in document["graph"]}
    assert not (up_world.workspace / ".envctl").exists()
