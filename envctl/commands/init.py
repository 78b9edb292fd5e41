"""`envctl init [PATH]`: discover Dockerfiles and write a starting envctl.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from envctl import output
from envctl.commands import require_choice
from envctl.errors import InputError

if TYPE_CHECKING:
    from envctl.discover import ChartScan
    from envctl.toolbox import AppState  # a command module must not import config (start-up time)

NAME = "init"
HELP = "Discover Dockerfiles and write a starting envctl.yaml (refuses to overwrite without --force)."


def command(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(help="Workspace folder (default: the current folder).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing envctl.yaml.")] = False,
    chart: Annotated[
        str | None,
        typer.Option(
            "--chart", metavar="PATH",
            help="Chart (relative to PATH) whose values.yaml says where each image goes "
            "(default: the only chart under charts/).",
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--output", "-o", metavar="FORMAT", help="text or json (what was found and written).")
    ] = "text",
) -> None:
    require_choice("--output", output_format, ("text", "json"), "an init format")
    import yaml

    from envctl.config import CONFIG_FILE, EnvConfig
    from envctl.discover import _label, config_yaml, discover_services, find_chart, scan_chart

    state: AppState = ctx.obj
    root = (path if path is None or path.is_absolute() else state.cwd / path) if path else state.cwd
    if not root.is_dir():
        msg = f"{root}: no such folder"
        raise InputError(msg, hint="pass the workspace folder that holds your Dockerfiles")
    target = root / CONFIG_FILE
    if target.exists() and not force:
        msg = f"{target} already exists; nothing written"
        raise InputError(msg, hint="pass --force to overwrite it, or edit it by hand")
    found = discover_services(root, state.runner)
    if not found:
        msg = f"no Dockerfile found under {root} (ignored and vendored folders are skipped)"
        raise InputError(msg, hint="run `envctl init` in the repository that holds your services' Dockerfiles")
    chart_path = chart or find_chart(root)
    scan = scan_chart(root, chart_path, found) if chart_path else None
    text = config_yaml(found, _label(root.resolve().name)[:32].strip("-") or "envctl", scan)
    EnvConfig.model_validate(yaml.safe_load(text))  # never write a file envctl itself would reject
    kept = [item for item in found if not item.left_out]
    for item in kept:
        output.line(f"{item.name}: {item.dockerfile}, image {item.image}, context {item.context}: {item.why}")
    for item in found:
        if item.left_out:
            output.line(f"{item.name}: {item.dockerfile} left out (written commented out): {item.left_out}")
    if scan is not None:
        _report_chart(scan)
    target.write_text(text, encoding="utf-8")
    left = len(found) - len(kept)
    extra = f", {left} left out because their inputs do not resolve" if left else ""
    output.line(f"wrote {target} ({len(kept)} service{'s' if len(kept) != 1 else ''}{extra})")
    if output_format == "json":
        output.json_out({
            "version": 1,
            "config": str(target),
            "services": [
                {"name": item.name, "dockerfile": item.dockerfile, "image": item.image, "context": item.context,
                 "why": item.why, "left_out": item.left_out or None}
                for item in found
            ],
            "chart": None if scan is None else {
                "path": scan.chart,
                "matches": [{"service": m.service, "field": m.field.path, "by": m.by, **scan.injection(m.service)}
                            for m in scan.matches],
                "unmatched_fields": [f.path for f in scan.unmatched_fields],
                "unmatched_services": list(scan.unmatched_services),
            },
        })  # fmt: skip


def _report_chart(scan: ChartScan) -> None:
    for match in scan.matches:
        keys = ", ".join(f"{key} {value}" for key, value in scan.injection(match.service).items())
        output.line(f"{match.service}: {keys} (chart {scan.chart}, matched by {match.by})")
    for field in scan.unmatched_fields:
        output.line(f"chart {scan.chart}: image field {field.path} ({field.reference}) matches no service")
    for service in scan.unmatched_services:
        output.line(
            f"{service}: no image field of chart {scan.chart} matches; set values_path (or inject: rewrite) by hand"
        )
