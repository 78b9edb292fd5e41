"""BuildKit secrets (``build.secrets``): what the docker client is told, checked before a build.

The client reads each value itself, from its environment (``--secret id=ID,env=VAR``) or a file
(``id=ID,src=PATH``): envctl never holds a secret file's content, and an env secret's value only
as part of the environment it already runs with. A source that is not there would silently be an
empty secret inside ``RUN --mount=type=secret`` (docs/tools-behaviour.md, "Build args and
secrets"), so it is refused before the build starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from envctl.errors import BuildError

__all__ = ["SecretRef", "SecretSources", "masker", "secret_refs"]

SecretSources = Mapping[str, tuple[Literal["env", "file"], str]]  # id -> ("env", VAR) | ("file", path)


@dataclass(frozen=True)
class SecretRef:
    """One BuildKit secret: the client reads it from its environment (``env``) or a file (``src``)."""

    id: str
    env: str | None = None
    src: str | None = None

    @property
    def spec(self) -> str:
        return f"id={self.id},env={self.env}" if self.env is not None else f"id={self.id},src={self.src}"


def secret_refs(secrets: SecretSources, root: Path, environ: Mapping[str, str]) -> tuple[SecretRef, ...]:
    """``secrets`` as the client takes them (a relative file is the workspace's); ``BuildError``
    naming the first whose variable is unset or whose file is missing."""
    refs = []
    for key, (kind, source) in sorted(secrets.items()):
        if kind == "env":
            if source not in environ:
                msg = f"build secret {key!r} reads the environment variable {source}, which is not set"
                raise BuildError(msg, hint=f"export {source} before `envctl up`, or change build.secrets.{key}")
            refs.append(SecretRef(key, env=source))
            continue
        path = Path(source) if Path(source).is_absolute() else root / source
        if not path.is_file():
            msg = f"build secret {key!r} reads the file {source}, which does not exist"
            raise BuildError(msg, hint=f"create it before `envctl up`, or change build.secrets.{key}.file")
        refs.append(SecretRef(key, src=str(path)))
    return tuple(refs)


_MASKED_FROM = 4  # shorter values ("1", "dev") are not masked: they would garble every line


def masker(values: Sequence[str], replacement: str) -> Callable[[str], str]:
    """A function replacing each of ``values`` (longest first) in a line of build output: BuildKit
    prints RUN steps with build args substituted, and a RUN step may print what it was given."""
    masked = sorted({value for value in values if len(value) >= _MASKED_FROM}, key=len, reverse=True)
    if not masked:
        return lambda line: line
    pattern = re.compile("|".join(re.escape(value) for value in masked))
    return lambda line: pattern.sub(replacement, line)
