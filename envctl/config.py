"""The workspace config (``envctl.yaml``): a versioned, validated, frozen model.

Unknown keys are rejected; every error names the file, the key path, the bad value and the rule.
Paths in the file are relative to the file's folder (the workspace root).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from envctl.containment import resolve_inside
from envctl.errors import ConfigError, InputError
from envctl.naming import NAMESPACE_MAX, RELEASE_MAX, check_template
from envctl.references import check_reference, check_repository
from envctl.safeyaml import load_yaml_document

__all__ = [
    "BuildSettings",
    "ClusterSpec",
    "EnvConfig",
    "LoadSettings",
    "RegistrySpec",
    "ReleaseSpec",
    "SecretSource",
    "ServiceSpec",
    "TimeoutSettings",
    "load_config",
    "parse_duration",
]

CONFIG_FILE = "envctl.yaml"

_DURATION = re.compile(r"^(\d+)(s|m|h)$")
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# k3d's --registry-use grammar (pkg/util/registry.go registryRefRegexp): [proto://]host[:port[:port]]
_REGISTRY_USE = r"^(https?://)?[a-zA-Z0-9][-a-zA-Z0-9.]*(:\d{1,5}){0,2}$"
_VALUES_PATH = r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$"
_IMAGE_MATCH = r"^[A-Za-z0-9_.:/*?\[\]!-]+$"  # a glob over a repository: its characters and * ? [ ] !
# Build args travel to the docker client as environment variables (never on its command line),
# so their names must be variable names, and never one the client itself reads.
_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CLIENT_VARIABLES = re.compile(r"^(PATH|HOME|DOCKER_.*|BUILDX_.*|BUILDKIT_PROGRESS)$")
# BuildKit secret ids name a file under /run/secrets/ in a RUN step: keep them plain file names.
_MOUNT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Duration = Annotated[str, Field(pattern=_DURATION.pattern, description="a duration with a unit: 90s, 5m, 1h")]


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``"300s"``, ``"5m"`` or ``"1h"`` (already validated)."""
    match = _DURATION.match(text)
    if match is None:
        msg = f"not a duration: {text!r} (use a number with a unit: 90s, 5m, 1h)"
        raise ValueError(msg)
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2]]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegistrySpec(_Model):
    """A k3d-managed registry the cluster pulls from: created with the cluster, or an existing one.

    With provider k3d both are k3d registry *containers*: k3d writes the nodes' mirror config from
    the container (docs/tools.md, "k3d"), so ``use`` names one made by ``k3d registry create NAME``
    (container ``k3d-NAME``), not a host:port; with ``use`` set, ``create``/``name``/``host_port``
    are unused. With provider existing, ``use`` is the HOST:PORT of the registry the cluster pulls from.
    """

    create: bool = Field(default=True, description="let k3d create the registry container with the cluster")
    name: Annotated[str, Field(pattern=_DNS_LABEL)] = Field(
        "envctl-registry", description="the created registry's container name (k3d uses it as given)"
    )
    host_port: int = Field(5111, ge=1, le=65535, description="port on 127.0.0.1 the registry is published on")
    use: str | None = Field(
        None,
        description="provider k3d: name of an existing k3d registry container (e.g. k3d-myregistry); "
        "provider existing: HOST:PORT of the registry the cluster pulls from",
    )
    pull_secret: Annotated[str, Field(pattern=_DNS_LABEL, max_length=253)] | None = Field(
        None, description="provider existing: an image pull Secret (in the release namespace) for `use`"
    )


class ClusterSpec(_Model):
    provider: Literal["k3d", "existing"] = Field(
        "k3d", description="k3d: a local cluster envctl creates; existing: a cluster you already have (shared)"
    )
    kubeconfig: str | None = Field(
        None, description="provider existing: kubeconfig to read (default $KUBECONFIG, then ~/.kube/config)"
    )
    context: str | None = Field(None, description="provider existing: kubeconfig context (default: its current one)")
    name: Annotated[str, Field(pattern=_DNS_LABEL, max_length=32)] = "envctl"
    image: str = Field("rancher/k3s:v1.31.5-k3s1", description="the k3s node image")
    servers: int = Field(1, ge=1, le=7)
    agents: int = Field(0, ge=0, le=20)
    # The fast profile: k3s components a dev environment rarely uses (halves create time, kecs#245).
    disable: tuple[str, ...] = ("traefik", "servicelb", "metrics-server")
    ports: tuple[str, ...] = Field((), description="k3d --port specs, e.g. '8080:80@loadbalancer'")
    k3s_args: tuple[str, ...] = Field((), description="extra k3d --k3s-arg values")
    registry: RegistrySpec | None = None

    @field_validator("image")
    @classmethod
    def _image_is_a_reference(cls, value: str) -> str:
        return _valid_reference(value)

    @model_validator(mode="after")
    def _provider_settings_match(self) -> ClusterSpec:
        if self.provider == "k3d":
            for key in ("kubeconfig", "context"):
                if getattr(self, key) is not None:
                    msg = f"{key} is only read with provider: existing (k3d clusters get their own kubeconfig)"
                    raise ValueError(msg)
            if self.registry is not None and self.registry.pull_secret is not None:
                msg = "registry.pull_secret is only read with provider: existing"
                raise ValueError(msg)
            if self.registry is not None and self.registry.use and not re.match(_REGISTRY_USE, self.registry.use):
                msg = (
                    f"registry.use {self.registry.use!r} is not a k3d registry name "
                    "(k3d's --registry-use takes [proto://]NAME[:PORT], e.g. k3d-myregistry)"
                )
                raise ValueError(msg)
            return self
        # An existing cluster: nothing is created at cluster level, so no k3d registry either.
        if self.registry is None or not self.registry.use:
            msg = "provider: existing needs registry.use: HOST:PORT (images reach the cluster through a registry)"
            raise ValueError(msg)
        return self


class ReleaseSpec(_Model):
    name: Annotated[str, Field(max_length=253)] = Field(
        "demo", description="helm release name; may use {branch} {pr} {user} {workspace} (rendered ≤ 53 chars)"
    )
    chart: str = "charts/demo"
    namespace: Annotated[str, Field(max_length=253)] = Field(
        "default", description="may use {branch} {pr} {user} {workspace}; rendered as a DNS-1123 label ≤ 63"
    )
    values: tuple[str, ...] = Field((), description="values files, applied in order (CI values last)")
    set: dict[str, Any] = Field(default_factory=dict, description="extra values by dotted path")
    timeout: Duration = "300s"
    ttl: Duration = Field("72h", description="a namespace envctl created expires this long after its last `up`")

    @field_validator("name", "namespace")
    @classmethod
    def _name_template(cls, value: str, info: ValidationInfo) -> str:
        check_template(value)
        limit = RELEASE_MAX if info.field_name == "name" else NAMESPACE_MAX
        if "{" not in value and len(value) > limit:
            msg = f"longer than {limit} characters"
            raise ValueError(msg)
        return value


class ServiceSpec(_Model):
    dockerfile: str = Field(description="path of the Dockerfile, relative to the workspace root")
    context: str = Field(".", description="build context, relative to the workspace root")
    image: str = Field(description="image repository; the tag is the service's fingerprint")
    values_path: Annotated[str, Field(pattern=_VALUES_PATH)] | None = Field(
        None, description="where the chart reads this image: <values_path>.repository and .tag"
    )
    inject: Literal["values", "rewrite", "none"] | None = Field(
        None,
        description="how the chart gets the built image: values (at values_path) or rewrite (the rendered "
        "manifests, through a Helm post-renderer); default values when values_path is set, else rewrite; "
        "none: built only (an image the release does not run), never loaded into the cluster",
    )
    image_match: Annotated[str, Field(pattern=_IMAGE_MATCH)] | None = Field(
        None, description="rewrite: a glob over the rendered image's repository (default: same last path segment)"
    )
    build_args: dict[str, str] = Field(default_factory=dict)
    target: str | None = None
    extra_inputs: tuple[str, ...] = Field((), description="globs the image depends on beyond its COPY/ADD")

    @field_validator("image")
    @classmethod
    def _image_is_a_repository(cls, value: str) -> str:
        last = value.rsplit("/", 1)[-1]
        if ":" in last or "@" in last:
            msg = "must be a repository without a tag (envctl tags images with their fingerprint)"
            raise ValueError(msg)
        problem = check_repository(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _injection_fits(self) -> ServiceSpec:
        if self.inject == "values" and not self.values_path:
            msg = "inject: values needs values_path (where the chart reads <values_path>.repository and .tag)"
            raise ValueError(msg)
        if self.inject == "none" and (self.values_path or self.image_match is not None):
            msg = "inject: none builds the image only; values_path and image_match would never be read"
            raise ValueError(msg)
        if self.image_match is not None and self.injection != "rewrite":
            msg = "image_match is only read with inject: rewrite (values_path is set, so inject defaults to values)"
            raise ValueError(msg)
        return self

    @property
    def injection(self) -> Literal["values", "rewrite"]:
        """The effective mode of a deployed service: ``inject``, else values with a values_path, else
        rewrite (``deployed`` says whether the release runs it at all)."""
        if self.inject == "values":
            return "values"
        if self.inject == "rewrite":
            return "rewrite"
        return "values" if self.values_path else "rewrite"

    @property
    def deployed(self) -> bool:
        """False for ``inject: none``: the image is built (for others, or for later) but the release
        does not run it, so it is neither loaded nor handed to the chart."""
        return self.inject != "none"

    @field_validator("build_args")
    @classmethod
    def _build_arg_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ARG_NAME.match(name):
                msg = f"build arg {name!r} is not a variable name (letters, digits and _)"
                raise ValueError(msg)
            if _CLIENT_VARIABLES.match(name):
                msg = f"build arg {name!r} would change how the docker client itself runs"
                raise ValueError(msg)
        return value


class SecretSource(_Model):
    """Where one BuildKit secret comes from: an environment variable of envctl's or a file.

    The value never passes through envctl's output, records or argv: the docker client reads it
    itself (``--secret id=ID,env=VAR`` / ``id=ID,src=PATH``), and the fingerprint holds only the id.
    """

    env: Annotated[str, Field(pattern=_ARG_NAME.pattern)] | None = Field(
        None, description="an environment variable envctl runs with, e.g. NPM_TOKEN"
    )
    file: str | None = Field(
        None, description="a file: absolute (e.g. a ~/.npmrc outside the repository) or inside the workspace"
    )

    @model_validator(mode="after")
    def _one_source(self) -> SecretSource:
        if (self.env is None) == (self.file is None):
            msg = "give exactly one of env: VARIABLE or file: PATH"
            raise ValueError(msg)
        return self


class BuildSettings(_Model):
    backend: Literal["auto", "buildkit", "engine"] = "auto"
    jobs: int | None = Field(None, ge=1, description="concurrent builds (default: CPU count)")
    network: str | None = Field(None, description="network for RUN steps, e.g. 'none' or 'host'")
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    cache_registry: str | None = Field(None, description="registry to pull fingerprint tags from / push to")
    push: bool = False
    builder: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] | None = Field(
        None, description="a docker buildx builder to build with (`docker buildx build --builder NAME`); needs buildx"
    )
    docker_cli: str | None = Field(
        None, description="docker client to run builds with (default: $ENVCTL_DOCKER, else `docker` on PATH)"
    )
    public_args: tuple[Annotated[str, Field(pattern=_ARG_NAME.pattern)], ...] = Field(
        (), description="build args whose values may be shown; every other build arg value prints as ***"
    )
    secrets: dict[Annotated[str, Field(pattern=_MOUNT_ID)], SecretSource] = Field(
        default_factory=dict,
        description="BuildKit secrets by id (RUN --mount=type=secret,id=ID): {env: VAR} or {file: PATH}",
    )


class LoadSettings(_Model):
    mode: Literal["auto", "import", "registry"] = "auto"


class TimeoutSettings(_Model):
    """How long each external step may run before it is stopped (exit 11, README "Timeouts")."""

    build: Duration = Field("30m", description="one image build (BuildKit CLI or Engine API)")
    load: Duration = Field("10m", description="one `docker save | ctr import` into a node")
    helm: Duration = Field("10m", description="one helm call (status, template, upgrade, uninstall)")


class HistorySettings(_Model):
    keep: int = Field(200, ge=1, description="runs kept under .envctl/runs/")


class EnvConfig(_Model):
    version: Literal[1]
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    release: ReleaseSpec = Field(default_factory=ReleaseSpec)
    services: dict[Annotated[str, Field(pattern=_DNS_LABEL)], ServiceSpec] = Field(default_factory=dict)
    images: tuple[str, ...] = Field((), description="third-party images to pull once and load")
    build: BuildSettings = Field(default_factory=BuildSettings)
    load: LoadSettings = Field(default_factory=LoadSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)

    @field_validator("images")
    @classmethod
    def _images_are_references(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ref in value:
            _valid_reference(ref)
        return value

    @model_validator(mode="after")
    def _images_are_unique(self) -> EnvConfig:
        seen: dict[str, str] = {}
        for name, spec in self.services.items():
            if spec.image in seen:
                msg = f"services {seen[spec.image]!r} and {name!r} both use image {spec.image!r}"
                raise ValueError(msg)
            seen[spec.image] = name
        return self


def load_config(path: Path) -> EnvConfig:
    """Read and validate ``path``; every problem becomes a one-line ``ConfigError``."""
    if not path.is_file():
        msg = f"{path}: no such config file"
        raise ConfigError(msg, hint="run `envctl init` in the workspace root, or pass --config PATH")
    raw = load_yaml_document(path)
    if not isinstance(raw, dict):
        msg = f"{path}: expected a mapping at the top level, got {type(raw).__name__}"
        raise ConfigError(msg, hint="start the file with `version: 1`")
    if "version" not in raw:
        msg = f"{path}: missing key 'version'"
        raise ConfigError(msg, hint="add `version: 1` at the top")
    try:
        config = EnvConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc), hint=_hint(exc)) from exc
    _check_containment(path, config)
    return config


def _check_containment(path: Path, config: EnvConfig) -> None:
    """Files envctl hands to helm or a build as they are must not lead out of the workspace.

    (Build contexts, Dockerfiles and what they copy are checked where they are read, in inputs/.)
    """
    named = [("release.chart", config.release.chart)]
    named += [("release.values", values) for values in config.release.values]
    # A secret file may live outside the repository (an absolute path, e.g. a CI runner's token
    # file); a relative one is the workspace's and must stay in it.
    named += [
        (f"build.secrets.{key}.file", source.file)
        for key, source in config.build.secrets.items()
        if source.file is not None and not Path(source.file).is_absolute()
    ]
    for what, relative in named:
        try:
            resolve_inside(path.parent, relative, what)
        except InputError as exc:
            msg = f"{path}: {exc.message}"
            raise ConfigError(msg, hint=exc.hint) from None


def _valid_reference(value: str) -> str:
    problem = check_reference(value)
    if problem is not None:
        msg = f"{value!r} {problem}" if not problem.startswith(("tag ", "digest ", "registry ")) else problem
        raise ValueError(msg)
    return value


def _describe(path: Path, exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    rule = first["msg"]
    if first["type"] == "extra_forbidden":
        rule = "unknown key"
    bad = first.get("input")
    shown = "" if first["type"] in ("missing", "extra_forbidden") or isinstance(bad, dict) else f" = {bad!r}"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{path}: {where}{shown}: {rule}{more}"


def _hint(exc: ValidationError) -> str:
    kind = exc.errors()[0]["type"]
    if kind == "extra_forbidden":
        return "remove or rename the key; the README lists every key envctl.yaml accepts"
    if kind == "literal_error" and exc.errors()[0]["loc"] == ("version",):
        return "this envctl reads config version 1"
    return "see the README section 'envctl.yaml' for the rules of each key"
