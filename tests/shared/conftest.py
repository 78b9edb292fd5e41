"""Fixtures for the shared-cluster tests: the test API with server-side resourceVersion conflicts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kube_api import KubeApi
from tests.support.kube_server_side import ServerSideEmulator


@pytest.fixture
def shared_api() -> Iterator[KubeApi]:
    """A fresh test API standing in for a shared cluster (leases conflict like a real API server's)."""
    with KubeApi(emulator=ServerSideEmulator) as api:
        yield api


@pytest.fixture
def shared_kubeconfig(shared_api: KubeApi, tmp_path: Path) -> Path:
    return shared_api.write_kubeconfig(tmp_path / "kubeconfig")
