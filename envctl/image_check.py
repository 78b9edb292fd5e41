"""Does the rendered chart run the images envctl built? (pure: manifests and refs in, findings out)

Before every ``helm upgrade`` the deploy renders the release with the values it is about to send
(and, for ``inject: rewrite`` services, through the same post-renderer) and asks, per deployed
service, whether some container or init container of a rendered workload runs exactly the ref
envctl built for it. A service whose ref does not appear is an error (a wrong ``values_path``
would leave pods on old images while the deploy "succeeds"); the message names the image fields
the chart does render, the likeliest first. A rendered image that is neither built by envctl nor
listed under ``images:`` is a warning (an offline cluster would try to pull it), an error with
``--strict-images``.

Rewrite rules: ``services.<name>.image_match`` is a glob over an image's repository (the
reference without ``:tag``/``@digest``); without one, an image matches when its repository's last
path segment equals the last segment of the service's ``image``.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from envctl.chart_values import ImageField, field_key, name_key
from envctl.rendered import RenderedImage, image_repository, normalize_reference, rendered_images
from envctl.results import DeployedImage

if TYPE_CHECKING:  # only a hint: `python -m envctl.postrender` (every helm render) must not load pydantic
    from envctl.config import ServiceSpec

__all__ = [
    "ExpectedImage",
    "Finding",
    "Injection",
    "RewriteRule",
    "RunningContainer",
    "belongs",
    "check_images",
    "check_running",
    "decode_rules",
    "encode_rules",
    "injections",
    "of_service",
    "rendered_fields",
    "replacer",
]

_SUGGESTED = 3  # image fields named in a suggestion
_RULE_PARTS = 4  # service, pattern, image, ref


@dataclass(frozen=True)
class RewriteRule:
    """Rewrite every container image whose repository matches ``pattern`` to ``ref``."""

    service: str
    pattern: str  # a glob over the repository; "" = the default (last path segment of ``image``)
    image: str  # the service's configured repository
    ref: str  # the built ref the matching containers get

    def matches(self, reference: str) -> bool:
        repository = image_repository(reference)
        if self.pattern:
            return fnmatch.fnmatchcase(repository, self.pattern)
        return repository.rsplit("/", 1)[-1] == self.image.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Injection:
    """How one deployed service's image reaches the chart (from its ``envctl.yaml`` entry)."""

    service: str
    image: str  # the configured repository
    mode: Literal["values", "rewrite"]
    values_path: str | None
    image_match: str  # "" = the default rule
    required: bool  # False: rewrite by default, and a chart that never runs the image is fine

    def rule(self, ref: str) -> RewriteRule:
        return RewriteRule(self.service, self.image_match, self.image, ref)


def injections(services: Mapping[str, ServiceSpec], bases: Collection[str]) -> dict[str, Injection]:
    """The services the release runs, by name. A service with neither ``values_path`` nor
    ``inject``/``image_match`` that others build FROM (``bases``) is a base image: not deployed; nor is
    one with ``inject: none``."""
    found: dict[str, Injection] = {}
    for name, spec in services.items():
        if not spec.deployed:
            continue
        explicit = spec.inject is not None or spec.image_match is not None
        if spec.injection == "rewrite" and not explicit and name in bases:
            continue
        found[name] = Injection(
            name, spec.image, spec.injection, spec.values_path if spec.injection == "values" else None,
            spec.image_match or "", required=spec.injection == "values" or explicit,
        )  # fmt: skip
    return found


def encode_rules(rules: Sequence[RewriteRule]) -> str:
    """The rules as the post-renderer's one argument (JSON)."""
    return json.dumps([[r.service, r.pattern, r.image, r.ref] for r in rules], separators=(",", ":"))


def decode_rules(argument: str) -> list[RewriteRule]:
    """The rules ``encode_rules`` wrote; ValueError when ``argument`` is not such a list."""
    data = json.loads(argument)
    def is_rule(item: object) -> bool:
        return isinstance(item, list) and len(item) == _RULE_PARTS and all(isinstance(part, str) for part in item)

    if not isinstance(data, list) or not all(is_rule(item) for item in data):
        msg = "expected a JSON list of [service, pattern, image, ref]"
        raise ValueError(msg)
    return [RewriteRule(*item) for item in data]


def replacer(rules: Sequence[RewriteRule]) -> Callable[[str], str | None]:
    """The image rewrite of ``rules``: the first rule that matches wins; None leaves an image alone."""

    def replace(reference: str) -> str | None:
        return next((rule.ref for rule in rules if rule.matches(reference)), None)

    return replace


@dataclass(frozen=True)
class ExpectedImage:
    """A service the release deploys, and the ref its workloads must run."""

    service: str
    ref: str
    inject: Literal["values", "rewrite"]
    values_path: str | None = None
    required: bool = True  # False: rewrite by default; a service the chart never renders is fine


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    service: str | None  # None: an image no service owns
    message: str
    hint: str


def rendered_fields(fields: Iterable[ImageField], images: Iterable[RenderedImage]) -> list[ImageField]:
    """The ``fields`` whose image some rendered container runs (so the chart reads that field)."""
    running = [normalize_reference(image.image) for image in images]

    def rendered(field: ImageField) -> bool:
        whole = normalize_reference(field.reference)
        tail = "/" + field.reference
        return any(image == whole or image.endswith(tail) for image in running)

    return [field for field in fields if rendered(field)]


def check_images(
    manifest: str,
    expected: Sequence[ExpectedImage],
    *,
    third_party: Iterable[str] = (),
    fields: Sequence[ImageField] = (),
    strict: bool = False,
) -> list[Finding]:
    """The findings for one rendered release; ``fields`` are the image fields of the values sent."""
    images = rendered_images(manifest)
    running = {normalize_reference(image.image) for image in images}
    findings: list[Finding] = []
    claimed = {item.values_path for item in expected if item.values_path}
    shown_fields = [f for f in rendered_fields(fields, images) if f.path not in claimed]
    for item in expected:
        if normalize_reference(item.ref) in running:
            continue
        if item.inject == "rewrite":
            if item.required:
                findings.append(_unmatched_rewrite(item))
            continue
        findings.append(_missing_value(item, shown_fields))
    known = {normalize_reference(item.ref) for item in expected} | {normalize_reference(ref) for ref in third_party}
    seen: set[str] = set()
    for image in images:
        normalized = normalize_reference(image.image)
        if normalized in known or normalized in seen:
            continue
        seen.add(normalized)
        findings.append(_unlisted(image, strict=strict))
    return findings


def _missing_value(item: ExpectedImage, shown: Sequence[ImageField]) -> Finding:
    ranked = _ranked(item.service, shown)
    renders = ", ".join(f.path for f in ranked) if ranked else "none from its values"
    message = (
        f"service {item.service}: no rendered workload runs {item.ref} "
        f"(values_path {item.values_path}); the chart renders image fields: {renders}"
    )
    if ranked:
        hint = (
            f"did you mean {ranked[0].path}? set services.{item.service}.values_path to it, "
            "or use inject: rewrite if the chart builds the image from shared values"
        )
    else:
        hint = f"check services.{item.service}.values_path, or set inject: rewrite to rewrite the rendered image"
    return Finding("error", item.service, message, hint)


def _unmatched_rewrite(item: ExpectedImage) -> Finding:
    message = f"service {item.service}: inject: rewrite, but no rendered container image matches it"
    hint = (
        f"set services.{item.service}.image_match to a glob over the chart's image repository "
        "(e.g. '*/name'), or remove inject: rewrite if the chart does not run this image"
    )
    return Finding("error", item.service, message, hint)


def _unlisted(image: RenderedImage, *, strict: bool) -> Finding:
    where = f"{image.kind} {image.name}, {'init container' if image.init else 'container'} {image.container}"
    message = f"image {image.image} ({where}) is neither built by envctl nor listed under images:"
    hint = "add it to images: in envctl.yaml (an offline cluster cannot pull it at run time)"
    if not strict:
        hint += "; --strict-images makes this an error"
    return Finding("error" if strict else "warning", None, message, hint)


def _ranked(service: str, fields: Sequence[ImageField]) -> list[ImageField]:
    """``fields`` most likely the service's first: its key or repository name, then similarity."""
    wanted = name_key(service)

    def score(field: ImageField) -> float:
        names = (name_key(field_key(field)), name_key(field.repository.rsplit("/", 1)[-1]))
        if wanted in names:
            return 2.0
        return max(difflib.SequenceMatcher(None, wanted, name).ratio() for name in names)

    return sorted(fields, key=lambda f: -score(f))[:_SUGGESTED]



# --- after the wait: what the pods run --------------------------------------------------------
@dataclass(frozen=True)
class RunningContainer:
    """One container of a pod of the release, with the image its spec names."""

    pod: str
    container: str
    image: str
    init: bool


def of_service(rule: RewriteRule, reference: str) -> bool:
    """Whether ``reference`` is an image of ``rule``'s service: its configured repository (also
    behind a registry host: ``registry:5000/envctl-demo/api``), or what the rule matches."""
    repository = normalize_reference(image_repository(reference))
    if repository == normalize_reference(rule.image) or repository.endswith("/" + rule.image):
        return True
    return rule.matches(reference)


def belongs(deployed: DeployedImage, reference: str) -> bool:
    """Whether ``reference`` is an image of ``deployed``'s service: the built ref's repository, or
    what ``of_service`` says."""
    if normalize_reference(image_repository(reference)) == normalize_reference(image_repository(deployed.ref)):
        return True
    return of_service(RewriteRule(deployed.service, deployed.image_match, deployed.image, deployed.ref), reference)


def check_running(containers: Iterable[RunningContainer], deployed: Sequence[DeployedImage]) -> list[str]:
    """One message per container that runs an image of a deployed service at another ref than the
    one envctl built. An image equal to any built ref is fine (two services may share a last path
    segment); images of no deployed service (third-party ones) are not judged here."""
    built = {normalize_reference(item.ref) for item in deployed}
    problems: list[str] = []
    for container in containers:
        if normalize_reference(container.image) in built:
            continue
        owners = [item for item in deployed if belongs(item, container.image)]
        if owners:
            kind = "init container" if container.init else "container"
            problems.append(
                f"pod {container.pod} {kind} {container.container} runs {container.image}, "
                f"not {owners[0].ref} (service {owners[0].service})"
            )
    return problems
