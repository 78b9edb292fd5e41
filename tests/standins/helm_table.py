"""What helm v3.17.3 accepts, prints and rejects — the table the helm stand-in enforces.

Every row names the file of ``helm/helm`` at tag ``v3.17.3`` it was read from (``SRC`` + path).
The stand-in (``tests/standins/helm``) parses its command line with ``parse`` below and encodes
its JSON with ``encode`` and the field tables below; ``tests/deploy/test_helm_table.py`` checks
that every command line envctl emits parses under this table. When helm is upgraded, this file is
re-read against the new tag first; the stand-in and envctl's adapter follow.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

SRC = "helm/helm@v3.17.3:"
# Makefile: LDFLAGS -X helm.sh/helm/v3/internal/version.version=${BINARY_VERSION} (the git tag).
VERSION = "v3.17.3"

# --- pflag kinds ---------------------------------------------------------------------------------
BOOL, STRING, INT, DURATION, STRING_ARRAY, STRING_SLICE, FORMAT, MAP = (
    "bool", "string", "int", "duration", "stringArray", "stringSlice", "format", "stringToString",
)  # fmt: skip


@dataclass(frozen=True)
class Command:
    use: str  # cobra's Use line, as `require` prints it after "Usage:"
    flags: dict[str, str]  # every long spelling (without --) -> pflag kind
    args: tuple[int, int | None]  # (least, most) positional arguments; None = no limit
    arity: str  # which `require` function checks them: exact | minimum | none
    source: str
    shorthands: dict[str, str] = field(default_factory=dict)  # one letter -> long name


# pkg/cli/environment.go EnvSettings.AddFlags: the persistent flags of every command.
GLOBAL_FLAGS: dict[str, str] = {
    "namespace": STRING, "kubeconfig": STRING, "kube-context": STRING, "kube-token": STRING,
    "kube-as-user": STRING, "kube-as-group": STRING_ARRAY, "kube-apiserver": STRING, "kube-ca-file": STRING,
    "kube-tls-server-name": STRING, "kube-insecure-skip-tls-verify": BOOL, "debug": BOOL,
    "registry-config": STRING, "repository-config": STRING, "repository-cache": STRING, "burst-limit": INT,
    "qps": STRING,
}  # fmt: skip
GLOBAL_SHORTHANDS = {"n": "namespace"}

# cmd/helm/flags.go addValueOptionsFlags
VALUE_FLAGS = {"values": STRING_SLICE, "set": STRING_ARRAY, "set-string": STRING_ARRAY, "set-file": STRING_ARRAY,
               "set-json": STRING_ARRAY, "set-literal": STRING_ARRAY}  # fmt: skip
# cmd/helm/flags.go addChartPathOptionsFlags
CHART_PATH_FLAGS = {"version": STRING, "verify": BOOL, "keyring": STRING, "repo": STRING, "username": STRING,
                    "password": STRING, "cert-file": STRING, "key-file": STRING, "insecure-skip-tls-verify": BOOL,
                    "plain-http": BOOL, "ca-file": STRING, "pass-credentials": BOOL}  # fmt: skip
# cmd/helm/flags.go bindPostRenderFlag: --post-renderer names an executable (PATH or path),
# --post-renderer-args appends one argument per use.
POST_RENDER_FLAGS = {"post-renderer": STRING, "post-renderer-args": STRING_ARRAY}
OUTPUT_FLAG = {"output": FORMAT}  # cmd/helm/flags.go bindOutputFlag (shorthand -o)
# cmd/helm/install.go addInstallFlags (shared by install and template)
INSTALL_FLAGS = {
    "create-namespace": BOOL, "dry-run": STRING, "force": BOOL, "no-hooks": BOOL, "replace": BOOL,
    "timeout": DURATION, "wait": BOOL, "wait-for-jobs": BOOL, "generate-name": BOOL, "name-template": STRING,
    "description": STRING, "devel": BOOL, "dependency-update": BOOL, "disable-openapi-validation": BOOL,
    "atomic": BOOL, "skip-crds": BOOL, "render-subchart-notes": BOOL, "skip-schema-validation": BOOL,
    "labels": MAP, "enable-dns": BOOL, "hide-notes": BOOL, "take-ownership": BOOL,
    **VALUE_FLAGS, **CHART_PATH_FLAGS,
}  # fmt: skip
UPGRADE_FLAGS = {
    "create-namespace": BOOL, "install": BOOL, "devel": BOOL, "dry-run": STRING, "hide-secret": BOOL,
    "recreate-pods": BOOL, "force": BOOL, "no-hooks": BOOL, "disable-openapi-validation": BOOL, "skip-crds": BOOL,
    "timeout": DURATION, "reset-values": BOOL, "reuse-values": BOOL, "reset-then-reuse-values": BOOL,
    "wait": BOOL, "wait-for-jobs": BOOL, "atomic": BOOL, "history-max": INT, "cleanup-on-fail": BOOL,
    "render-subchart-notes": BOOL, "hide-notes": BOOL, "skip-schema-validation": BOOL, "labels": MAP,
    "description": STRING, "dependency-update": BOOL, "enable-dns": BOOL, "take-ownership": BOOL,
    **CHART_PATH_FLAGS, **VALUE_FLAGS, **OUTPUT_FLAG, **POST_RENDER_FLAGS,
}  # fmt: skip
# Flags whose value is optional (pflag NoOptDefVal): --dry-run alone means --dry-run=client.
NO_OPT_DEFAULT = {"dry-run": "client"}

COMMANDS: dict[tuple[str, ...], Command] = {
    ("version",): Command("helm version [flags]", {"short": BOOL, "template": STRING}, (0, 0), "none",
                          SRC + "cmd/helm/version.go newVersionCmd (require.NoArgs)"),
    ("show", "chart"): Command("helm show chart [CHART] [flags]", {"devel": BOOL, **CHART_PATH_FLAGS}, (1, 1),
                               "exact", SRC + "cmd/helm/show.go newShowCmd chartSubCmd, addShowFlags"),
    ("lint",): Command("helm lint PATH [flags]", {"strict": BOOL, "with-subcharts": BOOL, "quiet": BOOL,
                                                  "skip-schema-validation": BOOL, "kube-version": STRING,
                                                  **VALUE_FLAGS}, (0, None), "none",
                       SRC + "cmd/helm/lint.go newLintCmd (no Args check: the paths default to .)"),
    ("template",): Command(
        "helm template [NAME] [CHART] [flags]",
        {**INSTALL_FLAGS, "hide-secret": BOOL, "show-only": STRING_ARRAY, "output-dir": STRING, "validate": BOOL,
         "include-crds": BOOL, "skip-tests": BOOL, "is-upgrade": BOOL, "kube-version": STRING,
         "api-versions": STRING_SLICE, "release-name": BOOL, **POST_RENDER_FLAGS},
        (1, 2), "minimum", SRC + "cmd/helm/template.go newTemplateCmd (require.MinimumNArgs(1); addInstallFlags)",
        {"s": "show-only", "a": "api-versions", "f": "values"},
    ),
    ("upgrade",): Command("helm upgrade [RELEASE] [CHART] [flags]", UPGRADE_FLAGS, (2, 2), "exact",
                          SRC + "cmd/helm/upgrade.go newUpgradeCmd (require.ExactArgs(2))",
                          {"i": "install", "l": "labels", "f": "values", "o": "output"}),
    ("status",): Command("helm status RELEASE_NAME [flags]",
                         {"revision": INT, "show-desc": BOOL, "show-resources": BOOL, **OUTPUT_FLAG}, (1, 1), "exact",
                         SRC + "cmd/helm/status.go newStatusCmd (require.ExactArgs(1))", {"o": "output"}),
    ("get", "values"): Command("helm get values RELEASE_NAME [flags]", {"revision": INT, "all": BOOL, **OUTPUT_FLAG},
                               (1, 1), "exact", SRC + "cmd/helm/get_values.go newGetValuesCmd",
                               {"a": "all", "o": "output"}),
    ("get", "manifest"): Command("helm get manifest RELEASE_NAME [flags]", {"revision": INT}, (1, 1), "exact",
                                 SRC + "cmd/helm/get_manifest.go newGetManifestCmd (prints Manifest + newline)"),
    ("list",): Command(
        "helm list [flags]",
        {"short": BOOL, "no-headers": BOOL, "time-format": STRING, "date": BOOL, "reverse": BOOL, "all": BOOL,
         "uninstalled": BOOL, "superseded": BOOL, "uninstalling": BOOL, "deployed": BOOL, "failed": BOOL,
         "pending": BOOL, "all-namespaces": BOOL, "max": INT, "offset": INT, "filter": STRING, "selector": STRING,
         **OUTPUT_FLAG},
        (0, 0), "none", SRC + "cmd/helm/list.go newListCmd (require.NoArgs)",
        {"q": "short", "d": "date", "r": "reverse", "a": "all", "A": "all-namespaces", "m": "max", "f": "filter",
         "l": "selector", "o": "output"},
    ),
    ("history",): Command("helm history RELEASE_NAME [flags]", {"max": INT, **OUTPUT_FLAG}, (1, 1), "exact",
                          SRC + "cmd/helm/history.go newHistoryCmd", {"o": "output"}),
    ("uninstall",): Command(
        "helm uninstall RELEASE_NAME [...] [flags]",
        {"dry-run": BOOL, "no-hooks": BOOL, "ignore-not-found": BOOL, "keep-history": BOOL, "wait": BOOL,
         "cascade": STRING, "timeout": DURATION, "description": STRING},
        (1, None), "minimum", SRC + "cmd/helm/uninstall.go newUninstallCmd (require.MinimumNArgs(1))",
    ),
    ("rollback",): Command(
        "helm rollback <RELEASE> [REVISION] [flags]",
        {"dry-run": BOOL, "recreate-pods": BOOL, "force": BOOL, "no-hooks": BOOL, "timeout": DURATION, "wait": BOOL,
         "wait-for-jobs": BOOL, "cleanup-on-fail": BOOL, "history-max": INT},
        (1, 2), "minimum", SRC + "cmd/helm/rollback.go newRollbackCmd (require.MinimumNArgs(1))",
    ),
}
# cmd/helm/upgrade.go: the rollback/install flags a dry-run may take (validateDryRunOptionFlag).
DRY_RUN_VALUES = ("client", "server", "none", "true", "false")

# --- error texts (helm prints "Error: " + the error, exit 1: cmd/helm/helm.go main) --------------
ERRORS = {
    "not_found": "release: not found",  # pkg/storage/driver/driver.go ErrReleaseNotFound
    "no_deployed": "has no deployed releases",  # pkg/storage/driver/driver.go ErrNoDeployedReleases
    "pending": "another operation (install/upgrade/rollback) is in progress",  # pkg/action/action.go errPending
    "upgrade_failed": "UPGRADE FAILED: {}",  # cmd/helm/upgrade.go errors.Wrap(err, "UPGRADE FAILED")
    "uninstall_not_loaded": "uninstall: Release not loaded: {}: release: not found",  # pkg/action/uninstall.go
    "post_render": "error while running post render on files: error while running command {}. error output:\n{}",
    # ^ pkg/action/action.go renderResources + pkg/postrender/exec.go execRender.Run
    "post_render_missing": 'unable to find binary at {}: exec: "{}": executable file not found in $PATH',
    # ^ pkg/postrender/exec.go getFullPath (exec.LookPath's error wrapped)
    "hook_failed": "{} hooks failed: job {} failed: {}",  # pkg/action/upgrade.go + pkg/kube/client.go waitForJob
    "format": "invalid format type",  # pkg/cli/output/output.go ErrInvalidFormatType
}

# --- JSON output ---------------------------------------------------------------------------------
# (json name, omitempty). encoding/json never omits a struct-typed field, omitempty or not: the
# times (pkg/time/time.go Time marshals its zero value as "") and a hook's last_run are always there.
RELEASE_FIELDS = (("name", True), ("info", True), ("chart", True), ("config", True), ("manifest", True),
                  ("hooks", True), ("version", True), ("namespace", True))  # pkg/release/release.go Release
INFO_FIELDS = (("first_deployed", False), ("last_deployed", False), ("deleted", False), ("description", True),
               ("status", True), ("notes", True), ("resources", True))  # pkg/release/info.go Info
HOOK_FIELDS = (("name", True), ("kind", True), ("path", True), ("manifest", True), ("events", True),
               ("last_run", False), ("weight", True), ("delete_policies", True))  # pkg/release/hook.go Hook
HOOK_RUN_FIELDS = (("started_at", False), ("completed_at", False), ("phase", False))  # HookExecution
CHART_FIELDS = (("metadata", False), ("lock", False), ("templates", False), ("values", False), ("schema", False),
                ("files", False))  # pkg/chart/chart.go Chart (no omitempty at all)
METADATA_FIELDS = tuple((name, True) for name in (
    "name", "home", "sources", "version", "description", "keywords", "maintainers", "icon", "apiVersion",
    "condition", "tags", "appVersion", "deprecated", "annotations", "kubeVersion", "dependencies", "type",
))  # pkg/chart/metadata.go Metadata (every field omitempty)
LIST_FIELDS = (("name", False), ("namespace", False), ("revision", False), ("updated", False), ("status", False),
               ("chart", False), ("app_version", False))  # cmd/helm/list.go releaseElement
HISTORY_FIELDS = (("revision", False), ("updated", False), ("status", False), ("chart", False),
                  ("app_version", False), ("description", False))  # cmd/helm/history.go releaseInfo


def encode(fields: tuple[tuple[str, bool], ...], values: dict[str, Any]) -> dict[str, Any]:
    """A Go struct as encoding/json writes it: fields in declaration order, empty omitempty ones left out."""
    return {name: values.get(name) for name, omit in fields if not (omit and _empty(values.get(name)))}


def _empty(value: object) -> bool:
    return value is None or value is False or value == 0 or value in ("", [], {})


def dumps(value: object) -> str:
    """``json.NewEncoder(out).Encode(v)`` (pkg/cli/output/output.go EncodeJSON): compact, map keys
    sorted, ``<``, ``>`` and ``&`` escaped as encoding/json does by default, one trailing newline."""
    text = json.dumps(_sorted_maps(value), separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def _sorted_maps(value: object) -> object:
    if isinstance(value, StructDict):
        return StructDict({k: _sorted_maps(v) for k, v in value.items()})
    if isinstance(value, dict):
        return {k: _sorted_maps(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_maps(v) for v in value]
    return value


class StructDict(dict):  # type: ignore[type-arg]
    """A dict that stands for a Go struct: its key order is the field order, never sorted."""


# --- parsing -------------------------------------------------------------------------------------
class UsageError(Exception):
    """What cobra/pflag reject before a command runs (helm prints ``Error: <text>``, exit 1)."""


@dataclass
class Parsed:
    command: tuple[str, ...]
    positional: list[str]
    values: dict[str, list[str]]  # long flag name -> every value given, in order
    flags: set[str]  # boolean flags set true

    def one(self, name: str, default: str = "") -> str:
        return self.values[name][-1] if name in self.values else default


# time.ParseDuration's grammar (a unit is required except for a bare "0").
DURATION_RE = re.compile(r"^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+)$")


def _command(argv: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """The command words lead the line (as every caller here writes it), then its flags and arguments."""
    for size in (2, 1):
        key = tuple(argv[:size])
        if len(key) == size and key in COMMANDS:
            return key, argv[size:]
    if argv[:1] in (["get"], ["show"]):
        msg = f'unknown command "{argv[1] if len(argv) > 1 else ""}" for "helm {argv[0]}"'
        raise UsageError(msg)
    msg = f'unknown command "{argv[0] if argv else ""}" for "helm"'
    raise UsageError(msg)


def parse(argv: list[str]) -> Parsed:
    """Parse ``helm ARGV`` as cobra and pflag do for the commands in ``COMMANDS``; raise ``UsageError``."""
    key, rest = _command(argv)
    command = COMMANDS[key]
    kinds = {**GLOBAL_FLAGS, **command.flags}
    shorthands = {**GLOBAL_SHORTHANDS, **command.shorthands}
    parsed = Parsed(key, [], {}, set())
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--":
            parsed.positional.extend(rest[i:])
            break
        if not arg.startswith("-") or arg == "-":
            parsed.positional.append(arg)
            continue
        if arg.startswith("--"):
            name, eq, inline = arg[2:].partition("=")
            shown = f"--{name}"
            if name not in kinds:
                msg = f"unknown flag: {shown}"
                raise UsageError(msg)
        else:
            letter, inline = arg[1], arg[2:].removeprefix("=")
            eq = "=" if arg[2:] else ""
            if letter not in shorthands:
                msg = f"unknown shorthand flag: '{letter}' in {arg}"
                raise UsageError(msg)
            name, shown = shorthands[letter], f"'{letter}' in {arg}"
        kind = kinds[name]
        if kind == BOOL:
            value = inline if eq else "true"
            if value not in ("true", "false", "1", "0", "t", "f", "TRUE", "FALSE", "True", "False"):
                msg = (
                    f'invalid argument "{value}" for "--{name}" flag: strconv.ParseBool: parsing '
                                 f'"{value}": invalid syntax'
                )
                raise UsageError(msg)  # fmt: skip
            (parsed.flags.add if value in ("true", "1", "t", "TRUE", "True") else parsed.flags.discard)(name)
            continue
        if eq:
            value = inline
        elif name in NO_OPT_DEFAULT:
            value = NO_OPT_DEFAULT[name]
        elif i < len(rest):
            value, i = rest[i], i + 1
        else:
            msg = f"flag needs an argument: {shown}"
            raise UsageError(msg)
        _check_value(name, kind, value)
        parsed.values.setdefault(name, []).append(value)
    _check_args(command, parsed)
    return parsed


def _check_value(name: str, kind: str, value: str) -> None:
    if kind == DURATION and not DURATION_RE.match(value):
        detail = f'missing unit in duration "{value}"' if re.fullmatch(r"\d+(\.\d+)?", value) else f'invalid duration "{value}"'
        msg = f'invalid argument "{value}" for "--{name}" flag: time: {detail}'
        raise UsageError(msg)
    if kind == INT and not re.fullmatch(r"[-+]?\d+", value):
        msg = (
            f'invalid argument "{value}" for "--{name}" flag: strconv.ParseInt: parsing "{value}": '
                         "invalid syntax"
        )
        raise UsageError(msg)  # fmt: skip
    if kind == FORMAT and value not in ("table", "json", "yaml"):
        msg = f'invalid argument "{value}" for "-o, --output" flag: {ERRORS["format"]}'
        raise UsageError(msg)


def _check_args(command: Command, parsed: Parsed) -> None:
    least, most = command.args
    n = len(parsed.positional)
    path = "helm " + " ".join(parsed.command)
    usage = f"\n\nUsage:  {command.use}"
    plural = "argument" if least == 1 else "arguments"
    if command.arity == "exact" and n != least:
        msg = f'"{path}" requires {least} {plural}{usage}'
        raise UsageError(msg)
    if command.arity == "minimum" and n < least:
        msg = f'"{path}" requires at least {least} {plural}{usage}'
        raise UsageError(msg)
    if command.arity == "none" and most == 0 and n:
        msg = f'"{path}" accepts no arguments{usage}'
        raise UsageError(msg)
    if most is not None and n > most and command.arity != "none":
        raise UsageError(_too_many(parsed, command))


def _too_many(parsed: Parsed, command: Command) -> str:
    if parsed.command == ("template",):  # pkg/action/install.go NameAndChart
        return f"expected at most two arguments, unexpected arguments: {', '.join(parsed.positional[2:])}"
    return f'"helm {" ".join(parsed.command)}" accepts at most {command.args[1]} arguments'
