"""Every k3d command line envctl emits parses under k3d v5.8.3's table (tests/standins/k3d_table.py),
and the table rejects what k3d rejects.

The adapter runs against a recording ``k3d`` at the process boundary (it prints what k3d prints for
an empty machine), so the command lines checked are the ones envctl really sends. ``cluster create``
is also checked against everything k3d validates before touching Docker (the stand-in's
``plan_create``), over generated cluster specs.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import stat
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envctl.adapters.k3d import K3d, failure_message
from envctl.adapters.process import SubprocessRunner
from envctl.config import ClusterSpec, RegistrySpec
from tests.standins import k3d_table as table

STANDIN = Path(__file__).resolve().parents[1] / "standins" / "k3d"


def _standin_module() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("k3d_standin", str(STANDIN))
    spec = importlib.util.spec_from_loader("k3d_standin", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


STANDIN_MODULE = _standin_module()

RECORDER = r"""#!{python}
import json, os, sys
with open(os.environ["RECORD"], "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\n")
if sys.argv[1:2] == ["version"]:
    print("k3d version v5.8.3\nk3s version v1.31.5-k3s1 (default)")
elif "-o" in sys.argv:
    print("[]")
"""


def _recorded_argvs(tmp_path: Path) -> list[list[str]]:
    exe = tmp_path / "k3d"
    exe.write_text(RECORDER.replace("{python}", sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    record = tmp_path / "argv.jsonl"
    k3d = K3d(SubprocessRunner({"RECORD": str(record), "PATH": "/usr/bin:/bin"}), executable=str(exe))
    k3d.version()
    k3d.list_clusters()
    k3d.registry("envctl-registry")
    k3d.create(ClusterSpec(name="demo", agents=2, ports=("8080:80@loadbalancer",), k3s_args=("--tls-san=x",),
                           registry=RegistrySpec()), "0" * 16)  # fmt: skip
    k3d.start("demo")
    k3d.kubeconfig_get("demo")
    k3d.delete("demo")
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_every_command_line_envctl_sends_parses_under_the_table(tmp_path: Path) -> None:
    argvs = _recorded_argvs(tmp_path)
    commands = [table.parse(argv).command for argv in argvs]
    assert commands == [
        ("version",), ("cluster", "list"), ("registry", "list"), ("cluster", "create"), ("cluster", "start"),
        ("kubeconfig", "get"), ("cluster", "delete"),
    ]  # fmt: skip
    create = table.parse(argvs[3])
    STANDIN_MODULE.plan_create(create, "demo", 1, 2, 4, no_lb=False)  # k3d's own pre-flight checks pass


NAMES = st.from_regex(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
PORTS = st.sampled_from(
    ["8080:80@loadbalancer", "127.0.0.1:8443:443@loadbalancer", "9000:9000", "30080:30080@server:0:direct"]
)
K3S_ARGS = st.sampled_from(["--tls-san=envctl.local", "--node-label=tier=web@agent:*", "--kubelet-arg=v=2@server:*"])
REGISTRIES = st.one_of(
    st.none(),
    st.builds(RegistrySpec, name=NAMES, host_port=st.integers(1024, 65535)),
    st.builds(
        RegistrySpec, use=st.sampled_from(["k3d-shared", "shared", "k3d-shared.localhost:12345", "http://k3d-r:5000"])
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    name=NAMES, servers=st.integers(1, 3), agents=st.integers(0, 3),
    disable=st.lists(st.sampled_from(["traefik", "servicelb", "metrics-server", "local-storage"]), unique=True),
    ports=st.lists(PORTS, unique=True, max_size=3), k3s_args=st.lists(K3S_ARGS, unique=True, max_size=3),
    registry=REGISTRIES,
)  # fmt: skip
def test_create_command_lines_pass_every_check_k3d_makes_before_creating(
    name: str, servers: int, agents: int, disable: list[str], ports: list[str], k3s_args: list[str],
    registry: RegistrySpec | None,
) -> None:  # fmt: skip
    spec = ClusterSpec(name=name, servers=servers, agents=agents, disable=tuple(disable), ports=tuple(ports),
                       k3s_args=tuple(k3s_args), registry=registry)  # fmt: skip
    argv = K3d(SubprocessRunner()).create_argv(spec, "f" * 16)
    parsed = table.parse(argv[1:])
    assert parsed.command == ("cluster", "create") and parsed.positional == [name]
    STANDIN_MODULE.plan_create(parsed, name, servers, agents, servers + agents + 1, no_lb=False)
    for ref in parsed.values.get("--registry-use", []):
        assert table.REGISTRY_REF.match(ref)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["cluster", "create", "x", "--registry"], "unknown flag: --registry"),
        (["cluster", "create", "a", "b"], "accepts between 0 and 1 arg(s), received 2"),
        (["cluster", "create", "x", "--timeout", "120"], 'time: missing unit in duration "120"'),
        (["cluster", "create", "x", "--servers", "one"], 'invalid argument "one" for "--servers" flag'),
        (["cluster", "create", "x", "--wait=maybe"], 'invalid argument "maybe" for "--wait" flag'),
        (["cluster", "list", "-x"], "unknown shorthand flag: 'x' in -x"),
        (["cluster", "create", "x", "--image"], "flag needs an argument: --image"),
        (["version", "extra"], 'unknown command "extra" for "k3d version"'),
    ],
)
def test_the_table_rejects_what_cobra_rejects(argv: list[str], error: str) -> None:
    with pytest.raises(table.UsageError) as caught:
        table.parse(argv)
    assert error in str(caught.value)


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (
            ["--runtime-label", "team=a"],
            "RuntimeLabelmapping 'team=a' lacks a node filter, but there's more than one node",
        ),
        (["--k3s-arg", "--disable=traefik"], "K3sExtraArg '--disable=traefik' lacks a node filter"),
        (["--k3s-arg", "--x@server:0:proxy"], "no suffix allowed in simple filter"),
        (["--k3s-arg", "--x@server:3"], "Index out of range: index '3'"),
        (["--runtime-label", "k3d.cluster=x@server:*"], 'runtime label "k3d.cluster" is reserved'),
        (["--port", "80:80@nodes:0"], "Failed to parse node filters: invalid format or empty subset in 'nodes:0'"),
        (["--port", "eighty@loadbalancer"], "error parsing port spec 'eighty'"),
        (["--k3s-arg", "a@b@c"], "only one unescaped '@' allowed"),
        (["--registry-create", "reg:127.0.0.1:port"], "Failed to parse Port Exposure specification"),
    ],
)
def test_create_values_k3d_rejects_are_rejected(flags: list[str], error: str) -> None:
    parsed = table.parse(["cluster", "create", "x", *flags])
    with pytest.raises(table.UsageError) as caught:
        STANDIN_MODULE.plan_create(parsed, "x", 1, 0, 2, no_lb=False)
    assert error in str(caught.value)


def test_ports_without_a_node_filter_are_accepted_as_k3d_defaults_them() -> None:
    """k3d routes an unfiltered --port through the load balancer (pkg/client/ports.go TransformPorts)."""
    parsed = table.parse(["cluster", "create", "x", "--agents", "2", "-p", "8080:80", "-p", "8443:443/tcp"])
    STANDIN_MODULE.plan_create(parsed, "x", 1, 2, 4, no_lb=False)


def test_a_failure_is_read_from_k3ds_log_lines() -> None:
    """With LOG_COLORS=false k3d logs logrus text lines; the cause is at error level, the last line generic."""
    stderr = (
        'time="2026-01-01T00:00:00Z" level=info msg="Prep: Network"\n'
        'time="2026-01-01T00:00:00Z" level=error msg="Failed to find registry node \'nope\': failed to get '
        "container for node 'nope': Didn't find container for node 'nope'\"\n"
        'time="2026-01-01T00:00:00Z" level=error msg="Failed to create cluster >>> Rolling Back"\n'
        'time="2026-01-01T00:00:01Z" level=fatal msg="Cluster creation FAILED, all changes have been rolled back!"\n'
    )
    assert failure_message(stderr) == (
        "Failed to find registry node 'nope': failed to get container for node 'nope': Didn't find container "
        "for node 'nope'; Failed to create cluster >>> Rolling Back; "
        "Cluster creation FAILED, all changes have been rolled back!"
    )
    assert failure_message("time=x level=fatal msg=unquoted\n") == "unquoted"
    assert failure_message("plain text\nlast line\n") == "last line"
