"""The shared test images, made from this machine's files (nothing can be pulled here).

``envctl-test/busybox:1`` (a busybox-static root filesystem, the base of every test Dockerfile) and
``envctl-test/node:1`` (busybox plus Debian's ``containerd`` and ``ctr`` and the libraries they link)
are shared by every test session on the engine, so they are never removed by a test. Instead each
carries a label with the hash of how it was made (every file's content, the links, the image
config): a session whose recipe differs (a newer busybox, another containerd, an applet added here)
rebuilds the image instead of silently reusing an outdated one.

Binaries are found on ``PATH``, and the libraries a dynamic binary needs are read from ``ldd``, so
nothing depends on where a distribution puts them.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BASE_IMAGE",
    "NODE_IMAGE",
    "RECIPE_LABEL",
    "Recipe",
    "busybox_recipe",
    "ensure_image",
    "node_recipe",
    "programs",
    "static_busybox",
]

BASE_IMAGE = "envctl-test/busybox:1"
NODE_IMAGE = "envctl-test/node:1"
RECIPE_LABEL = "dev.envctl.test-recipe"

# Applets the demo services, test Dockerfiles and build gates use (sh for RUN, httpd to serve,
# wget to wait on a test's gate, head/date/wc for scripts).
BASE_APPLETS = ("sh", "ls", "cat", "echo", "sleep", "head", "httpd", "mkdir", "cp", "rm", "true", "false", "env",
                "wc", "date", "wget")  # fmt: skip
# What the node needs besides containerd: a shell for `docker exec`, and the stand-in's set-up.
NODE_APPLETS = ("sh", "ls", "cat", "mkdir", "rm", "sleep", "true", "df", "mount", "ln")
_INSTALL_HINT = "apt-get install busybox-static containerd docker-registry (.ci/run installs them)"


@dataclass(frozen=True)
class Recipe:
    """A root filesystem and the image config to import it with."""

    dirs: tuple[str, ...]
    files: tuple[tuple[str, Path], ...]  # (path in the image, file on this machine)
    links: tuple[tuple[str, str], ...]  # (path in the image, symlink target)
    changes: tuple[str, ...]  # `docker import --change` instructions
    contents: tuple[tuple[str, bytes], ...] = ()  # (path in the image, bytes): files made here

    def digest(self) -> str:
        """A hash of everything that ends up in the image (file contents, not their mtimes)."""
        h = hashlib.sha256()
        for item in (*self.dirs, *(f"{a}->{b}" for a, b in self.links), *self.changes):
            h.update(item.encode() + b"\0")
        for arcname, data in self.contents:
            h.update(arcname.encode() + b"\0" + data)
        for arcname, source in self.files:
            h.update(arcname.encode() + b"\0")
            with source.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()[:32]

    def tar(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for folder in self.dirs:
                info = tarfile.TarInfo(folder)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
                tar.addfile(info)
            for arcname, source in self.files:
                # resolve(): a library may be a symlink on the host; store the real file under the name.
                tar.add(str(source.resolve()), arcname=arcname)
            for arcname, data in self.contents:
                info = tarfile.TarInfo(arcname)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            for arcname, target in self.links:
                link = tarfile.TarInfo(arcname)
                link.type, link.linkname = tarfile.SYMTYPE, target
                tar.addfile(link)
        return buf.getvalue()


def static_busybox() -> Path:
    """busybox from PATH, refused when it is the dynamic build (it would not run in a bare image)."""
    found = shutil.which("busybox")
    if found is None:
        msg = f"busybox is not installed: {_INSTALL_HINT}"
        raise RuntimeError(msg)
    if _shared_libraries(Path(found)):
        msg = f"{found} is a dynamically linked busybox; the test images need busybox-static: {_INSTALL_HINT}"
        raise RuntimeError(msg)
    return Path(found)


def busybox_recipe() -> Recipe:
    return Recipe(
        dirs=("bin", "tmp", "etc", "srv", "app"),
        files=(("bin/busybox", static_busybox()),),
        links=tuple((f"bin/{applet}", "busybox") for applet in BASE_APPLETS),
        changes=("ENV PATH=/bin",),
    )


def node_recipe() -> Recipe:
    """busybox + containerd + ctr (into /usr/bin) + every library they link, at its host path."""
    binaries, libraries, dirs = programs("containerd", "ctr")
    return Recipe(
        dirs=tuple(sorted({"bin", "tmp", "run", "var", "var/lib", "etc", *dirs}, key=lambda d: (d.count("/"), d))),
        files=(("bin/busybox", static_busybox()), *binaries, *libraries),
        links=tuple((f"bin/{applet}", "busybox") for applet in NODE_APPLETS),
        changes=("ENV PATH=/bin:/usr/bin",),
    )


def programs(*names: str) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]], set[str]]:
    """Each program found on PATH (placed in /usr/bin), the libraries they link (at their host
    paths) and the folders all that needs: what a from-scratch image must hold to run them."""
    binaries: list[tuple[str, Path]] = []
    for name in names:
        found = shutil.which(name)
        if found is None:
            msg = f"`{name}` is not on PATH: {_INSTALL_HINT}"
            raise RuntimeError(msg)
        binaries.append((f"usr/bin/{name}", Path(found)))
    libraries = sorted({lib for _, binary in binaries for lib in _shared_libraries(binary)})
    dirs = {"usr", "usr/bin"}
    for lib in libraries:
        parent = Path(lib).parent
        while parent != Path("/"):
            dirs.add(str(parent).lstrip("/"))
            parent = parent.parent
    return binaries, [(lib.lstrip("/"), Path(lib)) for lib in libraries], dirs


def ensure_image(docker: str, ref: str, recipe: Recipe) -> bool:
    """Make ``ref`` from ``recipe`` unless an image made from the same recipe is there already.

    Returns True when it (re)made the image. An outdated image is untagged by the import; its ID is
    then removed if no container uses it (another session may still run one: then it stays).
    """
    digest = recipe.digest()
    inspect = _docker(docker, "image", "inspect", "--format", f'{{{{.Id}}}} {{{{index .Config.Labels "{RECIPE_LABEL}"}}}}',
                      ref, check=False)  # fmt: skip
    old_id, _, label = inspect.stdout.decode().strip().partition(" ")
    if inspect.returncode == 0 and label == digest:
        return False
    changes = [arg for change in (*recipe.changes, f"LABEL {RECIPE_LABEL}={digest}") for arg in ("--change", change)]
    _docker(docker, "import", *changes, "-", ref, stdin=recipe.tar())
    if inspect.returncode == 0 and old_id:
        _docker(docker, "rmi", old_id, check=False)
    return True


def _shared_libraries(binary: Path) -> list[str]:
    """Absolute paths of the libraries ``binary`` loads (empty for a static one), from ``ldd``."""
    done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:  # "not a dynamic executable"
        return []
    paths = []
    for line in done.stdout.splitlines():
        words = line.replace("=>", " ").split()
        path = next((w for w in words if w.startswith("/")), None)
        if path:
            paths.append(path)
    return paths


def _docker(docker: str, *args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run([docker, *args], input=stdin, capture_output=True, timeout=300, check=False)
    if check and done.returncode != 0:
        msg = f"docker {' '.join(args[:3])} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-1000:]}"
        raise RuntimeError(msg)
    return done
