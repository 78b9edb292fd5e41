"""Namespace and release names from templates such as ``pr-{pr}`` or ``{workspace}-{branch}`` (pure).

A shared cluster gives every branch or pull request its own namespace, so ``release.namespace``
and ``release.name`` may use the placeholders ``{branch}``, ``{pr}``, ``{user}`` and
``{workspace}``. Whatever a branch is called (``feature/Ünïcode_stuff``), the result is a valid
DNS-1123 label: lower-case ``a-z0-9`` and ``-``, starting and ending with a letter or digit, at
most 63 characters (53 for a Helm release name). A name that has to be cut keeps its start and
gets ``-`` plus 8 hex digits of the SHA-256 of the whole uncut name, so two long branch names that
share a prefix still get different namespaces, and the same branch always gets the same one.

Facts (which branch, which pull request, ...) are gathered by the caller; nothing here reads
git or the environment.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DNS_LABEL",
    "NAMESPACE_MAX",
    "PLACEHOLDERS",
    "RELEASE_MAX",
    "NameFacts",
    "check_template",
    "label_value",
    "render_name",
    "safe_label",
]

NAMESPACE_MAX: Final = 63
RELEASE_MAX: Final = 53  # helm refuses longer release names (its Secrets' names add a suffix)
PLACEHOLDERS: Final = ("branch", "pr", "user", "workspace")
DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HASH_LEN: Final = 8
_NOT_LABEL_CHARS = re.compile(r"[^a-z0-9]+")
_NOT_VALUE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class NameFacts:
    """What the placeholders stand for in this run; None when unknown (e.g. no pull request)."""

    branch: str | None = None
    pr: str | None = None
    user: str | None = None
    workspace: str | None = None

    def get(self, placeholder: str) -> str | None:
        value: str | None = getattr(self, placeholder)
        return value


def _fields(template: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder or None) pairs; ValueError for a malformed or unknown placeholder."""
    try:
        parsed = [(literal, field) for literal, field, _spec, _conv in string.Formatter().parse(template)]
    except ValueError as exc:  # a lone "{" or "}"
        msg = f"{template!r}: {exc} (write placeholders as {{branch}}, {{pr}}, {{user}} or {{workspace}})"
        raise ValueError(msg) from None
    for _literal, field in parsed:
        if field is not None and field not in PLACEHOLDERS:
            known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
            msg = f"{template!r}: unknown placeholder {{{field}}} (known: {known})"
            raise ValueError(msg)
    return parsed


def check_template(template: str) -> str:
    """The template if it can ever render to a valid name; ValueError naming the rule otherwise.

    Literal text must itself be lower-case letters, digits and ``-`` (placeholders are cleaned
    when rendered, literal text is not, so ``Pr-{pr}`` is a mistake worth reporting).
    """
    parsed = _fields(template)
    literal = "".join(text for text, _field in parsed)
    if re.search(r"[^a-z0-9-]", literal):
        msg = f"{template!r}: outside placeholders only lower-case letters, digits and '-' are allowed"
        raise ValueError(msg)
    if all(field is None for _text, field in parsed) and not DNS_LABEL.match(template):
        msg = f"{template!r}: not a DNS-1123 label (lower-case letters, digits and '-', alphanumeric at both ends)"
        raise ValueError(msg)
    return template


def safe_label(text: str, max_length: int = NAMESPACE_MAX) -> str:
    """``text`` as a DNS-1123 label of at most ``max_length`` characters ('' when nothing is left).

    A valid label that fits is returned unchanged. Otherwise: lower-case, every run of other
    characters becomes one ``-``, ``-`` trimmed at both ends; if still too long, cut and suffixed
    with ``-<8 hex>`` of the SHA-256 of ``text`` (so distinct long inputs stay distinct).
    """
    if len(text) <= max_length and DNS_LABEL.match(text):
        return text
    cleaned = _NOT_LABEL_CHARS.sub("-", text.lower()).strip("-")
    if len(cleaned) <= max_length:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH_LEN]
    head = cleaned[: max_length - _HASH_LEN - 1].rstrip("-")
    return f"{head}-{digest}" if head else digest


def render_name(template: str, facts: NameFacts, *, what: str, max_length: int = NAMESPACE_MAX) -> str:
    """The template with its placeholders filled in, made a DNS-1123 label of ≤ ``max_length``.

    ``what`` names the setting in errors (``release.namespace``). Raises ValueError when a
    placeholder's fact is unknown or the result would be empty.
    """
    parts: list[str] = []
    for literal, field in _fields(template):
        parts.append(literal)
        if field is None:
            continue
        value = facts.get(field)
        if value is None or not value.strip():
            msg = f"{what} {template!r} uses {{{field}}}, but no {field} is known in this run"
            raise ValueError(msg)
        parts.append(value)
    name = safe_label("".join(parts), max_length)
    if not name:
        msg = f"{what} {template!r} renders to an empty name"
        raise ValueError(msg)
    return name


def label_value(text: str) -> str:
    """``text`` as a Kubernetes label *value* (≤ 63 of ``A-Za-z0-9._-``, alphanumeric at both ends).

    Label values keep case (a branch ``Feature/X`` stays readable as ``Feature-X``); cut ones get
    the same hash suffix as names.
    """
    cleaned = _NOT_VALUE_CHARS.sub("-", text)
    cleaned = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)
    if len(cleaned) <= NAMESPACE_MAX:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH_LEN]
    head = re.sub(r"[^A-Za-z0-9]+$", "", cleaned[: NAMESPACE_MAX - _HASH_LEN - 1])
    return f"{head}-{digest}" if head else digest
