"""`envctl status` judges a release's pods as the waiter does: by revision, on the same view."""

from __future__ import annotations

from pathlib import Path

from envctl.status import WorkloadsStatus, WorkloadState
from envctl.status_read import _workloads_status
from envctl.toolbox import AppState
from tests.support.kube_api import KubeApi
from tests.support.kubelet import Kubelet

ROOT = Path(__file__).resolve().parents[2]


def test_a_rollout_in_progress_shows_the_new_revisions_pod_not_the_old_ones_crash(tmp_path: Path) -> None:
    with KubeApi() as api, Kubelet(api, "status-revision") as kubelet:
        workload = kubelet.deployment("api")
        kubelet.crash_loop(workload.pods[0])  # the revision being replaced
        kubelet.rollout(workload, env={"DATABASE_URL": "postgres://db/app"})
        state = AppState(config_path=ROOT / "envctl.yaml", cwd=ROOT, environ={})

        seen = _workloads_status(state, "demo", kubelet.namespace, api.write_kubeconfig(tmp_path / "kubeconfig"))

    summary = "0/1 available, 1 updated, 1 old pending termination"
    assert seen == WorkloadsStatus("known", (
        WorkloadState("Deployment", "demo-api", False, False, summary, f"{workload.pods[0]}: Pending (ContainerCreating)"),
    ))  # fmt: skip
