"""`envctl down`: uninstall the release; with --delete-cluster also delete the k3d cluster.

An absent release (or a workspace that never started a cluster) is not an error: the command
says so and exits 0, so `down` can run unconditionally at the end of a CI job.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from envctl import output
from envctl.commands import require_choice
from envctl.errors import InputError
from envctl.timing.spans import Recorder

if TYPE_CHECKING:
    from envctl.toolbox import AppState  # a command module must not import config (start-up time)

NAME = "down"
HELP = "Uninstall the release; with --delete-cluster also delete the k3d cluster."


def command(
    ctx: typer.Context,
    delete_cluster: Annotated[
        bool, typer.Option("--delete-cluster", help="Also delete the k3d cluster (and everything in it).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete the cluster without asking.")] = False,
    namespace: Annotated[
        str | None, typer.Option("--namespace", metavar="NAME", help="The release's namespace (overrides config).")
    ] = None,
    keep_namespace: Annotated[
        bool, typer.Option("--keep-namespace", help="provider existing: keep the namespace envctl created.")
    ] = False,
    context: Annotated[
        str | None, typer.Option("--context", metavar="NAME", help="kubeconfig context (provider: existing).")
    ] = None,
    no_wait_lock: Annotated[
        bool,
        typer.Option("--no-wait-lock", help="Refuse (exit 9) instead of waiting while an up holds the workspace."),
    ] = False,
    output_format: Annotated[
        str, typer.Option("--output", "-o", metavar="FORMAT", help="text or json (what was removed).")
    ] = "text",
) -> None:
    require_choice("--output", output_format, ("text", "json"), "a down format")
    said = _Said()
    try:
        _down(ctx.obj, said, delete_cluster=delete_cluster, yes=yes, namespace=namespace,
              keep_namespace=keep_namespace, context=context, no_wait_lock=no_wait_lock)  # fmt: skip
    finally:
        if output_format == "json":  # what was done before a failure is part of the answer
            output.json_out({"version": 1, "results": said.results})


class _Said:
    """Each outcome as a line for the reader and as a JSON entry (``subject``, ``outcome``, ``message``)."""

    def __init__(self) -> None:
        self.results: list[dict[str, str]] = []

    def __call__(self, subject: str, outcome: str, message: str) -> None:
        self.results.append({"subject": subject, "outcome": outcome, "message": message})
        output.line(f"{subject}: {message}")


def _down(
    state: AppState, said: _Said, *, delete_cluster: bool, yes: bool, namespace: str | None,
    keep_namespace: bool, context: str | None, no_wait_lock: bool,
) -> None:  # fmt: skip
    from envctl.lock import workspace_lock

    config = state.config
    if delete_cluster and config.cluster.provider == "existing":
        msg = "--delete-cluster is refused with provider: existing (envctl never deletes a shared cluster)"
        raise InputError(msg, hint="drop --delete-cluster; `envctl down` removes the release and its namespace")
    if delete_cluster and not yes:
        _confirm_cluster_deletion(config.cluster.name)
    # Never uninstall under a running `up` (it would deploy into a release being removed).
    with workspace_lock(state.workspace.state_dir, wait=not no_wait_lock, on_wait=output.info, command="envctl down"):
        if config.cluster.provider == "existing":
            _down_shared(state, said, namespace, context, keep_namespace=keep_namespace, no_wait_lock=no_wait_lock)
            return
        _take_down(state, said, delete_cluster=delete_cluster)


def _take_down(state: AppState, said: _Said, *, delete_cluster: bool) -> None:
    config = state.config
    release, cluster_name = config.release, config.cluster.name
    progress = output.ConsoleProgress()
    k3d = state.k3d if delete_cluster else None
    cluster = k3d.get(cluster_name) if k3d is not None else None
    kubeconfig = state.workspace.kubeconfig

    subject = f"release {release.name}"
    if delete_cluster and cluster is None:
        said(subject, "absent", f"nothing to uninstall (cluster {cluster_name} does not exist)")
    elif delete_cluster and cluster is not None and not cluster.running:
        # A stopped cluster cannot answer helm; deleting it removes the release anyway.
        said(subject, "removed-with-cluster", f"removed with the cluster (cluster {cluster_name} is not running)")
    elif not kubeconfig.is_file():
        said(subject, "absent",
             f"not installed (no kubeconfig at {kubeconfig}: this workspace has not started a cluster)")  # fmt: skip
    else:
        from envctl.phases.deploy import remove_release

        helm = state.helm(kubeconfig, progress=progress)
        removed = remove_release(release, helm=helm, progress=progress, recorder=Recorder())
        if removed.action == "uninstalled":
            said(subject, "uninstalled", f"uninstalled rev {removed.revision} from namespace {release.namespace}")
        else:
            said(subject, "absent", f"not installed in namespace {release.namespace}")

    if k3d is not None:
        if cluster is None:
            said(f"cluster {cluster_name}", "absent", "does not exist")
        else:
            progress.step(cluster_name, "deleting the k3d cluster")
            k3d.delete(cluster_name)
            kubeconfig.unlink(missing_ok=True)  # it points at a cluster that no longer exists
            said(f"cluster {cluster_name}", "deleted", "deleted")


def _confirm_cluster_deletion(cluster_name: str) -> None:
    if not sys.stdin.isatty():
        msg = f"refusing to delete cluster {cluster_name} without confirmation (no terminal to ask on)"
        raise InputError(msg, hint="pass --yes to delete the cluster non-interactively")
    if not typer.confirm(f"Delete the k3d cluster {cluster_name} and everything in it?", err=True):
        raise typer.Abort


def _down_shared(
    state: AppState,
    said: _Said,
    namespace: str | None,
    context: str | None,
    *,
    keep_namespace: bool,
    no_wait_lock: bool,
) -> None:
    """A shared cluster: uninstall under the release's Lease, delete the namespace envctl created."""
    from envctl.shared_session import take_down

    release = state.release_target(namespace)
    done = take_down(state, release, state.kube_target(context), keep_namespace=keep_namespace,
                     wait=not no_wait_lock, on_wait=output.info)  # fmt: skip
    if done.uninstalled is not None:
        said(f"release {done.release}", "uninstalled",
             f"uninstalled rev {done.uninstalled} from namespace {done.namespace}")  # fmt: skip
    else:
        said(f"release {done.release}", "absent", f"not installed in namespace {done.namespace}")
    said(f"namespace {done.namespace}", "deleted" if done.namespace_deleted else "kept", done.note)
