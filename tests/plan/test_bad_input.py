"""Every bad input: a one-line error naming the problem, a hint, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plan.conftest import envctl_env, git


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


CASES = [
    pytest.param(lambda r: (r / "envctl.yaml").write_text("version: 1\nservices: [\n"), (),
                 "envctl.yaml: line 3 column 1: malformed YAML", id="malformed-yaml"),
    pytest.param(lambda r: edit(r, "envctl.yaml", "    image: mono/web", "    image: mono/web\n    colour: red"), (),
                 "services.web.colour: unknown key", id="unknown-key"),
    pytest.param(lambda r: (r / "services/web/Dockerfile").unlink(), (),
                 "service 'web': Dockerfile services/web/Dockerfile not found", id="missing-dockerfile"),
    pytest.param(lambda r: edit(r, "services/api/Dockerfile", "COPY services/api/app.py", "COPY services/api/main.go"), (),
                 "services/api/Dockerfile line 4: COPY source 'services/api/main.go' (context .): no such file or folder "
                 '(BuildKit: "/services/api/main.go" not found)', id="copy-source-missing"),
    pytest.param(lambda r: edit(r, ".dockerignore", "**/tmp", "**/tmp\nservices/api/app.py"), (),
                 "COPY source 'services/api/app.py' (context .): it is excluded by .dockerignore", id="copy-ignored"),
    pytest.param(lambda r: edit(r, ".dockerignore", "**/tmp", "**/tmp\n[Local-Only]/"), (),
                 ".dockerignore line 3: invalid pattern '[Local-Only]' (invalid character class range)",
                 id="dockerignore-invalid-class-range"),
    pytest.param(lambda r: edit(r, ".dockerignore", "**/tmp", "\\"), (),
                 ".dockerignore line 2: invalid pattern '\\\\' (syntax error in pattern)", id="dockerignore-lone-backslash"),
    pytest.param(lambda r: edit(r, ".dockerignore", "**/tmp", "!"), (),
                 '.dockerignore line 2: invalid pattern \'!\' (illegal exclusion pattern: "!")', id="dockerignore-bare-bang"),
    pytest.param(lambda _r: None, ("--services", "api,nope"),
                 "unknown service(s) nope in --services (known: api, web, worker)", id="unknown-service"),
    pytest.param(lambda _r: None, ("--base", "no-such-branch"), "--base 'no-such-branch' is not a git ref",
                 id="bad-base"),
    pytest.param(lambda _r: None, ("--output", "yaml"), "--output 'yaml' is not a plan format", id="bad-output"),
]


@pytest.mark.parametrize(("breakage", "args", "message"), CASES)
def test_plan_rejects_bad_input(monorepo: Path, run_envctl, tmp_path: Path, breakage, args, message) -> None:
    breakage(monorepo)
    before = git(monorepo, "status", "--porcelain", "--untracked-files=all")
    github = tmp_path / "github_output"
    done = run_envctl(monorepo, "plan", "--output", "github", *args, env=envctl_env(GITHUB_OUTPUT=str(github)))
    assert done.returncode == 2, done.stderr
    first, *rest = done.stderr.splitlines()
    assert first.startswith("error: ") and message in first
    assert [line.split(":")[0] for line in rest] == ["hint"]
    assert done.stdout == ""
    assert not github.exists()
    assert git(monorepo, "status", "--porcelain", "--untracked-files=all") == before  # nothing written


def test_base_outside_git_is_rejected(monorepo: Path, run_envctl, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for item in monorepo.iterdir():
        if item.name != ".git":
            (item.rename(plain / item.name))
    done = run_envctl(plain, "plan", "--base", "main")
    assert done.returncode == 2
    assert "needs a git repository" in done.stderr.splitlines()[0]


def test_no_config_is_rejected(tmp_path: Path, run_envctl) -> None:
    done = run_envctl(tmp_path, "plan")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == f"error: no envctl.yaml in {tmp_path} or its parent folders"
