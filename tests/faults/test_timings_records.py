"""Hypothesis against `envctl timings`: run records damaged in every field, read in every format.

A run record is a file in the workspace that anything may rewrite. Starting from a realistic
record, one field at a time is replaced with a hostile value (a wrong type, NaN, Infinity, a
negative or huge number, a deep structure, a path); every output format and the comparison must
then show the intact runs and warn about the damaged file — or, when it was asked for by
``--run``, refuse it with one `error:` line. Never a traceback, never invalid JSON.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st

from envctl.timing.history import RunHistory
from tests.faults.conftest import SEED, assert_contract, run_envctl
from tests.timing.sample import sample_run

GOOD_ID, BAD_ID = "20261129T070000Z-aaaa", "20261129T080000Z-bbbb"
HOSTILE = [None, "x", "", -1, -1e308, 1e308, 2**70, True, [], {}, [[[]]], "../../etc/passwd", "NaN", 0.5,
           {"a": {"b": {"c": 1}}}, ["x", 1, None]]
RAW_CONSTANTS = ["NaN", "Infinity", "-Infinity"]  # what json.dumps writes for float('nan'), etc.
FORMATS = [("--output", "table"), ("--output", "json"), ("--output", "markdown"), ("--output", "chrome-trace"),
           ("--compare",), ("--last", "3", "--output", "json"), ("--svg", "w.svg")]


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the record's JSON a value can be swapped."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def replaced(node: Any, where: tuple[Any, ...], value: Any) -> Any:
    if not where:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[where[0]] = replaced(node[where[0]], where[1:], value)
    return copy


def refuse(constant: str) -> None:
    msg = f"{constant} in JSON output"
    raise AssertionError(msg)


BASE = sample_run(BAD_ID).to_dict()
PLACES = paths(BASE)
MARK = "__hostile_constant__"


@seed(SEED)
@settings(max_examples=150, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(PLACES),
    value=st.one_of(st.sampled_from(HOSTILE), st.sampled_from(RAW_CONSTANTS).map(lambda c: (MARK, c))),
    fmt=st.sampled_from(FORMATS),
    chosen=st.booleans(),
)
# Found by a random seed: a span whose service is "" (not null) had no thread in the chrome trace.
@example(where=("spans", 2, "service"), value="", fmt=("--output", "chrome-trace"), chosen=True)
def test_a_damaged_record_is_skipped_or_refused_never_a_traceback(where: tuple[Any, ...], value: Any,
                                                                   fmt: tuple[str, ...], chosen: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="envctl-fault-timings-"))
    try:
        (root / "envctl.yaml").write_text("version: 1\n")
        history = RunHistory(root / ".envctl" / "runs")
        history.write(sample_run(GOOD_ID))
        constant = value[1] if isinstance(value, tuple) and value[0] == MARK else None
        data = replaced(BASE, where, MARK if constant else value)
        text = json.dumps(data).replace(json.dumps(MARK), constant) if constant else json.dumps(data)
        (history.runs_dir / f"{BAD_ID}.json").write_text(text)
        args = ("timings", *fmt, *(("--run", BAD_ID) if chosen else ()))
        done = run_envctl(root, *args)
        assert_contract(done, (0, 2))
        if done.returncode == 0 and ("json" in fmt or "chrome-trace" in fmt):
            json.loads(done.stdout, parse_constant=refuse)  # strict JSON: no NaN or Infinity
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_run_accepts_only_run_ids(tmp_path: Path) -> None:
    (tmp_path / "envctl.yaml").write_text("version: 1\n")
    outside = tmp_path / "x.json"
    outside.write_text(json.dumps(sample_run().to_dict()))
    (tmp_path / ".envctl" / "runs").mkdir(parents=True)
    for bad in ("../../x", "../x", "/etc/passwd", "x/../../y", "20261129T070000Z-abcd/../../x", ""):
        done = run_envctl(tmp_path / ".envctl" / "runs", "timings", "--run", bad)
        assert_contract(done, (2,))
        assert done.stderr.startswith(f"error: --run {bad!r} is not a run id"), done.stderr
