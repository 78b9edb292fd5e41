"""Images inside k3d nodes: containerd's ``k8s.io`` namespace, reached with ``docker exec … ctr``.

k3s's ``ctr`` defaults to its own socket; test nodes run containerd on a custom socket per node,
so the address is configurable per node (``Node.ctr_address``). A node's image IDs are the
``sha256:<config digest>`` references the CRI plugin keeps next to each tag; they equal
``docker image inspect -f {{.Id}}``, so "does the node have this image" is a lookup by ID, not a
kubelet node-status list (capped at 50 images).

``ctr images import`` creates only the tag. The ``sha256:<config digest>`` name is created
afterwards by the CRI plugin's event handler reacting to the import's ImageCreate event
(containerd v1.6.20 / v1.7 pkg/cri/server/events.go → image_pull.go ``updateImage``), so an
immediate listing could in principle miss it: ``wait_listed`` re-lists, for a bounded time, until
both names are there (docs/tools.md, "containerd").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_delay, wait_fixed

from envctl.adapters.process import SubprocessRunner

__all__ = ["ContainerdNodes", "Node", "NodeImages", "normalize_ref"]

_ID = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Node:
    """A node container (``k3d-<cluster>-server-0``) and its containerd socket (``None``: ctr's default)."""

    container: str
    ctr_address: str | None = None


@dataclass(frozen=True)
class NodeImages:
    refs: frozenset[str]  # normalised tags, e.g. docker.io/envctl-demo/api:fp-…
    ids: frozenset[str]  # image IDs (config digests)


def normalize_ref(ref: str) -> str:
    """The fully qualified name containerd stores: ``api:1`` → ``docker.io/library/api:1``."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return ref
    if not rest:
        return f"docker.io/library/{ref}"
    return f"docker.io/{ref}"


class ContainerdNodes:
    """The ctr commands envctl runs in node containers; argv is built only here."""

    def __init__(
        self, runner: SubprocessRunner, docker_cli: str = "docker", *, import_timeout: float | None = None
    ) -> None:
        self._runner = runner
        self._docker = docker_cli
        self._import_timeout = import_timeout  # timeouts.load: one `docker save | ctr import`

    def ctr(self, node: Node, *args: str, stdin: bool = False) -> list[str]:
        argv = [self._docker, "exec"]
        if stdin:
            argv.append("-i")
        argv += [node.container, "ctr"]
        if node.ctr_address:
            argv += ["-a", node.ctr_address]
        return [*argv, "-n", "k8s.io", *args]

    def images(self, node: Node, *, timeout: float = 60) -> NodeImages:
        out = self._runner.run(self.ctr(node, "images", "ls", "-q"), timeout=timeout).stdout
        names = {line.strip() for line in out.splitlines() if line.strip()}
        return NodeImages(
            refs=frozenset(n for n in names if not _ID.match(n)),
            ids=frozenset(n for n in names if _ID.match(n)),
        )

    def wait_listed(
        self,
        node: Node,
        ref: str,
        image_id: str,
        *,
        timeout: float = 10.0,
        interval: float = 0.1,
        on_wait: Callable[[], None] | None = None,
    ) -> NodeImages:
        """List the node until it names both ``ref`` and ``image_id`` (or ``timeout`` passes);
        returns the last listing. ``on_wait`` is called before each re-list."""

        def missing(images: NodeImages) -> bool:
            return image_id not in images.ids or normalize_ref(ref) not in images.refs

        def waiting(_: RetryCallState) -> None:
            if on_wait is not None:
                on_wait()

        retrying = Retrying(
            stop=stop_after_delay(timeout),
            wait=wait_fixed(interval),
            retry=retry_if_result(missing),
            before_sleep=waiting,
            retry_error_callback=lambda state: (
                state.outcome.result() if state.outcome else NodeImages(frozenset(), frozenset())
            ),
            reraise=True,
        )
        return retrying(self.images, node)

    def import_image(self, node: Node, ref: str) -> int:
        """Stream ``docker save ref`` (named, so the tag survives) into the node; returns bytes moved.

        Both exit codes are checked (``SubprocessRunner.pipe``): a failed save or import raises; the
        pipe is bounded by the adapter's import timeout (``timeouts.load``).
        """
        producer = [self._docker, "save", ref]
        consumer = self.ctr(node, "images", "import", "-", stdin=True)
        _, _, moved = self._runner.pipe(producer, consumer, timeout=self._import_timeout)
        return moved

    def tag(self, node: Node, image_id: str, ref: str, *, timeout: float = 60) -> None:
        """Give an image the node already holds (by ID) the tag it lacks; nothing is transferred."""
        self._runner.run(self.ctr(node, "images", "tag", "--force", image_id, normalize_ref(ref)), timeout=timeout)
