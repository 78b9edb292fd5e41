"""BuildKit caches are kept per service (issue 15 point 3) and gha is used where buildx can use it (point 5).

The exact command lines are pinned; ``run_build`` is run against a buildx stand-in at the process
boundary that exports a local cache the way BuildKit's client does (the folder's ``index.json``
keeps one manifest per tag, ``latest`` by default, moby/buildkit@v0.32.2 client/solve.go).
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envctl.adapters.buildkit import BuildRequest, build_argv, run_build
from envctl.adapters.buildkit_cache import gha_usable, scoped_spec
from envctl.adapters.docker import BuildStepFailure
from envctl.adapters.process import SubprocessRunner

GHA_ENV_V2 = {
    "ACTIONS_RESULTS_URL": "https://results-receiver.actions.githubusercontent.com/",
    "ACTIONS_RUNTIME_TOKEN": "t",
}


def _request(scope: str, **kw: object) -> BuildRequest:
    return BuildRequest(context="/ws", dockerfile="/ws/D", iidfile="/i", cache_scope=scope, **kw)  # type: ignore[arg-type]


def _cache_flags(argv: list[str]) -> list[str]:
    return [a for i, a in enumerate(argv) if argv[i - 1] in ("--cache-from", "--cache-to")]


def test_every_cache_backend_is_keyed_to_the_service() -> None:
    request = _request(
        "api",
        cache_from=("type=local,src=/c", "type=registry,ref=reg:5000/cache:ci", "type=gha", "demo/api:cache"),
        cache_to=("type=local,dest=/c,mode=max", "type=registry,ref=reg:5000/cache,mode=max",
                  "type=gha,scope=main,mode=max", "type=inline"),
    )  # fmt: skip
    argv, _ = build_argv("buildx", "docker", request, GHA_ENV_V2)
    assert _cache_flags(argv) == [
        "type=local,src=/c/api", "type=registry,ref=reg:5000/cache:ci-api", "type=gha,scope=api", "demo/api:cache",
        "type=local,dest=/c/.api.incoming,mode=max", "type=registry,ref=reg:5000/cache:api,mode=max",
        "type=gha,scope=main-api,mode=max", "type=inline",
    ]  # fmt: skip


def test_two_services_never_share_a_cache_key() -> None:
    specs = ("type=local,dest=/c,mode=max", "type=registry,ref=r/c", "type=gha", "type=s3,bucket=b")
    for spec in specs:
        assert scoped_spec(spec, "api", export=True) != scoped_spec(spec, "web", export=True)


@given(
    scope=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True),
    extra=st.dictionaries(st.sampled_from(["mode", "compression", "ignore-error", "timeout"]),
                          st.from_regex(r"[a-z0-9=,\"]{0,8}", fullmatch=True), max_size=3),
)  # fmt: skip
def test_scoping_keeps_every_other_attribute(scope: str, extra: dict[str, str]) -> None:
    import csv
    import io

    for kind, key in (("local", "dest"), ("registry", "ref"), ("gha", "scope")):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(
            [f"type={kind}", f"{key}=x", *(f"{k}={v}" for k, v in extra.items())]
        )
        spec = buf.getvalue()
        out = dict(f.partition("=")[::2] for f in next(csv.reader([scoped_spec(spec, scope, export=True)])))
        assert {k: out[k] for k in extra} == extra
        assert out["type"] == kind and scope in out[key]


def test_gha_needs_a_url_and_a_token_as_buildx_finds_them() -> None:
    assert gha_usable("type=gha", GHA_ENV_V2)  # cache service v2: only ACTIONS_RESULTS_URL is set
    assert gha_usable("type=gha", {"ACTIONS_CACHE_URL": "https://c/", "ACTIONS_RUNTIME_TOKEN": "t"})
    assert gha_usable("type=gha,url=https://c/,token=t", {})
    assert not gha_usable("type=gha", {"ACTIONS_RESULTS_URL": "https://r/"})  # no token: buildkit refuses
    assert not gha_usable("type=gha", {})
    assert gha_usable("type=local,src=/c", {})
    argv, _ = build_argv("buildx", "docker", _request("api", cache_to=("type=gha,mode=max",)), {})
    assert _cache_flags(argv) == []


STANDIN = r'''#!{python}
"""buildx stand-in: `buildx build` writes --iidfile and exports local caches as BuildKit's client
does (index.json keeps one manifest per tag; the build's manifest replaces the "latest" one)."""
import json, os, sys
args = sys.argv[1:]
assert args[:2] == ["buildx", "build"], args
iid = args[args.index("--iidfile") + 1]
context = args[-1]
service = os.path.basename(context)
if os.path.exists(os.path.join(context, "FAIL")):
    print("#5 ERROR: process did not complete successfully", file=sys.stderr)
    sys.exit(1)
for i, a in enumerate(args):
    if a == "--cache-to":
        attrs = dict(f.split("=", 1) for f in args[i + 1].split(","))
        if attrs["type"] == "local":
            dest = attrs["dest"]
            os.makedirs(os.path.join(dest, "blobs", "sha256"), exist_ok=True)
            path = os.path.join(dest, "index.json")
            index = json.load(open(path)) if os.path.exists(path) else {"manifests": []}
            keep = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] != "latest"]
            keep.append({"annotations": {"org.opencontainers.image.ref.name": "latest"}, "service": service})
            json.dump({"manifests": keep}, open(path, "w"))
open(iid, "w").write("sha256:" + "0" * 64)
'''


def _standin(tmp_path: Path) -> str:
    exe = tmp_path / "docker"
    exe.write_text(STANDIN.replace("{python}", sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe)


def _cached_services(folder: Path) -> list[str]:
    index = folder / "index.json"
    return [m["service"] for m in json.loads(index.read_text())["manifests"]] if index.exists() else []


def test_every_service_keeps_its_cache_in_one_shared_destination(tmp_path: Path) -> None:
    docker, cache, runner = _standin(tmp_path), tmp_path / "cache", SubprocessRunner()
    for service in ("api", "web", "worker"):
        (tmp_path / service).mkdir()
        request = BuildRequest(context=str(tmp_path / service), dockerfile="D", cache_scope=service,
                               cache_from=(f"type=local,src={cache}",), cache_to=(f"type=local,dest={cache},mode=max",))  # fmt: skip
        image_id, _ = run_build(runner, "buildx", docker, request, cwd=str(tmp_path), on_line=lambda _: None)
        assert image_id == "sha256:" + "0" * 64
    assert {p.name for p in cache.iterdir()} == {"api", "web", "worker"}
    assert [_cached_services(cache / s) for s in ("api", "web", "worker")] == [["api"], ["web"], ["worker"]]


def test_unscoped_shared_destination_keeps_only_the_last_service(tmp_path: Path) -> None:
    """What point 3 was about: the same stand-in, without per-service keys, loses the others."""
    docker, cache, runner = _standin(tmp_path), tmp_path / "cache", SubprocessRunner()
    for service in ("api", "web"):
        (tmp_path / service).mkdir()
        request = BuildRequest(context=str(tmp_path / service), dockerfile="D", cache_to=(f"type=local,dest={cache}",))
        run_build(runner, "buildx", docker, request, cwd=str(tmp_path), on_line=lambda _: None)
    assert _cached_services(cache) == ["web"]


def test_a_failed_build_keeps_the_previous_cache_and_leaves_no_partial_export(tmp_path: Path) -> None:
    docker, cache, runner = _standin(tmp_path), tmp_path / "cache", SubprocessRunner()
    (tmp_path / "api").mkdir()
    request = BuildRequest(context=str(tmp_path / "api"), dockerfile="D", cache_scope="api",
                           cache_to=(f"type=local,dest={cache}",))  # fmt: skip
    run_build(runner, "buildx", docker, request, cwd=str(tmp_path), on_line=lambda _: None)
    (cache / "api" / "marker").write_text("previous run")
    (tmp_path / "api" / "FAIL").write_text("")
    with pytest.raises(BuildStepFailure):
        run_build(runner, "buildx", docker, request, cwd=str(tmp_path), on_line=lambda _: None)
    assert (cache / "api" / "marker").read_text() == "previous run"
    assert sorted(p.name for p in cache.iterdir()) == ["api"]
