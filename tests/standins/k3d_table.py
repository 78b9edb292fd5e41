"""What k3d v5.8.3 accepts, prints and rejects — the table the k3d stand-in enforces.

Every row names the file of ``k3d-io/k3d`` at tag ``v5.8.3`` it was read from (``SRC`` + path).
The stand-in (``tests/standins/k3d``) parses command lines with ``parse`` below and prints JSON
with the field lists below; ``tests/cluster/test_k3d_table.py`` checks that every command line
envctl emits parses under this table. When k3d is upgraded, this file is re-read against the new
tag first; the stand-in and envctl's adapter follow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SRC = "k3d-io/k3d@v5.8.3:"
VERSION = "v5.8.3"  # version.Version, set from the git tag by the Makefile's LDFLAGS
K3S_DEFAULT = "v1.31.5-k3s1"  # version.K3sVersion, from the release pipeline's K3S_TAG

# --- flags per command (pflag kinds) --------------------------------------------------------
BOOL, STRING, STRING_ARRAY, STRING_SLICE, INT, DURATION = (
    "bool",
    "string",
    "stringArray",
    "stringSlice",
    "int",
    "duration",
)


@dataclass(frozen=True)
class Command:
    use: str  # cobra's Use line (printed after "Usage:")
    flags: dict[str, str]  # every spelling (long and short) -> pflag kind
    max_args: int | None  # cobra Args: None = any number
    source: str


GLOBAL_FLAGS = {"--verbose": BOOL, "--trace": BOOL, "--timestamps": BOOL}  # cmd/root.go PersistentFlags

COMMANDS: dict[tuple[str, ...], Command] = {
    (): Command("k3d [flags]", {"--version": BOOL}, 0, SRC + "cmd/root.go NewCmdK3d"),
    ("version",): Command(
        "k3d version [flags]", {"-o": STRING, "--output": STRING}, 0, SRC + "cmd/root.go NewCmdVersion"
    ),
    ("cluster", "create"): Command(
        "k3d cluster create NAME [flags]",
        {
            "-c": STRING,
            "--config": STRING,
            "--api-port": STRING,
            "-e": STRING_ARRAY,
            "--env": STRING_ARRAY,
            "-v": STRING_ARRAY,
            "--volume": STRING_ARRAY,
            "-p": STRING_ARRAY,
            "--port": STRING_ARRAY,
            "--k3s-node-label": STRING_ARRAY,
            "--runtime-label": STRING_ARRAY,
            "--runtime-ulimit": STRING_ARRAY,
            "--registry-create": STRING,
            "--host-alias": STRING_ARRAY,
            "--k3s-arg": STRING_ARRAY,
            "-s": INT,
            "--servers": INT,
            "-a": INT,
            "--agents": INT,
            "-i": STRING,
            "--image": STRING,
            "--network": STRING,
            "--subnet": STRING,
            "--token": STRING,
            "--wait": BOOL,
            "--timeout": DURATION,
            "--kubeconfig-update-default": BOOL,
            "--kubeconfig-switch-context": BOOL,
            "--no-lb": BOOL,
            "--no-rollback": BOOL,
            "--gpus": STRING,
            "--servers-memory": STRING,
            "--agents-memory": STRING,
            "--host-pid-mode": BOOL,
            "--no-image-volume": BOOL,
            "--registry-use": STRING_ARRAY,
            "--registry-config": STRING,
            "--lb-config-override": STRING_SLICE,
        },
        1,
        SRC + "cmd/cluster/clusterCreate.go NewCmdClusterCreate (Args: cobra.RangeArgs(0, 1))",
    ),
    ("cluster", "list"): Command(
        "k3d cluster list [NAME [NAME...]] [flags]",
        {"--no-headers": BOOL, "--token": BOOL, "-o": STRING, "--output": STRING},
        None,
        SRC + "cmd/cluster/clusterList.go",
    ),
    ("cluster", "start"): Command(
        "k3d cluster start [NAME [NAME...] | --all] [flags]",
        {"-a": BOOL, "--all": BOOL, "--wait": BOOL, "--timeout": DURATION},
        None,
        SRC + "cmd/cluster/clusterStart.go",
    ),
    ("cluster", "stop"): Command(
        "k3d cluster stop [NAME [NAME...] | --all] [flags]",
        {"-a": BOOL, "--all": BOOL},
        None,
        SRC + "cmd/cluster/clusterStop.go",
    ),
    ("cluster", "delete"): Command(
        "k3d cluster delete [NAME [NAME ...] | --all] [flags]",
        {"-a": BOOL, "--all": BOOL, "-c": STRING, "--config": STRING},
        None,
        SRC + "cmd/cluster/clusterDelete.go",
    ),
    ("kubeconfig", "get"): Command(
        "k3d kubeconfig get [CLUSTER [CLUSTER [...]] | --all] [flags]",
        {"-a": BOOL, "--all": BOOL},
        None,
        SRC + "cmd/kubeconfig/kubeconfigGet.go",
    ),
    ("registry", "create"): Command(
        "k3d registry create NAME [flags]",
        {
            "-c": STRING_ARRAY,
            "--cluster": STRING_ARRAY,
            "-i": STRING,
            "--image": STRING,
            "-p": STRING,
            "--port": STRING,
            "-v": STRING_ARRAY,
            "--volume": STRING_ARRAY,
            "--default-network": STRING,
            "--proxy-remote-url": STRING,
            "--proxy-username": STRING,
            "--proxy-password": STRING,
            "--no-help": BOOL,
            "--delete-enabled": BOOL,
        },
        1,
        SRC + "cmd/registry/registryCreate.go (Args: cobra.MaximumNArgs(1))",
    ),
    ("registry", "list"): Command(
        "k3d registry list [NAME [NAME...]] [flags]",
        {"--no-headers": BOOL, "-o": STRING, "--output": STRING},
        None,
        SRC + "cmd/registry/registryList.go",
    ),
}

# --- value grammars ----------------------------------------------------------------------------
# pkg/util/filter.go NodeFilterRegexp (a suffix such as ":proxy" only where FilterNodesWithSuffix is used: ports)
NODE_FILTER = re.compile(
    r"^(?P<group>server|servers|agent|agents|loadbalancer|all)(?P<subsetSpec>:(?P<subset>(?P<subsetList>(\d+,?)+)"
    r"|(?P<subsetRange>\d*-\d*)|(?P<subsetWildcard>\*)))?(?P<suffixSpec>:(?P<suffix>[A-Za-z]+))?$"
)
# pkg/client/clusterName.go HostnameRegexp (RFC 1123), DefaultClusterNameMaxLength = 32 (pkg/types/defaults.go)
HOSTNAME = re.compile(
    r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$"
)
CLUSTER_NAME_MAX = 32
# cmd/util/ports.go apiPortRegexp: [(HostIP|HostName):]HostPort, for --registry-create's rest and --port of registry create
PORT_EXPOSURE = re.compile(
    r"^(?P<hostref>(?P<hostip>\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})|(?P<hostname>\S+):)?(?P<port>(\d{1,5}|random))$"
)
# pkg/util/registry.go registryRefRegexp: --registry-use [proto://]host[:port][:port]
REGISTRY_REF = re.compile(
    r"^(?P<protocol>http://|https://)?(?P<hostref>(?P<hostip>\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})|(?P<hostname>[a-zA-Z\-.0-9]+))"
    r"((:)(?P<internalport>\d{1,5}))?((:)(?P<externalport>\d{1,5}))?$"
)
# github.com/docker/go-connections/nat ParsePortSpec: [ip:][hostPort[-hostPortEnd]:]containerPort[-end][/proto]
PORT_SPEC = re.compile(r"^((\[[0-9a-fA-F:.]+\]|\d{1,3}(\.\d{1,3}){3}):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(/(tcp|udp|sctp))?$")
# Go's time.ParseDuration (one or more number+unit groups; "0" alone is allowed)
GO_DURATION = re.compile(r"^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+)$")
RESERVED_LABEL_PREFIXES = ("k3s.", "k3d.")  # cmd/util/runtimeLabels.go ValidateRuntimeLabelKey (and "app")

# --- defaults, names and labels -----------------------------------------------------------------
REGISTRY_INTERNAL_PORT = "5000"  # pkg/types/defaults.go DefaultRegistryPort
REGISTRIES_FILE = "/etc/rancher/k3s/registries.yaml"  # pkg/types/defaults.go DefaultRegistriesFilePath
# pkg/types/types.go label keys
LABEL_CLUSTER, LABEL_ROLE = "k3d.cluster", "k3d.role"
LABEL_REGISTRY_HOST, LABEL_REGISTRY_HOST_IP = "k3d.registry.host", "k3d.registry.hostIP"
LABEL_REGISTRY_PORT_EXTERNAL, LABEL_REGISTRY_PORT_INTERNAL = "k3s.registry.port.external", "k3s.registry.port.internal"
LABEL_NETWORK, LABEL_IMAGE_VOLUME = "k3d.cluster.network", "k3d.cluster.imageVolume"
DEFAULT_LABELS = {"app": "k3d"}  # pkg/types/defaults.go DefaultRuntimeLabels (+ k3d.version)


def registry_create_name(name_arg: str) -> str:
    """`k3d cluster create --registry-create NAME:...` names the container exactly NAME
    (pkg/config/transform.go: regName := simpleConfig.Registries.Create.Name when set;
    pkg/client/registry.go RegistryCreate: Node.Name = reg.Host); `k3d registry create NAME`
    prefixes "k3d-" (cmd/registry/registryCreate.go parseCreateRegistryCmd)."""
    return name_arg


def registry_use_pattern(hostref: str) -> re.Pattern[str]:
    """The container `--registry-use HOST[:PORT]` looks up: name HOST, with or without "k3d-"
    (pkg/runtimes/docker/container.go getNodeContainer: `^/?(k3d-)?NAME$`)."""
    return re.compile(rf"^/?(k3d-)?{re.escape(hostref)}$")


def mirrors(host: str, internal_port: str, external_port: str) -> dict[str, dict[str, object]]:
    """registries.yaml mirrors for one registry (pkg/client/registry.go RegistryGenerateK3sConfig):
    `<host>:<external>` and `<host>:<internal>` both → http://<host>:<internal>."""
    endpoint = {"endpoint": [f"http://{host}:{internal_port}"], "rewrite": {}}
    return {f"{host}:{external_port}": dict(endpoint), f"{host}:{internal_port}": dict(endpoint)}


# --- JSON output: field names in Go's order, and which are omitted when empty ("omitempty") ---
@dataclass(frozen=True)
class JsonField:
    name: str
    omitempty: bool = False


# pkg/types/types.go Node (json tags), as printed by `cluster list -o json` and `registry list -o json`
NODE_FIELDS = (
    JsonField("name", True), JsonField("role", True), JsonField("image", True), JsonField("volumes", True),
    JsonField("env", True), JsonField("Cmd"), JsonField("extraArgs", True), JsonField("files", True),
    JsonField("portMappings", True), JsonField("restart", True), JsonField("created", True),
    JsonField("hostPidMode", True), JsonField("runtimeLabels", True), JsonField("runtimeUlimits", True),
    JsonField("k3sNodeLabels", True), JsonField("Networks"), JsonField("ExtraHosts"), JsonField("serverOpts"),
    JsonField("agentOpts"), JsonField("GPURequest"), JsonField("Memory"), JsonField("State"), JsonField("IP"),
    JsonField("hooks", True), JsonField("K3dEntrypoint"),
)  # fmt: skip
# pkg/types/types.go Cluster + cmd/cluster/clusterList.go jsonOutput (token cleared unless --token,
# externalDatastore cleared)
CLUSTER_FIELDS = (
    JsonField("name", True), JsonField("network"), JsonField("clusterToken", True), JsonField("nodes", True),
    JsonField("InitNode"), JsonField("externalDatastore", True), JsonField("kubeAPI", True),
    JsonField("serverLoadBalancer", True), JsonField("imageVolume", True), JsonField("volumes", True),
    JsonField("serversRunning"), JsonField("serversCount"), JsonField("agentsRunning"), JsonField("agentsCount"),
    JsonField("hasLoadbalancer", True),
)  # fmt: skip
NETWORK_FIELDS = (
    JsonField("name", True),
    JsonField("id"),
    JsonField("isExternal", True),
    JsonField("ipam"),
    JsonField("Members"),
)
# `cluster list` leaves registry nodes out (pkg/client/cluster.go ClusterList: NodeFilterByRoles
# with ClusterInternalNodeRoles); `cluster list NAME` (ClusterGet) includes them.


def go_json(fields: tuple[JsonField, ...], values: dict[str, object]) -> dict[str, object]:
    """An object as encoding/json writes it: Go's field order, ``omitempty`` fields dropped when empty."""
    out: dict[str, object] = {}
    for f in fields:
        value = values.get(f.name)
        if f.omitempty and value in (None, "", 0, False, [], {}):
            continue
        out[f.name] = value
    return out


# --- error texts --------------------------------------------------------------------------------
ERRORS = {
    # cobra (github.com/spf13/cobra v1.8.0 flag parsing) then cmd/root.go Execute: l.Log().Fatalln(err)
    "unknown_flag": "unknown flag: {flag}",
    "unknown_shorthand": "unknown shorthand flag: '{short}' in -{short}",
    "flag_needs_argument": "flag needs an argument: {flag}",
    "invalid_argument": 'invalid argument "{value}" for "{flag}" flag: {reason}',
    "too_many_args": "accepts between 0 and {n} arg(s), received {got}",
    "at_most_args": "accepts at most {n} arg(s), received {got}",
    "no_args": 'unknown command "{arg}" for "{cmd}"',
    # pkg/config/validate.go + pkg/client/clusterName.go
    "bad_cluster_name": "Failed Cluster Configuration Validation: provided cluster name '{name}' does not match requirements: {why}",
    # cmd/cluster/clusterCreate.go
    "cluster_exists": "Failed to create cluster '{name}' because a cluster with that name already exists",
    "create_failed": "Cluster creation FAILED, all changes have been rolled back!",
    # cmd/util/filter.go SplitFiltersFromFlag
    "two_at": "Invalid flag '{flag}': only one unescaped '@' allowed for node filter(s) (Escape literal '@' with '\\')",
    "missing_filter": "Invalid flag '{flag}' includes unescaped '@' but is missing a node filter (Escape literal '@' with '\\')",
    # from pkg/config/transform.go, and pkg/util/filter.go
    "lacks_filter": "{what} '{value}' lacks a node filter, but there's more than one node",
    "bad_filter": "Failed to parse node filters: invalid format or empty subset in '{filter}'",
    "filter_suffix": "error filtering with '{filter}': no suffix allowed in simple filter",
    "filter_index": "Index out of range: index '{index}' < 0 or > number of available nodes in filter '{filter}'",
    "bad_port": "error parsing port spec '{port}': Invalid hostPort: {port}",
    "reserved_label": 'runtime label "{key}" is reserved for internal usage',
    "registry_create_port": "Failed to apply CLI overrides: failed to registry port spec: Failed to parse Port Exposure specification '{spec}': Format must be [(HostIP|HostName):]HostPort",
    "registry_use_ref": "failed to parse use-registry string  '{ref}': Failed to parse registry reference {ref}: Must be [proto://]host[:port]",
    # pkg/client/cluster.go ClusterRun (logged at error level, then create_failed)
    "registry_not_found": "Failed to find registry node '{name}': failed to get container for node '{name}': Didn't find container for node '{name}'",
    "registry_exists": "Failed to create registry: A registry node with that name already exists",
    # pkg/client/cluster.go ClusterGetNoNodesFoundError, as `cluster start/list NAME` and `kubeconfig get` print it
    "no_nodes": "No nodes found for given cluster",
    # cmd/cluster/clusterDelete.go getClusters: a missing cluster is not an error
    "delete_missing": "No nodes found for cluster '{name}', nothing to delete.",
}


@dataclass
class Parsed:
    command: tuple[str, ...]
    positional: list[str] = field(default_factory=list)
    values: dict[str, list[str]] = field(default_factory=dict)  # long flag name -> values in order


class UsageError(Exception):
    """A command line k3d rejects before running (cobra prints "Error: ..." and usage)."""

    def __init__(self, message: str, command: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.command = command


def _long_name(command: Command, spelling: str) -> str:
    """The long spelling values are stored under: each shorthand is listed right before its long flag."""
    if spelling.startswith("--"):
        return spelling
    spellings = list(command.flags)
    return spellings[spellings.index(spelling) + 1]


def parse(argv: list[str]) -> Parsed:
    """Parse a k3d command line (without the leading "k3d") as cobra/pflag would, or raise UsageError."""
    words = [a for a in argv if not a.startswith("-")]
    key = next((k for k in sorted(COMMANDS, key=len, reverse=True) if tuple(words[: len(k)]) == k), None)
    if key is None:
        first = words[0] if words else ""
        raise UsageError(ERRORS["no_args"].format(arg=first, cmd="k3d"))
    command = COMMANDS[key]
    flags = {**GLOBAL_FLAGS, **command.flags}
    parsed = Parsed(key)
    rest = list(argv)
    for word in key:  # drop the command words (flags may precede or follow them)
        rest.remove(word)
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            parsed.positional += rest[i + 1 :]
            break
        if not arg.startswith("-") or arg == "-":
            parsed.positional.append(arg)
            i += 1
            continue
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            kind = flags.get(name)
            if kind is None:
                raise UsageError(ERRORS["unknown_flag"].format(flag=name), key)
        else:
            name, inline, eq = arg[:2], arg[2:].removeprefix("="), "=" if len(arg) > 2 else ""
            kind = flags.get(name)
            if kind is None:
                raise UsageError(ERRORS["unknown_shorthand"].format(short=arg[1]), key)
        if kind == BOOL:
            value = inline if eq else "true"
            if value not in ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"):
                reason = f'strconv.ParseBool: parsing "{value}": invalid syntax'
                raise UsageError(ERRORS["invalid_argument"].format(value=value, flag=name, reason=reason), key)
            i += 1
        elif eq:
            value = inline
            i += 1
        elif i + 1 < len(rest):
            value = rest[i + 1]
            i += 2
        else:
            raise UsageError(ERRORS["flag_needs_argument"].format(flag=name), key)
        _check_kind(kind, name, value, key)
        long = name if name in GLOBAL_FLAGS else _long_name(command, name)
        values = value.split(",") if kind == STRING_SLICE else [value]
        parsed.values.setdefault(long, []).extend(values)
    if command.max_args is not None and len(parsed.positional) > command.max_args:
        got = len(parsed.positional)
        if command.max_args == 0:
            raise UsageError(ERRORS["no_args"].format(arg=parsed.positional[0], cmd=" ".join(("k3d", *key))), key)
        text = "at_most_args" if key == ("registry", "create") else "too_many_args"
        raise UsageError(ERRORS[text].format(n=command.max_args, got=got), key)
    return parsed


def _check_kind(kind: str, flag: str, value: str, key: tuple[str, ...]) -> None:
    if kind == INT and not re.fullmatch(r"[-+]?\d+", value):
        reason = f'strconv.ParseInt: parsing "{value}": invalid syntax'
        raise UsageError(ERRORS["invalid_argument"].format(value=value, flag=flag, reason=reason), key)
    if kind == DURATION and not GO_DURATION.match(value):
        reason = (
            f'time: invalid duration "{value}"'
            if re.search(r"\D", value)
            else f'time: missing unit in duration "{value}"'
        )
        raise UsageError(ERRORS["invalid_argument"].format(value=value, flag=flag, reason=reason), key)


def split_filters(value: str) -> tuple[str, list[str]]:
    """cmd/util/filter.go SplitFiltersFromFlag (a backslash escapes a literal '@')."""
    if "@" not in value:
        return value, []
    parts: list[str] = []
    buffer = ""
    split = value.split("@")
    for i, raw in enumerate(split):
        item = raw
        if item.endswith("\\") and i != len(split) - 1:
            if item.endswith("\\\\"):
                item = item[:-1]
            else:
                buffer += item[:-1] + "@"
                continue
        parts.append(buffer + item)
        buffer = ""
    if len(parts) > 2:
        raise UsageError(ERRORS["two_at"].format(flag=value))
    if len(parts) < 2:
        raise UsageError(ERRORS["missing_filter"].format(flag=value))
    return parts[0], parts[1].split(";")
