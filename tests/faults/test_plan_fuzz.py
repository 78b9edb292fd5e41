"""Hypothesis against `envctl plan`: generated configs, Dockerfiles, .dockerignore files and trees.

Whatever the input — valid, half valid or hostile — `plan` must end in exit 0 (a plan) or exit 2
(one `error:` line naming the problem, one `hint:` line), never a traceback, a hang or another
exit code. Each example runs the real `envctl` as a process, in a workspace made for it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.faults.conftest import SEED, assert_contract, run_envctl

# Files every generated workspace has; generated paths mostly point at (or near) them.
TREE = {
    "src/app.py": "print('app')\n",
    "src/util/helpers.py": "X = 1\n",
    "src/README.md": "# src\n",
    "lib/common/a.sh": "echo a\n",
    "lib/common/b.sh": "echo b\n",
    "lib/[weird]/x.txt": "brackets in a folder name\n",
    "lib/space dir/y.txt": "a space\n",
    "fast.sh": "echo fast\n",
    "static/index.html": "<p>hi</p>\n",
}

# Path pieces as a hostile or careless author writes them: globs, classes (valid and not),
# substitutions (nested, unset, with defaults), escapes, parents, absolute paths.
PATH_PIECES = [
    "src", "src/", "src/app.py", "src/*.py", "src/**/*.py", "**", "*", ".", "./src", "lib/common",
    "lib/[weird]", "lib/[!]", "lib/[z-a]*", "src/[a-", "src/[[:alpha:]]*", "src/[^a]*", "lib/{a,b}.sh",
    "lib/space dir", "static/index.html", "nope", "nope/*", "../outside", "/etc/passwd", "src/\\*",
    "${MODE}.sh", "${MODE:-fast}.sh", "${A:-${B:-src}}", "${A:+src}", "$MODE", "${", "${}", "${MODE:?x}",
    "src/app.py ", " ", "", "\\", "~", "lib/common/../../src", "a\tb", "ü/ñ", "*.md", "?rc",
]
IGNORE_LINES = [
    "*.md", "!src/README.md", "**/*.sh", "!lib/common/a.sh", "src", "[", "[!]", "[z-a]", "\\", "!",
    "#comment", "", "../x", "/src", "**", "lib/**/x.txt", "!**", "src/[a-z]*.py", "*/", "\t",
]
SCALARS = st.sampled_from(["x", "", "fast", "1", "busybox:1.36", "${A}", "a b", "-", "null", "::", "🙂"])


def mostly(usual: str, *odd: str) -> st.SearchStrategy[str]:
    """``usual`` most of the time (so most examples get past the config to the Dockerfiles), else an odd one."""
    return st.sampled_from([usual] * (4 * len(odd) or 1) + list(odd))


WORDS = st.sampled_from(["a", "base", "build", "final", "B", "1x", "fast", "mode", "MODE", "A", "B_C"])


@st.composite
def dockerfiles(draw: st.DrawFn) -> str:
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["# escape=`", "# syntax=docker/dockerfile:1", "# escape=\\", "#"])))
    lines.extend(
        f"ARG {draw(WORDS)}" + draw(st.sampled_from(["", "=fast", "=${B:-src}", "=", "=a b"]))
        for _ in range(draw(st.integers(0, 3)))
    )
    for stage in range(draw(st.integers(0, 3))):
        image = draw(st.sampled_from(["busybox:1.36", "${BASE}", "${BASE:-busybox}", "scratch", "", "a b", "final"]))
        alias = draw(st.sampled_from(["", f" AS s{stage}", " AS", " as final", " AS a b"]))
        lines.append(f"FROM {image}{alias}")
        lines.extend(draw(instructions()) for _ in range(draw(st.integers(0, 5))))
    lines.extend(draw(st.lists(instructions(), max_size=2)))
    joiner = draw(st.sampled_from(["\n", "\r\n", "\n\n", " \\\n"]))
    return joiner.join(lines) + draw(st.sampled_from(["\n", "", " \\", " \\\n"]))


@st.composite
def instructions(draw: st.DrawFn) -> str:
    piece = st.sampled_from(PATH_PIECES)
    kind = draw(st.sampled_from(["COPY", "ADD", "ENV", "ARG", "RUN", "WORKDIR", "copy", "LABEL", "EXPOSE", "BOGUS"]))
    if kind in ("COPY", "ADD", "copy"):
        flags = draw(st.lists(st.sampled_from(
            ["--from=s0", "--from=busybox", "--chown=1:1", "--chmod=755", "--link", "--parents", "--exclude=*.md",
             "--from=", "--bogus", "--chown"]), max_size=2))
        sources = draw(st.lists(piece, min_size=0, max_size=3))
        if draw(st.booleans()):
            args = json.dumps([*sources, "/dst/"])
        else:
            args = " ".join([*sources, draw(st.sampled_from(["/dst/", ".", "", "/a b"]))])
        return " ".join([kind, *flags, args]).rstrip()
    if kind in ("ENV", "ARG", "LABEL"):
        form = draw(st.sampled_from(["", "{k}", "{k}={v}", "{k} {v}", "{k}={v} {k}2={v}", "={v}", '{k}="{v}"']))
        return f"{kind} " + form.format(k=draw(WORDS), v=draw(st.sampled_from(PATH_PIECES)))
    if kind == "RUN":
        return draw(st.sampled_from(["RUN true", "RUN", "RUN --mount=type=secret,id=npm cat /run/secrets/npm",
                                     'RUN ["sh", "-c", "echo"]', "RUN <<EOF\necho hi\nEOF"]))
    return f"{kind} " + draw(st.sampled_from(PATH_PIECES))


@st.composite
def configs(draw: st.DrawFn) -> str:
    names = draw(st.lists(mostly("api", "web", "base", "x", "Bad_Name", "a" * 70), min_size=1, max_size=3, unique=True))
    lines = ["version: " + draw(mostly("1", "2", "'1'", ""))]
    lines.append("services:")
    for name in names:
        lines.append(f"  {name}:")
        dockerfile = draw(mostly(f"svc/{name}/Dockerfile", "nope/Dockerfile", "/etc/passwd", "../Dockerfile",
                                 f"svc/{name}", "src/app.py", "", "svc/api/Dockerfile"))
        lines.append(f"    dockerfile: {json.dumps(dockerfile)}")
        lines.append(f"    context: {json.dumps(draw(mostly('.', 'src', 'svc/' + name, '..', '/', 'nope', 'lib')))}")
        image = draw(mostly(f"ws/{name}", "Ws/Up", "a b", "x:1", "h:5000/x", "", "ws/api"))
        lines.append(f"    image: {json.dumps(image)}")
        if draw(st.booleans()):
            args = draw(st.dictionaries(WORDS, SCALARS, max_size=3))
            lines.append(f"    build_args: {json.dumps(args)}")
        if draw(st.integers(0, 3)) == 0:
            lines.append(f"    target: {json.dumps(draw(st.sampled_from(['s0', 'final', 'nope', '', 'a b'])))}")
        if draw(st.booleans()):
            lines.append(f"    extra_inputs: {json.dumps(draw(st.lists(st.sampled_from(PATH_PIECES), max_size=3)))}")
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 19)) == 0:  # now and then, raw damage to the text itself
        at = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from(["\t", ":", "{", "- ", "\x00", "&a", "*a", "!!python/object:os.system", "\udcff"]))
        text = text[:at] + junk + text[at:]
    return text


@st.composite
def sane_configs(draw: st.DrawFn) -> str:
    """A valid envctl.yaml whose Dockerfile-facing fields (context, args, target, extra inputs) vary."""
    names = draw(st.lists(st.sampled_from(["api", "web", "base"]), min_size=1, max_size=3, unique=True))
    lines = ["version: 1", "services:"]
    for name in names:
        lines += [f"  {name}:", f"    dockerfile: svc/{name}/Dockerfile", f"    image: ws/{name}"]
        lines.append(f"    context: {json.dumps(draw(st.sampled_from(['.', '.', 'src', 'svc/' + name, 'lib'])))}")
        if draw(st.booleans()):
            args = draw(st.dictionaries(st.sampled_from(["MODE", "A", "B", "BASE"]), SCALARS, max_size=3))
            lines.append(f"    build_args: {json.dumps(args)}")
        if draw(st.integers(0, 3)) == 3:
            lines.append("    target: s0")
        if draw(st.booleans()):
            lines.append(f"    extra_inputs: {json.dumps(draw(st.lists(st.sampled_from(PATH_PIECES), max_size=3)))}")
    return "\n".join(lines) + "\n"


@st.composite
def sane_dockerfiles(draw: st.DrawFn) -> str:
    """A Dockerfile with a FROM first, then generated instructions (so parsing reaches the COPYs)."""
    head = draw(st.sampled_from(["FROM busybox:1.36", "ARG BASE=busybox\nFROM ${BASE} AS s0", "FROM scratch AS s0"]))
    return head + "\n" + draw(dockerfiles())


FLAGS = st.sampled_from([(), ("--output", "json"), ("--services", ","), ("--services", "api,nope"),
                         ("--output", "github"), ("--changed-only",)])
SETTINGS = settings(max_examples=300, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def plan_in_workspace(config: str, dockerfile: str, ignore: list[str], flags: tuple[str, ...]) -> None:
    root = Path(tempfile.mkdtemp(prefix="envctl-fault-plan-"))
    try:
        for rel, text in TREE.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        for name in ("api", "web", "base", "x"):
            (root / "svc" / name).mkdir(parents=True)
            (root / "svc" / name / "Dockerfile").write_text(dockerfile, encoding="utf-8", errors="surrogateescape")
        (root / ".dockerignore").write_text("\n".join(ignore) + "\n")
        (root / "envctl.yaml").write_bytes(config.encode("utf-8", errors="surrogateescape"))
        done = run_envctl(root, "plan", *flags)
        assert_contract(done, (0, 2))
        if done.returncode == 0 and flags == ("--output", "json"):
            json.loads(done.stdout)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@seed(SEED)
@SETTINGS
@given(config=configs(), dockerfile=dockerfiles(), ignore=st.lists(st.sampled_from(IGNORE_LINES), max_size=3),
       flags=FLAGS)
def test_hostile_configs_end_in_a_plan_or_one_error_line(config: str, dockerfile: str, ignore: list[str],
                                                         flags: tuple[str, ...]) -> None:
    plan_in_workspace(config, dockerfile, ignore, flags)


@seed(SEED)
@SETTINGS
@given(config=sane_configs(), dockerfile=sane_dockerfiles(),
       ignore=st.lists(st.sampled_from(IGNORE_LINES), max_size=5), flags=FLAGS)
def test_hostile_dockerfiles_end_in_a_plan_or_one_error_line(config: str, dockerfile: str, ignore: list[str],
                                                             flags: tuple[str, ...]) -> None:
    plan_in_workspace(config, dockerfile, ignore, flags)
