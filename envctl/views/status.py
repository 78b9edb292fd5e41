"""Renderers for `envctl status`: rich tables per section, and the JSON document.

JSON contract (``status_dict``, ``envctl status --output json``; version 1, keys pinned by
tests/status/test_status_view.py)::

    {"version": 1, "exit_code": int, "ok": bool, "problems": [str],
     "cluster":  {name, state (running|stopped|absent|unknown), spec (matches|differs|unknown),
                  differences: [str], nodes: [{name, role, running}], kubeconfig, note, hint},
     "release":  {name, namespace, state (installed|not-installed|unknown), revision, status,
                  last_deployed, inputs (current|changed|unknown), deployed_hash, input_hash, note, hint},
     "workloads": {state (known|unknown), note, hint,
                   items: [{kind, name, ready, failed, summary, problem}]},
     "images":   [{service, ref, state (current|stale|not-deployed|build-only|unknown), deployed,
                   local, detail}],
     "images_note": str (why the list is empty: the plan failed), "images_hint": str|null}

New keys may be added within version 1; none is removed or renamed without a version bump.
"""

from __future__ import annotations

from dataclasses import asdict

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from envctl.status import ClusterStatus, ImageStatus, ReleaseStatus, StatusReport, WorkloadsStatus

__all__ = ["STATUS_JSON_VERSION", "status_dict", "status_renderable"]

STATUS_JSON_VERSION = 1
_STYLE = {
    "running": "green", "matches": "green", "installed": "green", "current": "green", "known": "green",
    "stopped": "yellow", "differs": "yellow", "changed": "yellow", "stale": "yellow", "not-deployed": "yellow",
    "absent": "red", "not-installed": "red", "unknown": "dim", "build-only": "dim",
}  # fmt: skip


def status_dict(report: StatusReport) -> dict[str, object]:
    def section(obj: ClusterStatus | ReleaseStatus | WorkloadsStatus | ImageStatus) -> object:
        return _plain({k: v for k, v in asdict(obj).items() if k != "error_code"})  # exit_code says it

    return {
        "version": STATUS_JSON_VERSION,
        "exit_code": report.exit_code,
        "ok": report.exit_code == 0,
        "problems": report.problems(),
        "cluster": section(report.cluster),
        "release": section(report.release),
        "workloads": section(report.workloads),
        "images": [section(image) for image in report.images],
        "images_note": report.images_note,
        "images_hint": report.images_hint,
    }


def _plain(value: object) -> object:
    """Tuples (frozen dataclass fields) become lists, so the dict equals its JSON round trip."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _state(text: str) -> Text:
    return Text(text, style=_STYLE.get(text, ""))


def _why(note: str, hint: str | None, shown: set[str]) -> list[Text]:
    """A section's note and hint, or a pointer when an earlier section already said the same:
    one cause (k3d missing) is reported once, not once per section it leaves unknown."""
    cause = note.removeprefix("unknown: ")
    if cause and cause in shown:
        return [Text("unknown: the same cause as above", style="dim")]
    shown.add(cause)
    lines = [Text(note, style="dim")] if note else []
    if hint:
        lines.append(Text(f"hint: {hint}", no_wrap=True, overflow="ignore"))
    return lines


def status_renderable(report: StatusReport) -> Group:
    c, r, w = report.cluster, report.release, report.workloads
    parts: list[RenderableType] = []
    shown: set[str] = set()

    cluster = Table(title=f"cluster {c.name}", title_justify="left", show_header=False)
    cluster.add_column("field")
    cluster.add_column("value", overflow="fold")
    cluster.add_row("state", _state(c.state))
    if c.nodes:
        nodes = ", ".join(f"{n.name} ({n.role}, {'running' if n.running else 'stopped'})" for n in c.nodes)
        cluster.add_row("nodes", Text(nodes))
    if c.state in ("running", "stopped"):
        spec = _state(c.spec)
        if c.differences:
            spec.append(": " + "; ".join(c.differences), style="")
        cluster.add_row("spec", spec)
    cluster.add_row("kubeconfig", Text(c.kubeconfig or "-"))
    parts += [cluster, *_why(c.note, c.hint, shown)]

    release = Table(
        title=f"release {r.name} (namespace {r.namespace})", title_justify="left", show_header=False
    )
    release.add_column("field")
    release.add_column("value", overflow="fold")
    release.add_row("state", _state(r.state))
    if r.state == "installed":
        release.add_row("revision", Text(f"{r.revision} ({r.status})"))
        release.add_row("last deployed", Text(r.last_deployed or "unknown"))
        inputs = {"current": "current: `envctl up` would skip the deploy",
                  "changed": "changed: `envctl up` would upgrade",
                  "unknown": "unknown"}[r.inputs]  # fmt: skip
        release.add_row("inputs", Text(inputs, style=_STYLE.get(r.inputs, "")))
    parts += [release, *_why(r.note, r.hint, shown)]

    workloads = Table(title="workloads", title_justify="left")
    for column in ("workload", "ready", "state"):
        workloads.add_column(column, overflow="fold")
    for item in w.items:  # an unknown section shows only its note (no empty table)
        ready = (
            Text("yes", style="green") if item.ready else Text("no", style="red" if item.failed else "yellow")
        )
        state = item.summary + (f"; {item.problem}" if item.problem else "")
        workloads.add_row(f"{item.kind}/{item.name}", ready, Text(state))
    parts += [workloads] if w.items else [Text("workloads", style="italic")]
    parts += _why(w.note, w.hint, shown)

    images = Table(title="images", title_justify="left")
    for column in ("service", "state", "fingerprint ref", "local", "detail"):
        images.add_column(column, overflow="fold")
    for image in report.images:
        local = "-" if image.local is None else ("yes" if image.local else "no")
        detail = "unknown: the same cause as above" if image.detail.removeprefix("unknown: ") in shown else image.detail
        images.add_row(image.service, _state(image.state), image.ref, local, Text(detail))
    parts += [images] if report.images else [Text("images", style="italic")]
    parts += _why(report.images_note, report.images_hint, shown)

    problems = report.problems()
    verdict = (
        "up and current" if not problems and report.exit_code == 0 else "; ".join(problems) or "see above"
    )
    parts.append(Text(f"status: {verdict}", style="green" if report.exit_code == 0 else "yellow"))
    return Group(*parts)
