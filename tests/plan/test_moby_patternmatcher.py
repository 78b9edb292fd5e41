"""moby/patternmatcher's own test tables, run against envctl's port (envctl/inputs/patternmatcher.py).

Source: github.com/moby/patternmatcher at commit 5a6d8429a19bb6948a372ff19e86fe83599a04b7,
patternmatcher_test.go (TestMatches with its multi-pattern cases, TestMatch — itself Go's
path/filepath Match table —, TestCompile's match types, the small Test* functions and the
"[Local-Only]/" regression test) and ignorefile/ignorefile_test.go (TestReadAll). Rows are copied
verbatim; only the assertions are written in Python. Every row is matched with
``MatchesOrParentMatches``, the method BuildKit's context walk uses.
"""

from __future__ import annotations

import pytest

from envctl.inputs import goglob
from envctl.inputs.patternmatcher import BadPattern, PatternMatcher, _compile, read_ignore_file

# moby's TestMatches cases: pattern, path, whether it is excluded
MATCHES = [
    ("**", "file", True),
    ("**", "file/", True),
    ("**/", "file", True),
    ("**/", "file/", True),
    ("**", "/", True),
    ("**/", "/", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**", "dir/file/", True),
    ("**/", "dir/file/", True),
    ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),  # added on non-Windows
]

# TestMatches' multiPatternTests: (patterns, path, excluded)
MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
]

# TestMatch (matchTests, from Go's filepath.Match tests): (pattern, name, match, bad pattern)
MATCH = [
    ("abc", "abc", True, False),
    ("*", "abc", True, False),
    ("*c", "abc", True, False),
    ("a*", "a", True, False),
    ("a*", "abc", True, False),
    ("a*", "ab/c", True, False),
    ("a*/b", "abc/b", True, False),
    ("a*/b", "a/c/b", False, False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True, False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True, False),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False, False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False, False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True, False),
    ("a*b?c*x", "abxbbxdbxebxczzy", False, False),
    ("ab[c]", "abc", True, False),
    ("ab[b-d]", "abc", True, False),
    ("ab[e-g]", "abc", False, False),
    ("ab[^c]", "abc", False, False),
    ("ab[^b-d]", "abc", False, False),
    ("ab[^e-g]", "abc", True, False),
    ("a\\*b", "a*b", True, False),
    ("a\\*b", "ab", False, False),
    ("a?b", "a☺b", True, False),
    ("a[^a]b", "a☺b", True, False),
    ("a???b", "a☺b", False, False),
    ("a[^a][^a][^a]b", "a☺b", False, False),
    ("[a-ζ]*", "α", True, False),  # noqa: RUF001 - a Greek letter on purpose
    ("*[a-ζ]", "A", False, False),
    ("a?b", "a/b", False, False),
    ("a*b", "a/b", False, False),
    ("[\\]a]", "]", True, False),
    ("[\\-]", "-", True, False),
    ("[x\\-]", "x", True, False),
    ("[x\\-]", "-", True, False),
    ("[x\\-]", "z", False, False),
    ("[\\-x]", "x", True, False),
    ("[\\-x]", "-", True, False),
    ("[\\-x]", "a", False, False),
    ("[]a]", "]", False, True),
    ("[-]", "-", False, True),
    ("[x-]", "x", False, True),
    ("[x-]", "-", False, True),
    ("[x-]", "z", False, True),
    ("[-x]", "x", False, True),
    ("[-x]", "-", False, True),
    ("[-x]", "a", False, True),
    ("\\", "a", False, True),
    ("[a-b-c]", "a", False, True),
    ("[", "a", False, True),
    ("[^", "a", False, True),
    ("[^bc", "a", False, True),
    ("a[", "a", False, True),
    ("a[", "ab", False, True),
    ("*x", "xxx", True, False),
]

# TestCompile: (pattern, match type)
COMPILE = [
    ("*", "regexp"),
    ("file*", "regexp"),
    ("*file", "regexp"),
    ("a*/b", "regexp"),
    ("**", "suffix"),
    ("**/**", "regexp"),
    ("dir/**", "prefix"),
    ("**/dir", "suffix"),
    ("**/dir2/*", "regexp"),
    ("**/dir2/**", "regexp"),
    ("**file", "suffix"),
    ("**/file*txt", "regexp"),
    ("**/**/*.txt", "regexp"),
    ("a[b-d]e", "regexp"),
    (".*", "regexp"),
    ("abc.def", "exact"),
    ("abc?def", "regexp"),
    ("**/foo/bar", "suffix"),
    ("a(b)c/def", "exact"),
    ("a.|)$(}+{bc", "exact"),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact"),
]


@pytest.mark.parametrize(("pattern", "path", "excluded"), MATCHES)
def test_matches(pattern: str, path: str, excluded: bool) -> None:
    assert PatternMatcher([pattern]).matches(path) is excluded


@pytest.mark.parametrize(("patterns", "path", "excluded"), MULTI)
def test_matches_multi_pattern(patterns: list[str], path: str, excluded: bool) -> None:
    assert PatternMatcher(patterns).matches(path) is excluded


@pytest.mark.parametrize(("pattern", "name", "matched", "bad"), MATCH)
def test_match(pattern: str, name: str, matched: bool, bad: bool) -> None:
    if bad:
        with pytest.raises(BadPattern):
            PatternMatcher([pattern])
        with pytest.raises(BadPattern):
            goglob.match(pattern, name)
        return
    assert PatternMatcher([pattern]).matches(goglob.clean(name)) is matched


@pytest.mark.parametrize(("pattern", "kind"), COMPILE)
def test_compile_match_type(pattern: str, kind: str) -> None:
    assert _compile(goglob.clean(pattern), exclusion=False).kind == kind


def test_wildcard_matches() -> None:
    assert PatternMatcher(["*"]).matches("fileutils.go")


def test_pattern_matches() -> None:
    assert PatternMatcher(["*.go"]).matches("fileutils.go")


def test_exclusion_pattern_matches_pattern_before() -> None:
    assert PatternMatcher(["!fileutils.go", "*.go"]).matches("fileutils.go")


@pytest.mark.parametrize("folder", ["docs", "docs/", "docs/*"])
def test_pattern_matches_folder_exclusions(folder: str) -> None:
    assert not PatternMatcher([folder, "!docs/README.md"]).matches("docs/README.md")


def test_exclusion_pattern_matches_pattern_after() -> None:
    assert not PatternMatcher(["*.go", "!fileutils.go"]).matches("fileutils.go")


def test_single_exclamation_error() -> None:
    with pytest.raises(BadPattern, match="illegal exclusion pattern"):
        PatternMatcher(["!"])


def test_matches_with_no_patterns() -> None:
    assert not PatternMatcher([]).matches("/any/path/there")


def test_matches_with_malformed_patterns() -> None:
    with pytest.raises(BadPattern):
        PatternMatcher(["["])


def test_clean_patterns() -> None:
    assert len(PatternMatcher(["docs", "config"]).patterns) == 2
    assert len(PatternMatcher(["docs", "config", ""]).patterns) == 2


@pytest.mark.parametrize("exception", ["!docs/README.md", "  !docs/README.md", "!docs/README.md  "])
def test_clean_patterns_exception_flag(exception: str) -> None:
    assert PatternMatcher(["docs", exception]).patterns[1].exclusion


def test_malformed_pattern_local_only() -> None:
    """moby reports "[Local-Only]/" (an RE2-invalid class range l-O) on the first match; envctl when
    the ignore file is read. Either way the build context is refused."""
    with pytest.raises(BadPattern, match="invalid character class range"):
        PatternMatcher(["[Local-Only]/"])


def test_read_all() -> None:
    assert read_ignore_file("") == []
    content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    assert read_ignore_file(content) == [
        "test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "!", "!",
    ]
