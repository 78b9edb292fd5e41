"""A process that takes one release's cluster lock and holds it until told to let go (test driver).

Usage: python lease_holder.py KUBECONFIG NAMESPACE NAME DURATION_SECONDS (wait|no-wait)
Writes one line per event on stdout: ``WAITING <message>``, ``ACQUIRED <identity> <waited seconds>``,
``TOOK-OVER <previous holder>``, ``RELEASED``; reads ``release`` on stdin. A refused lock prints
``LOCKED <message>`` and exits 9, as `envctl up --no-wait-lock` does.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from envctl.adapters.kube import connect
from envctl.adapters.kube_lease import LeaseApi
from envctl.cluster_lock import ClusterLock, Holder
from envctl.errors import LockedError


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> int:
    kubeconfig, namespace, name, duration, mode = sys.argv[1:6]
    holder = Holder.this_process("lease-holder test", {"GITHUB_SERVER_URL": "https://ci.example", "GITHUB_REPOSITORY":
                                                       "o/r", "GITHUB_RUN_ID": name})  # fmt: skip
    lock = ClusterLock(LeaseApi(connect(Path(kubeconfig))), namespace, name, holder, duration_seconds=int(duration),
                       poll_seconds=0.1, on_lost=lambda text: say(f"LOST {text}"))  # fmt: skip
    started = time.monotonic()
    try:
        lock.acquire(wait=mode == "wait", on_wait=lambda text: say(f"WAITING {text}"))
    except LockedError as exc:
        say(f"LOCKED {exc.message}")
        return 9
    say(f"ACQUIRED {holder.identity} {time.monotonic() - started:.3f}")
    if lock.took_over_from:
        say(f"TOOK-OVER {lock.took_over_from}")
    for line in sys.stdin:
        if line.strip() == "release":
            break
    lock.release()
    say("RELEASED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
