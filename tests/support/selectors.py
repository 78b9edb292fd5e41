"""Label and field selectors as the Kubernetes API server applies them, for the test API.

KMock's emulator ignores ``labelSelector`` and ``fieldSelector``; a real API server honours both
on lists and watches. ``kube_api.SelectingEmulator`` filters KMock's answers through
``Selection``, so envctl is tested against an API that behaves like the real one (envctl itself
never filters what the server already selected).

Label selectors (apimachinery ``labels.Parse``): comma-separated requirements ``key``, ``!key``,
``key=value``, ``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``. Field
selectors (``fields.ParseSelector``): ``path=value``, ``path==value``, ``path!=value`` over a dotted
path into the object (``metadata.name``, ``involvedObject.kind``); a missing field is "".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Selection", "parse_field_selector", "parse_label_selector"]

Requirement = Callable[[Mapping[str, str]], bool]

_SET = re.compile(r"^\s*([^\s!=,()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*([^\s!=,()]+)\s*(==|=|!=)\s*([^\s,()]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=,()]+)\s*$")


def _split(selector: str) -> list[str]:
    """Requirements split on the commas outside ``( … )``."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def parse_label_selector(selector: str) -> list[Requirement]:
    requirements: list[Requirement] = []
    for part in _split(selector):
        if match := _SET.match(part):
            key, operator, values = match[1], match[2], {v.strip() for v in match[3].split(",") if v.strip()}
            if operator == "in":
                requirements.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                requirements.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif match := _EQUALITY.match(part):
            key, operator, value = match[1], match[2], match[3]
            if operator == "!=":
                requirements.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                requirements.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif match := _EXISTS.match(part):
            negated, key = match[1] == "!", match[2]
            requirements.append(lambda labels, k=key, n=negated: (k in labels) != n)
        else:
            msg = f"unable to parse requirement: {part!r}"
            raise ValueError(msg)
    return requirements


def parse_field_selector(selector: str) -> list[tuple[str, str, str]]:
    """``[(dotted path, operator, value)]``; operators ``=`` and ``!=`` (``==`` reads as ``=``)."""
    terms = []
    for part in _split(selector):
        match = _EQUALITY.match(part)
        if match is None:
            msg = f"invalid field selector: {part!r}"
            raise ValueError(msg)
        terms.append((match[1], "!=" if match[2] == "!=" else "=", match[3]))
    return terms


def _field(obj: Mapping[str, object], path: str) -> str:
    node: object = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return "" if node is None else str(node)


@dataclass(frozen=True)
class Selection:
    labels: tuple[Requirement, ...] = ()
    fields: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Selection:
        return cls(
            tuple(parse_label_selector(params.get("labelSelector", ""))),
            tuple(parse_field_selector(params.get("fieldSelector", ""))),
        )

    def __bool__(self) -> bool:
        return bool(self.labels or self.fields)

    def matches(self, obj: Mapping[str, object]) -> bool:
        metadata = obj.get("metadata")
        raw = metadata.get("labels") if isinstance(metadata, Mapping) else None
        labels = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
        if not all(requirement(labels) for requirement in self.labels):
            return False
        return all((_field(obj, path) == value) == (operator == "=") for path, operator, value in self.fields)
