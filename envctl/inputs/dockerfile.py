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
from envctl.inputs.shellwords import WordError, process_word, split_raw

__all__ = ["BaseRef", "CopySource", "DockerfileInputs", "clean_source", "parse_dockerfile"]

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


def clean_source(source: str) -> str:
    """A COPY source as a context-relative POSIX path ("." for the whole context)."""
    cleaned = posixpath.normpath("/" + source.strip()).lstrip("/")
    return cleaned or "."


def _split_args(value: str, escape: str) -> tuple[dict[str, str], list[str], bool]:
    """Leading ``--flag[=value]`` options, then the arguments: a JSON array (already words) or shell
    words left unexpanded; the flag says which."""
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
            return flags, items, True
    return flags, split_raw(rest, escape), False


def _pairs(value: str, escape: str, what: str) -> list[tuple[str, str | None]]:
    """``KEY[=value]`` words (ARG), or ENV's ``KEY=value ...`` / legacy ``KEY value with spaces``."""
    words = split_raw(value, escape)
    if what == "ENV" and words and "=" not in words[0]:
        key, _, rest = value.strip().partition(" ")  # legacy `ENV KEY value with spaces`
        if not rest.strip():
            msg = "must have two arguments"
            raise WordError(msg)
        return [(key, rest.strip())]
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        key, eq, default = word.partition("=")
        if what == "ENV" and not eq:
            msg = f"names {key!r} without a value"
            raise WordError(msg)
        pairs.append((key, default if eq else None))
    return pairs


def _directives(text: str) -> dict[str, str]:
    """The parser directives (``# syntax=``, ``# escape=``): leading comment lines of that form."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = re.fullmatch(r"\s*#\s*([A-Za-z]+)\s*=\s*(.*?)\s*", line)
        if match is None or match[1].lower() in found:
            break
        found[match[1].lower()] = match[2]
    return found


def parse_dockerfile(text: str, *, path: str, build_args: Mapping[str, str], target: str | None) -> DockerfileInputs:
    """What a build of ``target`` (default: the last stage) reads; ``path`` is only for messages.
    Malformed instructions are an InputError naming the line, with BuildKit's rule."""
    from dockerfile_parse import DockerfileParser

    escape = _directives(text).get("escape", "\\")
    if escape not in ("\\", "`"):
        msg = f"{path} line 1: invalid escape directive {escape!r}"
        raise InputError(msg, hint="BuildKit accepts only `# escape=\\` or `# escape=`")
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    global_args: dict[str, str] = {}
    stages: list[_Stage] = []
    env: dict[str, str] = {}
    for item in parser.structure:
        instruction, value, line = item["instruction"], item["value"], item["startline"] + 1
        try:
            env = _dispatch(instruction, value, line, item["content"], stages, env, global_args, build_args, escape)
        except WordError as exc:
            msg = f"{path} line {line}: {instruction} {exc}"
            raise InputError(msg, hint="fix the instruction; BuildKit would refuse it too") from None
    if not stages:
        msg = f"{path}: no FROM instruction"
        raise InputError(msg, hint="a Dockerfile must start a stage with FROM")
    return _needed(stages, target, path)


def _dispatch(  # noqa: C901, PLR0917 - one branch per instruction over the parser's state, as BuildKit's dispatch
    instruction: str, value: str, line: int, content: str, stages: list[_Stage], env: dict[str, str],
    global_args: dict[str, str], build_args: Mapping[str, str], escape: str,
) -> dict[str, str]:
    """Apply one instruction; returns the environment in force after it (a FROM starts a new one)."""
    if instruction == "ARG":
        if not value.strip():
            msg = "requires at least one argument"
            raise WordError(msg)
        for key, default in _pairs(value, escape, "ARG"):
            scope = env if stages else global_args
            if key in build_args:
                scope[key] = build_args[key]
            elif default is not None:
                scope[key] = process_word(default, scope, escape)
            elif stages and key in global_args:
                scope[key] = global_args[key]
    elif instruction == "FROM":
        _flags, words, _json = _split_args(value, escape)
        match words:
            case [raw]:
                name = None
            case [raw, keyword, alias] if keyword.lower() == "as":
                name = alias.lower()
            case _:
                msg = "requires either one or three arguments (FROM <image> [AS <name>])"
                raise WordError(msg)
        base = process_word(raw, global_args, escape)
        if not base.strip():
            msg = f"base name ({raw}) should not be blank"
            raise WordError(msg)
        whole = re.fullmatch(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-[^}]*)?\}?", raw)
        stages.append(_Stage(len(stages), name, base, whole[1] if whole else None, line, [], []))
        return {}
    elif instruction == "ENV" and stages:
        if not value.strip():
            msg = "requires at least one argument"
            raise WordError(msg)
        for key, val in _pairs(value, escape, "ENV"):
            env[key] = process_word(val or "", env, escape)
    elif instruction in ("COPY", "ADD") and stages:
        flags, words, _json = _split_args(value, escape)
        if len(words) < 2:  # noqa: PLR2004 - sources and a destination
            msg = "requires at least two arguments (sources and a destination)"
            raise WordError(msg)
        stage = stages[-1]
        shown = " ".join(content.replace(escape + "\n", " ").split())
        if "from" in flags:
            stage.from_refs.append((process_word(flags["from"], env, escape), line))
            return env
        for source in words[:-1]:
            if source.startswith("<<"):
                continue  # a heredoc: its text is in the Dockerfile itself
            expanded = process_word(source, env, escape)
            if instruction == "ADD" and expanded.startswith(_REMOTE):
                continue
            stage.copies.append(CopySource(clean_source(expanded), shown, line))
    return env


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
