"""Which namespaces envctl owns on a shared cluster, and what it may do with them (pure decisions).

envctl marks a namespace it creates with labels (``app.kubernetes.io/managed-by: envctl``, the
workspace, the branch and the pull request) and annotations (``created-at``, ``last-up``,
``expires-at``, the release). Only such namespaces are ever refreshed, uninstalled or deleted:

* ``up`` into a namespace that does not exist creates it, marked; into one this workspace owns
  refreshes ``last-up``/``expires-at``; into any other (not envctl's, or another workspace's) is
  refused unless ``--adopt``, which marks it as this workspace's from then on.
* ``gc`` deletes envctl's namespaces whose ``expires-at`` has passed (or whose last ``up`` is
  older than ``--older-than``), and lists nothing else.

Timestamps are RFC 3339 UTC strings (``2026-12-01T06:00:00Z``), readable in ``kubectl describe``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from envctl.naming import label_value

__all__ = [
    "ANNOTATIONS",
    "LABELS",
    "MANAGED_BY",
    "GcDecision",
    "NamespaceInfo",
    "Owner",
    "entry_action",
    "format_time",
    "owner_labels",
    "parse_time",
    "plan_gc",
    "stamp",
]

MANAGED_BY = ("app.kubernetes.io/managed-by", "envctl")
LABELS = {"workspace": "envctl.dev/workspace", "branch": "envctl.dev/branch", "pr": "envctl.dev/pr"}
ANNOTATIONS = {
    "created_at": "envctl.dev/created-at",
    "last_up": "envctl.dev/last-up",
    "expires_at": "envctl.dev/expires-at",
    "release": "envctl.dev/release",
    "adopted_at": "envctl.dev/adopted-at",  # set by --adopt: such a namespace is never deleted by envctl
}

EntryAction = Literal["create", "refresh", "adopt"]
Standing = Literal["ours", "other-workspace", "unmanaged"]


@dataclass(frozen=True)
class Owner:
    """Who deploys: the workspace (a stable id shared by its clones and CI runs) and what it deploys."""

    workspace: str
    release: str
    branch: str | None = None
    pr: str | None = None


@dataclass(frozen=True)
class NamespaceInfo:
    """A namespace as the API returned it (only what ownership decisions read)."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    terminating: bool = False

    def standing(self, workspace: str) -> Standing:
        if self.labels.get(MANAGED_BY[0]) != MANAGED_BY[1]:
            return "unmanaged"
        return "ours" if self.labels.get(LABELS["workspace"]) == workspace else "other-workspace"


def format_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(text: str | None) -> dt.datetime | None:
    """An annotation's time, or None when absent or unreadable (a hand-edited annotation)."""
    if not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def owner_labels(owner: Owner) -> dict[str, str]:
    labels = {MANAGED_BY[0]: MANAGED_BY[1], LABELS["workspace"]: label_value(owner.workspace)}
    if owner.branch:
        labels[LABELS["branch"]] = label_value(owner.branch)
    if owner.pr:
        labels[LABELS["pr"]] = label_value(owner.pr)
    return labels


def stamp(owner: Owner, now: dt.datetime, ttl_seconds: float, *, created: bool) -> dict[str, str]:
    """The annotations an ``up`` writes: ``last-up`` and ``expires-at`` always, ``created-at`` on creation."""
    stamped = {
        ANNOTATIONS["last_up"]: format_time(now),
        ANNOTATIONS["expires_at"]: format_time(now + dt.timedelta(seconds=ttl_seconds)),
        ANNOTATIONS["release"]: owner.release,
    }
    if created:
        stamped[ANNOTATIONS["created_at"]] = format_time(now)
    return stamped


def entry_action(existing: NamespaceInfo | None, owner: Owner, *, adopt: bool) -> EntryAction:
    """What ``up`` does with the release namespace; ``PermissionError`` says why it must not."""
    if existing is None:
        return "create"
    if existing.terminating:
        msg = f"namespace {existing.name} is being deleted"
        raise PermissionError(msg)
    standing = existing.standing(label_value(owner.workspace))
    if standing == "ours":
        return "refresh"
    if adopt:
        return "adopt"
    if standing == "other-workspace":
        other = existing.labels.get(LABELS["workspace"], "?")
        msg = f"namespace {existing.name} belongs to another envctl workspace ({other})"
    else:
        msg = f"namespace {existing.name} exists and is not managed by envctl (no {MANAGED_BY[0]}={MANAGED_BY[1]})"
    raise PermissionError(msg)


@dataclass(frozen=True)
class GcDecision:
    """One envctl namespace and whether ``gc`` deletes it, with the reason in words."""

    namespace: str
    release: str | None
    delete: bool
    reason: str
    expires_at: str | None
    last_up: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "namespace": self.namespace,
            "release": self.release,
            "action": "delete" if self.delete else "keep",
            "reason": self.reason,
            "expires_at": self.expires_at,
            "last_up": self.last_up,
        }


def plan_gc(
    namespaces: list[NamespaceInfo], now: dt.datetime, *, older_than_seconds: float | None = None
) -> list[GcDecision]:
    """A decision for each envctl-managed namespace (any workspace); others are not even listed.

    Deleted: ``expires-at`` has passed, or (with ``older_than_seconds``) the last ``up`` — the
    creation when there was none — is older than that. An envctl namespace whose times cannot be
    read is kept, and says so: gc never deletes on a guess.
    """
    decisions = []
    for ns in sorted(namespaces, key=lambda n: n.name):
        if ns.labels.get(MANAGED_BY[0]) != MANAGED_BY[1]:
            continue
        notes = ns.annotations
        expires = parse_time(notes.get(ANNOTATIONS["expires_at"]))
        last_up = parse_time(notes.get(ANNOTATIONS["last_up"])) or parse_time(notes.get(ANNOTATIONS["created_at"]))
        delete, reason = False, ""
        if ns.terminating:
            reason = "already being deleted"
        elif ANNOTATIONS["adopted_at"] in notes:
            reason = "adopted, not created by envctl: never deleted"
        elif expires is not None and expires <= now:
            delete, reason = True, f"expired {format_time(expires)}"
        elif older_than_seconds is not None and last_up is not None:
            idle = (now - last_up).total_seconds()
            delete = idle > older_than_seconds
            reason = f"last up {format_time(last_up)}, " + ("older than" if delete else "within") + " --older-than"
        if not reason:
            reason = f"expires {format_time(expires)}" if expires is not None else "no readable expires-at: kept"
        decisions.append(
            GcDecision(
                namespace=ns.name,
                release=notes.get(ANNOTATIONS["release"]),
                delete=delete,
                reason=reason,
                expires_at=notes.get(ANNOTATIONS["expires_at"]),
                last_up=notes.get(ANNOTATIONS["last_up"]),
            )
        )
    return decisions
