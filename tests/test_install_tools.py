"""scripts/install-tools.sh: the version on PATH decides, both tools are tried, failures are named,
and its temporary folders are gone afterwards. Downloads come from a local mirror (file:// URLs)
holding release assets laid out as k3d's and helm's release pages lay them out."""

from __future__ import annotations

import hashlib
import io
import os
import platform
import subprocess
import tarfile
from pathlib import Path

import pytest

from envctl.commands.doctor import PINNED

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "install-tools.sh"
PLAT = f"{platform.system().lower()}-{'arm64' if platform.machine() in ('aarch64', 'arm64') else 'amd64'}"


def _tool(version_line: str) -> str:
    return f"#!/bin/sh\necho '{version_line}'\n"


def _k3d_script(version: str) -> str:
    return _tool(f"k3d version {version}")


def _helm_script(version: str) -> str:
    return f"#!/bin/sh\nprintf '%s' '{version}'\n"


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """Release assets of the pinned versions, with their published checksum files."""
    root = tmp_path / "mirror"
    k3d_dir = root / "k3d" / PINNED["k3d"]
    k3d_dir.mkdir(parents=True)
    k3d = _k3d_script(PINNED["k3d"]).encode()
    (k3d_dir / f"k3d-{PLAT}").write_bytes(k3d)
    (k3d_dir / "checksums.txt").write_text(f"{hashlib.sha256(k3d).hexdigest()}  k3d-{PLAT}\n")
    helm_dir = root / "helm"
    helm_dir.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = _helm_script(PINNED["helm"]).encode()
        info = tarfile.TarInfo(f"{PLAT}/helm")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    tarball = f"helm-{PINNED['helm']}-{PLAT}.tar.gz"
    (helm_dir / tarball).write_bytes(buf.getvalue())
    (helm_dir / f"{tarball}.sha256sum").write_text(f"{hashlib.sha256(buf.getvalue()).hexdigest()}  {tarball}\n")
    return root


def _run(tmp_path: Path, mirror: Path, on_path: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    tools = tmp_path / "on-path"
    tools.mkdir(exist_ok=True)
    for name, script in on_path.items():
        (tools / name).write_text(script)
        (tools / name).chmod(0o755)
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    env = {
        "PATH": f"{tools}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path),
        "TMPDIR": str(scratch),
        "PREFIX": str(tmp_path / "prefix"),
        "K3D_URL_BASE": f"file://{mirror}/k3d",
        "HELM_URL_BASE": f"file://{mirror}/helm",
    }
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip


def test_pinned_versions_on_path_are_kept(tmp_path: Path, mirror: Path) -> None:
    tools = {"k3d": _k3d_script(PINNED["k3d"]), "helm": _helm_script(PINNED["helm"])}
    done = _run(tmp_path, mirror, tools, "--check-or-install")

    assert done.returncode == 0, done.stderr
    assert f"k3d {PINNED['k3d']} (pinned) found at" in done.stdout
    assert f"helm {PINNED['helm']} (pinned) found at" in done.stdout
    assert not (tmp_path / "prefix").exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_another_version_or_a_missing_tool_gets_the_pinned_one(tmp_path: Path, mirror: Path) -> None:
    done = _run(tmp_path, mirror, {"helm": _helm_script("v3.19.0")}, "--check-or-install")

    assert done.returncode == 0, done.stderr
    assert f"k3d not found on PATH: installing {PINNED['k3d']}" in done.stdout
    assert f"helm v3.19.0 found at {tmp_path / 'on-path' / 'helm'}, envctl is tested with {PINNED['helm']}" in done.stdout
    k3d = tmp_path / "prefix" / "bin" / "k3d"
    helm = tmp_path / "prefix" / "bin" / "helm"
    assert subprocess.run([k3d], capture_output=True, text=True, check=True).stdout == f"k3d version {PINNED['k3d']}\n"
    assert subprocess.run([helm], capture_output=True, text=True, check=True).stdout == PINNED["helm"]
    assert list((tmp_path / "tmp").iterdir()) == []  # its temporary folders are gone


def test_both_failures_are_named_and_nothing_is_left_behind(tmp_path: Path, mirror: Path) -> None:
    (mirror / "k3d" / PINNED["k3d"] / "checksums.txt").write_text(f"{'0' * 64}  k3d-{PLAT}\n")  # tampered
    (mirror / "helm" / f"helm-{PINNED['helm']}-{PLAT}.tar.gz").unlink()  # no such release

    done = _run(tmp_path, mirror, {}, "--check-or-install")

    assert done.returncode == 1
    assert f"checksum mismatch for k3d {PINNED['k3d']}" in done.stderr
    assert f"download failed: file://{mirror}/helm/helm-{PINNED['helm']}-{PLAT}.tar.gz" in done.stderr
    assert "could not install: k3d helm" in done.stderr
    assert not (tmp_path / "prefix" / "bin" / "k3d").exists()
    assert list((tmp_path / "tmp").iterdir()) == []
