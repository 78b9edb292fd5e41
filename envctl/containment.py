"""Workspace containment: a path named in the workspace must stay in the workspace, links followed.

A pull request controls ``envctl.yaml`` and every symlink it commits. A values file, chart or
secret file that is (or passes through) a symlink to ``/etc`` or ``~/.ssh`` would hand a host
file to helm or a build; so each such path is resolved with symlinks followed and refused when
the real path leaves the workspace's real root, naming the link that leads out.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from envctl.errors import InputError

__all__ = ["resolve_inside"]


def resolve_inside(root: Path, relative: str, what: str) -> Path:
    """The real path of ``root / relative``; ``InputError`` (exit 2) when it leaves ``root``.

    The path need not exist (a dangling link is still followed as far as it goes).
    """
    if PurePosixPath(relative).is_absolute() or Path(relative).is_absolute():
        msg = f"{what} {relative!r} is an absolute path"
        raise InputError(msg, hint="write it relative to the folder of envctl.yaml, inside the workspace")
    real_root = root.resolve()
    real = (root / relative).resolve()
    if real == real_root or real.is_relative_to(real_root):
        return real
    link = _first_escaping_link(root, real_root, relative)
    if link is None:
        msg = f"{what} {relative!r} leaves the workspace (it resolves to {real})"
        hint = "keep every path inside the folder of envctl.yaml (no `..` out of it)"
    else:
        msg = f"{what} {relative!r} leaves the workspace through the symlink {link} → {real}"
        hint = "replace the symlink with the file itself, or point it inside the workspace"
    raise InputError(msg, hint=hint)


def _first_escaping_link(root: Path, real_root: Path, relative: str) -> str | None:
    """The first symlink along ``relative`` whose target lies outside the workspace, as written."""
    parts = Path(relative).parts
    for depth in range(1, len(parts) + 1):
        step = root.joinpath(*parts[:depth])
        if step.is_symlink() and not step.resolve().is_relative_to(real_root):
            return Path(*parts[:depth]).as_posix()
    return None
