"""The plan: per service, build / pull / skip and why. ``make_plan`` is pure (no I/O).

JSON contract (``Plan.to_dict``, ``envctl plan --output json``; version 1, pinned by
tests/plan/test_contract.py): a top-level object with
``version`` (1), ``base`` (the ``--base`` ref or null), ``needs_cluster`` (bool),
``chart_changed`` (bool, false without ``--base``), ``local_images_checked`` (bool),
``images`` (third-party images, list of str) and ``services``: a list, in dependency order, of
``{name, image, tag, ref, fingerprint, action ("build"|"pull"|"skip"), reason, changed (bool),
changed_inputs (list of paths, plus the pseudo entries "build_args", "target", "build.secrets",
"base_image:<ref>", "service:<name>"), depends_on (list), dependency_args ({FROM ARG: service}:
the build passes that service's ref through the ARG), dockerfile, context, build_args, target}``.
``build_args`` values are shown as ``***`` except those named in ``build.public_args``.
``changed`` is relative to ``base`` when given; otherwise it means "no image with this
fingerprint exists locally".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from envctl.inputs.fingerprint import ServiceInputs
from envctl.inputs.scan import Scan

__all__ = ["ImageFacts", "Plan", "ServicePlan", "dependency_build_args", "make_plan", "tag_for"]

PLAN_VERSION = 1
REDACTED = "***"  # what every shown build arg value not declared public reads as
Action = Literal["build", "pull", "skip"]


def tag_for(fingerprint: str) -> str:
    """The image tag of a fingerprint (never "latest")."""
    return "fp-" + fingerprint[:16]


@dataclass(frozen=True)
class ImageFacts:
    """What exists already: refs in the local store and in the cache registry.

    ``None`` means "could not be checked", with ``note`` (local) or ``registry_note`` saying why.
    """

    local: frozenset[str] | None = None
    registry: frozenset[str] | None = None
    note: str = ""
    registry_note: str = ""
    # The registry asked is the one the cluster pulls from (a shared cluster's `registry.use`): a
    # ref it holds needs nothing at all, not a pull into the local store.
    registry_serves_cluster: bool = False


@dataclass(frozen=True)
class ServicePlan:
    name: str
    image: str
    tag: str
    fingerprint: str
    action: Action
    reason: str
    changed: bool
    changed_inputs: tuple[str, ...]
    depends_on: tuple[str, ...]
    dockerfile: str
    context: str
    build_args: Mapping[str, str]
    target: str | None
    dependency_args: Mapping[str, str] = field(default_factory=dict)  # FROM ARG -> dependency service
    # Where a skipped image already is: the local store, or only the registry the cluster pulls from.
    found_in: Literal["local", "registry"] | None = None
    public_args: frozenset[str] = frozenset()  # build args whose values may be shown (build.public_args)

    @property
    def shown_build_args(self) -> dict[str, str]:
        """The build args as any output or record shows them: values redacted unless public."""
        return {key: value if key in self.public_args else REDACTED for key, value in self.build_args.items()}

    @property
    def ref(self) -> str:
        return f"{self.image}:{self.tag}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image": self.image,
            "tag": self.tag,
            "ref": self.ref,
            "fingerprint": self.fingerprint,
            "action": self.action,
            "reason": self.reason,
            "changed": self.changed,
            "changed_inputs": list(self.changed_inputs),
            "depends_on": list(self.depends_on),
            "dependency_args": dict(self.dependency_args),
            "dockerfile": self.dockerfile,
            "context": self.context or ".",
            "build_args": self.shown_build_args,
            "target": self.target,
            "found_in": self.found_in,
        }


@dataclass(frozen=True)
class Plan:
    base: str | None
    services: tuple[ServicePlan, ...]
    images: tuple[str, ...]
    chart_changed: bool
    needs_cluster: bool
    local_images_checked: bool = True
    version: int = PLAN_VERSION

    def service(self, name: str) -> ServicePlan:
        for item in self.services:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def changed_services(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services if s.changed)

    @property
    def dependency_refs(self) -> frozenset[str]:
        """The refs of the images other planned services build FROM."""
        return frozenset(self.service(dep).ref for s in self.services for dep in s.dependency_args.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "base": self.base,
            "needs_cluster": self.needs_cluster,
            "chart_changed": self.chart_changed,
            "local_images_checked": self.local_images_checked,
            "images": list(self.images),
            "services": [s.to_dict() for s in self.services],
        }


def dependency_build_args(service: ServicePlan, plan: Plan) -> dict[str, str]:
    """Build args that point a service's ``FROM ${ARG}`` at its dependency's fingerprint ref.

    E.g. api's ``ARG BASE_REF=envctl-demo/base:latest`` / ``FROM ${BASE_REF}`` gives
    ``{"BASE_REF": "envctl-demo/base:fp-…"}``; pass them with the configured build args.
    """
    return {arg: plan.service(dep).ref for arg, dep in service.dependency_args.items()}


def make_plan(
    current: Scan,
    *,
    images: Mapping[str, str],
    third_party: tuple[str, ...] = (),
    base: Scan | None = None,
    base_ref: str | None = None,
    facts: ImageFacts = ImageFacts(),
    changed_only: bool = False,
    selected: tuple[str, ...] | None = None,
    chart_changed: bool = False,
    public_args: frozenset[str] = frozenset(),
) -> Plan:
    """Decide each service's action. ``images`` maps service → image repository.

    ``selected`` limits the plan to those services plus what they build FROM.
    """
    names = _with_dependencies(current, selected)
    planned: list[ServicePlan] = []
    for name in _dependency_order(current, names):
        item = current.inputs[name]
        fingerprint = current.fingerprints[name]
        ref = f"{images[name]}:{tag_for(fingerprint)}"
        if base is not None:
            changed, changed_inputs, why = _compare(
                item, fingerprint, base, name, base_ref=base_ref or "", current=current
            )
        elif facts.local is not None:
            changed, changed_inputs = ref not in facts.local, ()
            why = f"image {ref} not built yet" if changed else ""
        else:
            changed, changed_inputs, why = True, (), f"local images could not be checked ({facts.note})"
        action, reason = _decide(ref, why, facts, changed=changed, changed_only=changed_only, base_ref=base_ref)
        found_in: Literal["local", "registry"] | None = None
        if action == "skip" and facts.local is not None and ref in facts.local:
            found_in = "local"
        elif action == "skip" and facts.registry is not None and ref in facts.registry:
            found_in = "registry"
        planned.append(ServicePlan(
            name=name, image=images[name], tag=tag_for(fingerprint), fingerprint=fingerprint,
            action=action, reason=reason, changed=changed, changed_inputs=changed_inputs,
            depends_on=item.depends_on, dockerfile=item.dockerfile, context=item.context,
            build_args=dict(item.build_args), target=item.target, dependency_args=dict(item.dependency_args),
            found_in=found_in, public_args=public_args,
        ))
    planned = _pull_bases_of_builds(planned)
    any_changed = any(p.changed for p in planned)
    return Plan(
        base=base_ref,
        services=tuple(planned),
        images=tuple(third_party),
        chart_changed=chart_changed,
        needs_cluster=True if base is None else (any_changed or chart_changed),
        local_images_checked=facts.local is not None,
    )


def _decide(ref: str, why: str, facts: ImageFacts, *, changed: bool, changed_only: bool,
            base_ref: str | None) -> tuple[Action, str]:
    """Skip what exists, pull what the cache holds, build the rest: an image that exists nowhere is
    built even when unchanged (--changed-only skips it only when the local store cannot be asked)."""
    if facts.local is not None and ref in facts.local:
        return "skip", f"image {ref} already built" + (f" ({why})" if why else "")
    if facts.registry is not None and ref in facts.registry:
        if facts.registry_serves_cluster:
            return "skip", f"image {ref} is already in the cluster's registry" + (f" ({why})" if why else "")
        return "pull", f"image {ref} is in the cache registry" + (f" ({why})" if why else "")
    if changed_only and not changed and facts.local is None:
        return "skip", f"unchanged since {base_ref} (--changed-only)"
    if not why:
        why = f"unchanged since {base_ref}, but image {ref} is not built here"
    if facts.local is None and base_ref is not None:
        why += f"; local images could not be checked ({facts.note})"
    if facts.registry is None and facts.registry_note:
        why += f"; {facts.registry_note}"
    return "build", why


def _pull_bases_of_builds(planned: list[ServicePlan]) -> list[ServicePlan]:
    """A build FROM an image that only the cluster's registry holds needs that image locally: such a
    dependency is pulled instead of skipped (BuildKit resolves ``FROM`` in the local store)."""
    needed = {dep for p in planned if p.action == "build" for dep in p.dependency_args.values()}
    out = []
    for item in planned:
        if item.name in needed and item.found_in == "registry":
            users = ", ".join(sorted(_dependents(planned, item.name)))
            reason = f"{item.reason}; pulled: {users} build FROM it"
            out.append(replace(item, action="pull", found_in=None, reason=reason))
            continue
        out.append(item)
    return out


def _dependents(planned: list[ServicePlan], name: str) -> set[str]:
    return {p.name for p in planned if p.action == "build" and name in p.dependency_args.values()}


def _compare(item: ServiceInputs, fingerprint: str, base: Scan, name: str, *, base_ref: str,
             current: Scan) -> tuple[bool, tuple[str, ...], str]:
    if name in base.unbuildable:
        return True, (item.dockerfile,), f"not buildable at {base_ref} ({base.unbuildable[name]})"
    old = base.inputs.get(name)
    if old is None:
        return True, (item.dockerfile,), f"new since {base_ref}"
    if base.fingerprints[name] == fingerprint:
        return False, (), ""
    changes: list[str] = []
    first = ""
    for path in sorted(set(old.files) | set(item.files)):
        before, after = old.files.get(path), item.files.get(path)
        if before == after:
            continue
        changes.append(path)
        if not first:
            first = _file_reason(path, before, after, item, old)
    if old.dockerfile_blob != item.dockerfile_blob or old.dockerfile != item.dockerfile:
        changes.insert(0, item.dockerfile)
        first = f"{item.dockerfile} changed"
    for label, differs in (("build_args", old.build_args != item.build_args), ("target", old.target != item.target),
                           ("build.secrets", old.secret_ids != item.secret_ids)):
        if differs:
            changes.append(label)
            first = first or f"{label} changed in envctl.yaml"
    for ref in sorted({r.ref for r in item.base_refs} ^ {r.ref for r in old.base_refs}):
        changes.append(f"base_image:{ref}")
        first = first or f"base image changed to {ref}"
    for dep in item.depends_on:
        if base.fingerprints.get(dep) != current.fingerprints.get(dep):
            changes.append(f"service:{dep}")
            first = first or f"builds FROM {dep}, which changed"
    if not first:  # e.g. a dependency was added or removed
        first, changes = "image inputs changed", changes or ["(config)"]
    more = f" (+{len(changes) - 1} more)" if len(changes) > 1 else ""
    return True, tuple(changes), first + more


def _file_reason(path: str, before: str | None, after: str | None, item: ServiceInputs, old: ServiceInputs) -> str:
    copy = item.via(path) if after is not None else old.via(path)
    verb = "added" if before is None else "removed" if after is None else "changed"
    if copy is None:
        return f"{path} {verb}; listed in extra_inputs"
    copied = "copied" if after is not None else "was copied"
    return f"{path} {verb}; {copied} by `{copy.instruction}` (Dockerfile line {copy.line})"


def _with_dependencies(current: Scan, selected: tuple[str, ...] | None) -> set[str]:
    if selected is None:
        return set(current.inputs)
    names: set[str] = set()
    todo = list(selected)
    while todo:
        name = todo.pop()
        if name not in names:
            names.add(name)
            todo.extend(current.inputs[name].depends_on)
    return names


def _dependency_order(current: Scan, names: set[str]) -> list[str]:
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        for dep in current.inputs[name].depends_on:
            if dep in names:
                visit(dep)
        ordered.append(name)

    for name in sorted(names):
        visit(name)
    return ordered
