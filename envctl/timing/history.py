"""The run history: one JSON file per run under ``.envctl/runs/<run-id>.json``.

File format (version 1)::

    {"version": 1,
     "run": {"run_id", "started_at" (ISO 8601 UTC), "command", "git_commit", "git_branch",
             "changed_services" [..], "ci" (bool), "host", "envctl_version", "outcome"
             (ok / failed / cancelled), "exit_code", "duration_seconds"},
     "spans": [Span.to_dict(), ...]}

Writes are atomic: the record goes to a hidden temp file in the same folder, is fsynced, then
``os.replace``d into place (and the folder fsynced), so a crash or ``kill -9`` never leaves a
half-written ``*.json`` visible. Readers look only at ``*.json`` files not starting with ``.``,
and a file that does not parse or breaks the format's types (``timing/schema.py``) is reported in
``HistoryScan.corrupt`` instead of crashing.
History is pruned to ``keep`` runs (oldest first) after each write. Run ids sort by start time.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envctl import __version__
from envctl.errors import InputError
from envctl.timing.schema import parse_record_text
from envctl.timing.spans import Span

__all__ = ["FORMAT_VERSION", "HistoryScan", "RunHistory", "RunMeta", "RunRecord", "new_run_id"]

FORMAT_VERSION = 1


def new_run_id(now: datetime | None = None) -> str:
    """``20261129T065724Z-3fa1``: sorts by start time; the suffix keeps same-second runs apart."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class RunMeta:
    run_id: str
    started_at: str
    command: str
    git_commit: str | None = None
    git_branch: str | None = None
    changed_services: tuple[str, ...] = ()
    ci: bool = False
    host: str = ""
    envctl_version: str = __version__
    outcome: str = "running"
    exit_code: int | None = None
    duration_seconds: float | None = None

    @classmethod
    def start(
        cls,
        command: str,
        *,
        environ: dict[str, str] | None = None,
        git: tuple[str | None, str | None] = (None, None),
        changed_services: tuple[str, ...] = (),
        now: datetime | None = None,
    ) -> RunMeta:
        """Metadata for a run starting now (``finish`` fills outcome, exit code and duration)."""
        env = os.environ if environ is None else environ
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        return cls(
            run_id=new_run_id(moment),
            started_at=moment.isoformat(timespec="seconds").replace("+00:00", "Z"),
            command=command,
            git_commit=git[0],
            git_branch=git[1],
            changed_services=tuple(changed_services),
            ci=env.get("CI", "").lower() in ("1", "true", "yes"),
            host=socket.gethostname(),
        )

    def finish(self, outcome: str, exit_code: int, duration_seconds: float, **changes: Any) -> RunMeta:
        return replace(
            self, outcome=outcome, exit_code=exit_code, duration_seconds=round(duration_seconds, 6), **changes
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed_services"] = list(self.changed_services)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunMeta:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["changed_services"] = tuple(known.get("changed_services") or ())
        return cls(**known)


@dataclass(frozen=True)
class RunRecord:
    meta: RunMeta
    spans: tuple[Span, ...] = ()

    @property
    def wall_seconds(self) -> float:
        """The run's wall time: its recorded duration, or the last span end if longer/absent."""
        last = max((s.end for s in self.spans), default=0.0)
        return max(self.meta.duration_seconds or 0.0, last)

    def to_dict(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "run": self.meta.to_dict(), "spans": [s.to_dict() for s in self.spans]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            msg = f"unsupported run record version {data.get('version') if isinstance(data, dict) else None!r}"
            raise ValueError(msg)
        spans = tuple(sorted((Span.from_dict(s) for s in data["spans"]), key=lambda s: (s.start, s.end)))
        return cls(RunMeta.from_dict(data["run"]), spans)


@dataclass(frozen=True)
class HistoryScan:
    records: tuple[RunRecord, ...]  # oldest first
    corrupt: tuple[Path, ...] = field(default=())


class RunHistory:
    """The runs folder of one workspace."""

    def __init__(self, runs_dir: Path, keep: int = 200) -> None:
        self.runs_dir = runs_dir
        self.keep = keep

    def write(self, record: RunRecord) -> Path:
        """Write ``record`` atomically, then prune to ``keep`` runs; returns the file written."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        final = self.runs_dir / f"{record.meta.run_id}.json"
        payload = json.dumps(record.to_dict(), indent=1).encode()
        fd, temp = tempfile.mkstemp(prefix=f".{record.meta.run_id}.", suffix=".tmp", dir=self.runs_dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            Path(temp).replace(final)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.runs_dir)
        self.prune()
        return final

    def files(self) -> list[Path]:
        """Visible run files, oldest first (run ids sort by start time)."""
        if not self.runs_dir.is_dir():
            return []
        return sorted(p for p in self.runs_dir.glob("*.json") if not p.name.startswith("."))

    def prune(self) -> list[Path]:
        files = self.files()
        doomed = files[: max(0, len(files) - self.keep)]
        for path in doomed:
            path.unlink(missing_ok=True)
        # Temp files of writers killed mid-write: harmless, but do not let them pile up.
        for stale in self.runs_dir.glob(".*.tmp"):
            if _older_than(stale, 3600):
                stale.unlink(missing_ok=True)
        return doomed

    def scan(self, last: int | None = None) -> HistoryScan:
        """The last ``last`` readable runs (oldest first) and the files that would not parse."""
        records: list[RunRecord] = []
        corrupt: list[Path] = []
        for path in reversed(self.files()):
            if last is not None and len(records) >= last:
                break
            try:
                records.append(RunRecord.from_dict(parse_record_text(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError):
                corrupt.append(path)
        return HistoryScan(tuple(reversed(records)), tuple(corrupt))

    def read(self, run_id: str) -> RunRecord:
        path = self.runs_dir / f"{run_id}.json"
        if not path.is_file():
            matches = [p for p in self.files() if p.stem.startswith(run_id)]
            if len(matches) != 1:
                msg = f"no run {run_id!r} in {self.runs_dir}" if not matches else f"run id {run_id!r} is ambiguous"
                raise InputError(msg, hint="`envctl timings --output json` lists the recorded run ids")
            path = matches[0]
        try:
            return RunRecord.from_dict(parse_record_text(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            msg = f"{path}: unreadable run record ({exc})"
            raise InputError(msg, hint="delete the file; other runs are unaffected") from exc


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return datetime.now(UTC).timestamp() - path.stat().st_mtime > seconds
    except OSError:
        return False
