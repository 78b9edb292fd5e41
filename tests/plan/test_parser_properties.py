"""Property tests: the Dockerfile, .dockerignore and wildcard parsers never crash.

Whatever the text, the outcome is a result or an ``InputError`` (exit 2 with ``error:`` and
``hint:``), never another exception. ``ENVCTL_PROPERTY_EXAMPLES`` raises the example count.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envctl.config import EnvConfig
from envctl.errors import InputError
from envctl.inputs.context import IgnoreRules, PathIndex
from envctl.inputs.dockerfile import parse_dockerfile
from envctl.inputs.gitstate import snapshot_filesystem
from envctl.inputs.scan import scan_services

EXAMPLES = int(os.environ.get("ENVCTL_PROPERTY_EXAMPLES", "300"))
PROFILE = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TRICKY = st.sampled_from(
    ["a", "b.txt", "dir", "/", ".", "..", "*", "**", "?", "[", "]", "[!]", "[z-a]", "[^a]", "[\\-x]", "\\", "`",
     "$", "${", "}", "$A", "${A}", "${A:-x}", "${A:-${B:-c}}", "${A:+y}", "${A?}", "'", '"', " ", "=", "!", "#",
     "--from=s", "--chown=1", "AS", "s", "<<EOF", '["a", "b"]', "\n", "\t", "☺", "\x00"]
)
WORDS = st.lists(TRICKY, max_size=6).map("".join)
INSTRUCTION = st.tuples(
    st.sampled_from(["FROM", "ARG", "ENV", "COPY", "ADD", "RUN", "WORKDIR", "from", "# escape=`", "# syntax=x", ""]),
    WORDS,
).map(lambda pair: f"{pair[0]} {pair[1]}")
DOCKERFILE = st.one_of(st.lists(INSTRUCTION, max_size=8).map("\n".join), st.text(max_size=200))
IGNORE_FILE = st.one_of(st.lists(WORDS, max_size=6).map("\n".join), st.text(max_size=120))


@PROFILE
@given(text=DOCKERFILE, target=st.sampled_from([None, "s", "0"]), args=st.dictionaries(st.sampled_from(["A", "B"]), WORDS))
def test_dockerfile_parser_never_crashes(text: str, target: str | None, args: dict[str, str]) -> None:
    try:
        parsed = parse_dockerfile(text, path="svc/Dockerfile", build_args=args, target=target)
    except InputError as exc:
        assert exc.message.startswith("svc/Dockerfile")
        assert exc.hint
        return
    assert all(not source.source.startswith("/") for source in parsed.sources)


@PROFILE
@given(text=IGNORE_FILE, paths=st.lists(WORDS, max_size=4))
def test_dockerignore_parser_never_crashes(text: str, paths: list[str]) -> None:
    try:
        rules = IgnoreRules.parse(text, "svc/.dockerignore")
    except InputError as exc:
        assert exc.message.startswith("svc/.dockerignore")
        assert exc.hint
        return
    for path in paths:
        assert rules.excluded(path) in (True, False)


@PROFILE
@given(source=WORDS, context=st.sampled_from(["", "a", "dir"]))
def test_copy_wildcards_never_crash(source: str, context: str) -> None:
    index = PathIndex(["a/b.txt", "a/[x]", "dir/a", "dir/sub/", "b.txt", "☺", "!x"])
    for path in index.match(context, source):
        assert path in index or path.endswith("/")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every example (hypothesis reruns the test body, not a function fixture), made
    under pytest's temporary root so nothing is left in /tmp."""
    root = tmp_path_factory.mktemp("props")
    for rel, text in {"a/b.txt": "b\n", "dir/a": "a\n", "b.txt": "x\n", "x.go": "g\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@PROFILE
@given(dockerfile=DOCKERFILE, ignore=IGNORE_FILE, extra=st.lists(WORDS, max_size=2))
def test_a_whole_service_plans_or_says_why(workspace: Path, dockerfile: str, ignore: str, extra: list[str]) -> None:
    (workspace / "Dockerfile").write_text(dockerfile)
    (workspace / ".dockerignore").write_text(ignore)
    config = {"version": 1, "services": {"svc": {"dockerfile": "Dockerfile", "image": "t/svc", "extra_inputs": extra}}}
    try:
        services = EnvConfig.model_validate(yaml.safe_load(yaml.safe_dump(config))).services
    except Exception:  # noqa: BLE001 - the config model may refuse an extra_inputs value; not under test
        return
    try:
        scan = scan_services(services, snapshot_filesystem(workspace), strict=True)
    except InputError as exc:
        assert exc.message and exc.hint
        return
    assert len(scan.fingerprints["svc"]) == 64
