"""Processes a run left behind, found by a mark the test gave them (an environment value, a gate URL)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["marked_processes"]


def marked_processes(marks: Iterable[str]) -> list[str]:
    """``"pid: command line"`` of every live process (zombies are dead) but this one whose
    environment or command line holds one of ``marks``."""
    wanted = [mark.encode() for mark in marks]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes()
            seen = (entry / "environ").read_bytes() + cmdline
        except (OSError, IndexError):  # the process ended meanwhile
            continue
        if state != "Z" and any(mark in seen for mark in wanted):
            found.append(f"{entry.name}: {cmdline.replace(bytes(1), b' ').decode(errors='replace')}")
    return found
