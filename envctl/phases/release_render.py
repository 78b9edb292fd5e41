"""The release as an upgrade would install it: values, rewrite rules, rendered manifests, input hash.

Shared by the deploy phase (check, then skip or upgrade) and `envctl status` (would `up` deploy
now?), so both render the same way. Each deployed service reaches the chart one of two ways
(``services.<name>.inject``): ``values`` puts its ref at ``values_path`` (``.repository``/``.tag``);
``rewrite`` has Helm pipe the rendered manifests through envctl's post-renderer
(``envctl.postrender``), which sets every container image its rule matches to the built ref.

The release is rendered with ``helm template`` and the values the upgrade sends. A rewrite rule
joins the post-renderer only when it matters: when the service asked for it (``inject`` or
``image_match`` set) or when the plain render has an image it matches. A default rewrite that
matches nothing (a service without ``values_path`` the chart never runs) then costs nothing, and
a chart that needs no rewrite never needs Helm 3's executable post-renderer (when every rule was
asked for, the plain render is skipped: it would decide nothing). With rules, the release is
rendered through the post-renderer, so the check and the hash see exactly what the upgrade
installs (hooks included or not, as the Helm in use does: docs/tools-behaviour.md, "Helm
post-renderer").
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from envctl.adapters.helm import Helm
from envctl.chart_values import image_fields
from envctl.config import ReleaseSpec
from envctl.errors import ConfigError
from envctl.image_check import ExpectedImage, Finding, Injection, RewriteRule, check_images, encode_rules, of_service
from envctl.release import Values, compute_input_hash, image_ref_at, make_values
from envctl.rendered import rendered_images
from envctl.results import DeployedImage, ImageRef, split_tag

__all__ = ["RenderedRelease", "deployed_refs", "render_release"]


@dataclass(frozen=True)
class RenderedRelease:
    values: Values  # what the upgrade sends on stdin
    values_refs: dict[str, ImageRef]  # values_path → (repository, tag), inject: values
    rules: tuple[RewriteRule, ...]  # the post-renderer's rules, inject: rewrite (empty: no post-renderer)
    manifest: str  # what the upgrade installs
    input_hash: str
    images: tuple[DeployedImage, ...]  # every deployed service and its ref
    expected: tuple[ExpectedImage, ...]
    chart_values: Values  # the values with the chart's defaults under them: where "did you mean" looks

    @property
    def post_render(self) -> str | None:
        """The post-renderer's argument, or None when no rule applies."""
        return encode_rules(self.rules) if self.rules else None

    def findings(self, third_party: Iterable[str], *, strict: bool) -> list[Finding]:
        """The pre-deploy image check of this render (``image_check.check_images``)."""
        fields = image_fields(self.chart_values)
        return check_images(self.manifest, self.expected, third_party=third_party, fields=fields, strict=strict)


async def render_release(
    helm: Helm,
    spec: ReleaseSpec,
    chart_dir: Path,
    values_files: Iterable[Path],
    *,
    refs: Mapping[str, str],
    services: Mapping[str, Injection],
) -> RenderedRelease:
    """Render the release with ``refs`` (service → ref) injected as ``services`` say."""
    if not (chart_dir / "Chart.yaml").is_file():
        msg = f"no Helm chart at {chart_dir} (no Chart.yaml)"
        raise ConfigError(msg, hint="fix release.chart in envctl.yaml (a chart folder, relative to the workspace)")
    deployed = {name: services[name] for name in refs if name in services}
    values_refs = {
        inj.values_path: split_tag(refs[name])
        for name, inj in deployed.items()
        if inj.mode == "values" and inj.values_path
    }
    files = tuple(values_files)
    values = make_values(files, spec.set, values_refs)
    candidates = [inj.rule(refs[name]) for name, inj in deployed.items() if inj.mode == "rewrite"]
    if candidates and all(deployed[rule.service].required for rule in candidates):
        rules = tuple(candidates)  # every rule joins anyway: the plain render would decide nothing
    else:
        manifest = await helm.template(spec.name, chart_dir, values, namespace=spec.namespace)
        rendered = [image.image for image in rendered_images(manifest)]
        rules = tuple(
            rule for rule in candidates
            if deployed[rule.service].required or any(rule.matches(image) for image in rendered)
        )  # fmt: skip
    if rules:
        manifest = await helm.template(
            spec.name, chart_dir, values, namespace=spec.namespace, post_render=encode_rules(rules)
        )
    images = tuple(DeployedImage(name, refs[name], inj.image, inj.image_match) for name, inj in deployed.items())
    expected = tuple(
        ExpectedImage(name, refs[name], inj.mode, inj.values_path, required=inj.required)
        for name, inj in deployed.items()
    )
    defaults = chart_dir / "values.yaml"
    chart_values = make_values((defaults, *files), spec.set, values_refs) if defaults.is_file() else values
    input_hash = compute_input_hash(chart_dir, values, values_refs, manifest=manifest)
    return RenderedRelease(values, values_refs, rules, manifest, input_hash, images, expected, chart_values)


async def deployed_refs(
    helm: Helm, spec: ReleaseSpec, services: Mapping[str, Injection], wanted: Collection[str],
    *, revision: int | None = None,
) -> dict[str, str]:  # fmt: skip
    """The refs the installed release runs for the ``wanted`` services (empty when not installed):
    from its values at ``values_path``, or (``inject: rewrite``) from its manifests, the first
    container image of the service. `up --services a,b` deploys the others with these, so a
    partial run never resets them to the chart's defaults. ``revision``: the installed one, when
    the caller has just read it."""
    if revision is None:
        current = await helm.current(spec.name, spec.namespace)
        if current is None:
            return {}
        revision = current.revision
    if not wanted:
        return {}
    found: dict[str, str] = {}
    by_values = [name for name in wanted if services[name].mode == "values"]
    if by_values:
        values = await helm.values(spec.name, spec.namespace, revision)
        for name in by_values:
            path = services[name].values_path
            ref = image_ref_at(values, path) if path else None
            if ref is not None:
                found[name] = f"{ref[0]}:{ref[1]}"
    by_rewrite = [name for name in wanted if services[name].mode == "rewrite"]
    if by_rewrite:
        manifest = await helm.manifest(spec.name, spec.namespace, revision)
        images = [image.image for image in rendered_images(manifest)]
        for name in by_rewrite:
            running = next((image for image in images if of_service(services[name].rule(""), image)), None)
            if running is not None:
                found[name] = running
    return found
