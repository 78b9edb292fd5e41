"""Every input that once crashed envctl (issue 10, "Crashes"), one row each, through the real CLI.

(A read-only ``.envctl`` is tests/faults/test_locks.py's: it needs a process in its own mount namespace.)

Each row makes a small workspace holding one hostile input and runs one verb on it. The contract
is the fault suite's (``assert_contract``): the documented exit code, exactly one ``error:`` line
and one ``hint:`` line, never a traceback; the row also names what the error must say, so a row
cannot pass by failing for an unrelated reason. Rows whose input is valid (nested ``${a:-${b}}``
defaults, a Dockerfile reached through a link inside the workspace) must plan, and plan right.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from envctl.timing.history import RunHistory
from tests.faults.conftest import assert_contract, run_envctl
from tests.timing.sample import sample_run

CONFIG = """\
version: 1
release: {{chart: charts/demo, values: [values/ci.yaml]}}
services:
  api:
    dockerfile: {dockerfile}
    image: {image}
    extra_inputs: {extra}
"""
DOCKERFILE = "FROM busybox\nCOPY src /app\n"
RUN_ID = "20261129T080000Z-bbbb"


@dataclass(frozen=True)
class Row:
    """One hostile input: how to make it, the command, the exit code and what stderr/stdout must say."""

    name: str
    argv: tuple[str, ...]
    code: int
    says: str
    dockerfile: str = DOCKERFILE
    config: dict[str, str] = field(default_factory=dict)
    raw_config: bytes | None = None
    ignore: str = ""
    prepare: Callable[[Path], None] | None = None


def nested(depth: int) -> bytes:
    return b"version: 1\nrelease:\n  set:\n    a: " + b"[" * depth + b"]" * depth + b"\n"


def alias_bomb() -> bytes:
    """The 566-byte kind: nine levels of nine aliases each, ~387 million values once expanded."""
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for level in range(1, 9):
        prev, cur = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return ("version: 1\nrelease:\n  set:\n" + "".join(f"    {line}\n" for line in lines)).encode()


def bad_record(kind: str) -> Callable[[Path], None]:
    def prepare(root: Path) -> None:
        runs = RunHistory(root / ".envctl" / "runs")
        data = sample_run(RUN_ID).to_dict()
        text = json.dumps(data)
        if kind == "types":
            data["spans"][0]["start"] = "yesterday"
            data["run"]["seconds"] = [1, 2]
            text = json.dumps(data)
        else:  # NaN, as Python's json.dumps writes float("nan")
            text = text.replace(json.dumps(data["spans"][0]["end"]), "NaN", 1)
        runs.runs_dir.mkdir(parents=True, exist_ok=True)
        (runs.runs_dir / f"{RUN_ID}.json").write_text(text)

    return prepare


def corrupt_kubeconfig(root: Path) -> None:
    (root / "kubeconfig").write_text("apiVersion: v1\nclusters: [\x00\x01 not yaml {{{\n")


def linked_dockerfile(root: Path) -> None:
    (root / "svc" / "Dockerfile").unlink()
    (root / "svc" / "Dockerfile.real").write_text("FROM busybox\nCOPY src/app.py /app/\n")
    (root / "svc" / "Dockerfile").symlink_to("Dockerfile.real")


EXISTING = (
    b"version: 1\ncluster:\n  provider: existing\n  kubeconfig: kubeconfig\n"
    b"  registry: {use: 127.0.0.1:5000}\n"
    b"release: {chart: charts/demo, values: [values/ci.yaml]}\n"
)
DUPLICATE = b"version: 1\nrelease: {chart: charts/demo}\nrelease: {chart: charts/other}\n"
ROWS = [
    Row("ENV with no arguments", ("plan",), 2, "ENV", dockerfile="FROM busybox\nENV\nCOPY src /app\n"),
    Row(".dockerignore class [z-a]", ("plan",), 2, ".dockerignore", ignore="[z-a]\n"),
    Row("non-UTF-8 envctl.yaml", ("plan",), 2, "UTF-8", raw_config=b"version: 1\n# caf\xe9 \xff\xfe\n"),
    Row("20,000-deep nested list", ("plan",), 2, "deep", raw_config=nested(20_000)),
    Row("YAML alias bomb", ("plan",), 2, "alias", raw_config=alias_bomb()),
    Row("image name with a space", ("plan",), 2, "image", config={"image": '"ws/my api"'}),
    Row("image name with upper case", ("plan",), 2, "image", config={"image": "Ws/Api"}),
    Row("image name with upper case, up", ("up", "--dry-run"), 2, "image", config={"image": "Ws/Api"}),
    Row("corrupt kubeconfig for status", ("status", "--output", "json"), 2, "kubeconfig",
        raw_config=EXISTING, prepare=corrupt_kubeconfig),
    Row("kubeconfig that is a list, for status", ("status", "--output", "json"), 2, "kubeconfig",
        raw_config=EXISTING, prepare=lambda root: (root / "kubeconfig").write_text("[1, 2]\n")),
    Row("corrupt --kubeconfig for status", ("status", "demo", "--namespace", "x", "--kubeconfig", "kubeconfig"), 2,
        "kubeconfig", prepare=corrupt_kubeconfig),
    *(Row(f"run record with {kind}, {' '.join(fmt)}", ("timings", "--run", RUN_ID, *fmt), 2, RUN_ID,
          prepare=bad_record(kind))
      for kind in ("wrong types", "NaN")
      for fmt in (("--output", "table"), ("--output", "json"), ("--output", "markdown"),
                  ("--output", "chrome-trace"), ("--svg", "w.svg"))),
    Row("timings --run ../../x", ("timings", "--run", "../../x"), 2, "not a run id"),
    Row("--services ','", ("plan", "--services", ","), 2, "names no service"),
    Row("duplicate YAML keys", ("plan",), 2, "release", raw_config=DUPLICATE),
]
# Valid as BuildKit reads them (envctl/inputs/goglob.py, patternmatcher.py): a COPY or extra_inputs
# class `[!]` is the set {"!"}, a reversed range matches nothing, and `[!]` in .dockerignore is an
# RE2 class; each once raised re.error. They plan, and the empty match is BuildKit's too.
PLANS = '"name": "api"'
VALID = [
    Row("COPY glob class [!]", ("plan", "--output", "json"), 0, PLANS, dockerfile="FROM busybox\nCOPY src/[!] /app\n"),
    Row("COPY glob class [z-a]", ("plan", "--output", "json"), 0, PLANS,
        dockerfile="FROM busybox\nCOPY src/[z-a] /app\n"),
    Row("extra_inputs class [!]", ("plan", "--output", "json"), 0, PLANS, config={"extra": '["src/[!]"]'}),
    Row("extra_inputs class [z-a]", ("plan", "--output", "json"), 0, PLANS, config={"extra": '["[z-a]*"]'}),
    Row(".dockerignore class [!]", ("plan", "--output", "json"), 0, PLANS, ignore="src/[!]\n"),
    Row("nested ${B:-${C:-svc}} default", ("plan", "--output", "json"), 0, '"name": "api"',
        dockerfile="FROM busybox\nARG A=${B:-${C:-src}}\nCOPY ${A} /app\n"),
    Row("symlinked Dockerfile", ("plan", "--output", "json"), 0, '"dockerfile": "svc/Dockerfile.real"',
        prepare=linked_dockerfile),
]


def workspace(root: Path, row: Row) -> Path:
    for folder in ("svc", "src", "charts/demo/templates", "values"):
        (root / folder).mkdir(parents=True)
    (root / "svc" / "Dockerfile").write_text(row.dockerfile)
    (root / "src" / "app.py").write_text("print('app')\n")
    (root / "charts" / "demo" / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (root / "values" / "ci.yaml").write_text("a: 1\n")
    (root / ".dockerignore").write_text(row.ignore)
    if row.raw_config is not None:
        (root / "envctl.yaml").write_bytes(row.raw_config)
    else:
        fields = {"dockerfile": "svc/Dockerfile", "image": "ws/api", "extra": "[]", **row.config}
        (root / "envctl.yaml").write_text(CONFIG.format(**fields))
    if row.prepare is not None:
        row.prepare(root)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "pr"], cwd=root,
                   check=True)  # fmt: skip
    return root


@pytest.mark.parametrize("row", ROWS + VALID, ids=lambda row: row.name)
def test_each_input_that_crashed_is_one_error_line(tmp_path: Path, row: Row) -> None:
    root = workspace(tmp_path / "ws", row)
    done = run_envctl(root, *row.argv)
    assert_contract(done, (row.code,))
    shown = done.stdout if row.code == 0 else done.stderr.split("\nhint: ")[0]
    assert row.says.lower() in shown.lower(), f"{row.says!r} not in:\n{shown}"
