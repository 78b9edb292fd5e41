"""Docker image references, checked by the grammar Docker itself enforces (distribution's ``reference``).

``envctl.yaml`` names images (``services.*.image``, ``images``, ``cluster.image``); a name Docker
would refuse (spaces, upper case in the path, a stray ``:``) must fail when the config is loaded,
with the rule it breaks, not as a Docker API error halfway through ``envctl up``. The grammar::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path            (at most 255 characters)
    domain     := host [ ":" port ]              host: DNS components, or [IPv6]
    path       := component ( "/" component )*   component: [a-z0-9]+ joined by "." "_" "__" or "-"s
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex{32,}

As in Docker, the first part of a name is a domain only when it contains ``.`` or ``:`` or is
``localhost`` (``envctl-demo/api`` is a path on Docker Hub, ``127.0.0.1:5111/api`` a registry).
"""

from __future__ import annotations

import re

__all__ = ["check_reference", "check_repository"]

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_HOST_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_NAME_MAX = 255


def check_repository(text: str) -> str | None:
    """Why ``text`` is not an image repository (a name without tag or digest); None when it is."""
    if not text:
        return "is empty"
    if text != text.strip() or any(ch.isspace() for ch in text):
        return "contains white space"
    if len(text) > _NAME_MAX:
        return f"is longer than {_NAME_MAX} characters"
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.fullmatch(first):
            return f"registry {first!r} is not a host[:port]"
        path = rest
    else:
        path = text
    if path != path.lower() and _PATH.fullmatch(path.lower()):
        return "must be lower case (Docker refuses upper-case repository names)"
    if not _PATH.fullmatch(path):
        return (
            "is not a Docker repository name (lower-case letters, digits and separators . _ __ -, "
            "parts joined by /)"
        )
    return None


def check_reference(text: str) -> str | None:
    """Why ``text`` is not an image reference (``name[:tag][@digest]``); None when it is."""
    name, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        return f"digest {digest!r} is not algorithm:hex"
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            return f"tag {tag!r} is not valid (letters, digits, _ . -; at most 128)"
    return check_repository(name)
