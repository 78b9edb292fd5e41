"""Flags that name nothing are refused, not read as "everything" or "nothing, but a cluster"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import assert_contract, quiet_env, run_envctl


@pytest.mark.parametrize("names", [",", "", " , ,", " "])
@pytest.mark.parametrize("verb", ["plan", "up"])
def test_services_naming_no_service_is_refused(tmp_path: Path, verb: str, names: str) -> None:
    (tmp_path / "envctl.yaml").write_text("version: 1\n")
    github = tmp_path / "github_output"
    done = run_envctl(tmp_path, verb, "--services", names, "--output", "github" if verb == "plan" else "text",
                      env=quiet_env(GITHUB_OUTPUT=str(github)))
    assert_contract(done, (2,))
    assert done.stderr.startswith(f"error: --services {names!r} names no service"), done.stderr
    assert not github.exists()  # no needs_cluster=true for a selection of nothing
