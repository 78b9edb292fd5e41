"""Kubernetes objects as the API sends them: JSON mappings with camelCase keys, read by path.

The waiter and `envctl status` judge what the API sent without turning it into client models
(the adapter hands the JSON on: adapters/kube_http.py). A field the server left out reads as None
(or an empty mapping or list), as a model's unset attribute did, so every rule states its own
default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "KubeObject",
    "annotations_of",
    "at",
    "condition",
    "entries",
    "labels_of",
    "mapping",
    "name",
    "number",
    "text",
]

KubeObject = Mapping[str, Any]  # one object of the API (or a part of one), e.g. a Pod or its status


def at(obj: KubeObject | None, *path: str) -> Any:
    """``obj[path[0]][path[1]]...``; None where a key is missing or a step is not a mapping."""
    value: Any = obj
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def mapping(obj: KubeObject | None, *path: str) -> KubeObject:
    """The mapping at ``path``; empty when there is none."""
    value = at(obj, *path)
    return value if isinstance(value, Mapping) else {}


def entries(obj: KubeObject | None, *path: str) -> list[KubeObject]:
    """The list of objects at ``path`` (containers, conditions, owner references); empty when none."""
    value = at(obj, *path)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def text(obj: KubeObject | None, *path: str) -> str | None:
    """The string at ``path``; None when absent (an empty string stays empty)."""
    value = at(obj, *path)
    return None if value is None else str(value)


def number(obj: KubeObject | None, *path: str) -> int | None:
    """The integer at ``path``; None when absent."""
    value = at(obj, *path)
    return None if value is None or isinstance(value, bool) else int(value)


def name(obj: KubeObject | None) -> str:
    """``metadata.name`` (empty for an object without one)."""
    return text(obj, "metadata", "name") or ""


def labels_of(obj: KubeObject | None) -> Mapping[str, str]:
    return mapping(obj, "metadata", "labels")


def annotations_of(obj: KubeObject | None) -> Mapping[str, str]:
    return mapping(obj, "metadata", "annotations")


def condition(obj: KubeObject | None, kind: str) -> KubeObject | None:
    """The ``status.conditions`` entry of type ``kind``, or None."""
    return next((c for c in entries(obj, "status", "conditions") if c.get("type") == kind), None)
