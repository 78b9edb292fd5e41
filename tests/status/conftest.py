"""Worlds for `envctl status`: the demo workspace with the k3d/helm stand-ins and KMock, exactly as
tests/pipeline/conftest.py builds it for `envctl up`, but made once per module (an `up` costs ~10 s)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline.conftest import UpWorld, make_world


@pytest.fixture
def fresh_world(tmp_path: Path, docker_engine: str, base_image: str) -> Iterator[UpWorld]:
    with make_world(tmp_path, docker_engine, base_image) as world:
        yield world


@pytest.fixture(scope="module")
def upped_world(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: str, base_image: str
) -> Iterator[UpWorld]:
    """One `envctl up` of the demo for the whole module, every pod run by the node kubelet."""
    with make_world(tmp_path_factory.mktemp("status"), docker_engine, base_image) as world:
        with world.kubelet() as kubelet:
            world.envctl("up", check=True)
        assert set(kubelet.handled.values()) == {"ready"}, kubelet.handled
        yield world
