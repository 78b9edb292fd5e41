"""Go's path/filepath.Match as ported in envctl/inputs/goglob.py (BuildKit's COPY wildcards).

GO_MATCH is Go's own table: src/path/filepath/match_test.go (`matchTests`) of Go 1.19 — the
table moby's TestMatch copied, with Go's answer for ("a*", "ab/c") (moby's matcher also matches
parent folders; filepath.Match does not) and its two extra malformed rows.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envctl.inputs import goglob
from tests.plan.test_moby_patternmatcher import MATCH

GO_MATCH = [
    (p, n, False if (p, n) == ("a*", "ab/c") else m, bad) for p, n, m, bad in MATCH
] + [("a[", "x", False, True), ("a/b[", "x", False, True)]


@pytest.mark.parametrize(("pattern", "name", "matched", "bad"), GO_MATCH)
def test_go_filepath_match_table(pattern: str, name: str, matched: bool, bad: bool) -> None:
    if bad:
        with pytest.raises(goglob.BadPattern):
            goglob.match(pattern, name)
        with pytest.raises(goglob.BadPattern):
            goglob.compile_glob(pattern)
        return
    assert goglob.match(pattern, name) is matched
    assert (goglob.compile_glob(pattern).fullmatch(name) is not None) is matched


GLOB_ALPHABET = st.sampled_from([*list("ab-/!^*?[]\\z."), "☺"])


@settings(max_examples=400, deadline=None)
@given(pattern=st.text(GLOB_ALPHABET, max_size=8), name=st.text(st.sampled_from(list("ab-/!^z.\\*?[]☺")), max_size=6))
def test_compiled_glob_agrees_with_the_port(pattern: str, name: str) -> None:
    """The regex used for speed accepts exactly what the literal port of filepath.Match accepts."""
    try:
        expected = goglob.match(pattern, name)
    except goglob.BadPattern:
        with pytest.raises(goglob.BadPattern):
            goglob.compile_glob(pattern)
        return
    assert (goglob.compile_glob(pattern).fullmatch(name) is not None) is expected


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [("", "."), ("a//b/./c/..", "a/b"), ("//a", "/a"), ("///a/", "/a"), ("../a", "../a"), ("/..", "/")],
)
def test_clean_is_go_filepath_clean(path: str, cleaned: str) -> None:
    assert goglob.clean(path) == cleaned
