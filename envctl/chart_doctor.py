"""`envctl doctor`'s chart section: helm lint's findings, the chart's image fields, and which
service deploys through each (its values_path, or its rewrite rule).

Read-only and cluster-free: the values are the chart's defaults merged with ``release.values`` and
``release.set`` (what a deploy sends, minus the image refs); ``helm lint`` runs when helm is on PATH.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envctl.chart_values import ImageField, image_fields, match_fields
from envctl.checks import ChartField, ChartReport, Check, LintFinding, Status
from envctl.errors import ConfigError, EnvctlError, ToolMissingError
from envctl.image_check import Injection, injections
from envctl.release import make_values

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from envctl.toolbox import AppState

__all__ = ["chart_check", "chart_report"]


def chart_report(state: AppState) -> ChartReport | None:
    """The chart section, or None outside a workspace (or with a config that does not load)."""
    try:
        config, workspace = state.config, state.workspace
    except ConfigError:
        return None
    chart = workspace.resolve(config.release.chart)
    shown = config.release.chart
    if not (chart / "Chart.yaml").is_file():
        problem = f"no Helm chart at {chart} (no Chart.yaml)"
        return ChartReport(shown, "skip", "not run", (), (), (problem,), missing=True)
    values_files = tuple(workspace.resolve(path) for path in config.release.values)
    lint, lint_detail, findings = _lint(state, chart, values_files)
    defaults = (chart / "values.yaml",) if (chart / "values.yaml").is_file() else ()
    try:
        values = make_values([*defaults, *values_files], config.release.set, {})
    except ConfigError as exc:
        return ChartReport(shown, lint, lint_detail, findings, (), (exc.message,))
    fields = image_fields(values)
    services = injections(config.services, ())
    mapped = tuple(_map(field, list(services.values())) for field in fields)
    return ChartReport(shown, lint, lint_detail, findings, mapped, tuple(_problems(fields, mapped, services)))


def chart_check(report: ChartReport) -> Check:
    """One line for the doctor table: the worst of lint and the image mapping."""
    if report.missing:
        fix = "point release.chart in envctl.yaml at the chart folder (relative to the workspace)"
        return Check("chart", "warn", report.problems[0], required=False, fix=fix)
    used = sum(1 for field in report.fields if field.service)
    detail = f"{report.chart}: {len(report.fields)} image field(s), {used} used by services; lint {report.lint_detail}"
    if report.problems:
        fix = "set values_path to an image field the chart table lists (envctl doctor -o json shows them all)"
        return Check("chart", "warn", f"{detail}; {report.problems[0]}", required=False, fix=fix)
    if report.lint == "fail":
        return Check("chart", "fail", detail, required=False, fix=f"helm lint {report.chart}")
    status: Status = "warn" if report.lint == "warn" else "ok"
    return Check("chart", status, detail, required=False)


def _lint(
    state: AppState, chart: Path, values_files: tuple[Path, ...]
) -> tuple[Status, str, tuple[LintFinding, ...]]:
    from envctl.adapters.helm import lint

    try:
        result = lint(state.runner, chart, values_files)
    except ToolMissingError:
        return "skip", "skipped (no helm on PATH)", ()
    except EnvctlError as exc:
        return "skip", f"did not run: {exc.message}", ()
    findings = tuple(LintFinding(severity, message) for severity, message in result.findings)
    errors = sum(1 for f in findings if f.severity == "ERROR")
    warnings = sum(1 for f in findings if f.severity == "WARNING")
    if not result.ok or errors:
        return "fail", f"{errors} error(s)", findings
    if warnings:
        return "warn", f"{warnings} warning(s)", findings
    return "ok", "passed", findings


def _map(field: ImageField, services: Sequence[Injection]) -> ChartField:
    for injection in services:
        if injection.values_path == field.path:
            return ChartField(field.path, field.reference, field.form, injection.service, "values_path")
    for injection in services:
        if injection.mode == "rewrite" and injection.rule("").matches(field.reference):
            how = "image_match" if injection.image_match else "rewrite (default match)"
            return ChartField(field.path, field.reference, field.form, injection.service, how)
    return ChartField(field.path, field.reference, field.form, None, "")


def _problems(fields: list[ImageField], mapped: tuple[ChartField, ...], services: dict[str, Injection]) -> list[str]:
    """Services whose values_path names no image block, with the likeliest field that is free."""
    free = [field for field, used in zip(fields, mapped, strict=True) if used.service is None and field.form == "map"]
    problems = []
    for injection in services.values():
        if injection.values_path is None or any(f.service == injection.service for f in mapped):
            continue
        matches, _, _ = match_fields(free, {injection.service: injection.image})
        guess = f" (did you mean {matches[0].field.path}?)" if matches else ""
        problems.append(
            f"service {injection.service}: values_path {injection.values_path} names no image block in the "
            f"chart's values{guess}"
        )
    return problems
