"""Timing: spans recorded during a run, the run history, and their analysis.

- ``spans``    Recorder / Span / SpanHandle: one monotonic clock per run, a span per step.
- ``history``  RunMeta / RunRecord / RunHistory: ``.envctl/runs/<run-id>.json``, atomic, pruned.
- ``analysis`` critical path, totals by tool, median/p95/regressions, advice (definitions there).

Their renderers (terminal waterfall, SVG, JSON, markdown, Chrome trace, end-of-run lines) live in
``envctl.views`` (``timings``, ``timings_svg``, ``timings_formats``) with one colour table
(``views/palette.py``).

`execute.run_up` wires them: one ``Recorder`` for the run, the scheduler recording a span per task
(with the graph's edges), a ``RunRecord`` written to the ``RunHistory`` whatever the outcome.
"""
