"""Timing: spans recorded during a run, the run history, and their analysis.

- ``spans``    Recorder / Span / SpanHandle: one monotonic clock per run, a span per step.
- ``history``  RunMeta / RunRecord / RunHistory: ``.envctl/runs/<run-id>.json``, atomic, pruned.
- ``analysis`` critical path, totals by tool, median/p95/regressions, advice (definitions there).
- ``formats``  JSON contract (version 1), markdown, Chrome trace, end-of-run lines, CI outputs.
- ``svg``      the waterfall as an SVG picture.

How `envctl up` wires them (see also ``envctl.scheduler`` and ``envctl.lock``)::

    with workspace_lock(ws.state_dir, wait=not no_wait_lock, on_wait=output.info):
        recorder = Recorder()
        meta = RunMeta.start("up --changed-only", environ=state.environ,
                             git=git_identity(state.runner, ws.root), changed_services=...)
        scheduler = Scheduler(tasks, recorder=recorder, jobs=jobs, on_cancel=state.runner.terminate_all)
        try:
            result = scheduler.run()
            outcome, code = ("ok", 0) if result.ok else ("failed", getattr(result.first_error, "exit_code", 1))
        except SchedulerInterrupted:
            outcome, code = "cancelled", 130   # then re-raise after recording
        run = RunRecord(meta.finish(outcome, code, recorder.now()), tuple(recorder.spans()))
        RunHistory(ws.runs_dir, keep=config.history.keep).write(run)
        for line in phase_summary_lines(run):
            output.info(line)
        write_ci_outputs(run, state.environ)
"""
