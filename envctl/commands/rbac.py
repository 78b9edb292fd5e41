"""`envctl rbac`: print the least-privilege RBAC a CI service account needs on a shared cluster.

Prints manifests only (``kubectl apply -f -`` them as a cluster admin); nothing is sent anywhere.
The chart's kinds come from the ``kind:`` lines of its templates; a kind envctl has no rule for is
named on stderr (and as a comment) so it can be added by hand rather than silently granted.
See ``envctl/rbac.py`` for what each part grants and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from envctl import output
from envctl.commands import require_choice
from envctl.errors import InputError
from envctl.naming import DNS_LABEL

if TYPE_CHECKING:
    from envctl.toolbox import AppState  # a command module must not import config (start-up time)

NAME = "rbac"
HELP = "Print the least-privilege RBAC (and admission policy) a CI service account needs for envctl."


def command(
    ctx: typer.Context,
    namespace_prefix: Annotated[
        str, typer.Option("--namespace-prefix", metavar="PREFIX", help="Namespaces envctl may manage (e.g. pr-).")
    ],
    service_account: Annotated[
        str, typer.Option("--service-account", metavar="NAME", help="The CI service account.")
    ] = "envctl",
    service_account_namespace: Annotated[
        str, typer.Option("--service-account-namespace", metavar="NS", help="Its namespace.")
    ] = "envctl-system",
    output_format: Annotated[
        str, typer.Option("--output", "-o", metavar="FORMAT", help="yaml (kubectl apply -f -) or json.")
    ] = "yaml",
) -> None:
    require_choice("--output", output_format, ("yaml", "json"), "an rbac format")
    import yaml

    from envctl.rbac import chart_kinds, rbac_manifests

    if not namespace_prefix or not DNS_LABEL.match(namespace_prefix.rstrip("-") or "-"):
        msg = f"--namespace-prefix {namespace_prefix!r} does not start a DNS-1123 label"
        raise InputError(msg, hint="use lower-case letters, digits and '-', e.g. pr-")
    for flag, value in (
        ("--service-account", service_account),
        ("--service-account-namespace", service_account_namespace),
    ):
        if not DNS_LABEL.match(value):
            msg = f"{flag} {value!r} is not a DNS-1123 label"
            raise InputError(msg, hint="use lower-case letters, digits and '-'")
    state: AppState = ctx.obj
    chart = state.workspace.resolve(state.config.release.chart)
    templates = {
        p.name: p.read_text(encoding="utf-8", errors="replace") for p in sorted((chart / "templates").glob("*.y*ml"))
    }
    manifests, unknown = rbac_manifests(
        namespace_prefix, service_account, service_account_namespace, chart_kinds(templates)
    )
    header = [
        f"# envctl rbac --namespace-prefix {namespace_prefix}: apply as a cluster admin (kubectl apply -f -).",
        f"# Chart {state.config.release.chart}: kinds {', '.join(chart_kinds(templates)) or '(none found)'}.",
    ]
    for kind in unknown:
        header.append(f"# kind {kind}: no rule generated; add one to ClusterRole envctl-release by hand.")
        output.warn(f"the chart renders kind {kind}, which envctl has no rule for: add it to envctl-release by hand")
    if output_format == "json":
        output.json_out({"version": 1, "chart": state.config.release.chart, "kinds": chart_kinds(templates),
                         "unknown_kinds": list(unknown), "manifests": list(manifests)})  # fmt: skip
        return
    output.line("\n".join(header))
    output.line(yaml.safe_dump_all(manifests, sort_keys=False, explicit_start=True).rstrip())
