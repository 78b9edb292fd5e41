"""envctl: ephemeral k3d environments for monorepos, rebuilt and timed by what changed."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
