"""The oracle of the differential tests: real BuildKit builds of a workspace, and envctl's fingerprint.

``Workspace`` is a git repository in a temp folder with one service; ``image_id()`` builds it with
BuildKit (Debian's 20.10 client, ``DOCKER_BUILDKIT=1``, ``--network none``) and returns the image ID
or the build's error; ``fingerprint()`` plans it in process. The claim under test: after any edit,
the fingerprint changes if and only if the image ID changes (BuildKit image IDs are stable across
identical rebuilds; a build that fails must be a plan that fails).
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

    def image_id(self, *, no_cache: bool = False) -> Outcome:
        tag = f"{TAG_PREFIX}:{os.getpid()}-{next(_counter)}"
        iidfile = self.root.parent / f"{tag.split(':')[1]}.iid"
        argv = [self.docker, "build", *(["--no-cache"] if no_cache else []), "--network", "none",
                "--iidfile", str(iidfile), "-t", tag,
                "--build-arg", f"BASE={self.base_image}", "-f", str(self.root / self.dockerfile),
                str(self.root / self.context)]
        env = {**os.environ, "DOCKER_BUILDKIT": "1"}
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
        if done.returncode != 0:
            return Outcome(None, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
        self.tags.append(tag)
        return Outcome(iidfile.read_text().strip())

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
        """What an image's COPY steps wrote (everything under /d*, /from-s1): path, mode and content
        hash or link target; no times, which differ between two builds of the same content."""
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
                if not member.name.startswith(("d0", "d1", "d2", "from-s1")):
                    continue
                data = tar.extractfile(member) if member.isfile() else None
                what = hashlib.sha256(data.read()).hexdigest() if data else member.linkname or "dir"
                found.add((member.name.rstrip("/"), member.mode, what))
        return frozenset(found)

    def remove_images(self) -> None:
        if self.tags:
            subprocess.run([self.docker, "rmi", "-f", *self.tags], capture_output=True, check=False)
            self.tags.clear()


def build_for(ws: Workspace, plan: Outcome) -> Outcome:
    """The image of the workspace as it is. When the plan failed but the build succeeded, the build
    is repeated without BuildKit's cache, whose answer it was: a wildcard under a missing folder
    fails (`lstat ...: no such file or directory`), yet has the cache key of the same wildcard
    under an empty folder, so after such a build it "succeeds" from the cache."""
    image = ws.image_id()
    if plan.value is None and image.value is not None:
        return ws.image_id(no_cache=True)
    return image


def stale_cache(ws: Workspace, before_image: Outcome) -> bool:
    """True when BuildKit's "unchanged" for the workspace as it is came from a stale cache entry: a
    build without the cache copies other content than the image of before. (A wildcard after a
    symlinked folder, `COPY l/* /d/`: its cache key does not follow the link, so an edit inside the
    linked folder is a cache hit that keeps the old content; built without the cache, the edit is
    there, as the fingerprint says.)"""
    fresh = ws.image_id(no_cache=True)
    if fresh.value is None or before_image.value is None:
        return False
    return ws.copied(fresh.value) != ws.copied(before_image.value)


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
