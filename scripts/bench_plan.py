#!/usr/bin/env python3
"""Benchmark `envctl plan` on a synthetic monorepo (24 services, ~20,000 files). Not a test.

Times the whole process (``envctl plan --output json`` as a subprocess: interpreter start-up and
imports included), three ways:
* cold: the first run after the repository is generated, with an empty bytecode cache
  (PYTHONPYCACHEPREFIX pointing at a new folder, so every module is compiled again) and, with
  --drop-caches (root only), the kernel page cache dropped; git's index stat cache is also fresh;
* warm: the median of N runs after that (the workspace has a `.envctl/` as after any `envctl up`,
  so the plan's scan is kept in .envctl/cache/ and reused while nothing changes);
* one changed file: a shared-library file edited in the working tree, ``--base HEAD``, median of N.
Target: warm <= 0.5 s. Usage: scripts/bench_plan.py [--runs N] [--keep DIR] [--drop-caches]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVICES = 24
FILES_PER_SERVICE = 640  # + the shared library and docs -> ~20,000 files
LIB_FILES = 2000
DOC_FILES = 2400
TARGET_WARM_SECONDS = 0.5  # a warm `envctl plan` of this workspace


def envctl_path() -> str:
    candidate = Path(sys.executable).with_name("envctl")
    return str(candidate) if candidate.exists() else (shutil.which("envctl") or "envctl")


def generate(root: Path) -> int:
    count = 0

    def write(rel: str, text: str) -> None:
        nonlocal count
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        count += 1

    for i in range(LIB_FILES):
        write(f"libs/common/pkg{i % 20}/mod{i}.py", f"VALUE_{i} = {i}\n")
    for i in range(DOC_FILES):
        write(f"docs/section{i % 30}/page{i}.md", f"# page {i}\n")
    services = []
    for s in range(SERVICES):
        name = f"svc{s:02d}"
        sibling = f"svc{(s + 1) % SERVICES:02d}"
        for i in range(FILES_PER_SERVICE):
            kind = ("src", "static", "tests", "notes")[i % 4]
            ext = {"src": "py", "static": "html", "tests": "py", "notes": "md"}[kind]
            write(f"services/{name}/{kind}/d{i % 8}/f{i}.{ext}", f"# {name} {kind} {i}\n")
        write(f"services/{name}/app.cfg", "debug = false\n")
        sibling_copy = f"COPY services/{sibling}/static /srv/{sibling}\n" if s % 3 == 0 else ""
        write(
            f"services/{name}/Dockerfile",
            "ARG BASE_IMAGE=busybox:1.36\nFROM ${BASE_IMAGE} AS build\n"
            f"COPY services/{name}/src /build/src\n"
            "FROM ${BASE_IMAGE}\n"
            "COPY libs/common /app/common\n"
            f"COPY --from=build /build/src /app/src\n"
            f"COPY services/{name}/static /srv\n"
            f"COPY services/{name}/*.cfg /etc/{name}/\n" + sibling_copy,
        )
        services.append(
            f"  {name}:\n    dockerfile: services/{name}/Dockerfile\n    image: bench/{name}\n"
        )
    write(".dockerignore", "**/*.md\n**/tests\n!docs/section0/page0.md\n")
    write("envctl.yaml", "version: 1\nservices:\n" + "".join(services))
    write(".gitignore", ".envctl/\n")
    # A workspace brought up before has its state folder: the plan keeps its scan there
    # (.envctl/cache/, written only into an existing .envctl/).
    (root / ".envctl").mkdir()
    return count


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def time_plan(root: Path, *args: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `envctl plan` process, its git/docker children included.

    CPU time is reported because the machine may be shared: wall time then includes waiting for
    a core, CPU time does not (on an idle machine wall time is close to it, or below it, since
    git and docker run concurrently)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([envctl_path(), "plan", "--output", "json", *args], cwd=root, env=env,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"envctl plan failed ({done.returncode}): {done.stderr.strip()}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_pair(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def drop_page_cache() -> bool:
    try:
        subprocess.run(["sync"], check=False)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="generate the repository here and keep it")
    parser.add_argument("--drop-caches", action="store_true",
                        help="also drop the kernel page cache before the cold run (root; slows the whole machine)")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="envctl-bench-plan-"))
    root = options.keep or workdir / "mono"
    root.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        files = generate(root)
        git(root, "init", "-q", "-b", "main")
        git(root, "-c", "user.email=b@example.invalid", "-c", "user.name=bench", "add", "-A")
        git(root, "-c", "user.email=b@example.invalid", "-c", "user.name=bench", "commit", "-q", "-m", "bench")
        print(f"generated {files} files, {SERVICES} services in {time.perf_counter() - started:.1f} s: {root}")

        env = dict(os.environ)
        cold_env = {**env, "PYTHONPYCACHEPREFIX": str(workdir / "pycache")}
        dropped = drop_page_cache() if options.drop_caches else False
        cold = time_plan(root, env=cold_env)
        warm = [time_plan(root, env=env) for _ in range(options.runs)]
        base_warm = [time_plan(root, "--base", "HEAD", env=env) for _ in range(options.runs)]
        edited = root / "libs/common/pkg3/mod3.py"
        edited.write_text(edited.read_text() + "# edited\n")
        changed = [time_plan(root, "--base", "HEAD", env=env) for _ in range(options.runs)]

        rows = [
            ("cold (first run, no bytecode cache" + (", page cache dropped)" if dropped else ")"), cold),
            (f"warm (median of {options.runs})", median_pair(warm)),
            (f"warm --base HEAD (median of {options.runs})", median_pair(base_warm)),
            (f"one changed file, --base HEAD (median of {options.runs})", median_pair(changed)),
        ]
        width = max(len(label) for label, _ in rows)
        print(f"{'envctl plan --output json':<{width}}  wall s   CPU s")
        for label, (seconds, cpu) in rows:
            print(f"{label:<{width}}  {seconds:6.3f}  {cpu:6.3f}")
        load = os.getloadavg()[0]
        print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores")
        wall = median_pair(warm)[0]
        verdict = "met" if wall <= TARGET_WARM_SECONDS else "MISSED"
        print(f"target warm <= {TARGET_WARM_SECONDS} s: {verdict} (wall {wall:.3f} s)")
        return 0
    finally:
        if options.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
