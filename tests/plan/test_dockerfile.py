"""Dockerfile → inputs, as BuildKit reads them (pure, table-driven)."""

from __future__ import annotations

import pytest

from envctl.errors import InputError
from envctl.inputs.dockerfile import parse_dockerfile
from envctl.inputs.shellwords import process_word

CASES = [
    pytest.param("FROM a\nCOPY src ./src\n", {}, None, ["src"], ["a"], id="plain-copy"),
    pytest.param("FROM a\nCOPY ./x/../y/ /dst\n", {}, None, ["y"], ["a"], id="cleaned-path"),
    pytest.param("FROM a\nCOPY . /app\n", {}, None, ["."], ["a"], id="whole-context"),
    pytest.param("FROM a\nCOPY s1 s2 /dst/\n", {}, None, ["s1", "s2"], ["a"], id="several-sources"),
    pytest.param('FROM a\nCOPY ["with space", "b*", "/dst/"]\n', {}, None, ["with space", "b*"], ["a"], id="json-form"),
    pytest.param("FROM a\nCOPY --chown=1:1 --chmod=644 --link --parents x/y /d\n", {}, None, ["x/y"], ["a"],
                 id="flags"),
    pytest.param("FROM a\nCOPY src \\\n  /dst\n", {}, None, ["src"], ["a"], id="line-continuation"),
    pytest.param("FROM a\nADD https://example.com/f.tgz /t/\nADD local.tgz /t/\n", {}, None, ["local.tgz"], ["a"],
                 id="remote-add-skipped"),
    pytest.param("FROM a\nCOPY <<EOF /x\nhi\nEOF\n", {}, None, [], ["a"], id="heredoc-skipped"),
    pytest.param("ARG B=base:1\nFROM ${B}\nARG D=lib\nCOPY ${D}/x /x\n", {}, None, ["lib/x"], ["base:1"],
                 id="arg-defaults"),
    pytest.param("ARG B=base:1\nFROM $B\nARG D=lib\nCOPY ${D}/x /x\n", {"B": "mine:2", "D": "other"}, None,
                 ["other/x"], ["mine:2"], id="build-args-override"),
    pytest.param("FROM a\nARG D\nCOPY ${D:-fallback}/x /x\n", {}, None, ["fallback/x"], ["a"],
                 id="colon-dash-default"),
    pytest.param("ARG D=glob\nFROM a\nARG D\nCOPY $D /x\n", {}, None, ["glob"], ["a"], id="global-arg-redeclared"),
    pytest.param("ARG D=glob\nFROM a\nCOPY x$D /x\n", {}, None, ["x"], ["a"], id="global-arg-not-redeclared"),
    pytest.param("FROM a\nENV DIR=conf\nCOPY ${DIR}/app.ini /etc/\n", {}, None, ["conf/app.ini"], ["a"], id="env"),
    pytest.param("FROM a AS build\nCOPY build-src /b\nFROM b\nCOPY --from=build /b /b\nCOPY run-src /r\n",
                 {}, None, ["build-src", "run-src"], ["a", "b"], id="multi-stage-from-stage"),
    pytest.param("FROM a AS unused\nCOPY unused-src /u\nFROM b\nCOPY run-src /r\n", {}, None, ["run-src"], ["b"],
                 id="unneeded-stage-ignored"),
    pytest.param("FROM a AS base\nCOPY base-src /b\nFROM base AS test\nCOPY test-src /t\nFROM base\nCOPY app /a\n",
                 {}, "test", ["base-src", "test-src"], ["a"], id="target-stage"),
    pytest.param("FROM a\nCOPY --from=nginx:1.27 /etc/nginx /etc/nginx\nCOPY x /x\n", {}, None, ["x"],
                 ["a", "nginx:1.27"], id="copy-from-image"),
    pytest.param("FROM a AS one\nCOPY one-src /o\nFROM scratch\nCOPY --from=0 /o /o\n", {}, None, ["one-src"], ["a"],
                 id="copy-from-index-scratch"),
]


@pytest.mark.parametrize(("text", "args", "target", "sources", "bases"), CASES)
def test_inputs_of_a_dockerfile(text: str, args: dict, target: str | None, sources: list, bases: list) -> None:
    parsed = parse_dockerfile(text, path="Dockerfile", build_args=args, target=target)
    assert [s.source for s in parsed.sources] == sources
    assert sorted(r.ref for r in parsed.base_refs) == sorted(bases)


def test_source_records_instruction_and_line() -> None:
    parsed = parse_dockerfile("FROM a\n\nCOPY --link libs/common  ./common\n", path="D", build_args={}, target=None)
    (source,) = parsed.sources
    assert (source.instruction, source.line) == ("COPY --link libs/common ./common", 3)


def test_from_arg_is_remembered_for_dependency_injection() -> None:
    parsed = parse_dockerfile("ARG BASE_REF=demo/base:latest\nFROM ${BASE_REF}\n", path="D", build_args={}, target=None)
    assert [(r.ref, r.arg) for r in parsed.base_refs] == [("demo/base:latest", "BASE_REF")]


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("$A/${B}", {"A": "1", "B": "2"}, "1/2"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A:+alt}", {"A": "x"}, "alt"),
        ("${A+alt}", {}, ""),
        ("$UNSET-x", {}, "-x"),
    ],
)
def test_substitution(text: str, env: dict, expected: str) -> None:
    assert process_word(text, env) == expected


def test_unknown_target_is_an_input_error() -> None:
    with pytest.raises(InputError, match="target stage 'nope' not found"):
        parse_dockerfile("FROM a AS one\n", path="svc/Dockerfile", build_args={}, target="nope")


def test_dockerfile_without_from_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no FROM"):
        parse_dockerfile("# empty\n", path="svc/Dockerfile", build_args={}, target=None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("FROM a\nENV\n", "line 2: ENV requires at least one argument", id="env-without-arguments"),
        pytest.param("FROM a\nENV A\n", "line 2: ENV must have two arguments", id="env-name-only"),
        pytest.param("FROM a\nENV A=1 B\n", "line 2: ENV names 'B' without a value", id="env-pair-without-value"),
        pytest.param("FROM\n", "line 1: FROM requires either one or three arguments", id="from-without-image"),
        pytest.param("FROM a b\n", "line 1: FROM requires either one or three arguments", id="from-two-words"),
        pytest.param("ARG B\nFROM ${B}\n", "line 2: FROM base name (${B}) should not be blank", id="blank-base"),
        pytest.param("FROM a\nCOPY 'x /y\n", "line 2: COPY unexpected end of statement while looking for matching single-quote",
                     id="unterminated-quote"),
        pytest.param("FROM a\nCOPY ${ /y\n", "line 2: COPY bad substitution", id="bad-substitution"),
        pytest.param("FROM a\nCOPY x\n", "line 2: COPY requires at least two arguments", id="copy-one-argument"),
        pytest.param("FROM a\nCOPY ${X:?set X} /y\n", "line 2: COPY X: set X", id="required-variable"),
        pytest.param("# escape=x\nFROM a\n", "invalid escape directive 'x'", id="bad-escape-directive"),
    ],
)
def test_what_buildkit_rejects_is_an_input_error(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_dockerfile(text, path="svc/Dockerfile", build_args={}, target=None)
    assert message in caught.value.message
    assert caught.value.hint


@pytest.mark.parametrize(
    ("text", "sources"),
    [
        pytest.param("ARG A=${B:-${C:-svc}}\nFROM a\nARG A\nCOPY ${A}.txt /\n", ["svc.txt"], id="nested-defaults"),
        pytest.param("FROM a\nARG C=c\nARG A=${B:-${C:-svc}}\nCOPY ${A} /\n", ["c"], id="nested-defaults-inner-set"),
        pytest.param('FROM a\nENV D="my dir" F=f\nCOPY ["${D}/${F}", "/x"]\n', ["my dir/f"], id="quoted-env"),
        pytest.param("FROM a\nCOPY 'a b' \"c d\" /x/\n", ["a b", "c d"], id="quoted-sources"),
        pytest.param("# escape=`\nFROM a\nCOPY x `\n  y /z/\n", ["x", "y"], id="backtick-escape"),
        pytest.param("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nCOPY c:\\x /z\n", ["c:\\x"],
                     id="backslash-is-literal-under-backtick"),
        pytest.param("FROM a\nCOPY f[!]x f[z-a] /z/\n", ["f[!]x", "f[z-a]"], id="odd-classes-are-kept"),
        pytest.param("FROM a\nENV A=1\nENV B=$A-${A}\nCOPY $B /\n", ["1-1"], id="env-references-env"),
    ],
)
def test_words_as_buildkit_reads_them(text: str, sources: list[str]) -> None:
    parsed = parse_dockerfile(text, path="D", build_args={}, target=None)
    assert [s.source for s in parsed.sources] == sources
