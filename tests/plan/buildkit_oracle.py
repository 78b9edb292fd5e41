"""The oracle of the differential tests: real BuildKit builds of a workspace, and envctl's fingerprint.

``Workspace`` is a git repository in a temp folder with one service; ``image_id()`` builds it with
BuildKit (Debian's 20.10 client, ``DOCKER_BUILDKIT=1``, ``--network none``) and returns a digest of
what its COPY/ADD steps wrote (path, mode, content or link target) or the build's error;
``fingerprint()`` plans it in process. The claim under test: after any edit, the fingerprint
changes if and only if that content changes, and a build that fails is a plan that fails.

Builds run without BuildKit's cache, and are compared by content rather than image ID (an uncached
build stamps new times into the image). With the cache, BuildKit's answer depends on what it built
before, anywhere: a wildcard under a missing folder "succeeds" once the same wildcard was built
under an empty one, and a wildcard after a linked folder keeps its key when a file inside the
linked folder changes, so a cached build serves the old content (docs/change-detection.md). A
fresh CI runner has no such cache; that is the build the fingerprint must agree with.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from envctl.adapters.process import SubprocessRunner
from envctl.config import EnvConfig
from envctl.errors import InputError
from envctl.inputs.gitstate import snapshot_worktree
from envctl.inputs.scan import scan_services
from envctl.inputs.sources import GIT_DIR

TAG_PREFIX = "envctl-test-diff"
# what `docker create` puts into every container (not the image's content)
_CONTAINER_FILES = frozenset({".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "proc", "sys", "dev"})
_counter = itertools.count()


@dataclass(frozen=True)
class Outcome:
    """A build's image ID, or None with BuildKit's error; a plan's fingerprint, or None with its error."""

    value: str | None
    error: str = ""
    carries_git: bool = False  # a fingerprint that covers the context's .git (changed by every commit)


@dataclass
class Workspace:
    root: Path
    docker: str
    base_image: str
    dockerfile: str = "Dockerfile"
    context: str = "."
    tags: list[str] = field(default_factory=list)

    def write(self, rel: str, data: bytes | str, mode: int = 0o644) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        if isinstance(data, str):
            data = data.encode()
        path.write_bytes(data)
        path.chmod(mode)

    def link(self, rel: str, target: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        os.symlink(target, path)

    def commit(self) -> None:
        def run(*a):
            return subprocess.run(["git", *a], cwd=self.root, check=True, capture_output=True)
        if not (self.root / ".git").exists():
            run("init", "-q", "-b", "main")
            run("config", "user.email", "t@example.invalid")
            run("config", "user.name", "t")
        run("add", "-A")
        run("commit", "-q", "--allow-empty", "-m", "state")

    def image_id(self) -> Outcome:
        """The digest of what the COPY steps of an uncached build wrote (module docstring)."""
        tag = f"{TAG_PREFIX}:{os.getpid()}-{next(_counter)}"
        iidfile = self.root.parent / f"{tag.split(':')[1]}.iid"
        argv = [self.docker, "build", "--no-cache", "--network", "none", "--iidfile", str(iidfile), "-t", tag,
                "--build-arg", f"BASE={self.base_image}", "-f", str(self.root / self.dockerfile),
                str(self.root / self.context)]
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
        if done.returncode != 0:
            return Outcome(None, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
        self.tags.append(tag)
        written = sorted(self.copied(iidfile.read_text().strip()))
        return Outcome("content:" + hashlib.sha256(repr(written).encode()).hexdigest())

    def config(self) -> EnvConfig:
        return EnvConfig.model_validate(yaml.safe_load(
            f"version: 1\nservices:\n  svc:\n    dockerfile: {self.dockerfile}\n    context: {self.context}\n"
            f"    image: {TAG_PREFIX}/svc\n    build_args: {{BASE: {self.base_image}}}\n"
        ))

    def fingerprint(self) -> Outcome:
        try:
            snapshot = snapshot_worktree(SubprocessRunner(), self.root)
            scan = scan_services(self.config().services, snapshot, strict=True)
        except InputError as exc:
            return Outcome(None, exc.message)
        identities = scan.inputs["svc"].files.values()
        return Outcome(scan.fingerprints["svc"], carries_git=any(i.startswith(GIT_DIR) for i in identities))

    def copied(self, image: str) -> frozenset[tuple[str, int, str]]:
        """An image's files: path, mode and content hash or link target; no times, which differ
        between two builds of the same content. What docker adds to every container is left out."""
        # by the bare ID ("sha256:<id>" reads as a repository name) and with a command (the base has none)
        made = subprocess.run([self.docker, "create", image.removeprefix("sha256:"), "true"], capture_output=True,
                              text=True, timeout=120, check=True)  # fmt: skip
        container = made.stdout.strip()
        try:
            exported = subprocess.run([self.docker, "export", container], capture_output=True, timeout=120,
                                      check=True).stdout  # fmt: skip
        finally:
            subprocess.run([self.docker, "rm", "-f", container], capture_output=True, timeout=120, check=False)
        found = set()
        with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
            for member in tar.getmembers():
                name = member.name.rstrip("/")
                if name in _CONTAINER_FILES or name.startswith(("proc/", "sys/", "dev/")):
                    continue
                data = tar.extractfile(member) if member.isfile() else None
                what = hashlib.sha256(data.read()).hexdigest() if data else member.linkname or "dir"
                found.add((name, member.mode, what))
        return frozenset(found)

    def remove_images(self) -> None:
        if self.tags:
            subprocess.run([self.docker, "rmi", "-f", *self.tags], capture_output=True, check=False)
            self.tags.clear()


def agree(before_fp: Outcome, after_fp: Outcome, before_id: Outcome, after_id: Outcome) -> str | None:
    """None when envctl and BuildKit agree about an edit, else what they disagree about."""
    for fp, image, when in ((before_fp, before_id, "before"), (after_fp, after_id, "after")):
        if (fp.value is None) != (image.value is None):
            return (
                f"{when} the edit: plan {'failed: ' + fp.error if fp.value is None else 'ok'}, "
                f"BuildKit {'failed: ' + image.error if image.value is None else 'ok'}"
            )
    if None in (before_fp.value, after_fp.value):
        return None
    fp_changed = before_fp.value != after_fp.value
    image_changed = before_id.value != after_id.value
    if fp_changed != image_changed:
        return f"fingerprint {'changed' if fp_changed else 'unchanged'}, image {'changed' if image_changed else 'unchanged'}"
    return None
