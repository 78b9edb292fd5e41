"""Who and what a run is for: the facts behind ``{branch}``, ``{pr}``, ``{user}``, ``{workspace}``.

Facts come from the CI environment first (a pull-request checkout is a detached HEAD, so git alone
cannot name its branch), then from git:

* ``branch``: ``$GITHUB_HEAD_REF`` (the PR's source branch), else ``$GITHUB_REF_NAME`` for a branch
  push, else the checked-out branch.
* ``pr``: the number in ``$GITHUB_REF`` = ``refs/pull/<n>/merge``.
* ``user``: ``$GITHUB_ACTOR``, else ``$USER``/``$LOGNAME``.
* ``workspace``: the repository, ``owner/name`` from the ``origin`` remote (the same for every
  clone and CI run of it), else the workspace folder's name. It is also the ownership label that
  lets a namespace be refreshed only by the workspace that created it.

Pure: the caller passes the environment and what git said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from envctl.config import ReleaseSpec
from envctl.errors import ConfigError
from envctl.naming import NAMESPACE_MAX, RELEASE_MAX, NameFacts, render_name

__all__ = ["ReleaseTarget", "name_facts", "resolve_release", "workspace_id"]

_PR_REF = re.compile(r"^refs/pull/(\d+)/")
# scheme://[user@]host[:port]/path  or  user@host:path (scp-like)
_REMOTE = re.compile(r"^(?:[a-z+]+://(?:[^@/]+@)?[^/]+/|[^@/:]+@[^:/]+:)(?P<path>.+?)(?:\.git)?/?$")


def workspace_id(remote_url: str | None, folder_name: str) -> str:
    """``owner/name`` of the origin remote (any URL form), else the folder's name."""
    if remote_url:
        match = _REMOTE.match(remote_url.strip())
        if match:
            return match["path"]
    return folder_name


def name_facts(environ: dict[str, str], git_branch: str | None, workspace: str) -> NameFacts:
    ref = environ.get("GITHUB_REF", "")
    pr = _PR_REF.match(ref)
    branch = environ.get("GITHUB_HEAD_REF") or (
        environ.get("GITHUB_REF_NAME") if ref.startswith("refs/heads/") else None
    )
    return NameFacts(
        branch=branch or git_branch,
        pr=pr[1] if pr else None,
        user=environ.get("GITHUB_ACTOR") or environ.get("USER") or environ.get("LOGNAME"),
        workspace=workspace,
    )


@dataclass(frozen=True)
class ReleaseTarget:
    """The release's rendered name and namespace for this run."""

    name: str
    namespace: str
    from_template: bool  # a placeholder was filled in (so the namespace is this run's own)


def resolve_release(release: ReleaseSpec, facts: NameFacts, *, namespace: str | None = None) -> ReleaseTarget:
    """Render ``release.name`` and ``release.namespace`` (``namespace`` = ``--namespace``, which wins)."""
    try:
        name = render_name(release.name, facts, what="release.name", max_length=RELEASE_MAX)
        chosen = namespace if namespace is not None else release.namespace
        rendered = render_name(chosen, facts, what="--namespace" if namespace else "release.namespace")
    except ValueError as exc:
        raise ConfigError(
            str(exc), hint="pass --namespace NAME, or run where that fact is known (e.g. a pull request)"
        ) from None
    if namespace is not None and rendered != namespace and "{" not in namespace:
        msg = f"--namespace {namespace!r} is not a DNS-1123 label of at most {NAMESPACE_MAX} characters"
        raise ConfigError(msg, hint=f"use lower-case letters, digits and '-', e.g. {rendered}")
    return ReleaseTarget(name, rendered, from_template="{" in release.name + (namespace or release.namespace))
