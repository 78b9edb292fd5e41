"""The k3d adapter: every `k3d` command line envctl runs is built here and only here.

Output is parsed from `k3d cluster list -o json` / `k3d registry list -o json`, never from log
lines; k3d's logrus writes INFO logs to stdout with ANSI colours unless ``LOG_COLORS`` parses false
(cmd/root.go initLogging), so that is always set, and then every log line is
``time="…" level=… msg="…"``: a failure's message is read from its error and fatal lines.
Behaviours relied on, with their sources in k3d v5.8.3, are listed in docs/tools.md.

The cluster's spec is stored on its server containers as runtime labels, so a later run can tell
whether the cluster still matches the config. The label keys start with ``k3d-``: k3d's
``cluster list -o json`` copies only labels whose key starts with "k3d" into ``runtimeLabels``
(``TranslateContainerDetailsToNode`` in pkg/runtimes/docker/translate.go), while ``k3d.``,
``k3s.`` and ``app`` are reserved and rejected at create time (cmd/util/runtimeLabels.go).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from envctl.adapters.process import CompletedCommand, SubprocessRunner
from envctl.config import ClusterSpec, RegistrySpec
from envctl.errors import ClusterError, TimedOutError, ToolFailedError

__all__ = [
    "FINGERPRINT_LABEL",
    "K3S_CONTAINERD_SOCKET",
    "SPEC_LABEL",
    "K3d",
    "K3dCluster",
    "K3dNode",
    "K3dRegistry",
    "decode_spec",
    "encode_spec",
    "failure_message",
    "registry_container_name",
]

FINGERPRINT_LABEL = "k3d-envctl.fingerprint"
# Where k3s's containerd listens inside every server/agent node (k3s pkg/ctr): pass it to
# `ctr -a` so the same command works in k3s nodes and in the test stand-in's nodes.
K3S_CONTAINERD_SOCKET = "/run/k3s/containerd/containerd.sock"
SPEC_LABEL = "k3d-envctl.spec"
_ENV = {"LOG_COLORS": "false"}
# An outer bound on any k3d call (README "Timeouts"): create and start wait for the nodes under
# k3d's own --timeout (120 s / 60 s); this only stops a k3d that hangs past every such wait.
K3D_TIMEOUT_SECONDS = 600.0
_VERSION = re.compile(r"k3d version v(\d+\.\d+\.\d+\S*)")
_LOG_LINE = re.compile(r'level=(?P<level>\w+) msg=(?P<msg>"(?:[^"\\]|\\.)*"|\S*)')


def failure_message(stderr: str) -> str:
    """What a failed k3d command says: its error-level lines then the fatal one, from logrus's
    ``level=error msg="…"`` lines (k3d logs the cause at error level and ends with a generic fatal,
    e.g. "Cluster creation FAILED, all changes have been rolled back!")."""
    said = []
    for match in _LOG_LINE.finditer(stderr):
        if match["level"] in ("error", "fatal", "panic"):
            text = match["msg"]
            said.append(json.loads(text) if text.startswith('"') else text)
    if said:
        return "; ".join(dict.fromkeys(said))
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def registry_container_name(spec: RegistrySpec) -> str:
    """The container a registry spec names: ``use``'s host part (k3d's ``[proto://]host[:port]``,
    pkg/util/registry.go ParseRegistryRef) or the name ``--registry-create`` gives it."""
    if spec.use:
        return spec.use.split("://", 1)[-1].split(":", 1)[0]
    return spec.name


def encode_spec(spec: ClusterSpec) -> str:
    """The spec as base64url JSON: no ``@ , ; =`` that k3d's flag parser would split on."""
    raw = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_spec(text: str) -> dict[str, Any] | None:
    """The stored spec, or None when the label is absent or unreadable (an older or foreign cluster)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
    except (ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class K3dNode:
    name: str
    role: str  # server | agent | loadbalancer | registry | noRole
    running: bool
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class K3dCluster:
    """One element of `k3d cluster list -o json`, reduced to what envctl decides on."""

    name: str
    servers_running: int
    servers_count: int
    agents_running: int
    agents_count: int
    nodes: tuple[K3dNode, ...]

    @property
    def running(self) -> bool:
        """Every server and agent runs (a stopped agent would leave its node NotReady)."""
        servers_up = self.servers_count > 0 and self.servers_running >= self.servers_count
        return servers_up and self.agents_running >= self.agents_count

    @property
    def workload_nodes(self) -> tuple[str, ...]:
        """Servers and agents (where images are imported), not the load balancer."""
        return tuple(n.name for n in self.nodes if n.role in ("server", "agent"))

    def label(self, key: str) -> str | None:
        """A runtime label as set on the server nodes (the first server that has it)."""
        for node in self.nodes:
            if node.role == "server" and key in node.labels:
                return node.labels[key]
        return None


@dataclass(frozen=True)
class K3dRegistry:
    """A k3d-managed registry container, and the two names it is reached by."""

    name: str  # the container, e.g. "envctl-registry" (cluster create) or "k3d-myreg" (registry create)
    host_ip: str  # where its port is published on this machine ("0.0.0.0" = every interface)
    host_port: str

    @property
    def push_address(self) -> str:
        """host:port this machine pushes to."""
        host = "127.0.0.1" if self.host_ip in ("", "0.0.0.0") else self.host_ip  # noqa: S104 - a comparison, not a bind
        return f"{host}:{self.host_port}"

    @property
    def cluster_address(self) -> str:
        """host:port the nodes pull from: k3d writes a registries.yaml mirror for exactly
        ``<container name>:<host port>`` (pkg/client/registry.go RegistryGenerateK3sConfig)."""
        return f"{self.name}:{self.host_port}"


class K3d:
    """`k3d` through the process choke point; one method per verb."""

    def __init__(self, runner: SubprocessRunner, executable: str = "k3d") -> None:
        self._runner = runner
        self._exe = executable

    def version(self) -> str:
        """The k3d version, e.g. ``"5.8.3"`` (from ``k3d version v5.8.3``)."""
        out = self._run(["version"]).stdout
        match = _VERSION.search(out)
        if match is None:
            msg = f"cannot read the k3d version from `k3d version`: {out.strip()[:200]!r}"
            raise ClusterError(msg, hint="check that `k3d` on PATH is k3d v5 (https://k3d.io/stable/#installation)")
        return match[1]

    def list_clusters(self) -> tuple[K3dCluster, ...]:
        out = self._run(["cluster", "list", "-o", "json"]).stdout
        try:
            data = json.loads(out or "[]")
        except json.JSONDecodeError as exc:
            msg = f"`k3d cluster list -o json` printed something that is not JSON: {out.strip()[:200]!r}"
            hint = "unset K3D_* debug settings; envctl needs k3d v5's JSON output"
            raise ClusterError(msg, hint=hint) from exc
        return tuple(_parse_cluster(item) for item in data or [])

    def get(self, name: str) -> K3dCluster | None:
        return next((c for c in self.list_clusters() if c.name == name), None)

    def registry(self, name: str) -> K3dRegistry | None:
        """The k3d-managed registry container called ``name`` or ``k3d-<name>`` (as k3d's own
        lookup accepts either: pkg/runtimes/docker/container.go getNodeContainer), or None."""
        out = self._run(["registry", "list", "-o", "json"], what="list registries").stdout
        try:
            nodes = json.loads(out or "[]") or []
        except json.JSONDecodeError as exc:
            msg = f"`k3d registry list -o json` printed something that is not JSON: {out.strip()[:200]!r}"
            raise ClusterError(msg, hint="envctl needs k3d v5's JSON output") from exc
        for node in nodes:
            if str(node.get("name", "")) in (name, f"k3d-{name}"):
                for bindings in (node.get("portMappings") or {}).values():
                    for binding in bindings or []:
                        return K3dRegistry(
                            str(node["name"]), str(binding.get("HostIp", "")), str(binding.get("HostPort", ""))
                        )
        return None

    def cluster_registry(self, spec: RegistrySpec | None) -> K3dRegistry | None:
        """The registry the cluster spec connects (created or used), looked up in k3d; None without one."""
        if spec is None or not (spec.use or spec.create):
            return None
        name = registry_container_name(spec)
        found = self.registry(name)
        if found is None:
            msg = f"k3d lists no registry container {name!r}, which the cluster's registry settings name"
            hint = (
                f"create it with `k3d registry create {name.removeprefix('k3d-')}`, or fix cluster.registry.use"
                if spec.use
                else "rerun with --recreate to create the cluster (and its registry) again"
            )
            raise ClusterError(msg, hint=hint)
        return found

    def create(self, spec: ClusterSpec, fingerprint: str, *, timeout: str = "120s") -> None:
        self._run(self.create_argv(spec, fingerprint, timeout=timeout), what=f"create cluster {spec.name!r}")

    def create_argv(self, spec: ClusterSpec, fingerprint: str, *, timeout: str = "120s") -> list[str]:
        """The exact `k3d cluster create` command line (k3d v5 flags, k3d_cluster_create.md)."""
        argv = [self._exe, "cluster", "create", spec.name, "--image", spec.image,
                "--servers", str(spec.servers), "--agents", str(spec.agents)]  # fmt: skip
        for component in spec.disable:
            argv += ["--k3s-arg", f"--disable={component}@server:*"]
        for arg in spec.k3s_args:
            # A bare arg goes to the servers; an arg with its own node filter is passed through.
            argv += ["--k3s-arg", arg if "@" in arg else f"{arg}@server:*"]
        for port in spec.ports:
            argv += ["--port", port]
        registry = spec.registry
        if registry is not None and registry.use:
            # The name of a k3d-managed registry container (k3d looks the container up and rebuilds
            # the registry from it: pkg/client/cluster.go ClusterPrep), never a host:port.
            argv += ["--registry-use", registry.use]
        elif registry is not None and registry.create:
            # NAME:HOST:HOSTPORT makes a container named exactly NAME (pkg/config/transform.go);
            # binding 127.0.0.1 keeps the registry off other interfaces.
            argv += ["--registry-create", f"{registry.name}:127.0.0.1:{registry.host_port}"]
        argv += [
            # The user's ~/.kube/config is never touched; envctl writes a workspace kubeconfig.
            "--kubeconfig-update-default=false",
            "--kubeconfig-switch-context=false",
            "--wait",
            "--timeout", timeout,
            "--runtime-label", f"{FINGERPRINT_LABEL}={fingerprint}@server:*",
            "--runtime-label", f"{SPEC_LABEL}={encode_spec(spec)}@server:*",
        ]  # fmt: skip
        return argv

    def start(self, name: str, *, timeout: str = "60s") -> None:
        self._run(["cluster", "start", name, "--wait", "--timeout", timeout], what=f"start cluster {name!r}")

    def delete(self, name: str) -> None:
        self._run(["cluster", "delete", name], what=f"delete cluster {name!r}")

    def kubeconfig_get(self, name: str) -> str:
        """The cluster's kubeconfig YAML (printed, so no kubeconfig file is written by k3d)."""
        return self._run(["kubeconfig", "get", name], what=f"read the kubeconfig of {name!r}").stdout

    def _run(self, args: list[str], *, what: str | None = None) -> CompletedCommand:
        argv = args if args and args[0] == self._exe else [self._exe, *args]
        try:
            return self._runner.run(argv, env=_ENV, timeout=K3D_TIMEOUT_SECONDS)
        except TimedOutError:
            raise  # exit 11, as every step past its limit
        except ToolFailedError as exc:
            if what is None:
                raise
            detail = failure_message(exc.stderr) or exc.message
            msg = f"k3d could not {what}: {detail}"
            hint = "rerun with --verbose for k3d's output; `envctl doctor` checks the set-up"
            raise ClusterError(msg, hint=hint) from exc


def _parse_cluster(item: Mapping[str, Any]) -> K3dCluster:
    nodes = tuple(
        K3dNode(
            name=str(node.get("name", "")),
            role=str(node.get("role", "")),
            running=bool((node.get("State") or {}).get("Running", False)),
            labels=dict(node.get("runtimeLabels") or {}),
        )
        for node in item.get("nodes") or []
    )
    return K3dCluster(
        name=str(item["name"]),
        servers_running=int(item.get("serversRunning", 0)),
        servers_count=int(item.get("serversCount", 0)),
        agents_running=int(item.get("agentsRunning", 0)),
        agents_count=int(item.get("agentsCount", 0)),
        nodes=nodes,
    )
