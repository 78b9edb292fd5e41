"""The run history: atomic writes (even under kill -9), pruning, corrupt files skipped, metadata."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from envctl.adapters.git import Git
from envctl.adapters.process import SubprocessRunner
from envctl.errors import InputError
from envctl.timing.history import RunHistory, RunMeta, RunRecord
from envctl.timing.spans import Span


def record(run_id: str, seconds: float = 1.0) -> RunRecord:
    meta = RunMeta(run_id=run_id, started_at="2026-11-29T07:00:00Z", command="up", outcome="ok", exit_code=0, duration_seconds=seconds)
    return RunRecord(meta, (Span("build:api", "build", 0.0, seconds, "ok", "api", {"cache_hit": True}),))


def test_a_record_round_trips_and_history_is_pruned_to_keep(tmp_path: Path):
    history = RunHistory(tmp_path / "runs", keep=3)
    for index in range(5):
        history.write(record(f"20261129T07000{index}Z-aaaa", seconds=index + 1.0))
    assert [p.stem for p in history.files()] == [f"20261129T07000{i}Z-aaaa" for i in (2, 3, 4)]
    scan = history.scan()
    assert [r.meta.duration_seconds for r in scan.records] == [3.0, 4.0, 5.0]  # oldest first
    assert scan.records[-1] == record("20261129T070004Z-aaaa", 5.0)
    assert [r.meta.run_id for r in history.scan(last=2).records] == ["20261129T070003Z-aaaa", "20261129T070004Z-aaaa"]
    assert history.read("20261129T070003").meta.run_id == "20261129T070003Z-aaaa"  # a unique prefix is enough
    with pytest.raises(InputError, match="no run 'nope'"):
        history.read("nope")


def test_corrupt_and_temp_files_are_skipped_not_fatal(tmp_path: Path):
    history = RunHistory(tmp_path / "runs")
    history.write(record("20261129T070000Z-aaaa"))
    (tmp_path / "runs" / "20261129T070001Z-bbbb.json").write_text('{"version": 1, "run": {')
    (tmp_path / "runs" / "20261129T070002Z-cccc.json").write_text('{"version": 99, "run": {}, "spans": []}')
    (tmp_path / "runs" / ".20261129T070003Z-dddd.x.tmp").write_text("{half")
    scan = history.scan()
    assert [r.meta.run_id for r in scan.records] == ["20261129T070000Z-aaaa"]
    assert sorted(p.name for p in scan.corrupt) == ["20261129T070001Z-bbbb.json", "20261129T070002Z-cccc.json"]
    with pytest.raises(InputError, match="unreadable run record"):
        history.read("20261129T070001Z-bbbb")


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from envctl.timing.history import RunHistory, RunMeta, RunRecord
    from envctl.timing.spans import Span
    history = RunHistory(Path(sys.argv[1]), keep=1000)
    spans = tuple(Span(f"s{i}", "build", i, i + 1, "ok", "svc", {"pad": "x" * 200}) for i in range(5000))
    n = 0
    while True:
        history.write(RunRecord(RunMeta(run_id=f"20261129T07000{sys.argv[2]}Z-{n:06d}", started_at="t", command="up"), spans))
        n += 1
        print(f"wrote {n}", flush=True)
    """
)


def test_kill_9_during_writes_never_leaves_a_half_file_visible(tmp_path: Path):
    runs = tmp_path / "runs"
    for writer, writes in enumerate((1, 1, 2)):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(runs), str(writer)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        while proc.stdout.readline() != f"wrote {writes}\n":  # then it is writing the next one
            assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    history = RunHistory(runs)
    scan = history.scan()
    assert scan.corrupt == ()
    assert len(scan.records) >= 1 + 1 + 2 and all(len(r.spans) == 5000 for r in scan.records)
    for path in history.files():  # every visible file is complete JSON
        json.loads(path.read_text())


def test_run_metadata_names_the_run_the_commit_and_ci(tmp_path: Path):
    runner = SubprocessRunner()
    assert Git(runner, tmp_path).head() == (None, None)  # not a repository: no metadata, no crash
    env = {"PATH": "/usr/bin:/bin", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
    for argv in (["git", "init", "-q", "-b", "feature"], ["git", "commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(argv, cwd=tmp_path, env=env, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    git = Git(runner, tmp_path).head()  # what `up` records (execute.py)
    assert git == (head, "feature")
    meta = RunMeta.start("up --changed-only", environ={"CI": "true"}, git=git, changed_services=("api",),
                         now=datetime(2026, 11, 29, 7, 1, 2, tzinfo=UTC))
    assert meta.run_id.startswith("20261129T070102Z-") and meta.started_at == "2026-11-29T07:01:02Z"
    assert (meta.ci, meta.git_branch, meta.changed_services, meta.outcome) == (True, "feature", ("api",), "running")
    done = meta.finish("ok", 0, 12.3456789)
    assert (done.outcome, done.exit_code, done.duration_seconds) == ("ok", 0, 12.345679)
    assert RunMeta.from_dict(json.loads(json.dumps(done.to_dict()))) == done
