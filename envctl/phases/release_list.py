"""The release as one list per kind reads it (no watch): shared by `envctl status` and the verify step.

Both read the same kinds the waiter watches (``workloads.view.WATCHED_KINDS``: the workloads, their
ReplicaSets, the pods) by the release's label, into a ``ReleaseView`` whose revision rules say which
pods speak for the release; each caller picks its own request timeout and turns an API failure into
its own report.
"""

from __future__ import annotations

from typing import Any

from envctl.adapters.kube import api_failure, list_objects
from envctl.workloads.rules import release_selector
from envctl.workloads.view import WATCHED_KINDS, Listed, ReleaseView

__all__ = ["api_failure", "first_line", "list_release"]


def list_release(api: Any, namespace: str, release: str, *, timeout: float) -> ReleaseView:
    """One list per watched kind, in ``WATCHED_KINDS`` order; raises what the adapter raises
    (``api_failure`` tells an API that refused or did not answer)."""
    view = ReleaseView()
    selector = release_selector(release)
    for kind in WATCHED_KINDS:
        found = list_objects(api, kind, namespace, label_selector=selector, timeout=timeout)
        view.apply(Listed(kind, found.items))
    return view


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (an API error's can run to a full HTTP response), bounded."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
