"""How long a build will take when the run history has never seen it: a static guess from its
Dockerfile, good enough to order builds (longest chain first, pipeline.chain_seconds).

docs/benchmarks.md ("What a build costs") measured cold BuildKit builds: what the text shows
(RUN steps, input size, stages) explains almost none of the time; what the RUN steps do explains
it. So the guess weighs a RUN step that installs or compiles (pip, npm, apt-get, go build, ...)
far above any other instruction: only the order of the guesses matters, never their value.
"""

from __future__ import annotations

import re

__all__ = ["static_build_seconds"]

# A RUN step's typical cost when it installs packages or compiles, against one that does not
# (docs/benchmarks.md: 0.22 s + 0.10 s per RUN step for steps doing nothing).
_INSTALL_SECONDS = 20.0
_RUN_SECONDS = 0.1
_BASE_SECONDS = 0.3

_INSTALLS = re.compile(
    r"\b(?:pip3?|uv|poetry|pipenv|conda|mamba|npm|yarn|pnpm|apt-get|apt|apk|dnf|yum|microdnf|zypper|"
    r"go\s+(?:build|install|mod)|cargo|mvn|gradle|bundle|gem|composer|dotnet|make|cmake)\b"
)
_RUN = re.compile(r"^\s*RUN\b", re.IGNORECASE)


def static_build_seconds(dockerfile: str) -> float:
    """A nominal cost of building ``dockerfile`` (its text), for ranking builds without history."""
    lines = _logical_lines(dockerfile)
    runs = [line for line in lines if _RUN.match(line)]
    installs = sum(len(_INSTALLS.findall(line)) > 0 for line in runs)
    return _BASE_SECONDS + _RUN_SECONDS * len(runs) + _INSTALL_SECONDS * installs


def _logical_lines(text: str) -> list[str]:
    """Instructions with their backslash continuations joined; comments dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        lines.append(current + raw)
        current = ""
    if current:
        lines.append(current)
    return lines
