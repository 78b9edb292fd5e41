"""Fixtures for the waiter's tests: one emulated API per module, a fresh namespace and kubelet per test."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from envctl.adapters.kube import connect, list_objects
from envctl.phases.wait import WaitResult, _Waiter, preload, wait_for_release
from envctl.progress import CollectingProgress
from envctl.timing.spans import Recorder
from envctl.workloads.rules import release_selector
from envctl.workloads.view import WATCHED_KINDS, Listed
from tests.support.kube_api import KubeApi
from tests.support.kubelet import Kubelet

_namespaces = itertools.count()


@pytest.fixture(scope="session")
def _client_models() -> None:
    preload()  # the client loads lazily: keep that out of the timed tests


@pytest.fixture
def kube_api() -> Iterator[KubeApi]:
    # One per test: KMock keeps every request and reaction, and matching slows down as they pile up.
    with KubeApi() as api:
        yield api


@pytest.fixture
def api_client(kube_api: KubeApi, tmp_path: Path, _client_models: None) -> Any:
    return connect(kube_api.write_kubeconfig(tmp_path / "kubeconfig"))


@pytest.fixture
def kubelet(kube_api: KubeApi) -> Iterator[Kubelet]:
    with Kubelet(kube_api, f"wait-{next(_namespaces)}") as driver:
        yield driver


class Waiter:
    """Calls wait_for_release for the test's namespace with short graces; keeps what it recorded."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.recorder = Recorder()
        self.progress = CollectingProgress()

    def __call__(
        self,
        *,
        timeout: float = 120.0,  # only tests of the deadline reach it; the others end on what they see
        pull_grace: float = 0.5,
        unschedulable_timeout: float = 0.5,
        release: str = "demo",
        **kwargs: Any,
    ) -> WaitResult:
        return wait_for_release(
            self.api_client,
            self.namespace,
            release,
            timeout=timeout,
            pull_grace=pull_grace,
            unschedulable_timeout=unschedulable_timeout,
            recorder=self.recorder,
            progress=self.progress,
            **kwargs,
        )


def listed_waiter(wait: Waiter, release: str = "demo") -> _Waiter:
    """The waiter's judge with the release listed once (no watches, no clock): for what it says at
    the deadline, which a short real deadline would race with the listing on a slow machine."""
    judge = _Waiter(wait.api_client, wait.namespace, release, wait.recorder, wait.progress)
    for kind in WATCHED_KINDS:
        listing = list_objects(wait.api_client, kind, wait.namespace, label_selector=release_selector(release), timeout=30)
        judge.release_view.apply(Listed(kind, listing.items))
    return judge


@pytest.fixture
def wait(api_client: Any, kubelet: Kubelet) -> Callable[..., WaitResult]:
    return Waiter(api_client, kubelet.namespace)
