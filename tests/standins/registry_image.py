"""The image the k3d stand-in runs its registry containers from: Debian's ``docker-registry``.

k3d runs ``docker.io/library/registry:2`` (pkg/types/defaults.go DefaultRegistryImageRepo); nothing
can be pulled here, so the image is assembled from the ``docker-registry`` on this machine's PATH
(distribution 2.8, the same program) and the libraries ``ldd`` lists for it, plus a config whose
listen address and storage folder come from the environment (distribution reads
``REGISTRY_HTTP_ADDR`` and ``REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY`` over the file).
"""

from __future__ import annotations

from tests.support.images import Recipe, ensure_image, programs

__all__ = ["REGISTRY_IMAGE", "ensure_registry_image"]

REGISTRY_IMAGE = "envctl-test/registry:2"
_CONFIG = b"""version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: 127.0.0.1:5000
"""


def ensure_registry_image(docker_cli: str) -> str:
    """Make the image unless one made from the same recipe exists (tests/support/images.py)."""
    binaries, libraries, dirs = programs("docker-registry")
    recipe = Recipe(
        dirs=tuple(sorted({*dirs, "etc", "etc/docker", "etc/docker/registry", "var", "var/lib", "var/lib/registry",
                           "tmp"}, key=lambda d: (d.count("/"), d))),
        files=(*binaries, *libraries),
        links=(),
        changes=('CMD ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]',),
        contents=(("etc/docker/registry/config.yml", _CONFIG),),
    )
    ensure_image(docker_cli, REGISTRY_IMAGE, recipe)
    return REGISTRY_IMAGE
