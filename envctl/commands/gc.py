"""`envctl gc`: uninstall and delete the envctl-owned namespaces whose time is up — and nothing else.

A namespace is collected when it carries ``app.kubernetes.io/managed-by: envctl`` and its
``envctl.dev/expires-at`` has passed (every ``up`` pushes it ``release.ttl`` ahead), or, with
``--older-than D``, its last ``up`` is more than D ago. Namespaces without the label are never
listed, read further or touched. Any workspace's namespaces are collected (a nightly gc job
cleans the whole shared cluster).

For each one: take the release's Lease without waiting (a namespace an ``up`` is running in is
kept, naming the holder), read it again and re-decide (an ``up`` may have refreshed it since the
listing), ``helm uninstall`` the release recorded in ``envctl.dev/release`` (hooks run), then
delete the namespace. ``--dry-run`` lists the decisions and changes nothing.

Exit codes: 0 (also when nothing was due), 2 bad flags, 3 helm missing, 8 the cluster API does not
answer or the kubeconfig is missing. ``--output json`` (version 1):
``{version, dry_run, older_than, namespaces: [{namespace, release, action, reason, expires_at,
last_up, outcome}]}`` with ``outcome`` one of ``deleted``, ``would-delete``, ``kept``, ``in-use``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from envctl import output
from envctl.commands import require_choice
from envctl.errors import ClusterError, InputError, LockedError

if TYPE_CHECKING:
    from envctl.adapters.kube_namespaces import NamespaceApi
    from envctl.kube_target import KubeTarget
    from envctl.ownership import GcDecision
    from envctl.toolbox import AppState  # a command module must not import config (start-up time)

NAME = "gc"
HELP = "Uninstall and delete the envctl-owned namespaces whose expiry has passed (shared clusters)."

_OUTPUTS = ("table", "json")


def command(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", metavar="DURATION", help="Also collect those whose last `up` is older (72h)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted; change nothing.")] = False,
    output_format: Annotated[str, typer.Option("--output", "-o", metavar="FORMAT", help="table or json.")] = "table",
    context: Annotated[
        str | None, typer.Option("--context", metavar="NAME", help="kubeconfig context (provider: existing).")
    ] = None,
) -> None:
    require_choice("--output", output_format, _OUTPUTS, "a gc format")
    seconds = _duration(older_than)
    state: AppState = ctx.obj
    from envctl.adapters.kube_namespaces import NamespaceApi
    from envctl.kube_target import resolve_kube_target
    from envctl.ownership import plan_gc

    ws = state.workspace
    target = resolve_kube_target(state.config, ws.root, ws.kubeconfig, state.environ, context=context)
    api_client = state.kube(target.kubeconfig, context=target.context)
    namespaces = NamespaceApi(api_client)
    now = dt.datetime.now(dt.UTC)
    decisions = plan_gc(_answer(target, namespaces.list_managed), now, older_than_seconds=seconds)
    results = []
    collector = _Collector(state, target, api_client, namespaces, now, seconds)
    for decision in decisions:
        if not decision.delete:
            outcome, reason = "kept", decision.reason
        elif dry_run:
            outcome, reason = "would-delete", decision.reason
        else:
            outcome, reason = collector.collect(decision)
        results.append({**decision.to_dict(), "reason": reason, "outcome": outcome})
    if output_format == "json":
        output.json_out({"version": 1, "dry_run": dry_run, "older_than": older_than, "namespaces": results})
        return
    for row in results:
        release = f" (release {row['release']})" if row["release"] else ""
        output.line(f"{row['namespace']}{release}: {row['outcome']} — {row['reason']}")
    deleted = sum(1 for row in results if row["outcome"] in ("deleted", "would-delete"))
    verb = "would delete" if dry_run else "deleted"
    output.line(f"{verb} {deleted} of {len(results)} envctl namespace(s) on {target.describe()}")


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        from envctl.config import parse_duration  # pydantic: imported when the verb runs, not for --help

        return parse_duration(text)
    except ValueError:
        msg = f"--older-than {text!r} is not a duration"
        raise InputError(msg, hint="use a number with a unit: 90m, 72h") from None


def _answer(target: KubeTarget, call: Any, *args: Any) -> Any:
    """Call the API; a cluster that does not answer is one line (exit 8), not a traceback."""
    from envctl.adapters.kube_http import KubeApiError, unreachable

    try:
        return call(*args)
    except KubeApiError as exc:
        msg = f"the cluster API of {target.describe()} refused: {exc.status} {exc.reason}"
        raise ClusterError(
            msg, hint="check the RBAC of this identity (`envctl rbac` prints what envctl needs)"
        ) from exc
    except Exception as exc:
        if not unreachable(exc):
            raise
        msg = f"the cluster API of {target.describe()} does not answer ({type(exc).__name__})"
        raise ClusterError(msg, hint="check the kubeconfig's server and your network (`kubectl cluster-info`)") from exc


class _Collector:
    """Uninstalls and deletes one namespace at a time, each under its release's Lease."""

    def __init__(
        self,
        state: AppState,
        target: KubeTarget,
        api_client: Any,
        namespaces: NamespaceApi,
        now: dt.datetime,
        older_than: float | None,
    ) -> None:
        self._state, self._target, self._api_client, self._namespaces = state, target, api_client, namespaces
        self._now, self._older_than = now, older_than
        self._helm: Any = None

    def collect(self, decision: GcDecision) -> tuple[str, str]:
        from envctl.adapters.kube_lease import LeaseApi
        from envctl.cluster_lock import ClusterLock, Holder
        from envctl.ownership import plan_gc

        holder = Holder.this_process("envctl gc", self._state.environ)
        lock = ClusterLock(LeaseApi(self._api_client), decision.namespace, decision.release or "envctl-gc", holder)
        try:
            lock.acquire(wait=False)
        except LockedError as exc:
            return "in-use", exc.message
        try:
            fresh = _answer(self._target, self._namespaces.read, decision.namespace)
            again = plan_gc([fresh], self._now, older_than_seconds=self._older_than) if fresh is not None else []
            if not again or not again[0].delete:
                return "kept", again[0].reason + " (refreshed since the listing)" if again else "already gone"
            uninstalled = self._uninstall(decision)
            _answer(self._target, self._namespaces.delete, decision.namespace)
        finally:
            lock.release()
        return "deleted", f"{decision.reason}; {uninstalled}namespace deleted"

    def _uninstall(self, decision: GcDecision) -> str:
        if decision.release is None:
            return ""
        from envctl.adapters.helm import run_sync

        if self._helm is None:
            self._helm = self._state.helm(
                self._target.kubeconfig, progress=output.ConsoleProgress(), context=self._target.context
            )
        removed = run_sync(self._helm.uninstall(decision.release, decision.namespace))
        return f"release {decision.release} rev {removed.revision} uninstalled, " if removed is not None else ""
