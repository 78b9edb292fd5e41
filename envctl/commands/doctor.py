"""`envctl doctor`: is this machine ready for `envctl up`? Each problem comes with its fix.

Required: Docker (daemon answering), k3d v5, helm v3+, enough free disk. Recommended: kubectl
(envctl talks to the API itself; kubectl is for you and the e2e suite). The cluster is checked when
a workspace config is found. Exit 0 when every required check passes, 3 (ENVIRONMENT) otherwise.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from envctl import output
from envctl.checks import Check, DoctorReport, Status
from envctl.commands import require_choice
from envctl.errors import ConfigError, EnvctlError, ToolMissingError

if TYPE_CHECKING:
    from envctl.adapters.k3d import K3d
    from envctl.adapters.process import SubprocessRunner
    from envctl.toolbox import AppState  # a command module must not import config (start-up time)

NAME = "doctor"
HELP = "Check Docker, k3d, helm, kubectl, free disk and the cluster; print the fix for anything missing."

# The versions envctl is checked against (docs/tools.md), kept equal to scripts/install-tools.sh,
# which installs PINNED unless that exact version is found (a test pins that they match).
PINNED = {"k3d": "v5.8.3", "helm": "v3.17.3"}
# Supported: from the pinned minor up to the next major (what the stand-ins' tables were read from).
SUPPORTED: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "k3d": ((5, 8, 0), (6, 0, 0)),
    "helm": ((3, 17, 0), (4, 0, 0)),
}
# The tools' own install pages: they work anywhere, also in a workspace `envctl init` made (which has
# no scripts/ folder), and they are not the pinned download that may just have failed.
INSTALL = {
    "docker": "sudo apt-get install -y docker.io   # or https://docs.docker.com/engine/install/",
    "k3d": f"install k3d {PINNED['k3d']}: https://k3d.io/stable/#installation (put it on PATH)",
    "helm": f"install helm {PINNED['helm']}: https://helm.sh/docs/intro/install/ (put it on PATH)",
    "kubectl": "see https://kubernetes.io/docs/tasks/tools/#kubectl (e.g. `sudo apt-get install -y kubectl`)",
}
_GIB = 1 << 30
DISK_FAIL_GIB = 2
DISK_WARN_GIB = 10

def command(
    ctx: typer.Context,
    output_format: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    require_choice("--output", output_format, ("table", "json"), "a doctor format")
    state: AppState = ctx.obj
    report = run_checks(state)
    from envctl.views.doctor import doctor_dict, doctor_table

    if output_format == "json":
        output.json_out(doctor_dict(report))
    else:
        output.render(doctor_table(report))
    if not report.ok:
        names = ", ".join(c.name for c in report.failed)
        msg = f"{len(report.failed)} required check(s) failed: {names}"
        raise ToolMissingError(msg, hint="do what each `fix` line above says, then run `envctl doctor` again")


def run_checks(state: AppState) -> DoctorReport:
    runner, k3d = state.runner, state.k3d
    shared = _provider(state) == "existing"  # a shared cluster: no k3d needed, other checks instead
    checks = [
        _check_docker(runner, state.docker_cli),  # the client builds use (ENVCTL_DOCKER, build.docker_cli)
        _check_versioned("k3d", lambda: "v" + k3d.version(), required=not shared, major=5, path=runner.env.get("PATH")),
        _check_versioned("helm", lambda: _helm(runner), required=True, major=3, path=runner.env.get("PATH")),
        _check_versioned("kubectl", lambda: _kubectl(runner), required=False, major=1, path=runner.env.get("PATH")),
    ]
    root = _workspace_root(state)
    checks.append(_check_disk(root or state.cwd))
    if shared:
        from envctl.shared_doctor import shared_cluster_checks

        checks.extend(shared_cluster_checks(state))
    else:
        checks.append(_check_cluster(state, k3d, have_k3d=checks[1].status != "fail"))
    from envctl.chart_doctor import chart_check, chart_report

    chart = chart_report(state)
    if chart is not None:
        checks.append(chart_check(chart))
    return DoctorReport(tuple(checks), chart)


def _provider(state: AppState) -> str:
    try:
        return state.config.cluster.provider
    except ConfigError:
        return "k3d"  # outside a workspace: the local checks only


def _helm(runner: SubprocessRunner) -> str:
    from envctl.adapters.versions import helm_version

    return helm_version(runner)


def _kubectl(runner: SubprocessRunner) -> str:
    from envctl.adapters.versions import kubectl_client_version

    return kubectl_client_version(runner)


def _check_docker(runner: SubprocessRunner, docker_cli: str) -> Check:
    from envctl.adapters.versions import docker_server_version

    try:
        version = docker_server_version(runner, docker_cli)
    except ToolMissingError:
        where = "no `docker` on PATH" if docker_cli == "docker" else f"no {docker_cli}"
        return Check("docker", "fail", f"not installed ({where})", required=True, fix=INSTALL["docker"])
    except EnvctlError as exc:
        detail = _last_line(getattr(exc, "stderr", "")) or exc.message
        return Check("docker", "fail", f"daemon not answering: {detail}", required=True,
                     fix="start the daemon: `sudo systemctl start docker` (CI: scripts/docker-engine.sh start)")
    return Check("docker", "ok", f"server {version}", required=True)


def _check_versioned(tool: str, probe: Callable[[], str], *, required: bool, major: int, path: str | None) -> Check:
    from envctl.adapters.versions import parse_semver

    missing_status: Status = "fail" if required else "warn"
    try:
        version = probe()
    except ToolMissingError:
        pinned = f" (envctl is tested with {PINNED[tool]})" if tool in PINNED else ""
        detail = f"not installed: no `{tool}` in PATH={path or ''}{pinned}"
        return Check(tool, missing_status, detail, required, INSTALL[tool])
    except EnvctlError as exc:
        return Check(tool, missing_status, f"does not run: {exc.message}", required, INSTALL[tool])
    parsed = parse_semver(version)
    if parsed is None or parsed[0] < major:
        detail = f"{version}: envctl needs v{major}.x or newer"
        return Check(tool, missing_status, detail, required, INSTALL[tool])
    if tool in SUPPORTED:
        low, high = SUPPORTED[tool]
        if not low <= parsed < high:
            detail = f"{version} is outside the supported range {_range(low, high)} (pinned {PINNED[tool]})"
            return Check(tool, "warn", detail, required, INSTALL[tool])
    return Check(tool, "ok", version, required)


def _range(low: tuple[int, int, int], high: tuple[int, int, int]) -> str:
    return f"v{'.'.join(map(str, low))} up to (not incl.) v{'.'.join(map(str, high))}"


def _check_disk(folder: Path) -> Check:
    free = shutil.disk_usage(folder).free
    detail = f"{free / _GIB:.1f} GiB free on the filesystem of {folder}"
    fix = "free space: `docker system prune` removes unused images and build cache"
    if free < DISK_FAIL_GIB * _GIB:
        return Check("disk", "fail", detail + f" (need {DISK_FAIL_GIB} GiB)", required=True, fix=fix)
    if free < DISK_WARN_GIB * _GIB:
        detail += f" (under {DISK_WARN_GIB} GiB; images and k3s fill it)"
        return Check("disk", "warn", detail, required=True, fix=fix)
    return Check("disk", "ok", detail, required=True)


def _check_cluster(state: AppState, k3d: K3d, *, have_k3d: bool) -> Check:
    from envctl.cluster_spec import spec_drift

    if _workspace_root(state) is None:
        return Check("cluster", "skip", "skipped: not in a workspace (no envctl.yaml here or above)", required=False)
    try:
        spec = state.config.cluster
    except ConfigError as exc:
        return Check("cluster", "skip", f"config not readable: {exc.message}", required=False, fix=exc.hint)
    if not have_k3d:
        return Check("cluster", "skip", f"{spec.name!r}: needs k3d to check", required=False)
    try:
        found = k3d.get(spec.name)
    except EnvctlError as exc:
        detail = f"{spec.name!r}: cannot list clusters: {exc.message}"
        return Check("cluster", "warn", detail, required=False, fix=exc.hint)
    if found is None:
        return Check("cluster", "ok", f"{spec.name!r} absent; `envctl up` creates it", required=False)
    if changes := spec_drift(found, spec):
        return Check("cluster", "warn", f"{spec.name!r} differs from the config: {'; '.join(changes)}", required=False,
                     fix="envctl up --recreate   # deletes and recreates the cluster")
    if not found.running:
        return Check("cluster", "warn", f"{spec.name!r} stopped; `envctl up` starts it", required=False)
    detail = f"{spec.name!r} running, spec matches ({len(found.workload_nodes)} nodes)"
    return Check("cluster", "ok", detail, required=False)


def _workspace_root(state: AppState) -> Path | None:
    try:
        return state.workspace.root
    except ConfigError:
        return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


__all__ = ["HELP", "NAME", "Check", "DoctorReport", "command", "run_checks"]
