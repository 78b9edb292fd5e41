"""`envctl up`: ensure the cluster, build/pull and load what changed, deploy, wait — as one graph."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Literal, cast

import typer

from envctl import output
from envctl.commands import require_choice, split_names
from envctl.errors import EnvctlError, InputError, ReleaseNotReadyError

if TYPE_CHECKING:
    from envctl.execute import BuildFlags, UpReport
    from envctl.pipeline import UpOptions
    from envctl.toolbox import AppState  # a command module must not import config (start-up time)

NAME = "up"
HELP = "Create or reuse the cluster, build and load only changed images, deploy, and wait — timing every step."

_LOAD_MODES = ("auto", "import", "registry")
_OUTPUTS = ("text", "json")


def command(
    ctx: typer.Context,
    changed_only: Annotated[
        bool,
        typer.Option("--changed-only", help="Rebuild only services whose inputs changed (others reuse their image)."),
    ] = False,
    base: Annotated[
        str | None, typer.Option("--base", metavar="REF", help="Report changes relative to this git ref.")
    ] = None,
    services: Annotated[
        str | None, typer.Option("--services", metavar="A,B", help="Only these services (and what they build FROM).")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Concurrent steps (default: CPU count).")
    ] = None,
    keep_going: Annotated[
        bool, typer.Option("--keep-going", help="After a failed build, finish the independent ones.")
    ] = False,
    recreate: Annotated[
        bool, typer.Option("--recreate", help="Recreate the cluster when its spec differs from envctl.yaml.")
    ] = False,
    load_mode: Annotated[
        str | None, typer.Option("--load-mode", metavar="MODE", help="auto, import or registry (default: config).")
    ] = None,
    cache_from: Annotated[
        list[str] | None, typer.Option("--cache-from", metavar="SPEC", help="BuildKit cache source (repeatable).")
    ] = None,
    cache_to: Annotated[
        list[str] | None, typer.Option("--cache-to", metavar="SPEC", help="BuildKit cache export (repeatable).")
    ] = None,
    cache_registry: Annotated[
        str | None,
        typer.Option("--cache-registry", metavar="HOST:PORT", help="Pull fingerprint tags from / push them to here."),
    ] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Do not wait for workloads after the deploy.")] = False,
    timeout: Annotated[
        str | None,
        typer.Option("--timeout", metavar="DURATION", help="Readiness deadline, e.g. 300s (default: release.timeout)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and the graph this run would execute; touch nothing.")
    ] = False,
    strict_images: Annotated[
        bool,
        typer.Option(
            "--strict-images", help="Fail (exit 2) when the chart runs an image neither built nor listed in images:."
        ),
    ] = False,
    no_wait_lock: Annotated[
        bool,
        typer.Option("--no-wait-lock", help="Refuse (exit 9) instead of waiting when another up holds the workspace."),
    ] = False,
    output_format: Annotated[str, typer.Option("--output", "-o", metavar="FORMAT", help="text or json.")] = "text",
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", metavar="NAME", help="Deploy into this namespace (overrides release.namespace)."),
    ] = None,
    adopt: Annotated[
        bool, typer.Option("--adopt", help="Take over a namespace envctl does not own (provider: existing).")
    ] = False,
    context: Annotated[
        str | None, typer.Option("--context", metavar="NAME", help="kubeconfig context (provider: existing).")
    ] = None,
) -> None:
    from envctl.config import parse_duration  # pydantic: imported when the verb runs, not for --help

    state: AppState = ctx.obj
    config = state.config
    if load_mode is not None:
        require_choice("--load-mode", load_mode, _LOAD_MODES, "a load mode")
    require_choice("--output", output_format, _OUTPUTS, "an up format")
    try:
        wait_seconds = parse_duration(timeout or config.release.timeout)
    except ValueError as exc:
        raise InputError(str(exc), hint="write the timeout with a unit: 90s, 5m") from exc
    from envctl.execute import BuildFlags
    from envctl.pipeline import UpOptions  # the graph's modules load only when `up` runs

    options = UpOptions(
        changed_only=changed_only,
        base=base,
        services=split_names(services),
        jobs=jobs or config.build.jobs or os.cpu_count() or 2,
        keep_going=keep_going,
        recreate=recreate,
        load_mode=cast("Literal['auto', 'import', 'registry']", load_mode or config.load.mode),  # checked above
        wait=not no_wait,
        timeout=wait_seconds,
        dry_run=dry_run,
        strict_images=strict_images,
    )
    flags = BuildFlags(
        cache_from=tuple(cache_from) if cache_from else None,
        cache_to=tuple(cache_to) if cache_to else None,
        cache_registry=cache_registry,
    )
    if config.cluster.provider == "existing" and (load_mode == "import" or recreate):
        flag = "--load-mode import" if load_mode == "import" else "--recreate"
        msg = f"{flag} is for a k3d cluster; with provider: existing images go through the registry"
        raise InputError(msg, hint=f"drop {flag} (a shared cluster is never recreated or imported into)")
    release = state.release_target(namespace)  # bad names fail here, before anything is touched
    target = state.kube_target(context)
    if dry_run:
        _dry_run(state, options, flags, as_json=output_format == "json")
        return
    from envctl.execute import preflight, run_up
    from envctl.lock import workspace_lock
    from envctl.shared_session import shared_namespace

    preflight(state)  # before the lock: a missing tool leaves nothing behind, not even .envctl/
    with (
        workspace_lock(state.workspace.state_dir, wait=not no_wait_lock, on_wait=output.info),
        shared_namespace(state, release, target, adopt=adopt, wait=not no_wait_lock, on_wait=output.info),
    ):
        progress = output.make_progress()
        with progress:
            report = run_up(state, options, progress, flags, release=release, target=target)
    _render(report, output_format)


def _render(report: UpReport, output_format: str) -> None:
    """End-of-run lines on stderr; the JSON report on stdout (the CLI adds the run's error to it);
    then the run's error, if any."""
    for line in report.summary:
        output.info(line)
    for problem in report.warnings:  # e.g. a full disk: the record is lost, the outcome below stands
        output.warn(problem)
    if output_format == "json":
        output.json_out(report.to_dict())
    if report.interrupted:
        raise KeyboardInterrupt  # recorded; the CLI says "interrupted" and exits 130
    if report.crash is not None:
        raise report.crash  # a bug, recorded above: crash loudly with its traceback
    if report.error is not None:
        _show_failure(report.error)
        raise report.error


def _show_failure(error: EnvctlError) -> None:
    if isinstance(error, ReleaseNotReadyError):
        from envctl.views.wait import not_ready_renderable

        output.problem(not_ready_renderable(error))


def _dry_run(state: AppState, options: UpOptions, flags: BuildFlags, *, as_json: bool) -> None:
    """The plan and the graph, computed exactly as a real run would, with nothing executed; what would
    stop the real run before it starts (a missing tool, a missing chart) is a warning, not a failure."""
    from envctl.execute import missing_tools
    from envctl.pipeline import deployed_services, describe_graph

    warnings = [f"`{tool}` is not installed or not on PATH: a real `up` would stop here (exit 3)"
                for tool in missing_tools(state)]  # fmt: skip
    chart = state.workspace.resolve(state.config.release.chart)
    if not chart.is_dir():
        warnings.append(f"chart {state.config.release.chart} not found at {chart}: the deploy would fail")
    plan = state.plan(
        base=options.base, changed_only=options.changed_only, selected=options.services,
        cache_registry=flags.cache_registry or state.shared_registry,
    )  # fmt: skip
    deployed = deployed_services(plan, state.config.services)
    graph = describe_graph(plan, deployed, wait=options.wait, jobs=options.jobs)
    for warning in warnings:
        output.warn(warning)
    if as_json:
        tasks = [{"id": t.id, "kind": t.kind, "service": t.service, "after": list(t.after), "reason": t.reason}
                 for t in graph]  # fmt: skip
        output.json_out({"version": 1, "dry_run": True, "warnings": warnings, "plan": plan.to_dict(), "graph": tasks})
        return
    from envctl.views.plan import plan_table
    from envctl.views.schedule import graph_table

    output.render(plan_table(plan))
    output.render(graph_table(graph))
