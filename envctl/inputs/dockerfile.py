"""Dockerfile → what the image reads from the build context, as BuildKit would.

Only the stages the target needs are followed (FROM <stage> and COPY --from=<stage> chains).
ARG/ENV substitution follows Docker's rules closely enough for paths: ``$V``, ``${V}``,
``${V:-default}``, ``${V-default}``, ``${V:+alt}``, ``${V+alt}``; configured build args override
ARG defaults; global ARGs (before the first FROM) are visible to FROM lines and to stages that
re-declare them. Heredoc sources (``COPY <<EOF``) and remote ``ADD`` URLs read nothing from the
context and are skipped; ``COPY --from=<image>`` makes the image an input reference instead.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

from envctl.errors import InputError

__all__ = ["BaseRef", "CopySource", "DockerfileInputs", "clean_source", "parse_dockerfile"]

_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-+])(?P<word>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
_REMOTE = ("http://", "https://", "git@", "git://", "ssh://")


@dataclass(frozen=True)
class CopySource:
    """One COPY/ADD source: ``source`` is relative to the build context, already substituted."""

    source: str
    instruction: str  # the instruction as written, on one line (for reasons shown to people)
    line: int  # 1-based line in the Dockerfile


@dataclass(frozen=True)
class BaseRef:
    """An image a needed stage starts FROM (or copies --from), after ARG substitution.

    ``arg`` names the ARG the reference came from when the whole reference is one variable
    (``FROM ${BASE_REF}``): the build phase may pass a dependency's fingerprint ref through it.
    """

    ref: str
    arg: str | None
    line: int


@dataclass(frozen=True)
class DockerfileInputs:
    sources: tuple[CopySource, ...]
    base_refs: tuple[BaseRef, ...]
    stages: tuple[str, ...]  # names (or indexes) of the stages the target needs, in file order


@dataclass
class _Stage:
    index: int
    name: str | None
    base: str
    base_arg: str | None
    line: int
    copies: list[CopySource]
    from_refs: list[tuple[str, int]]  # COPY --from values with their lines


def substitute(text: str, env: Mapping[str, str]) -> str:
    """Expand ``$V``/``${V...}`` forms the way the Dockerfile frontend does (unset → empty)."""

    def expand(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        value = env.get(name)
        op, word = match["op"], match["word"] or ""
        if op == ":-":
            return value if value else substitute(word, env)
        if op == "-":
            return value if value is not None else substitute(word, env)
        if op == ":+":
            return substitute(word, env) if value else ""
        if op == "+":
            return substitute(word, env) if value is not None else ""
        return value or ""

    return _VAR.sub(expand, text)


def clean_source(source: str) -> str:
    """A COPY source as a context-relative POSIX path ("." for the whole context)."""
    cleaned = posixpath.normpath("/" + source.strip()).lstrip("/")
    return cleaned or "."


def _split_args(value: str) -> tuple[dict[str, str], list[str]]:
    """Leading ``--flag[=value]`` options, then the JSON or whitespace-separated arguments."""
    flags: dict[str, str] = {}
    rest = value.strip()
    while rest.startswith("--"):
        token, _, rest = rest.partition(" ")
        key, _, flag_value = token[2:].partition("=")
        flags[key] = flag_value
        rest = rest.strip()
    if rest.startswith("["):
        try:
            items = json.loads(rest)
        except json.JSONDecodeError:
            items = None
        if isinstance(items, list) and all(isinstance(item, str) for item in items):
            return flags, items
    return flags, rest.split()


def _arg_pairs(value: str) -> list[tuple[str, str | None]]:
    pairs = []
    for token in value.split():
        key, eq, default = token.partition("=")
        pairs.append((key, default.strip("\"'") if eq else None))
    return pairs


def _env_pairs(value: str) -> list[tuple[str, str]]:
    if "=" not in value.split(maxsplit=1)[0]:
        key, _, val = value.partition(" ")  # legacy `ENV KEY value with spaces`
        return [(key, val.strip())]
    return [(k, v.strip("\"'")) for k, _, v in (token.partition("=") for token in value.split())]


def parse_dockerfile(text: str, *, path: str, build_args: Mapping[str, str], target: str | None) -> DockerfileInputs:
    """What a build of ``target`` (default: the last stage) reads; ``path`` is only for messages."""
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    global_args: dict[str, str] = {}
    stages: list[_Stage] = []
    env: dict[str, str] = {}
    for item in parser.structure:
        instruction, value, line = item["instruction"], item["value"], item["startline"] + 1
        if instruction == "ARG":
            for key, default in _arg_pairs(value):
                scope = env if stages else global_args
                if key in build_args:
                    scope[key] = build_args[key]
                elif default is not None:
                    scope[key] = substitute(default, env if stages else global_args)
                elif stages and key in global_args:
                    scope[key] = global_args[key]
        elif instruction == "FROM":
            flags, words = _split_args(value)
            raw = words[0] if words else ""
            name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
            whole = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-[^}]*)?\}?", raw)
            stages.append(
                _Stage(len(stages), name, substitute(raw, global_args), whole[1] if whole else None, line, [], [])
            )
            env = {}
        elif instruction == "ENV" and stages:
            for key, val in _env_pairs(value):
                env[key] = substitute(val, env)
        elif instruction in ("COPY", "ADD") and stages:
            flags, words = _split_args(value)
            stage = stages[-1]
            shown = " ".join(item["content"].replace("\\\n", " ").split())
            if "from" in flags:
                stage.from_refs.append((substitute(flags["from"], env), line))
                continue
            for source in words[:-1]:
                expanded = substitute(source, env)
                if expanded.startswith("<<") or (instruction == "ADD" and expanded.startswith(_REMOTE)):
                    continue
                stage.copies.append(CopySource(clean_source(expanded), shown, line))
    if not stages:
        msg = f"{path}: no FROM instruction"
        raise InputError(msg, hint="a Dockerfile must start a stage with FROM")
    return _needed(stages, target, path)


def _find_stage(stages: list[_Stage], ref: str, before: int) -> _Stage | None:
    for stage in stages[:before]:
        if stage.name == ref.lower() or str(stage.index) == ref:
            return stage
    return None


def _needed(stages: list[_Stage], target: str | None, path: str) -> DockerfileInputs:
    if target is None:
        final = stages[-1]
    else:
        found = _find_stage(stages, target, len(stages))
        if found is None:
            known = ", ".join(s.name for s in stages if s.name) or "none"
            msg = f"{path}: target stage {target!r} not found (stages: {known})"
            raise InputError(msg, hint="fix `target` in envctl.yaml or name the stage with FROM ... AS <name>")
        final = found
    needed: dict[int, _Stage] = {}
    refs: list[BaseRef] = []
    todo = [final]
    while todo:
        stage = todo.pop()
        if stage.index in needed:
            continue
        needed[stage.index] = stage
        parent = _find_stage(stages, stage.base, stage.index)
        if parent is not None:
            todo.append(parent)
        elif stage.base.lower() != "scratch":
            refs.append(BaseRef(stage.base, stage.base_arg, stage.line))
        for ref, line in stage.from_refs:
            source_stage = _find_stage(stages, ref, stage.index)
            if source_stage is not None:
                todo.append(source_stage)
            else:
                refs.append(BaseRef(ref, None, line))
    ordered = [needed[i] for i in sorted(needed)]
    return DockerfileInputs(
        sources=tuple(copy for stage in ordered for copy in stage.copies),
        base_refs=tuple(sorted(set(refs), key=lambda r: (r.line, r.ref))),
        stages=tuple(stage.name or str(stage.index) for stage in ordered),
    )
