"""Build output is streamed, never hoarded: what envctl keeps of a loud build is bounded."""

from __future__ import annotations

import sys

from envctl.adapters.build_log import TAIL_LINES, BuildLog
from envctl.adapters.buildkit import cache_stats, failing_step
from envctl.adapters.process import STREAMED_TAIL_LINES, SubprocessRunner


def test_a_loud_step_keeps_its_step_lines_and_the_tail_only() -> None:
    log = BuildLog()
    log.add("#5 [api 2/3] RUN make")
    log.add("#4 [api 1/3] FROM base")
    log.add("#6 CACHED")
    for n in range(100_000):
        log.add(f"#5 0.{n} output line {n}")
    log.add("#5 ERROR: process did not complete successfully")
    kept = log.lines()
    assert len(kept) == 3 + TAIL_LINES
    assert kept[:3] == ["#5 [api 2/3] RUN make", "#4 [api 1/3] FROM base", "#6 CACHED"]
    assert kept[-2:] == ["#5 0.99999 output line 99999", "#5 ERROR: process did not complete successfully"]
    assert failing_step(kept) == "[api 2/3] RUN make"
    assert cache_stats(kept) == (0, 1)


def test_a_streamed_command_passes_on_every_line_and_returns_only_its_tail() -> None:
    seen = 0
    longest = 0

    def on_line(line: str) -> None:
        nonlocal seen, longest
        seen += 1
        longest = max(longest, len(line))

    # 20 MB: 200,000 lines of 99 characters, then 1 MB without a newline, on stdout and stderr
    script = ("import sys\nfor s in (sys.stdout, sys.stderr):\n    s.write(('x' * 99 + '\\n') * 100000)\n"
              "    s.write('y' * 1000000)\n    s.flush()\n")
    done = SubprocessRunner().run([sys.executable, "-c", script], on_line=on_line)
    assert done.returncode == 0
    assert seen >= 2 * 100_001
    assert longest <= 64 * 1024  # a line without end is cut into pieces, never held whole
    for text in (done.stdout, done.stderr):
        assert len(text.splitlines()) <= STREAMED_TAIL_LINES
        assert text.endswith("y")
