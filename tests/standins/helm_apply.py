"""What the helm stand-in does to the test API for a release (only with FAKE_HELM_KUBE_URL): the objects
of the rendered manifest applied as helm 3 applies them, and the hooks run as helm runs them.

Sources (helm/helm at v3.17.3):
* pkg/action/install.go, upgrade.go, uninstall.go: install creates every object of the manifest
  (in its install order) and fails on one that exists without this release's ownership metadata;
  upgrade creates the new ones, patches the changed ones and deletes the ones the new manifest no
  longer has (unless annotated ``helm.sh/resource-policy: keep``); uninstall deletes them all.
* pkg/action/validate.go setMetadataVisitor: every object gets the label
  ``app.kubernetes.io/managed-by: Helm`` and the annotations ``meta.helm.sh/release-name`` and
  ``meta.helm.sh/release-namespace``. An object without ``metadata.namespace`` goes to the release's.
* pkg/action/hooks.go execHook: the hooks of an event by weight then name; an existing one deleted
  first (policy ``before-hook-creation``, the default), created, waited for (a Job until its
  ``Complete`` or ``Failed`` condition, pkg/kube/client.go waitForJob; anything else at once), and
  deleted afterwards under ``hook-succeeded`` (or ``hook-failed`` when it failed).

Patches are JSON merge patches from the previous manifest's object to the new one, so fields the
cluster added (status, a controller's annotations) stay, as helm's three-way patch keeps them.
"""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from typing import Any

from tests.standins.helm_release import StandinError, api, now

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass",
                  "StorageClass", "PersistentVolume", "IngressClass", "APIService"}  # fmt: skip
PLURALS = {"Ingress": "ingresses", "IngressClass": "ingressclasses", "NetworkPolicy": "networkpolicies",
           "PriorityClass": "priorityclasses", "StorageClass": "storageclasses"}  # fmt: skip


class ApplyError(Exception):
    """What helm reports when applying a release fails."""


def _path(obj: dict[str, Any], namespace: str, *, named: bool = True) -> str:
    version = obj.get("apiVersion", "v1")
    kind = obj["kind"]
    plural = PLURALS.get(kind, kind.lower() + "s")
    base = "/api/v1" if version == "v1" else f"/apis/{version}"
    scope = "" if kind in CLUSTER_SCOPED else f"/namespaces/{obj['metadata'].get('namespace') or namespace}"
    return f"{base}{scope}/{plural}" + (f"/{urllib.parse.quote(obj['metadata']['name'])}" if named else "")


def _key(obj: dict[str, Any], namespace: str) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    scope = "" if obj["kind"] in CLUSTER_SCOPED else (meta.get("namespace") or namespace)
    return (obj.get("apiVersion", ""), obj["kind"], scope, meta.get("name", ""))


def _describe(obj: dict[str, Any], namespace: str) -> str:
    """pkg/action/validate.go resourceString: `Kind "name" in namespace "ns"`."""
    scope = "" if obj["kind"] in CLUSTER_SCOPED else f' in namespace "{obj["metadata"].get("namespace") or namespace}"'
    return f'{obj["kind"]} "{obj["metadata"]["name"]}"{scope}'


def owned(obj: dict[str, Any], release: str, namespace: str) -> dict[str, Any]:
    """The object with helm's ownership metadata (setMetadataVisitor)."""
    meta = dict(obj.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), "app.kubernetes.io/managed-by": "Helm"}
    meta["annotations"] = {**(meta.get("annotations") or {}), "meta.helm.sh/release-name": release,
                           "meta.helm.sh/release-namespace": namespace}  # fmt: skip
    if obj["kind"] not in CLUSTER_SCOPED:
        meta.setdefault("namespace", namespace)
    return {**obj, "metadata": meta}


def merge_patch(old: Any, new: Any) -> Any:
    """RFC 7386: what turns ``old`` into ``new`` (a removed key is null; lists and scalars replace)."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    patch = {k: None for k in old if k not in new}
    for k, v in new.items():
        if k not in old:
            patch[k] = v
        elif old[k] != v:
            patch[k] = merge_patch(old[k], v)
    return patch


def apply(release: str, namespace: str, old: list[dict[str, Any]], new: list[dict[str, Any]], *,
          installing: bool) -> None:  # fmt: skip
    """Make the API hold ``new`` where it held ``old`` (both as rendered, ownership added here)."""
    before = {_key(o, namespace): owned(o, release, namespace) for o in old}
    for target in (owned(o, release, namespace) for o in new):
        previous = before.pop(_key(target, namespace), None)
        if previous is None:
            _create(target, release, namespace, installing=installing)
        elif previous != target:
            api("PATCH", _path(target, namespace), merge_patch(previous, target))
    for gone in reversed(list(before.values())):
        if (gone["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") != "keep":
            api("DELETE", _path(gone, namespace))


def _create(obj: dict[str, Any], release: str, namespace: str, *, installing: bool) -> None:
    try:
        api("POST", _path(obj, namespace, named=False), obj)
    except StandinError as exc:
        if "HTTP 409" not in str(exc):
            raise ApplyError(str(exc)) from exc
        live = api("GET", _path(obj, namespace)) or {}
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        if annotations.get("meta.helm.sh/release-name") != release:
            why = (f'{_describe(obj, namespace)} exists and cannot be imported into the current release: invalid '
                   f'ownership metadata; annotation validation error: missing key "meta.helm.sh/release-name": '
                   f'must be set to "{release}"')  # fmt: skip
            prefix = "rendered manifests contain a resource that already exists. Unable to continue with "
            raise ApplyError(prefix + ("install: " if installing else "update: ") + why) from exc
        api("PATCH", _path(obj, namespace), obj)


def run_hooks(event: str, hooks: list[dict[str, Any]], namespace: str, timeout: float) -> None:
    """Run the hooks of ``event`` (a hook's ``last_run`` is updated in place); raise ``ApplyError``."""
    import yaml

    chosen = sorted((h for h in hooks if event in h["events"]), key=lambda h: (h["weight"], h["name"]))
    for hook in chosen:
        policies = hook["delete_policies"] or ["before-hook-creation"]
        obj = yaml.safe_load(hook["manifest"])
        obj["metadata"].setdefault("namespace", namespace)
        if "before-hook-creation" in policies:
            _delete_and_wait(obj, namespace, timeout)
        hook["last_run"] = {"started_at": now(), "completed_at": "", "phase": "Running"}
        try:
            api("POST", _path(obj, namespace, named=False), obj)
            _wait_for(obj, namespace, timeout)
        except ApplyError:
            hook["last_run"].update(completed_at=now(), phase="Failed")
            if "hook-failed" in policies:
                api("DELETE", _path(obj, namespace))
            raise
        hook["last_run"].update(completed_at=now(), phase="Succeeded")
    for hook in reversed(chosen):
        if "hook-succeeded" in (hook["delete_policies"] or []):
            obj = yaml.safe_load(hook["manifest"])
            api("DELETE", _path(obj, namespace))


def _wait_for(obj: dict[str, Any], namespace: str, timeout: float) -> None:
    if obj["kind"] != "Job":
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for condition in ((api("GET", _path(obj, namespace)) or {}).get("status") or {}).get("conditions") or []:
            if condition.get("status") != "True":
                continue
            if condition.get("type") == "Complete":
                return
            if condition.get("type") == "Failed":
                msg = f"job {obj['metadata']['name']} failed: {condition.get('reason', '')}"
                raise ApplyError(msg)
        time.sleep(0.1)
    msg = f"timed out waiting for the condition on jobs/{obj['metadata']['name']}"
    raise ApplyError(msg)


def _delete_and_wait(obj: dict[str, Any], namespace: str, timeout: float) -> None:
    if api("GET", _path(obj, namespace)) is None:
        return
    api("DELETE", _path(obj, namespace))
    deadline = time.monotonic() + timeout
    while api("GET", _path(obj, namespace)) is not None and time.monotonic() < deadline:
        time.sleep(0.05)


def seconds(duration: str) -> float:
    """A Go duration (``300s``, ``5m``, ``1h2m3.5s``) in seconds."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)", duration))


def enabled() -> bool:
    return bool(os.environ.get("FAKE_HELM_KUBE_URL"))
