"""BuildKit cache specs (``--cache-from`` / ``--cache-to``), kept per service.

One cache location shared by every service keeps one service's cache: BuildKit's local cache
exporter writes the build's cache manifest into the folder's ``index.json`` under the tag
``latest``, replacing the entry the previous service wrote (moby/buildkit@v0.32.2
client/solve.go, ``storesToUpdate[csDir] = tag``; client/ociindex ``insertDesc`` removes manifests
with the same tag). The gha backend's default ``scope`` ("buildkit") and the registry backend's
``ref`` collide the same way. So every spec envctl passes is scoped to the service it builds:

* ``type=local``: ``src=DIR`` reads ``DIR/<service>``; ``dest=DIR`` is written to a fresh
  ``DIR/.<service>.incoming`` that replaces ``DIR/<service>`` only after the build succeeded — so
  each service's cache stays bounded (blobs are never garbage-collected in a reused folder) and a
  failed build keeps the previous cache;
* ``type=registry``: ``ref=R:T`` → ``R:T-<service>`` (``R`` → ``R:<service>``);
* ``type=gha``: ``scope=S`` → ``S-<service>`` (unset → ``<service>``);
* ``type=s3`` / ``type=azblob``: ``name`` likewise; ``type=inline`` and plain image refs unchanged.

Specs are parsed as buildx parses them (docker/buildx@v0.36.1 util/buildflags/cache.go
``ParseCacheEntry``: a value without ``=`` is an image ref; otherwise CSV ``key=value`` fields,
keys case-insensitive) and written back as CSV in the order given.

``type=gha`` is kept only where buildx can fill in what the backend needs (docker/buildx@v0.36.1
build/opt.go ``addGithubToken``; moby/buildkit@v0.32.2 cache/remotecache/gha/gha.go ``getConfig``):
a URL (the spec's ``url``/``url_v2``, else ``ACTIONS_CACHE_URL``, else ``ACTIONS_RESULTS_URL`` — cache
service v2 runners set only the latter) and a token (``token``, else ``ACTIONS_RUNTIME_TOKEN``).
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["finish_local_exports", "gha_usable", "incoming_dir", "local_exports", "scoped_spec"]

_INCOMING = ".{scope}.incoming"


def _fields(spec: str) -> list[str]:
    return next(csv.reader([spec], skipinitialspace=False), [])


def _attrs(spec: str) -> list[tuple[str, str]] | None:
    """``[(key, value), ...]`` in order, or None for an image ref (no ``=``)."""
    if "=" not in spec:
        return None
    pairs = []
    for field in _fields(spec):
        key, _, value = field.partition("=")
        pairs.append((key.strip().lower(), value))
    return pairs


def _join(pairs: Sequence[tuple[str, str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([f"{key}={value}" for key, value in pairs])
    return out.getvalue()


def incoming_dir(dest: str, scope: str) -> str:
    """Where a local export of ``scope`` is written before it replaces ``dest/<scope>``."""
    return str(Path(dest) / _INCOMING.format(scope=scope))


def scoped_spec(spec: str, scope: str, *, export: bool) -> str:
    """``spec`` keyed to one service (see the module docstring); unchanged when ``scope`` is empty."""
    pairs = _attrs(spec)
    if pairs is None or not scope:
        return spec
    found = dict(pairs)
    kind = found.get("type", "")
    if kind == "local":
        key = "dest" if export else "src"
        if key in found:
            value = incoming_dir(found[key], scope) if export else str(Path(found[key]) / scope)
            return _join(_replace(pairs, key, value))
    elif kind == "registry" and "ref" in found:
        return _join(_replace(pairs, "ref", _scoped_ref(found["ref"], scope)))
    elif kind == "gha":
        return _join(_replace(pairs, "scope", f"{found['scope']}-{scope}" if "scope" in found else scope))
    elif kind in ("s3", "azblob"):
        return _join(_replace(pairs, "name", f"{found['name']}-{scope}" if "name" in found else scope))
    return spec


def local_exports(specs: Sequence[str], scope: str) -> list[tuple[Path, Path]]:
    """(incoming folder, final folder) of each local export among ``specs`` (unscoped specs)."""
    moves = []
    for spec in specs:
        found = dict(_attrs(spec) or [])
        if scope and found.get("type") == "local" and found.get("dest"):
            moves.append((Path(incoming_dir(found["dest"], scope)), Path(found["dest"]) / scope))
    return moves


def finish_local_exports(moves: Sequence[tuple[Path, Path]], *, succeeded: bool) -> None:
    """Swap each incoming folder in after a successful build; drop it after a failed one."""
    for incoming, final in moves:
        if not succeeded or not incoming.is_dir():
            shutil.rmtree(incoming, ignore_errors=True)
            continue
        retired = final.with_name(f".{final.name}.retired")
        shutil.rmtree(retired, ignore_errors=True)
        if final.exists():
            final.rename(retired)
        incoming.rename(final)
        shutil.rmtree(retired, ignore_errors=True)


def gha_usable(spec: str, environ: Mapping[str, str]) -> bool:
    """False for a ``type=gha`` spec buildx could not complete with a URL and a token."""
    found = dict(_attrs(spec) or [])
    if found.get("type") != "gha":
        return True
    url = (
        found.get("url")
        or found.get("url_v2")
        or environ.get("ACTIONS_CACHE_URL")
        or environ.get("ACTIONS_RESULTS_URL")
    )
    token = found.get("token") or environ.get("ACTIONS_RUNTIME_TOKEN")
    return bool(url) and bool(token)


def _replace(pairs: Sequence[tuple[str, str]], key: str, value: str) -> list[tuple[str, str]]:
    out = [(k, value if k == key else v) for k, v in pairs]
    return out if any(k == key for k, _ in pairs) else [*out, (key, value)]


def _scoped_ref(ref: str, scope: str) -> str:
    head, slash, last = ref.rpartition("/")
    name, colon, tag = last.partition(":")
    return f"{head}{slash}{name}:{tag}-{scope}" if colon else f"{ref}:{scope}"
