"""A kubelet for a shared cluster that pulls from a registry: a pod runs only if its image is there.

The same stand-in as ``NodeKubelet`` (Ready pods, Succeeded job pods, workload status), asking the
question a kubelet on a real shared cluster answers instead: can this image be pulled from the
registry it names? The answer comes from the real ``docker-registry``'s catalog and tags, so an
image envctl failed to push (or a chart pointed at a local ref the registry never got) leaves the
pod waiting with ``ErrImageNeverPull``, and envctl's waiter must fail the run.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.support.kube_api import KubeApi
from tests.support.node_kubelet import NodeKubelet


class RegistryKubelet(NodeKubelet):
    """Use as a context manager around the `envctl up` runs into ``namespace``."""

    def __init__(self, api: KubeApi, namespace: str, registry: str) -> None:
        super().__init__(api, namespace, node="", docker="")
        self.registry = registry

    def _get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://{self.registry}{path}", timeout=60) as resp:
            return json.loads(resp.read())

    def node_images(self) -> set[str]:
        """Every ``registry/repository:tag`` the registry serves (what a pull could fetch)."""
        refs = set()
        try:
            for repository in self._get("/v2/_catalog").get("repositories") or []:
                for tag in self._get(f"/v2/{repository}/tags/list").get("tags") or []:
                    refs.add(f"{self.registry}/{repository}:{tag}")
        except (urllib.error.URLError, OSError):
            return set()
        return refs
