"""`envctl status`: cluster, release, workloads, and which images are stale — read-only.

It creates, starts, builds, loads and deploys nothing, and writes no run record. Exit codes:
0 everything is up and current (cluster running with a matching spec, release deployed with the
inputs a deploy would send now, every workload ready, every deployed image at its fingerprint tag);
7 (NOT_READY) workloads not ready, images stale or the release's inputs changed; 8 (CLUSTER) the
cluster is absent, stopped, unreachable or differs from envctl.yaml; 3 (ENVIRONMENT) a tool (k3d,
helm) is missing; 2 (BAD_INPUT) the plan failed (e.g. a broken Dockerfile: the images are unknown).
The report is printed first (stdout), then one `error:` line naming what is wrong (stderr).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from envctl import output
from envctl.commands import require_choice
from envctl.errors import (
    ClusterError,
    DeployError,
    EnvctlError,
    ExitCode,
    InputError,
    ToolMissingError,
    WorkloadsNotReadyError,
)

if TYPE_CHECKING:
    from envctl.toolbox import AppState  # a command module must not import config (start-up time)

NAME = "status"
HELP = "Show the cluster, the release, its workloads and which images are stale (read-only)."

_OUTPUTS = ("table", "json")
_ERRORS: dict[int, type[EnvctlError]] = {
    ExitCode.BAD_INPUT: InputError,
    ExitCode.ENVIRONMENT: ToolMissingError,
    ExitCode.NOT_READY: WorkloadsNotReadyError,
    ExitCode.CLUSTER: ClusterError,
    ExitCode.DEPLOY: DeployError,
}


def command(
    ctx: typer.Context,
    output_format: Annotated[
        str, typer.Option("--output", "-o", metavar="FORMAT", help="table or json.")
    ] = "table",
    namespace: Annotated[
        str | None, typer.Option("--namespace", metavar="NAME", help="The release's namespace (overrides config).")
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", metavar="NAME", help="kubeconfig context (provider: existing).")
    ] = None,
) -> None:
    require_choice("--output", output_format, _OUTPUTS, "a status format")
    from envctl.status_read import gather_status
    from envctl.views.status import status_dict, status_renderable

    state: AppState = ctx.obj
    state.namespace, state.context = namespace, context
    report = gather_status(state)
    if output_format == "json":
        output.json_out(status_dict(report))
    else:
        output.render(status_renderable(report))
    code = report.exit_code
    if code == ExitCode.OK:
        return
    sections = (report.cluster, report.release, report.workloads)
    failed = next((s for s in sections if s.error_code == code and s.note), None)
    if failed is None and report.images_error_code == code and report.images_note:
        message, hint = report.images_note.removeprefix("unknown: "), report.images_hint
    elif failed is not None:
        message, hint = failed.note.removeprefix("unknown: "), failed.hint
    else:
        message = "; ".join(report.problems()) or "the environment is not up and current"
        hint = "run `envctl up` to bring it up to date"
        if report.cluster.state in ("absent", "stopped"):
            hint = report.cluster.hint or hint
        elif report.cluster.spec == "differs":
            hint = "`envctl up --recreate` deletes and recreates it: " + "; ".join(report.cluster.differences)
    raise _ERRORS.get(code, EnvctlError)(message, hint=hint)
