"""A k3d-like "node" for tests: a container running a real containerd image store.

Reusable by any test that needs a node to import images into (the load phase's tests, the k3d
stand-in). Nothing is pulled: the node image is assembled from files on this machine (busybox-static,
the ``containerd`` and ``ctr`` found on PATH and the libraries ``ldd`` lists for them; see
tests/support/images.py).

``--privileged`` is refused on the CI machines, so a node runs with exactly the flags from
the CI machines' set-up: ``--cap-add SYS_ADMIN`` (overlay mounts for unpacking),
seccomp and apparmor unconfined, and ``--network host``. Because every node shares the host network,
each one gets its own socket path (containerd derives abstract-socket names from it).

Usage::

    image = ensure_node_image(docker_cli)
    node = start_node(docker_cli, "envctl-test-node-a", socket_path="/run/envctl-a/containerd.sock")
    try:
        ...  # envctl.adapters.containerd.Node(container=node.name, ctr_address=node.socket_path)
    finally:
        stop_node(docker_cli, node)
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.images import NODE_IMAGE, ensure_image, node_recipe

__all__ = ["NODE_IMAGE", "NodeHandle", "ensure_node_image", "node_image_refs", "start_node", "stop_node"]


@dataclass(frozen=True)
class NodeHandle:
    """A running test node: its container name, containerd socket and labels."""

    name: str
    socket_path: str
    labels: Mapping[str, str] = field(default_factory=dict)


def ensure_node_image(docker_cli: str) -> str:
    """``envctl-test/node:1``, (re)made when its recipe changed (tests/support/images.py); returns its name."""
    ensure_image(docker_cli, NODE_IMAGE, node_recipe())
    return NODE_IMAGE


def start_node(
    docker_cli: str,
    name: str,
    *,
    socket_path: str,
    labels: Mapping[str, str] | None = None,
    timeout: float = 120.0,  # bounds a hang only: on a busy machine containerd answers late
    root_size: str | None = None,
) -> NodeHandle:
    """Start a node container running containerd on ``socket_path``; wait until ctr answers.

    ``root_size`` (e.g. "600k") puts containerd's root on a tmpfs that small: a node whose disk
    fills up during an import, for real.
    """
    image = ensure_node_image(docker_cli)
    labels = dict(labels or {})
    _run([docker_cli, "rm", "-f", name], check=False)
    state = str(Path(socket_path).parent)
    argv = [docker_cli, "run", "-d", "--name", name]
    for key, value in sorted(labels.items()):
        argv += ["--label", f"{key}={value}"]
    if root_size:
        argv += ["--tmpfs", f"/var/lib/containerd:size={root_size}"]
    argv += [
        "--cap-add", "SYS_ADMIN",
        "--security-opt", "seccomp=unconfined",
        "--security-opt", "apparmor=unconfined",
        "--network", "host",
        image,
        "containerd", "--address", socket_path, "--root", "/var/lib/containerd", "--state", state,
    ]  # fmt: skip
    _run(argv)
    node = NodeHandle(name=name, socket_path=socket_path, labels=labels)
    deadline = time.monotonic() + timeout
    while True:
        probe = _run([docker_cli, "exec", name, "ctr", "-a", socket_path, "version"], check=False)
        if probe.returncode == 0:
            return node
        if time.monotonic() > deadline:
            logs = _run([docker_cli, "logs", "--tail", "20", name], check=False)
            stop_node(docker_cli, node)
            msg = f"containerd in {name} did not answer within {timeout}s: {logs.stderr.decode()[-2000:]}"
            raise RuntimeError(msg)
        time.sleep(0.2)


def stop_node(docker_cli: str, node: NodeHandle | str) -> None:
    """Remove the node container (and with it everything imported into it)."""
    name = node.name if isinstance(node, NodeHandle) else node
    _run([docker_cli, "rm", "-f", "-v", name], check=False)


def node_image_refs(docker_cli: str, node: NodeHandle) -> set[str]:
    """Every image reference in the node's ``k8s.io`` namespace (tags and ``sha256:`` IDs)."""
    out = _run(
        [docker_cli, "exec", node.name, "ctr", "-a", node.socket_path, "-n", "k8s.io", "images", "ls", "-q"]
    )
    return {line.strip() for line in out.stdout.decode().splitlines() if line.strip()}


def _run(
    argv: list[str], *, stdin: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=120, check=False)
    if check and done.returncode != 0:
        msg = f"{argv[:4]} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-1000:]}"
        raise RuntimeError(msg)
    return done
