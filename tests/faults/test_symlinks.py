"""Symlink escapes, end to end: a committed link that leads out of the workspace never gets a host
file into a plan, a build, helm or an image.

Each case commits one link (as a pull request could) in a real git workspace whose neighbour folder
holds a "host secret". `envctl plan` and `envctl up --dry-run` must refuse with exit 2, one
`error:` line naming the link, and must not have read the secret into anything they print.
(Containment itself lives in envctl/inputs/ and envctl/config.py; this suite checks it from outside.)
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.conftest import assert_contract, quiet_env, run_envctl

HOST_SECRET = "host-secret-do-not-read"

CONFIG = """\
version: 1
release: {{chart: charts/demo, values: [values/ci.yaml]}}
services:
  api:
    dockerfile: {dockerfile}
    context: {context}
    image: ws/api
    extra_inputs: {extra}
"""


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=root, check=True,
                   capture_output=True, timeout=60)  # fmt: skip


def workspace(tmp_path: Path, *, dockerfile: str = "svc/Dockerfile", context: str = ".", extra: str = "[]",
              copy: str = "COPY src /app", links: dict[str, str]) -> Path:  # fmt: skip
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "shadow").write_text(HOST_SECRET)
    (host / "Dockerfile").write_text(f"FROM busybox\nCOPY . /\n# {HOST_SECRET}\n")
    root = tmp_path / "ws"
    for folder in ("svc", "src", "charts/demo/templates", "values"):
        (root / folder).mkdir(parents=True)
    (root / "svc" / "Dockerfile").write_text(f"FROM busybox\n{copy}\n")
    (root / "src" / "app.py").write_text("print('app')\n")
    (root / "charts" / "demo" / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (root / "values" / "ci.yaml").write_text("a: 1\n")
    for link, target in links.items():
        path = root / link
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            path.unlink() if not path.is_dir() or path.is_symlink() else _rmtree(path)
        path.symlink_to(target.replace("HOST", str(host)))
    (root / "envctl.yaml").write_text(CONFIG.format(dockerfile=dockerfile, context=context, extra=extra))
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "a pull request")
    return root


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)


CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("context is a link out", lambda t: workspace(t, context="ctx", links={"ctx": "HOST"}), "ctx"),
    ("folder link inside a COPY source", lambda t: workspace(t, links={"src/etc": "HOST/etc"}), "src/etc"),
    ("COPY source is a file link out", lambda t: workspace(t, copy="COPY src/shadow /app/",
                                                          links={"src/shadow": "HOST/etc/shadow"}), "src/shadow"),
    ("Dockerfile is a link out", lambda t: workspace(t, dockerfile="svc/Dockerfile.link",
                                                     links={"svc/Dockerfile.link": "HOST/Dockerfile"}), "Dockerfile"),
    ("values file is a link out", lambda t: workspace(t, links={"values/ci.yaml": "HOST/etc/shadow"}),
     "values/ci.yaml"),
    ("chart folder is a link out", lambda t: workspace(t, links={"charts/demo": "HOST"}), "charts/demo"),
    ("relative link climbing out", lambda t: workspace(t, links={"src/up": "../../host/etc"}), "src/up"),
]


@pytest.mark.parametrize(("make", "link"), [pytest.param(m, link, id=name) for name, m, link in CASES])
@pytest.mark.parametrize("verb", [("plan", "--output", "json"), ("up", "--dry-run")])
def test_a_link_out_of_the_workspace_is_refused_naming_it(tmp_path: Path, make: Callable[[Path], Path], link: str,
                                                          verb: tuple[str, ...]) -> None:  # fmt: skip
    root = make(tmp_path)
    done = run_envctl(root, *verb, env=quiet_env(PATH=f"{Path(__file__).parents[1] / 'standins'}:/usr/bin:/bin"))
    assert_contract(done, (2,))
    error = next(line for line in done.stderr.splitlines() if line.startswith("error: "))
    assert link in error, error
    assert HOST_SECRET not in done.stdout + done.stderr


def test_an_extra_input_through_a_link_out_never_reads_the_host_file(tmp_path: Path) -> None:
    """`extra_inputs: [lib/shadow]` where `lib` links out: nothing of the host is hashed (git holds
    only the link), so editing the host file changes no fingerprint."""
    root = workspace(tmp_path, extra="[lib/shadow, lib/**]", links={"lib": "HOST/etc"})
    before = run_envctl(root, "plan", "--output", "json")
    assert_contract(before, (0, 2))
    (tmp_path / "host" / "etc" / "shadow").write_text(HOST_SECRET + " changed")
    after = run_envctl(root, "plan", "--output", "json")
    assert (before.returncode, before.stdout) == (after.returncode, after.stdout)
    assert HOST_SECRET not in after.stdout + after.stderr
