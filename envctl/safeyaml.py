"""Reading a YAML document envctl did not write (``envctl.yaml``) without trusting its shape.

``yaml.safe_load`` alone accepts things that either hide mistakes or take the process down:

* a file that is not UTF-8 (a ``UnicodeDecodeError`` traceback);
* a key written twice in one mapping (the last one silently wins);
* an alias "bomb": a few hundred bytes of anchors referring to anchors expand into millions of
  values once anything walks the data (validation and error formatting did, at ~950 MB);
* nesting thousands of levels deep (the composer recurses: ``RecursionError``).

``load_yaml_document`` refuses each of them with a ``ConfigError`` naming the file and, where
YAML knows it, the line. The bounds are far above any real config: envctl.yaml nests about six
levels, and anchors are rare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from envctl.errors import ConfigError

__all__ = ["MAX_DEPTH", "MAX_NODES", "load_yaml_document"]

MAX_DEPTH = 64  # nested collections
MAX_NODES = 100_000  # values after every alias is expanded


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting while composing and duplicate keys while constructing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]  # types-PyYAML leaves Parser unannotated
                raise ComposerError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:  # noqa: FBT001, FBT002 - PyYAML's signature
        seen: dict[tuple[str, str], Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise ConstructorError(
                    None, None, f"key {key_node.value!r} appears twice (first on line {first})", key_node.start_mark
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load_yaml_document(path: Path) -> Any:
    """The one YAML document in ``path`` as plain data; ``ConfigError`` for anything unsafe or malformed."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read the file ({exc.strerror or exc})"
        raise ConfigError(msg, hint="check that the file exists and is readable") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        msg = f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        raise ConfigError(msg, hint="save the file as UTF-8") from exc
    loader = None
    try:
        loader = _BoundedLoader(text)  # its reader refuses control characters right away
        root = loader.get_single_node()
        if root is None:
            return None
        _check_expansion(path, root)
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(path, exc), hint=_yaml_hint(exc)) from exc
    finally:
        if loader is not None:
            loader.dispose()


def _check_expansion(path: Path, root: Node) -> None:
    """Refuse a document whose aliases expand to more than ``MAX_NODES`` values.

    Aliases share node objects, so each node's expanded size is computed once (by identity) and
    the whole check is linear in the *written* document, however large its expansion.
    """
    sizes: dict[int, int] = {}
    order: list[Node] = []
    stack: list[Node] = [root]
    while stack:  # post-order without recursion (nesting is bounded, but stay iterative anyway)
        node = stack.pop()
        if id(node) in sizes:
            continue
        order.append(node)
        sizes[id(node)] = 0
        stack.extend(_children(node))
    for node in reversed(order):
        total = 1 + sum(sizes[id(child)] for child in _children(node))
        sizes[id(node)] = min(total, MAX_NODES + 1)
    if sizes[id(root)] > MAX_NODES:
        msg = f"{path}: aliases expand to more than {MAX_NODES:,} values"
        raise ConfigError(msg, hint="write the values out, or use fewer nested `*alias` references")


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1} column {mark.column + 1}:" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if isinstance(exc, yaml.reader.ReaderError):
        problem = (
            f"character U+{exc.character:04X} is not allowed in YAML"
            if isinstance(exc.character, int)
            else str(exc)
        )
        where = f" offset {exc.position}:"
    kind = "malformed YAML" if not isinstance(exc, ConstructorError | ComposerError) else "refused YAML"
    return f"{path}:{where} {kind}: {problem}"


def _yaml_hint(exc: yaml.YAMLError) -> str:
    if isinstance(exc, ConstructorError) and "appears twice" in str(getattr(exc, "problem", "")):
        return "keep one of the two entries"
    if isinstance(exc, ComposerError) and "nesting deeper" in str(getattr(exc, "problem", "")):
        return f"envctl.yaml never needs more than a few levels; flatten the value (limit {MAX_DEPTH})"
    return "fix the YAML syntax at that position"
