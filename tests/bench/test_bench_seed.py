"""scripts/bench_seed.py and its building blocks (scripts/seedbench/): the generated monorepo really
has the seed's shape (checked through envctl's own plan), the merge draw has the seed's change
distribution, the model adds published costs only where a step ran, and a --quick run works end
to end on this machine's Docker engine and containerd, leaving nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.demo_world import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

from seedbench.model import Models, devci_figures, envctl_figures, p90, replay_delay
from seedbench.monorepo import (
    DEPLOYED,
    IMAGE_KINDS,
    LIB_USERS,
    NO_IMAGE_KINDS,
    SERVICES,
    Merge,
    Shape,
    apply_merge,
    draw_merges,
    expected_rebuilt,
    summary,
    write_monorepo,
)

MODELS = Models(k3d_create=17.0, helm_upgrade=2.0, pod_start=3.0)


# --- the merge draw -------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), count=st.sampled_from([4, 10, 20, 30]))
def test_every_draw_has_the_seed_share_of_no_image_merges_and_its_mean(seed: int, count: int) -> None:
    merges = draw_merges(count, seed)
    figures = summary(merges)
    assert sum(1 for m in merges if not m.touches_images) == round(0.41 * count)
    assert abs(figures["mean_rebuilt"] - 2.4) <= max(0.1, 2.4 / count) + 1e-9
    assert [m.index for m in merges] == list(range(1, count + 1))
    assert draw_merges(count, seed) == merges  # seeded: the same replay every time


def test_twenty_merges_of_the_default_seed_cover_every_kind() -> None:
    kinds = {m.kind for m in draw_merges(20, 0)}
    assert kinds == set(IMAGE_KINDS) | set(NO_IMAGE_KINDS)


# --- the generated monorepo, through envctl's own plan ---------------------------------------------
def _fingerprints(workspace: Path) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-m", "envctl", "plan", "--output", "json"], cwd=workspace,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return {s["name"]: s["fingerprint"] for s in json.loads(done.stdout)["services"]}


def test_each_kind_of_merge_changes_exactly_the_images_that_copy_what_it_edits(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_monorepo(ws, shape=Shape(base_mb=1, deps_scale=0.01, code_kb=16, lib_kb=8), prefix="envctl-bench-t",
                   base_image="envctl-bench-t/base:1", cluster="envctl-bench-t", salt="t")  # fmt: skip
    config = yaml.safe_load((ws / "envctl.yaml").read_text())
    assert sorted(config["services"]) == sorted(SERVICES)
    assert sorted(s for s, spec in config["services"].items() if spec.get("values_path")) == sorted(DEPLOYED)
    assert len(LIB_USERS) == 10
    merges = [Merge(1, "code", ("billing",)), Merge(2, "code2", ("admin", "orders")), Merge(3, "lib", ()),
              Merge(4, "schemas", ()), Merge(5, "deps", ("search",)), Merge(6, "docs", ("gateway",)),
              Merge(7, "tests", ()), Merge(8, "chart", ("orders",))]  # fmt: skip
    before = _fingerprints(ws)
    for merge in merges:
        apply_merge(ws, merge)
        after = _fingerprints(ws)
        assert {s for s in after if after[s] != before[s]} == expected_rebuilt(merge), merge
        before = after
    assert expected_rebuilt(merges[3]) == {"catalog", "gateway"}  # gateway copies its sibling's folder
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ws, capture_output=True, text=True, check=True)
    assert status.stdout == ""  # every merge is a commit


def test_dependency_layers_follow_the_shape(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_monorepo(ws, shape=Shape(deps_scale=0.5), prefix="envctl-bench-t", base_image="b:1", cluster="c",
                   salt="salt-1")  # fmt: skip
    dockerfile = (ws / "services" / "orders" / "Dockerfile").read_text()
    assert f"head -c {200 << 20} /dev/urandom" in dockerfile  # orders: 400 MB at full size
    assert "salt-1" in dockerfile
    assert "COPY services/catalog/schemas" in (ws / "services" / "gateway" / "Dockerfile").read_text()


# --- the model --------------------------------------------------------------------------------------
def _span(kind: str, task: str, start: float, end: float, after: list[str], **attrs: object) -> dict:
    return {"kind": kind, "name": task, "service": None, "start": start, "end": end, "outcome": "ok",
            "attrs": {"task": task, "after": after, **attrs}}  # fmt: skip


def _cold_run() -> list[dict]:
    return [
        _span("cluster", "cluster", 0.1, 2.0, [], action="created"),
        _span("build", "build:a", 0.1, 9.0, []),
        _span("build", "build:b", 0.1, 1.0, []),
        _span("load", "load:a", 9.0, 10.0, ["build:a", "cluster"], bytes_moved=100),
        _span("load", "load:b", 2.0, 3.0, ["build:b", "cluster"], bytes_moved=50),
        _span("deploy", "deploy", 10.0, 10.5, ["cluster", "load:a", "load:b"], action="installed"),
        _span("wait", "wait", 10.5, 10.7, ["cluster", "deploy"]),
    ]


def test_a_longer_cluster_create_delays_only_what_waits_for_it() -> None:
    spans = _cold_run()
    # The create becomes 17 s: load:b, then load:a (built at 9 s) wait for it; deploy and wait follow.
    assert replay_delay(spans, {"cluster": 17.0}) == pytest.approx((0.1 + 17.0 + 1.0 + 0.5 + 0.2) - 10.7)
    # A create that still ends before the slow build absorbs into the build's slack.
    assert replay_delay(spans, {"cluster": 5.0}) == pytest.approx(0.0)
    assert replay_delay(spans, {}) == 0.0
    assert replay_delay([], {"cluster": 17.0}) == 0.0


def test_envctl_figures_model_only_the_steps_that_ran() -> None:
    spans = _cold_run()
    run = {"spans": spans, "wall_seconds": 10.7, "phases": [],
           "tools": {"k3d": 1.9, "docker": 9.9, "helm": 0.5, "pod readiness": 0.2, "envctl overhead": 0.1}}  # fmt: skip
    cold = envctl_figures(run, 11.5, MODELS)
    assert cold.modelled_tools == ("k3d", "Helm", "readiness")
    assert cold.modelled["k3d"] == 17.0 and cold.modelled["Helm"] == 2.0 and cold.modelled["readiness"] == 3.0
    assert cold.total_measured == 11.5
    assert cold.total_modelled == pytest.approx(11.5 + replay_delay(spans, {"cluster": 17, "deploy": 2, "wait": 3}))
    assert cold.bytes_moved == 150
    assert cold.measured["other"] == pytest.approx(0.1 + 0.8)  # the process outside the record counts too

    reused = [dict(s, attrs={**s["attrs"], "action": "reused" if s["kind"] == "cluster" else "skipped"})
              for s in spans if s["kind"] in ("cluster", "deploy", "wait")]  # fmt: skip
    noop = envctl_figures({**run, "spans": reused}, 2.0, MODELS)
    assert noop.modelled_tools == () and not noop.is_modelled
    assert noop.total_modelled == noop.total_measured == 2.0


def test_devci_figures_model_every_run_and_never_go_below_the_measurement() -> None:
    steps = {"build": 10.0, "cluster": 1.5, "load": 20.0, "deploy": 0.3, "deploy_wait": 4.0, "wait": 0.2}
    fig = devci_figures(steps, 7 << 20, MODELS)
    assert fig.modelled["k3d"] == 17.0
    assert fig.modelled["Helm"] == 2.0 + 4.0  # the measured wait was longer than the model
    assert fig.total_measured == pytest.approx(36.0)
    assert fig.total_modelled == pytest.approx(10 + 17 + 20 + 6 + 0.2)
    assert fig.modelled_tools == ("k3d", "Helm")


def test_p90_is_the_nearest_rank() -> None:
    assert p90([float(i) for i in range(1, 21)]) == 18.0
    assert p90([3.0]) == 3.0
    assert p90([]) == 0.0


# --- the whole benchmark, small -------------------------------------------------------------------
@pytest.mark.docker
@pytest.mark.timeout(1200)
def test_quick_run_replays_merges_against_dev_ci_and_removes_what_it_made(tmp_path: Path, docker_engine: str) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_seed.py"), "--quick", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1150, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    merges = result["merges"]
    assert len(merges) == 4 and result["realised"]["merges"] == 4
    for merge in merges:
        expected = expected_rebuilt(Merge(merge["index"], merge["kind"], tuple(merge["services"])))
        assert set(merge["rebuilt"]) == expected
        # dev-ci imports its 7 deployed images on every merge; envctl only what changed.
        assert merge["devci"]["bytes_moved"] > 0
        if not expected & set(DEPLOYED):
            assert merge["envctl"]["bytes_moved"] == 0
        assert merge["devci"]["modelled"]["k3d"] >= 17.0
    assert result["cold"]["envctl"]["detail"]["cluster_created"] is True
    # Every line of the table that carries a modelled figure says so.
    for line in done.stdout.splitlines():
        if line.startswith(("k3d (cluster)", "total ", "Helm")) and "measured only" not in line:
            assert line.endswith("modelled"), line
    prefix = result["prefix"]
    leftovers = subprocess.run([docker_engine, "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                               check=True).stdout.split()  # fmt: skip
    assert not [name for name in leftovers if prefix in name]
    images = subprocess.run([docker_engine, "images", "--format", "{{.Repository}}"], capture_output=True, text=True,
                            check=True).stdout.split()  # fmt: skip
    assert not [name for name in images if name.startswith(prefix)]
