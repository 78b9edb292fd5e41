"""`envctl doctor` on a shared cluster: does the context answer, the registry answer, and may this
identity do what envctl needs (SelfSubjectAccessReview per verb, in the release namespace)?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envctl.errors import EnvctlError

if TYPE_CHECKING:
    from envctl.checks import Check
    from envctl.toolbox import AppState

__all__ = ["shared_cluster_checks"]


def shared_cluster_checks(state: AppState) -> list[Check]:
    """The context, the registry and the RBAC verbs; each a required check with its fix."""
    from envctl.access import check_access, required_access
    from envctl.checks import Check
    from envctl.phases.existing_cluster import api_version
    from envctl.rbac import chart_kinds

    checks: list[Check] = []
    try:
        target = state.kube_target()
        api_client = state.kube(target.kubeconfig)
        version = api_version(api_client, target.describe())
    except EnvctlError as exc:
        return [Check("cluster", "fail", exc.message, required=True, fix=exc.hint)]
    checks.append(Check("cluster", "ok", f"existing cluster {target.describe()} answers ({version})", required=True))
    registry = state.shared_registry or "?"
    if state.registry(registry).available():
        checks.append(Check("registry", "ok", f"{registry} answers", required=True))
    else:
        checks.append(Check("registry", "fail", f"{registry} does not answer", required=True,
                            fix="check cluster.registry.use in envctl.yaml and `docker login` to it"))  # fmt: skip
    try:
        namespace = state.release_target().namespace
    except EnvctlError as exc:
        checks.append(Check("access", "skip", f"namespace unknown here: {exc.message}", required=False, fix=exc.hint))
        return checks
    chart = state.workspace.resolve(state.config.release.chart) / "templates"
    templates = {p.name: p.read_text(encoding="utf-8", errors="replace") for p in sorted(chart.glob("*.y*ml"))}
    try:
        answers = check_access(api_client, namespace, required_access(chart_kinds(templates)))
    except Exception as exc:  # noqa: BLE001 - an API that cannot answer SSAR: say so, do not crash doctor
        checks.append(Check("access", "warn", f"could not ask the API ({type(exc).__name__})", required=False))
        return checks
    missing = [a.need.describe() for a in answers if not a.allowed]
    if missing:
        checks.append(Check("access", "fail", f"may not: {', '.join(missing)} (namespace {namespace})", required=True,
                            fix="apply `envctl rbac --namespace-prefix <prefix>` as a cluster admin"))  # fmt: skip
    else:
        detail = f"all {len(answers)} verbs envctl uses are allowed in {namespace}"
        checks.append(Check("access", "ok", detail, required=True))
    return checks
