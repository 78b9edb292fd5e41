#!/usr/bin/env python3
"""Import mode, one service's code changed, a big image: what ``docker save | ctr import`` costs, and
what an archive holding only the blobs the node lacks costs; not a test.

Run from the repository root: .venv/bin/python scripts/bench_import_delta.py [--big-mb 400]
[--code-mb 3] [--repeat 3] [--json FILE]

On this machine's real containerd (a node container from tests/support/containerd_node.py, Debian's
containerd, the ``ctr`` k3s nodes also carry): an image of a busybox base, a --big-mb incompressible
dependency layer and a --code-mb code layer is imported once; then, per round, the code changes
(a new top layer, everything below identical) and the new image is loaded four ways:

  full     docker save IMG | docker exec -i NODE ctr -n k8s.io images import -   (envctl today)
  delta    docker save -o FILE IMG, then FILE → filter → docker exec -i NODE ctr ... images import -,
           the filter (scripts/seedbench/delta.py) writing an OCI layout that leaves out the layers
           whose digests the node's content store holds (ctr content ls)
  ingest   ctr content ingest of the missing layer, then an import of a layout with no layer at all
  save     docker save IMG >/dev/null alone: the part no node-side change can save

and a docker-archive with the node's layers left out is offered once (containerd rejects it).
Each loaded image is checked: its tag and image-ID reference are listed, ``ctr images check``
says complete, its filesystem mounts and holds the round's marker file, and its manifest digest
equals the one a full import of the same image gives on a fresh node.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path[:0] = [str(SCRIPTS), str(SCRIPTS.parent)]

from seedbench.cleanup import prune_build_cache
from seedbench.delta import write_delta_layout

from tests.support.containerd_node import NodeHandle, start_node, stop_node
from tests.support.demo_world import ensure_base_image, remove_images

DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
MB = 1 << 20


def ctr(node: NodeHandle, *args: str, stdin: bytes | None = None, check: bool = True) -> str:
    argv = [DOCKER, "exec", *(["-i"] if stdin is not None else []), node.name, "ctr", "-a", node.socket_path,
            "-n", "k8s.io", *args]  # fmt: skip
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=600, check=False)
    if check and done.returncode != 0:
        msg = f"ctr {' '.join(args[:3])} failed: {done.stderr.decode(errors='replace')[-800:]}"
        raise RuntimeError(msg)
    return done.stdout.decode() + (done.stderr.decode() if not check else "")


def held_blobs(node: NodeHandle) -> set[str]:
    """Digests of every blob in the node's content store (layers, configs, manifests)."""
    return set(ctr(node, "content", "ls", "-q").split())


def build(context: Path, tag: str, marker: str, code_mb: float) -> None:
    code = context / "app"
    code.mkdir(exist_ok=True)
    (code / "marker").write_text(marker + "\n")
    (code / "code.bin").write_bytes(uuid.uuid4().bytes * int(code_mb * MB / 16))
    subprocess.run([DOCKER, "build", "-q", "--network", "none", "-t", tag, str(context)], check=True,
                   capture_output=True, timeout=900, env={"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin"})  # fmt: skip


def importer(node: NodeHandle) -> subprocess.Popen[bytes]:
    argv = [DOCKER, "exec", "-i", node.name, "ctr", "-a", node.socket_path, "-n", "k8s.io", "images", "import", "-"]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(load: subprocess.Popen[bytes], what: str) -> None:
    assert load.stdin is not None
    assert load.stderr is not None
    load.stdin.close()
    if load.wait():
        msg = f"{what} failed: {load.stderr.read().decode(errors='replace')[-800:]}"
        raise RuntimeError(msg)


def full_import(node: NodeHandle, ref: str) -> tuple[float, int]:
    """What envctl does today: ``docker save REF | docker exec -i NODE ctr images import -``."""
    started = time.monotonic()
    save = subprocess.Popen([DOCKER, "save", ref], stdout=subprocess.PIPE)
    load = importer(node)
    assert save.stdout is not None
    assert load.stdin is not None
    moved = 0
    while chunk := save.stdout.read(MB):
        load.stdin.write(chunk)
        moved += len(chunk)
    finish(load, f"full import of {ref}")
    if save.wait():
        msg = f"docker save {ref} failed"
        raise RuntimeError(msg)
    return time.monotonic() - started, moved


def delta_import(node: NodeHandle, ref: str, work: Path) -> tuple[float, int, float]:
    """``docker save -o`` a temp file, then an OCI layout without the node's blobs into ``ctr import``.
    Returns (seconds in all, bytes sent to the node, seconds of which were docker save)."""
    started = time.monotonic()
    archive = work / "delta.tar"
    subprocess.run([DOCKER, "save", "-o", str(archive), ref], check=True, timeout=600)
    saved = time.monotonic() - started
    held = held_blobs(node)
    load = importer(node)
    assert load.stdin is not None
    stats = write_delta_layout(archive, load.stdin, held)
    finish(load, f"delta import of {ref}")
    archive.unlink()
    return time.monotonic() - started, stats.bytes_out, saved


def ingest_import(node: NodeHandle, ref: str, work: Path) -> tuple[float, int]:
    """The layers the node lacks through ``ctr content ingest``, then a layout with no layer at all."""
    started = time.monotonic()
    archive = work / "ingest.tar"
    subprocess.run([DOCKER, "save", "-o", str(archive), ref], check=True, timeout=600)
    held = held_blobs(node)
    moved = 0
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())[0]  # type: ignore[union-attr]
        diff_ids = json.loads(tar.extractfile(manifest["Config"]).read())["rootfs"]["diff_ids"]  # type: ignore[union-attr]
        for path, diff_id in zip(manifest["Layers"], diff_ids, strict=False):
            if diff_id in held:
                continue
            member = tar.getmember(path)
            ingest = subprocess.Popen([DOCKER, "exec", "-i", node.name, "ctr", "-a", node.socket_path, "-n", "k8s.io",
                                       "content", "ingest", "--expected-size", str(member.size), "--expected-digest",
                                       diff_id, f"envctl-ingest-{diff_id[7:19]}"], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
            source = tar.extractfile(member)
            assert source is not None
            assert ingest.stdin is not None
            while chunk := source.read(MB):
                ingest.stdin.write(chunk)
            finish(ingest, f"ctr content ingest {diff_id}")
            held.add(diff_id)
            moved += member.size
    out = io.BytesIO()
    write_delta_layout(archive, out, held)
    ctr(node, "images", "import", "-", stdin=out.getvalue())
    archive.unlink()
    return time.monotonic() - started, moved + len(out.getvalue())


def partial_docker_archive(node: NodeHandle, ref: str, work: Path) -> str:
    """The docker-archive itself, minus the layers the node holds: containerd's answer."""
    archive = work / "partial.tar"
    subprocess.run([DOCKER, "save", "-o", str(archive), ref], check=True, timeout=600)
    held = held_blobs(node)
    out = io.BytesIO()
    with tarfile.open(archive) as src, tarfile.open(fileobj=out, mode="w") as dst:
        manifest = json.loads(src.extractfile("manifest.json").read())[0]  # type: ignore[union-attr]
        diff_ids = json.loads(src.extractfile(manifest["Config"]).read())["rootfs"]["diff_ids"]  # type: ignore[union-attr]
        left_out = {path for path, diff_id in zip(manifest["Layers"], diff_ids, strict=False) if diff_id in held}
        for member in src.getmembers():
            if member.name not in left_out:
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    return ctr(node, "images", "import", "-", stdin=out.getvalue(), check=False).strip()


def verify(node: NodeHandle, ref: str, marker: str) -> dict[str, object]:
    image_id = subprocess.run([DOCKER, "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
    names = set(ctr(node, "images", "ls", "-q").split())
    full_ref = f"docker.io/{ref}"
    check = next((line for line in ctr(node, "images", "check").splitlines() if line.startswith(full_ref)), "")
    mountpoint = f"/tmp/mnt-{uuid.uuid4().hex[:6]}"  # noqa: S108 - a path inside the throw-away node container
    subprocess.run([DOCKER, "exec", node.name, "mkdir", "-p", mountpoint], check=True)
    ctr(node, "images", "mount", full_ref, mountpoint)
    seen = subprocess.run([DOCKER, "exec", node.name, "cat", f"{mountpoint}/app/marker"], capture_output=True,
                          text=True, check=False).stdout.strip()  # fmt: skip
    ctr(node, "images", "unmount", mountpoint)
    target = next(line.split()[2] for line in ctr(node, "images", "ls").splitlines() if line.startswith(full_ref + " "))
    return {"tag_listed": full_ref in names, "id_listed": image_id in names, "complete": "complete" in check,
            "marker_ok": seen == marker, "manifest": target}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mb", type=int, default=400)
    parser.add_argument("--code-mb", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    prefix = f"envctl-bench-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    nodes: list[NodeHandle] = []
    try:
        base = f"{prefix}/busybox:1"
        ensure_base_image(DOCKER, base)
        context = work / "ctx"
        context.mkdir()
        (context / "Dockerfile").write_text(
            f"FROM {base}\nRUN echo {prefix} >/dev/null && head -c {args.big_mb * MB} /dev/urandom >/srv/deps.bin\n"
            "COPY app /app\n"
        )
        node = start_node(DOCKER, f"{prefix}-node", socket_path=f"/run/{prefix}/containerd.sock")
        nodes.append(node)
        build(context, f"{prefix}/app:v0", "v0", args.code_mb)
        first, first_bytes = full_import(node, f"{prefix}/app:v0")
        rows: dict[str, list[tuple[float, int]]] = {"full": [], "delta": [], "ingest": [], "save": []}
        checks: list[dict[str, object]] = []
        listing: list[float] = []
        for round_ in range(args.repeat):
            for way in ("full", "delta", "ingest", "save"):
                tag, marker = f"{prefix}/app:{way}{round_}", f"{way}-{round_}-{uuid.uuid4().hex[:6]}"
                build(context, tag, marker, args.code_mb)
                if way == "full":
                    rows[way].append(full_import(node, tag))
                elif way == "delta":
                    seconds, moved, saved = delta_import(node, tag, work)
                    rows[way].append((seconds, moved))
                    listing.append(saved)
                elif way == "ingest":
                    rows[way].append(ingest_import(node, tag, work))
                else:
                    started = time.monotonic()
                    subprocess.run([DOCKER, "save", tag], stdout=subprocess.DEVNULL, check=True, timeout=600)
                    rows[way].append((time.monotonic() - started, 0))
                    continue
                checks.append({"way": way, "tag": tag, **verify(node, tag, marker)})
        # The same images, fully imported into a fresh node: the manifest digests must match.
        fresh = start_node(DOCKER, f"{prefix}-fresh", socket_path=f"/run/{prefix}-fresh/containerd.sock")
        nodes.append(fresh)
        for check in checks:
            full_import(fresh, str(check["tag"]))
            fresh_target = next(line.split()[2] for line in ctr(fresh, "images", "ls").splitlines()
                                if line.startswith(f"docker.io/{check['tag']} "))  # fmt: skip
            check["same_manifest_as_full_import"] = fresh_target == check["manifest"]
        tag = f"{prefix}/app:partial"
        build(context, tag, "partial", args.code_mb)
        rejected = partial_docker_archive(node, tag, work)
        result = {
            "big_mb": args.big_mb, "code_mb": args.code_mb, "first_import": {"seconds": first, "bytes": first_bytes},
            "ways": {way: {"median_seconds": statistics.median(s for s, _ in v), "samples": v,
                           "median_bytes": statistics.median(b for _, b in v)} for way, v in rows.items()},
            "delta_save_seconds": listing, "checks": checks, "partial_docker_archive": rejected,
        }  # fmt: skip
        print(f"first import of the {args.big_mb} MB image: {first:.1f} s, {first_bytes / MB:.0f} MB")
        for way, v in result["ways"].items():
            print(f"{way:<8}{v['median_seconds']:7.2f} s {v['median_bytes'] / MB:9.2f} MB   samples "
                  + ", ".join(f"{s:.2f}" for s, _ in v["samples"]))  # fmt: skip
        print(f"docker save -o (in delta): {', '.join(f'{s:.2f}' for s in listing)} s")
        print("checks:", json.dumps(checks))
        print("docker-archive without the node's layers:", rejected[-300:])
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        ok = all(c["tag_listed"] and c["id_listed"] and c["complete"] and c["marker_ok"]
                 and c["same_manifest_as_full_import"] for c in checks)  # fmt: skip
        return 0 if ok else 1
    finally:
        for node in nodes:
            stop_node(DOCKER, node)
        remove_images(DOCKER, prefix)
        prune_build_cache(prefix)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    sys.exit(main())
