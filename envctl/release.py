"""The release's inputs, computed without side effects: merged values, input hash, image refs.

Shared by the deploy phase (what to send, whether to skip) and by `envctl status` (would `up`
deploy now?), so both answer from the same rules.

Values are merged here, not by pyhelm3 (whose merge concatenates lists): the values files in
order, then ``release.set`` (dotted paths), then every service's image ``repository``/``tag`` at
its ``values_path``. Maps merge key by key; anything else, lists included, is replaced by the
later layer - what helm itself does with several ``-f`` files.

Helm never skips a no-op upgrade (helm#8833) and helm-diff is slow (helm-diff#444), so envctl
hashes its inputs (the chart's files, the merged values, the injected image refs, the rendered
manifests) and stores the
hash on the release as its description (``envctl-input-hash=<hex>``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from envctl.errors import ConfigError
from envctl.rendered import manifest_digest
from envctl.results import ImageRef

__all__ = [
    "HASH_PREFIX",
    "Values",
    "compute_input_hash",
    "image_ref_at",
    "input_hash_of",
    "load_values_file",
    "lookup",
    "make_values",
    "merge_values",
]

HASH_PREFIX = "envctl-input-hash="
Values = dict[str, object]  # a chart values tree, as YAML or JSON gives it


def merge_values(*layers: Mapping[str, object]) -> Values:
    """Deep-merge value layers, later wins; maps merge, lists and scalars are replaced (as helm -f does)."""
    merged: Values = {}
    for layer in layers:
        merged = _merge_two(merged, layer)
    return merged


def _merge_two(base: Mapping[str, object], override: Mapping[str, object]) -> Values:
    out = dict(base)
    for key, value in override.items():
        below = out.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            out[key] = _merge_two(below, value)
        else:
            out[key] = _copy(value)
    return out


def _copy(value: object) -> object:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _set_dotted(values: Values, path: str, value: object, *, origin: str) -> None:
    node = values
    parts = path.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            msg = f"{origin} {path!r}: {where!r} is {type(child).__name__} {child!r} in the values, not a mapping"
            raise ConfigError(msg, hint=f"point {origin} at a key inside a mapping, or change the values file")
        node = child
    node[parts[-1]] = _copy(value)


def load_values_file(path: Path) -> Values:
    if not path.is_file():
        msg = f"values file {path} does not exist"
        raise ConfigError(msg, hint="fix release.values in envctl.yaml (paths are relative to the workspace root)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        msg = f"values file {path}: malformed YAML: {str(exc).splitlines()[0]}"
        raise ConfigError(msg, hint="fix the YAML syntax of the values file") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = f"values file {path}: expected a mapping at the top level, got {type(data).__name__}"
        raise ConfigError(msg, hint="a values file is a YAML mapping of chart values")
    return {str(key): value for key, value in data.items()}


def make_values(
    values_files: Iterable[Path], set_values: Mapping[str, object], service_refs: Mapping[str, ImageRef]
) -> Values:
    """The one values dict sent to helm: files in order, then ``set``, then the image refs."""
    values = merge_values(*(load_values_file(path) for path in values_files))
    for path, value in set_values.items():
        _set_dotted(values, path, value, origin="release.set")
    for values_path, (repository, tag) in sorted(service_refs.items()):
        _set_dotted(values, f"{values_path}.repository", repository, origin="values_path")
        _set_dotted(values, f"{values_path}.tag", tag, origin="values_path")
    return values


def compute_input_hash(
    chart_dir: Path, values: Mapping[str, object], service_refs: Mapping[str, ImageRef], *, manifest: str | None = None
) -> str:
    """SHA-256 over the chart's files (sorted by path, minus .helmignore), the values, the image refs
    and, when given, the rendered manifests (post-rendered for ``inject: rewrite``: what is installed)."""
    import pathspec

    ignore_file = chart_dir / ".helmignore"
    ignored = pathspec.GitIgnoreSpec.from_lines(
        ignore_file.read_text(encoding="utf-8").splitlines() if ignore_file.is_file() else []
    )
    digest = hashlib.sha256()
    files = sorted(p for p in chart_dir.rglob("*") if p.is_file())
    for path in files:
        relative = path.relative_to(chart_dir).as_posix()
        if ignored.match_file(relative):
            continue
        digest.update(b"file\0" + relative.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(b"values\0" + json.dumps(values, sort_keys=True, separators=(",", ":"), default=str).encode())
    refs = sorted((path, repo, tag) for path, (repo, tag) in service_refs.items())
    digest.update(b"refs\0" + json.dumps(refs).encode())
    if manifest is not None:
        digest.update(b"manifest\0" + manifest_digest(manifest).encode())
    return digest.hexdigest()


def input_hash_of(description: str) -> str | None:
    """The input hash a revision's description stores, or None when envctl did not deploy it."""
    return description.removeprefix(HASH_PREFIX) if description.startswith(HASH_PREFIX) else None


def lookup(values: Mapping[str, object] | None, dotted: str) -> dict[str, object]:
    """The mapping at ``dotted`` in a values tree (empty when absent or not a mapping)."""
    node: object = values or {}
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return {str(k): v for k, v in node.items()} if isinstance(node, Mapping) else {}


def image_ref_at(values: Mapping[str, object] | None, values_path: str) -> ImageRef | None:
    """The (repository, tag) a values tree holds at ``values_path``, if it holds a tag there."""
    node = lookup(values, values_path)
    return (str(node.get("repository", "")), str(node["tag"])) if "tag" in node else None
