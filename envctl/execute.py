"""Execute one `envctl up`: plan, bind the phases, run the graph, record the run — and report.

The plan is computed first — it is cheap (≤ 0.5 s) and pure, so a bad Dockerfile or an unknown
service fails before anything touches the cluster or the image store. Then the scheduler runs the
graph from ``pipeline.make_tasks``: the cluster is ensured while images build, each image loads
as soon as it is built, the deploy waits for every load, the wait follows. Whatever happens —
success, a failed step, Ctrl-C or SIGTERM (a second one only hurries the stop) — the spans are
written as one run record under ``.envctl/runs``; a signal that arrives while it is written waits
until it is.

Nothing here prints: ``run_up`` returns an ``UpReport`` and the `up` command renders it.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import statistics
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from envctl import __version__, interrupts
from envctl.errors import EnvctlError, ToolMissingError
from envctl.pipeline import BUILD_SLOT, RunState, UpOptions, deployed_services, make_tasks
from envctl.plan import Plan
from envctl.progress import Progress
from envctl.scheduler import Scheduler, ScheduleResult, SchedulerInterrupted
from envctl.timing.spans import Recorder
from envctl.toolbox import AppState

if TYPE_CHECKING:
    from envctl.kube_target import KubeTarget
    from envctl.timing.history import RunHistory, RunRecord
    from envctl.workspace_identity import ReleaseTarget

__all__ = ["BuildFlags", "CiOutputs", "UpReport", "expected_build_seconds", "preflight", "run_up", "write_ci_outputs"]

Outcome = Literal["ok", "failed", "cancelled"]


@dataclass(frozen=True)
class BuildFlags:
    """Build settings given on the command line; each wins over envctl.yaml when set."""

    cache_from: tuple[str, ...] | None = None
    cache_to: tuple[str, ...] | None = None
    cache_registry: str | None = None


@dataclass
class UpReport:
    """What one `envctl up` did (``--output json`` prints ``to_dict()``).

    ``error`` is the envctl error that failed the run; ``crash`` an unexpected one (a bug, already
    recorded), which the command re-raises after rendering; ``summary`` the end-of-run lines.
    """

    run_id: str
    plan: Plan
    schedule: ScheduleResult | None
    outcome: Outcome
    seconds: float
    error: EnvctlError | None = None
    summary: list[str] = field(default_factory=list)
    crash: BaseException | None = None
    warnings: list[str] = field(default_factory=list)  # what could not be recorded (shown as `warning:`)

    @property
    def interrupted(self) -> bool:
        return self.outcome == "cancelled"

    def to_dict(self) -> dict[str, object]:
        tasks: dict[str, object] = {}
        if self.schedule is not None:
            for task_id, done in self.schedule.outcomes.items():
                tasks[task_id] = {"outcome": done.outcome, "reason": done.reason, "result": _plain(done.value)}
        return {
            "version": 1,
            "envctl_version": __version__,
            "run_id": self.run_id,
            "outcome": self.outcome,
            "seconds": round(self.seconds, 3),
            "error": None if self.error is None else {"message": self.error.message, "hint": self.error.hint},
            "plan": self.plan.to_dict(),
            "tasks": tasks,
        }


def run_up(
    state: AppState,
    options: UpOptions,
    progress: Progress,
    flags: BuildFlags = BuildFlags(),
    *,
    release: ReleaseTarget | None = None,
    target: KubeTarget | None = None,
) -> UpReport:
    """Run `up` once and record it; returns the report (the run failed when ``report.error`` is set)."""
    from envctl.phases import wait as wait_phase
    from envctl.timing.history import RunHistory, RunMeta, RunRecord
    from envctl.views.timings_formats import phase_summary_lines

    recorder = Recorder()
    with recorder.span("plan", "plan") as span:
        plan = state.plan(
            base=options.base, changed_only=options.changed_only, selected=options.services,
            cache_registry=flags.cache_registry or state.shared_registry,
        )  # fmt: skip
        span.set(services=len(plan.services), changed=list(plan.changed_services))
    for service in plan.services:
        progress.step(service.name, f"{service.action}: {service.reason}")
    meta = RunMeta.start(
        shlex.join(sys.argv[1:]) or "up",  # as typed after `envctl` (the views prefix "envctl")
        environ=state.environ,
        git=_git_identity(state),
        changed_services=tuple(plan.changed_services),
    )
    cancel_event = threading.Event()
    deployed = deployed_services(plan, state.config.services)  # the tasks and the phases agree on it
    phases = state.up_phases(
        plan, options, deployed=deployed, recorder=recorder, progress=progress, cancel_event=cancel_event,
        cache_from=flags.cache_from, cache_to=flags.cache_to, cache_registry=flags.cache_registry, release=release,
        target=target,
    )  # fmt: skip
    # Import the docker SDK once on this thread, before worker threads race to import it; then let
    # the slow, lazy kubernetes models load while images build. (Two threads importing `requests`
    # at once deadlock on its circular imports, hence this order.)
    import docker  # noqa: F401 - imported for its side effect, see above

    threading.Thread(target=wait_phase.preload, daemon=True, name="preload-kubernetes").start()
    history = RunHistory(state.workspace.runs_dir, keep=state.config.history.keep)
    tasks = make_tasks(
        plan, phases, deployed, state=RunState(), wait=options.wait,
        expected=expected_build_seconds(history, plan=plan, root=state.workspace.root),
    )
    scheduler = Scheduler(
        tasks,
        recorder=recorder,
        # One slot more than --jobs: the cluster task mostly waits on k3d and must not hold back a
        # build; builds and cache pulls themselves share --jobs slots.
        jobs=options.jobs + 1,
        limits={BUILD_SLOT: options.jobs},
        fail_fast=not options.keep_going,
        on_cancel=state.runner.terminate_all,
        cancel_event=cancel_event,
    )
    interrupted = False
    with interrupts.on_hurry(state.runner.hurry):  # a second signal: kill the children at once
        try:
            result = scheduler.run()
        except SchedulerInterrupted as exc:
            interrupted, result = True, exc.result
    with interrupts.deferred():  # the record is written whole, whatever signal arrives meanwhile
        failure = None if interrupted else result.first_error
        error = failure if isinstance(failure, EnvctlError) else None
        outcome: Outcome = "cancelled" if interrupted else ("ok" if failure is None else "failed")
        code = interrupts.exit_code() if interrupted else (0 if failure is None else getattr(failure, "exit_code", 1))
        record = RunRecord(meta.finish(outcome, code, recorder.now()), tuple(recorder.spans()))
        summary = [*phase_summary_lines(record)]
        warnings: list[str] = []
        # A record or a CI output that cannot be written (a full disk, a read-only folder) is a
        # warning: it must never replace the run's own outcome and exit code, nor stop the rest.
        try:
            history.write(record)
        except OSError as exc:
            warnings.append(f"run {meta.run_id} not recorded: {_os_reason(exc)} (the run itself {outcome})")
        else:
            summary.append(f"run {meta.run_id} recorded; `envctl timings` shows where the time went")
        warnings += write_ci_outputs(record, state.environ).problems
    crash = failure if failure is not None and error is None else None
    return UpReport(meta.run_id, plan, result, outcome, recorder.now(), error, summary, crash, warnings)


def expected_build_seconds(
    history: RunHistory, last: int = 10, *, plan: Plan | None = None, root: Path | None = None
) -> dict[str, float]:
    """Median seconds of each service's real builds (not skips) over the last runs; with ``plan``
    and ``root``, a build the history has never seen gets a guess from its Dockerfile
    (build_estimate.py), so even a first run starts the longest chain first."""
    seen: dict[str, list[float]] = {}
    for run in history.scan(last).records:
        for span in run.spans:
            if span.kind == "build" and span.outcome == "ok" and span.service:
                seen.setdefault(span.service, []).append(span.seconds)
    expected = {service: statistics.median(times) for service, times in seen.items()}
    if plan is not None and root is not None:
        from envctl.build_estimate import static_build_seconds

        for service in plan.services:
            if service.action == "build" and service.name not in expected:
                try:
                    text = (root / service.dockerfile).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue  # the plan read it a moment ago; a guess is not worth failing for
                expected[service.name] = static_build_seconds(text)
    return expected


def missing_tools(state: AppState) -> list[str]:
    """The tools an `up` of this workspace needs that are not on PATH, in the order it uses them."""
    # A shared cluster is never created: k3d is not needed there.
    tools = ("helm",) if state.config.cluster.provider == "existing" else (state.overrides.k3d, "helm")
    return [tool for tool in tools if state.runner.which(tool) is None]


def preflight(state: AppState) -> None:
    """Missing tools and a silent Docker daemon fail here, in one line naming every missing tool,
    before anything is touched (no cluster call, no build, no run record)."""
    from envctl.adapters.process import install_hint

    if missing := missing_tools(state):
        names = " and ".join(f"`{tool}`" for tool in missing)
        msg = f"{names} {'is' if len(missing) == 1 else 'are'} not installed or not on PATH"
        hint = "; ".join(install_hint(tool) for tool in missing) + " (`envctl doctor` checks them all)"
        raise ToolMissingError(msg, hint=hint)
    state.docker.ping()


@dataclass(frozen=True)
class CiOutputs:
    """What ``write_ci_outputs`` wrote, and why any file could not be written (one line each)."""

    written: tuple[Path, ...] = ()
    problems: tuple[str, ...] = ()


def write_ci_outputs(run: RunRecord, environ: Mapping[str, str]) -> CiOutputs:
    """In CI: append the markdown summary to ``$GITHUB_STEP_SUMMARY`` and ``changed_services=…``,
    ``duration_seconds=…``, ``run_id=…`` to ``$GITHUB_OUTPUT`` (each only when set).

    Each file is written on its own: one that cannot be written (full disk, read-only) is reported
    in ``problems`` and does not keep the other from being written."""
    from envctl.timing.advice import advise
    from envctl.timing.analysis import analyze
    from envctl.views.timings_formats import markdown

    analysis = analyze(run)
    texts: list[tuple[str, str]] = []
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        texts.append((summary, markdown(run, analysis, advise(run, analysis)) + "\n"))
    outputs = environ.get("GITHUB_OUTPUT")
    if outputs:
        texts.append((outputs, (
            f"changed_services={json.dumps(list(run.meta.changed_services), separators=(',', ':'))}\n"
            f"duration_seconds={analysis.wall_seconds:.1f}\n"
            f"run_id={run.meta.run_id}\n"
        )))  # fmt: skip
    written: list[Path] = []
    problems: list[str] = []
    for name, text in texts:
        try:
            with Path(name).open("a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            problems.append(f"CI output {name} not written: {_os_reason(exc)}")
        else:
            written.append(Path(name))
    return CiOutputs(tuple(written), tuple(problems))


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _git_identity(state: AppState) -> tuple[str | None, str | None]:
    """(commit, branch) for the run record; a git that fails or hangs only leaves them unknown."""
    try:
        return state.git.head()
    except (EnvctlError, OSError, subprocess.TimeoutExpired):
        return None, None


def _plain(value: object) -> object:
    """A JSON-friendly view of a phase result (frozen dataclasses of plain fields)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value
