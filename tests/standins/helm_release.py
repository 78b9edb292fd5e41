"""The helm stand-in's releases: every revision kept in a JSON state file, encoded as helm 3 encodes a
release (``helm_table`` field tables), and mirrored into the test API as helm's storage driver keeps
it: one Secret ``sh.helm.release.v1.<name>.v<rev>`` per revision (type ``helm.sh/release.v1``, labels
owner/name/status/version, ``data.release`` = base64(gzip(release JSON))) — pkg/storage/driver/secrets.go
and util.go at helm v3.17.3.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.standins.helm_table import (
    CHART_FIELDS,
    HOOK_FIELDS,
    HOOK_RUN_FIELDS,
    INFO_FIELDS,
    METADATA_FIELDS,
    RELEASE_FIELDS,
    StructDict,
    encode,
)


class StandinError(Exception):
    """A failure the stand-in reports as helm does: ``Error: <text>``, exit 1."""


def now() -> str:
    """A time as Go's time.Time marshals it (RFC3339Nano: trailing zeros of the fraction dropped)."""
    stamp = datetime.now(UTC)
    fraction = f"{stamp.microsecond:06d}".rstrip("0")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


# --- state -----------------------------------------------------------------------------------------
def state_path() -> Path:
    path = os.environ.get("FAKE_HELM_STATE")
    if not path:
        msg = "FAKE_HELM_STATE is not set (the stand-in helm keeps its releases there)"
        raise StandinError(msg)
    return Path(path)


def load_state() -> dict[str, Any]:
    path = state_path()
    return json.loads(path.read_text()) if path.exists() else {"releases": {}, "counters": {}}


def save_state(state: dict[str, Any]) -> None:
    path = state_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    tmp.replace(path)


def key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def revisions(state: dict[str, Any], namespace: str, name: str) -> list[dict[str, Any]]:
    return state["releases"].get(key(namespace, name), [])


def pick(state: dict[str, Any], namespace: str, name: str, revision: str = "") -> dict[str, Any]:
    """The last revision, or the one numbered ``revision`` (pkg/action/status.go, get.go)."""
    revs = revisions(state, namespace, name)
    if revision and revision != "0":
        revs = [r for r in revs if str(r["version"]) == revision]
    if not revs:
        msg = "release: not found"
        raise StandinError(msg)
    return revs[-1]


# --- encoding --------------------------------------------------------------------------------------
def release_json(name: str, namespace: str, rev: dict[str, Any], *, with_chart: bool) -> StructDict:
    """The release as ``-o json`` prints it; ``with_chart=False`` for status (cmd/helm/status.go sets
    ``rel.Chart = nil``, and ``chart`` is omitempty)."""
    info = StructDict(encode(INFO_FIELDS, {
        "first_deployed": rev["first_deployed"], "last_deployed": rev["updated"], "deleted": rev.get("deleted", ""),
        "description": rev["description"], "status": rev["status"], "notes": rev.get("notes", ""),
    }))  # fmt: skip
    hooks = [StructDict(encode(HOOK_FIELDS, {**hook, "last_run": StructDict(encode(HOOK_RUN_FIELDS, hook["last_run"]))}))
             for hook in rev.get("hooks", [])]  # fmt: skip
    return StructDict(encode(RELEASE_FIELDS, {
        "name": name, "info": info, "chart": chart_json(rev) if with_chart else None, "config": rev["config"],
        "manifest": rev["manifest"], "hooks": hooks, "version": rev["version"], "namespace": namespace,
    }))  # fmt: skip


def chart_json(rev: dict[str, Any]) -> StructDict:
    chart = rev["chart"]
    templates = [StructDict(name=t["name"], data=t["data"]) for t in chart.get("templates", [])]
    return StructDict(encode(CHART_FIELDS, {
        "metadata": StructDict(encode(METADATA_FIELDS, chart["metadata"])), "lock": None, "templates": templates,
        "values": chart.get("values") or {}, "schema": None, "files": [],
    }))  # fmt: skip


def chart_record(chart_dir: str, metadata: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """What the release keeps of its chart: metadata, templates (data base64 as []byte marshals), values."""
    root = Path(chart_dir)
    templates = [{"name": str(p.relative_to(root)), "data": base64.b64encode(p.read_bytes()).decode()}
                 for p in sorted((root / "templates").rglob("*")) if p.is_file()]  # fmt: skip
    return {"metadata": metadata, "templates": templates, "values": values}


# --- the release Secrets in the test API -----------------------------------------------------------
def api(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
    import urllib.error  # here, not at the top: `helm version`/`status` start without http.client (~50 ms)
    import urllib.request

    url = os.environ["FAKE_HELM_KUBE_URL"].rstrip("/") + path
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method)
    req.add_header("Content-Type", "application/merge-patch+json" if method == "PATCH" else "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:  # a bound on a hang, not on a busy machine
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and method in ("DELETE", "GET"):
            return None
        msg = f"test API {method} {path}: HTTP {exc.code}"
        raise StandinError(msg) from exc
    return json.loads(raw) if raw else None


def store_release_secrets(name: str, namespace: str, revs: list[dict[str, Any]], *, before: int) -> None:
    """Mirror the revisions; ``before`` revisions existed already and are replaced (their status changes)."""
    if not os.environ.get("FAKE_HELM_KUBE_URL"):
        return
    path = f"/api/v1/namespaces/{namespace}/secrets"
    for version in range(1, before + 1):
        api("DELETE", f"{path}/sh.helm.release.v1.{name}.v{version}")
    for rev in revs:
        body = json.dumps(release_json(name, namespace, rev, with_chart=True))
        encoded = base64.b64encode(gzip.compress(body.encode())).decode()
        api("POST", path, {
            "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{name}.v{rev['version']}", "namespace": namespace,
                         "labels": {"owner": "helm", "name": name, "status": rev["status"],
                                    "version": str(rev["version"])}},
            "data": {"release": base64.b64encode(encoded.encode()).decode()}})  # fmt: skip
