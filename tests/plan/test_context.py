"""`.dockerignore` semantics and COPY source matching over a file index (pure)."""

from __future__ import annotations

import pytest

from envctl.errors import InputError
from envctl.inputs.context import IgnoreRules, PathIndex, ignore_file_for

IGNORE_CASES = [
    pytest.param("*.md", "README.md", True, id="root-glob"),
    pytest.param("*.md", "docs/README.md", False, id="glob-is-anchored-at-root"),
    pytest.param("**/*.md", "a/b/README.md", True, id="double-star"),
    pytest.param("docs", "docs/a/b.txt", True, id="folder-excludes-contents"),
    pytest.param("docs/", "docs/a.txt", True, id="trailing-slash-cleaned"),
    pytest.param("/docs", "docs/a.txt", True, id="leading-slash-dropped"),
    pytest.param("a/*/c", "a/b/c", True, id="star-one-level"),
    pytest.param("a/*/c", "a/b/x/c", False, id="star-not-across-slash"),
    pytest.param("file?.txt", "file1.txt", True, id="question-mark"),
    pytest.param("**/*.md\n!keep/*.md", "keep/a.md", False, id="exception-reincludes"),
    pytest.param("**/*.md\n!keep/*.md", "other/a.md", True, id="exception-is-narrow"),
    pytest.param("!keep/*.md\n**/*.md", "keep/a.md", True, id="last-match-wins"),
    pytest.param("*\n!src", "src/deep/x.py", False, id="allow-list"),
    pytest.param("*\n!src", "other.py", True, id="allow-list-rest-excluded"),
    pytest.param("# comment\n\n", "x", False, id="comments-and-blanks"),
    # issue 8: where gitignore rules (the previous implementation) and BuildKit differ
    pytest.param("[\\-x]", "a", False, id="escaped-dash-class-does-not-hold-a"),
    pytest.param("[!a]bc", "xbc", False, id="bang-is-a-class-member"),
    pytest.param("[!a]bc", "!bc", True, id="bang-is-a-class-member-matching-bang"),
    pytest.param("[\\]a]", "]", True, id="escaped-bracket-in-class"),
    pytest.param("**file", "dir/file", True, id="double-star-glued-to-a-name"),
    pytest.param("a**/*.txt", "a/dir/file.txt", True, id="double-star-inside-a-component"),
    pytest.param("dir/*", "dir/sub/x", True, id="matching-parent-excludes-subtree"),
    pytest.param("**/dir2/*", "dir/dir2/file/child", True, id="matching-parent-excludes-subtree-deep"),
    pytest.param("\ufeff*.md", "a.md", True, id="bom-dropped"),
]


@pytest.mark.parametrize(("rules", "path", "excluded"), IGNORE_CASES)
def test_dockerignore(rules: str, path: str, excluded: bool) -> None:
    assert IgnoreRules.parse(rules).excluded(path) is excluded


FILES = ["a/b/c.py", "a/b/d.txt", "a/e.py", "ab/x", "svc/api/static/i.html", "svc/api/app.py", "top.py"]


@pytest.mark.parametrize(
    ("context", "source", "expected"),
    [
        pytest.param("", "a/b", ["a/b/c.py", "a/b/d.txt"], id="folder"),
        pytest.param("", "a", ["a/b/c.py", "a/b/d.txt", "a/e.py"], id="folder-not-prefix-of-sibling"),
        pytest.param("", "top.py", ["top.py"], id="file"),
        pytest.param("", "*.py", ["top.py"], id="glob-top-level"),
        pytest.param("", "a/*", ["a/b/c.py", "a/b/d.txt", "a/e.py"], id="glob-matches-folders-too"),
        pytest.param("", "a/*/*.py", ["a/b/c.py"], id="glob-nested"),
        pytest.param("svc/api", "static", ["svc/api/static/i.html"], id="context-relative"),
        pytest.param("svc/api", "*.py", ["svc/api/app.py"], id="context-relative-glob"),
        pytest.param("svc/api", ".", ["svc/api/app.py", "svc/api/static/i.html"], id="whole-context"),
        pytest.param("", "missing", [], id="no-match"),
    ],
)
def test_copy_source_matching(context: str, source: str, expected: list[str]) -> None:
    assert PathIndex(FILES).match(context, source) == expected


@pytest.mark.parametrize(
    ("rules", "detail"),
    [
        pytest.param("[", "syntax error in pattern", id="open-bracket"),
        pytest.param("ok\n[-x]", "syntax error in pattern", id="leading-dash"),
        pytest.param("[a-b-c]", "syntax error in pattern", id="double-range"),
        pytest.param("!", "illegal exclusion pattern", id="bare-bang"),
        pytest.param("\\", "syntax error in pattern", id="lone-backslash"),
        pytest.param("[z-a]", "invalid character class range", id="reversed-range"),
        pytest.param("[Local-Only]/", "invalid character class range", id="local-only"),
    ],
)
def test_invalid_dockerignore_is_an_input_error(rules: str, detail: str) -> None:
    with pytest.raises(InputError) as caught:
        IgnoreRules.parse(rules, "svc/.dockerignore")
    assert caught.value.message.startswith("svc/.dockerignore line ")
    assert detail in caught.value.message
    assert caught.value.hint


def test_dockerfile_specific_ignore_file_wins() -> None:
    files = {"svc/Dockerfile", "svc/Dockerfile.dockerignore", ".dockerignore"}
    assert ignore_file_for("svc/Dockerfile", "", files.__contains__) == "svc/Dockerfile.dockerignore"
    assert ignore_file_for("other/Dockerfile", "", files.__contains__) == ".dockerignore"
    assert ignore_file_for("other/Dockerfile", "svc", files.__contains__) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("f[0-9].txt", ["f1.txt"], id="class"),
        pytest.param("f[^0-9].txt", ["fa.txt"], id="negated-class"),
        pytest.param("f[!0-9].txt", ["f1.txt"], id="bang-is-a-member-not-a-negation"),
        pytest.param("f[z-a].txt", [], id="reversed-range-matches-nothing"),
        pytest.param("f[.txt", [], id="malformed-matches-nothing"),
        pytest.param("d1[^a]x", ["d1/x"], id="negated-class-crosses-slash-as-in-go"),
        pytest.param("f?.txt", ["f1.txt", "fa.txt"], id="question"),
        pytest.param("d*/x", ["d1/x", "dd/x"], id="star-in-folder"),
    ],
)
def test_glob_syntax(source: str, expected: list[str]) -> None:
    index = PathIndex(["f1.txt", "fa.txt", "f10.txt", "d1/x", "dd/x", "d1/y/x"])
    assert index.match("", source) == expected
