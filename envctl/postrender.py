"""``python -m envctl.postrender RULES``: the post-renderer Helm runs for ``inject: rewrite`` services.

Helm 3 pipes the rendered manifests to a post-renderer executable's stdin and installs what it
prints (``--post-renderer``, arguments from ``--post-renderer-args``; docs/tools-behaviour.md,
"Helm post-renderer"). envctl passes its own interpreter with ``-m envctl.postrender`` and one
argument, the rewrite rules as JSON: every container and init-container image a rule matches gets
that service's built ref, every other byte passes through. stdout is the manifest stream here, a
data channel for Helm, not output for a person; a bad argument is one line on stderr and exit 2.
"""

from __future__ import annotations

import sys

from envctl.image_check import decode_rules, replacer
from envctl.rendered import rewrite_images

__all__ = ["main"]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("error: envctl.postrender takes one argument, the rewrite rules as JSON\n")
        return 2
    try:
        rules = decode_rules(argv[0])
    except ValueError as exc:
        sys.stderr.write(f"error: envctl.postrender: unreadable rewrite rules: {exc}\n")
        return 2
    sys.stdout.write(rewrite_images(sys.stdin.read(), replacer(rules)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
