"""SIGINT, a second SIGINT and SIGTERM at each phase of a real `envctl up` on the test cluster.

Each case holds `up` at one phase with a barrier the test controls (tests/support/gate.py), never a
sleep: the stand-in k3d's create, a Dockerfile RUN step (BuildKit CLI and Engine-API builds), the
`docker save` of a load (a docker wrapper that waits before it execs the real one), the stand-in
helm's upgrade, and the pod wait (the node never starts the changed worker's pod; the barrier is
the waiter's watch on pods). Then the signal(s), and from the outside:

* exit 130 (SIGINT) or 143 (SIGTERM), `error: interrupted (...)`, no traceback;
* a run record marked cancelled with that exit code, the phase's spans cancelled, none failed;
* nothing left: no process started for the run (found by a marker in its environment or the gate
  URL in its command line, in /proc), no `ctr import` in the node, no build container, the
  lock-owner file gone, no envctl temporary folder;
* the next `up` converges (exit 0, outcome ok).

One world per phase, shared by that phase's cases: each case first gives the phase work to do (a
deleted cluster, a changed Dockerfile or script), so the cases do not depend on their order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.pipeline.conftest import UpWorld, make_world
from tests.support.gate import Gate, wait_until
from tests.support.procs import marked_processes

pytestmark = pytest.mark.docker

PHASES = ("cluster", "build-buildkit", "build-engine", "load", "deploy", "wait")
SIGNALS = {
    "sigint": ((signal.SIGINT,), 130),
    "double-sigint": ((signal.SIGINT, signal.SIGINT), 130),  # the second one arrives during the stop
    "sigterm": ((signal.SIGTERM,), 143),
}
SPAN_KIND = {"cluster": "cluster", "build-buildkit": "build", "build-engine": "build", "load": "load",
             "deploy": "deploy", "wait": "wait"}  # fmt: skip
# The docker CLI envctl runs: the real one, except that `docker save` first waits on SAVE_GATE_URL.
DOCKER_WRAPPER = """#!/bin/sh
if [ "$1" = save ] && [ -n "$SAVE_GATE_URL" ]; then
  wget -q -O /dev/null "$SAVE_GATE_URL" || exit 1
fi
exec {docker} "$@"
"""


@dataclass
class PhaseWorld:
    phase: str
    world: UpWorld
    gate: Gate
    tmp: Path  # TMPDIR of the interrupted runs: envctl's temporary folders go here
    cases: int = 0
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory, docker_engine: str,
           base_image: str) -> Iterator[Callable[..., PhaseWorld]]:  # fmt: skip
    made: dict[str, PhaseWorld] = {}
    with ExitStack() as stack:

        def world_for(phase: str, instance: str = "") -> PhaseWorld:
            key = f"{phase}{instance}"
            if key not in made:
                root = tmp_path_factory.mktemp(f"signals-{phase}")
                world = stack.enter_context(make_world(root, docker_engine, base_image))
                gate = stack.enter_context(Gate())
                wrapper = root / "docker-gated"
                wrapper.write_text(DOCKER_WRAPPER.format(docker=docker_engine))
                wrapper.chmod(0o755)
                config_path = world.workspace / "envctl.yaml"
                config = yaml.safe_load(config_path.read_text())
                config["build"].update(network="host", docker_cli=str(wrapper))  # RUN steps reach the gate
                if phase == "build-engine":
                    config["build"]["backend"] = "engine"
                config_path.write_text(yaml.safe_dump(config, sort_keys=False))
                world.git("commit", "-qam", "fault suite settings")
                (root / "tmp").mkdir()
                made[key] = PhaseWorld(phase, world, gate, root / "tmp")
            return made[key]

        yield world_for


def give_work(pw: PhaseWorld, name: str) -> tuple[dict[str, str], Callable[[Callable[[], bool]], None]]:
    """Make the phase have something to do; returns the run's extra environment and its barrier."""
    world, gate = pw.world, pw.gate
    if pw.phase == "cluster":  # no cluster (a fresh world, or whatever an earlier case left): k3d creates one
        subprocess.run(["k3d", "cluster", "delete", world.cluster], env=world.env, cwd=world.workspace,
                       capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        return {"K3D_STANDIN_CREATE_GATE": gate.url(name)}, lambda alive: gate.wait_arrived(name, alive=alive)
    if pw.phase.startswith("build"):
        dockerfile = world.workspace / "examples" / "services" / "web" / "Dockerfile"
        kept = [line for line in dockerfile.read_text().splitlines(True) if "wget" not in line]
        dockerfile.write_text("".join(kept) + f"RUN echo {name} >/dev/null && {gate.shell_wait(name)}\n")
        world.git("commit", "-qam", f"gated web build {name}")
        return {}, lambda alive: gate.wait_arrived(name, alive=alive)
    script = world.workspace / "examples" / "services" / "worker" / "worker.sh"
    script.write_text(script.read_text() + f"\n# {name}\n")
    world.git("commit", "-qam", f"worker changes ({name})")
    if pw.phase == "load":
        return {"SAVE_GATE_URL": gate.url(name)}, lambda alive: gate.wait_arrived(name, alive=alive)
    if pw.phase == "deploy":
        return {"FAKE_HELM_UPGRADE_GATE": gate.url(name)}, lambda alive: gate.wait_arrived(name, alive=alive)
    assert world.api.emulator is not None
    watches = world.api.emulator.watches
    before = watches.get("pods", 0)
    return {}, lambda alive: wait_until(lambda: watches.get("pods", 0) > before, "the waiter watches pods",
                                        alive=alive)  # fmt: skip


def node_imports(world: UpWorld) -> list[str]:
    done = subprocess.run([world.docker, "top", world.node, "-eo", "pid,args"], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    return [line for line in done.stdout.splitlines() if "ctr" in line and "import" in line]


def build_containers(world: UpWorld, name: str) -> list[str]:
    done = subprocess.run([world.docker, "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    return [line for line in done.stdout.splitlines() if name in line]


def spans(run: dict, kind: str) -> list[dict]:
    return [s for s in run["spans"] if s["kind"] == kind]


def start_up(pw: PhaseWorld, env: dict[str, str], name: str) -> tuple[subprocess.Popen[str], Path]:
    logs = pw.tmp.parent / f"{name}.stderr"
    proc = subprocess.Popen(
        [sys.executable, "-m", "envctl", "up"], cwd=pw.world.workspace, env=env, text=True,
        stdout=subprocess.DEVNULL, stderr=logs.open("w"),
    )  # fmt: skip
    return proc, logs


# Every phase with every signal is 18 real `up`s (~15 min), too long for each CI run: by default
# each phase meets one signal and every signal at least one phase; ENVCTL_FAULTS_FULL=1 runs the
# whole matrix.
DEFAULT_CASES = {("cluster", "sigint"), ("build-buildkit", "double-sigint"), ("build-engine", "sigterm"),
                 ("load", "sigint"), ("deploy", "sigterm"), ("wait", "double-sigint")}  # fmt: skip
FULL_MATRIX = os.environ.get("ENVCTL_FAULTS_FULL") == "1"
CASES = [pytest.param(phase, how, id=f"{phase}-{how}") for phase in PHASES for how in SIGNALS
         if FULL_MATRIX or (phase, how) in DEFAULT_CASES]  # fmt: skip


@pytest.mark.parametrize(("phase", "how"), CASES)
def test_a_signal_at_each_phase_stops_cleanly_records_and_the_next_up_converges(
    worlds: Callable[..., PhaseWorld], phase: str, how: str
) -> None:
    # A cluster case starts from a world of its own: the stand-in's API outlives a deleted cluster (a
    # real one takes its objects and helm's releases with it), so a second case would find the first
    # one's release and pods on a new, empty node.
    pw = worlds(phase, how if phase == "cluster" else "")
    world = pw.world
    pw.cases += 1
    name = f"case-{uuid.uuid4().hex[:8]}"
    extra, barrier = give_work(pw, name)
    marker = f"ENVCTL_FAULT_CASE={name}"
    env = {**world.env, **extra, "ENVCTL_FAULT_CASE": name, "TMPDIR": str(pw.tmp)}
    signals, code = SIGNALS[how]
    with ExitStack() as stack:
        # At the wait phase the node never starts the changed worker's pod (the chart's hook Job
        # still runs, or helm would stop at the hook): the waiter waits on it until the signal.
        stack.enter_context(world.kubelet(hold=frozenset({"worker"}) if phase == "wait" else frozenset()))
        proc, logs = start_up(pw, env, name)
        try:
            def alive() -> bool:
                return proc.poll() is None

            barrier(alive)
            if phase != "cluster":  # the cluster is ensured beside the builds: held at a build, it is ready first
                wait_until(lambda: "and ready" in logs.read_text(), "the cluster ready", alive=alive)
            for signum in signals:
                proc.send_signal(signum)
            assert proc.wait(timeout=120) == code, logs.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    err = logs.read_text()
    assert "Traceback" not in err, err
    assert f"error: interrupted ({signal.Signals(signals[0]).name})" in err, err

    run = world.runs()[-1]
    assert (run["run"]["outcome"], run["run"]["exit_code"]) == ("cancelled", code)
    assert [s["name"] for s in run["spans"] if s["outcome"] == "failed"] == []
    assert any(s["outcome"] == "cancelled" for s in spans(run, SPAN_KIND[phase])), spans(run, SPAN_KIND[phase])

    gate_url = pw.gate.url(name)
    wait_until(lambda: not marked_processes((marker, gate_url)), "no process of the run left", timeout=60)
    wait_until(lambda: not node_imports(world), "no ctr import left in the node", timeout=60)
    wait_until(lambda: not build_containers(world, name), "no build container left", timeout=60)
    assert not (world.workspace / ".envctl" / "up.lock.owner").exists()
    assert [p.name for p in pw.tmp.iterdir() if p.name.startswith("envctl")] == []

    pw.gate.release(name)  # the gated step may finish now, in the run that converges
    with world.kubelet():
        again = world.envctl("up")
    assert again.returncode == 0, again.stderr
    assert world.runs()[-1]["run"]["outcome"] == "ok"


def test_down_waits_for_a_running_up_held_at_its_deploy_then_uninstalls(
    worlds: Callable[..., PhaseWorld],
) -> None:
    pw = worlds("deploy")
    world = pw.world
    name = f"down-{uuid.uuid4().hex[:8]}"
    extra, barrier = give_work(pw, name)
    with world.kubelet():
        up, logs = start_up(pw, {**world.env, **extra}, name)
        try:
            barrier(lambda: up.poll() is None)  # the up holds the workspace, in the middle of its helm upgrade
            refused = world.envctl("down", "--no-wait-lock")
            assert refused.returncode == 9, refused.stderr
            assert refused.stderr.startswith(f"error: the workspace is locked by envctl up (pid {up.pid})")
            assert "hint: " in refused.stderr
            down = world.popen("down")
            assert down.stderr is not None
            waiting = down.stderr.readline()  # blocked on the lock, and says so, as a second up would
            assert waiting.startswith(f"waiting for envctl up (pid {up.pid}) to finish"), waiting
            assert down.poll() is None
            pw.gate.release(name)
            assert up.wait(timeout=300) == 0, logs.read_text()
            out, err = down.communicate(timeout=300)
        finally:
            for proc in (up,):
                if proc.poll() is None:
                    proc.kill()
    assert down.returncode == 0, err
    assert "release demo: uninstalled rev" in out, out
    assert world.runs()[-1]["run"]["outcome"] == "ok"  # the up finished undisturbed, then down removed it
    with world.kubelet():
        again = world.envctl("up")
    assert again.returncode == 0, again.stderr


def test_a_load_past_timeouts_load_is_stopped_and_up_exits_11(worlds: Callable[..., PhaseWorld]) -> None:
    pw = worlds("load")
    world = pw.world
    name = f"timeout-{uuid.uuid4().hex[:8]}"
    config_path = world.workspace / "envctl.yaml"
    original = config_path.read_text()
    config = yaml.safe_load(original)
    config["timeouts"] = {"load": "2s"}  # the held `docker save` never ends by itself: only the limit ends it
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    extra, _ = give_work(pw, name)  # commits the limit with the change
    marker = f"ENVCTL_FAULT_CASE={name}"
    env = {**world.env, **extra, "ENVCTL_FAULT_CASE": name, "TMPDIR": str(pw.tmp)}
    with world.kubelet():
        done = subprocess.run([sys.executable, "-m", "envctl", "up"], cwd=world.workspace, env=env, text=True,
                              capture_output=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 11, done.stderr
    assert "Traceback" not in done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert "did not finish within 2 s and was stopped" in error, error
    assert "hint: " in done.stderr and "Timeouts" in done.stderr
    assert pw.gate.arrived(name)
    run = world.runs()[-1]
    assert (run["run"]["outcome"], run["run"]["exit_code"]) == ("failed", 11)
    assert any(s["outcome"] == "failed" for s in spans(run, "load"))
    wait_until(lambda: not marked_processes((marker, pw.gate.url(name))), "no process of the run left", timeout=60)
    wait_until(lambda: not node_imports(world), "no ctr import left in the node", timeout=60)
    assert not (world.workspace / ".envctl" / "up.lock.owner").exists()

    config_path.write_text(original)
    world.git("commit", "-qam", "default load timeout")
    pw.gate.release(name)
    with world.kubelet():
        again = world.envctl("up")
    assert again.returncode == 0, again.stderr
