"""The image the k3d stand-in runs its registry containers from: Debian's ``docker-registry``.

k3d runs ``docker.io/library/registry:2`` (pkg/types/defaults.go DefaultRegistryImageRepo); nothing
can be pulled here, so the image is assembled from this machine's ``/usr/bin/docker-registry``
(distribution 2.8, the same program) and the two libraries it links against, plus a config whose
listen address and storage folder come from the environment (distribution reads
``REGISTRY_HTTP_ADDR`` and ``REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY`` over the file).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

__all__ = ["REGISTRY_IMAGE", "ensure_registry_image"]

REGISTRY_IMAGE = "envctl-test/registry:2"
_FILES = ("/usr/bin/docker-registry", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2")
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
    """Make the image unless it exists; returns its name."""
    if (
        subprocess.run([docker_cli, "image", "inspect", REGISTRY_IMAGE], check=False, capture_output=True).returncode
        == 0
    ):
        return REGISTRY_IMAGE
    missing = [p for p in _FILES if not Path(p).exists()]
    if missing:
        msg = f"cannot assemble the registry image, missing {missing}: apt-get install docker-registry"
        raise RuntimeError(msg)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for folder in ("usr", "usr/bin", "lib", "lib/x86_64-linux-gnu", "lib64", "etc", "etc/docker",
                       "etc/docker/registry", "var", "var/lib", "var/lib/registry", "tmp"):  # fmt: skip
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        for path in _FILES:
            tar.add(str(Path(path).resolve()), arcname=path.lstrip("/"))
        info = tarfile.TarInfo("etc/docker/registry/config.yml")
        info.size = len(_CONFIG)
        tar.addfile(info, io.BytesIO(_CONFIG))
    done = subprocess.run(
        [docker_cli, "import", "--change", 'CMD ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]',
         "-", REGISTRY_IMAGE],
        input=buf.getvalue(), capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"docker import of the registry image failed: {done.stderr.decode()[-500:]}")
    return REGISTRY_IMAGE
