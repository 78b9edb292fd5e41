from __future__ import annotations

import subprocess

import pytest


@pytest.mark.docker
def test_base_image_runs_a_shell(base_image: str, docker_engine: str) -> None:
    out = subprocess.run(
        [docker_engine, "run", "--rm", "--network", "none", base_image, "sh", "-c", "echo hello"],
        capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == "hello"
