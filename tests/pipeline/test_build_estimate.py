"""Without run history, builds are still ordered longest first: a guess from each Dockerfile
(build_estimate.py) stands in for the history's medians. Real git, a real plan; no Docker."""

from __future__ import annotations

import subprocess
from pathlib import Path

from envctl.adapters.process import SubprocessRunner
from envctl.build_estimate import static_build_seconds
from envctl.config import load_config
from envctl.execute import expected_build_seconds
from envctl.pipeline import chain_seconds
from envctl.plan import ImageFacts
from envctl.planning import plan_workspace
from envctl.timing.history import RunHistory

COPY_ONLY = "FROM busybox\nCOPY app /app\n"
ECHOES = "FROM busybox\nRUN echo one\nRUN echo two\nRUN echo three\nCOPY app /app\n"
PIP = "FROM python:3.12\n# install the dependencies\nCOPY req.txt /\nRUN pip install \\\n    -r /req.txt\nCOPY app /app\n"


def test_a_step_that_installs_outranks_any_number_of_plain_steps() -> None:
    assert static_build_seconds(PIP) > static_build_seconds(ECHOES) > static_build_seconds(COPY_ONLY)
    assert static_build_seconds("FROM x\n# RUN pip install nothing\n") == static_build_seconds("FROM x\n")
    assert static_build_seconds("FROM golang\nRUN go build ./...\n") > static_build_seconds(ECHOES)


def test_a_first_run_starts_the_service_with_the_install_step(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    for name, text in (("light", ECHOES), ("heavy", PIP), ("base", COPY_ONLY)):
        (ws / name / "app").mkdir(parents=True)
        (ws / name / "app" / "main.py").write_text(f"# {name}\n")
        (ws / name / "req.txt").write_text("requests\n")
        (ws / name / "Dockerfile").write_text(text.replace("FROM python:3.12", "FROM envctl-test/base"))
    (ws / "envctl.yaml").write_text(
        "version: 1\ncluster: {name: envctl-test-estimate}\nservices:\n"
        + "".join(f"  {n}: {{image: envctl-test/{n}, context: {n}, dockerfile: {n}/Dockerfile}}\n"
                  for n in ("base", "light", "heavy"))
    )  # fmt: skip
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=ws, check=True)
    config_path = ws / "envctl.yaml"
    plan = plan_workspace(load_config(config_path), ws, config_path, SubprocessRunner(),
                          facts=ImageFacts(local=frozenset(), registry=frozenset()))  # fmt: skip
    history = RunHistory(ws / ".envctl" / "runs")

    assert expected_build_seconds(history) == {}  # no history: the order used to be file order
    expected = expected_build_seconds(history, plan=plan, root=ws)

    assert set(expected) == {"base", "light", "heavy"}
    chain = chain_seconds(plan, expected)
    # heavy builds FROM base, so base's chain carries heavy's install: base, then heavy, first
    assert max(chain, key=lambda name: chain[name]) == "base"
    assert chain["heavy"] > chain["light"]
