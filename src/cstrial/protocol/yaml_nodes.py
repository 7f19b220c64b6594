"""Reading YAML safely while remembering the line of every key and list item.

`yaml.safe_load` forgets where values came from; composing the node graph with
the safe loader and constructing values ourselves gives the same data (same
tags, same types, merge keys, anchors) plus a map from each location to its
1-based line, which every protocol problem quotes. Duplicate keys, which
`safe_load` silently resolves to the last one, are reported.

Hostile YAML is refused before anything is built: nesting deeper than
MAX_DEPTH (PyYAML composes recursively), aliases or merge keys that would
expand to more than MAX_VALUES values ("billion laughs"), alias cycles, and
characters YAML does not allow (NUL and other control characters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from cstrial.errors import ProtocolProblem
from cstrial.protocol.base import Loc
from cstrial.protocol.messages import render_path, show

Lines = dict[Loc, int]
"""Location → 1-based line: the key's line in a mapping, the item's line in a list."""

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

MAX_DEPTH = 64  # levels of mappings and lists; a protocol needs fewer than 10
MAX_VALUES = 100_000  # values once aliases are expanded; a protocol holds a few hundred


@dataclass
class ParsedYaml:
    """The data in a YAML text, where each part of it is, and what was wrong with it."""

    data: Any = None
    lines: Lines = field(default_factory=dict)
    problems: list[ProtocolProblem] = field(default_factory=list)


def parse_yaml(text: str) -> ParsedYaml:
    """Parse YAML text with `yaml.safe_load` semantics, keeping line numbers.

    A syntax error gives no data and one problem at the line YAML reports.
    """
    try:
        loader = _Loader(text)  # the reader rejects NUL and other control characters at once
    except yaml.reader.ReaderError as error:
        return ParsedYaml(problems=[_character_problem(error, text)])
    parsed = ParsedYaml()
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_expansion(root)
            parsed.lines[()] = root.start_mark.line + 1
            parsed.data = _Builder(loader, parsed).value(root, ())
    except yaml.MarkedYAMLError as error:
        return ParsedYaml(problems=[_syntax_problem(error)])
    except yaml.reader.ReaderError as error:
        return ParsedYaml(problems=[_character_problem(error, text)])
    except yaml.YAMLError as error:
        return ParsedYaml(problems=[ProtocolProblem("", f"invalid YAML: {error}")])
    except RecursionError:  # a last guard: MAX_DEPTH should always come first
        return ParsedYaml(problems=[ProtocolProblem("", "invalid YAML: nested too deeply")])
    finally:
        loader.dispose()
    return parsed


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing nesting deeper than MAX_DEPTH while it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {MAX_DEPTH} levels deep; a protocol needs fewer than 10",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_expansion(root: Node) -> None:
    """Refuse a node graph that aliases expand beyond MAX_VALUES values or MAX_DEPTH levels, or that cycles.

    Walks the graph as the builder would, an alias standing for all it refers to,
    without recursion and without building anything, so a "billion laughs" or a
    merge-key bomb costs at most MAX_VALUES steps.
    """
    count = 0
    path: list[int] = []  # ids of the ancestors of the node being visited
    on_path: set[int] = set()
    stack: list[tuple[Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        for gone in path[depth:]:
            on_path.discard(gone)
        del path[depth:]
        if id(node) in on_path:
            raise yaml.constructor.ConstructorError(
                None, None, "an alias refers to its own ancestor (a cycle)", node.start_mark
            )
        count += 1
        if count > MAX_VALUES or depth > MAX_DEPTH:
            what = (
                f"more than {MAX_VALUES:,} values"
                if count > MAX_VALUES
                else f"more than {MAX_DEPTH} levels of nesting"
            )
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"its aliases (*name) and merge keys (<<) expand to {what}; "
                "a protocol holds a few hundred values",
                node.start_mark,
            )
        path.append(id(node))
        on_path.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((child, depth + 1) for child in reversed(node.value))
        elif isinstance(node, MappingNode):
            for key_node, value_node in reversed(node.value):
                stack.append((value_node, depth + 1))
                stack.append((key_node, depth + 1))


def _character_problem(error: yaml.reader.ReaderError, text: str) -> ProtocolProblem:
    line = text.count("\n", 0, error.position) + 1 if error.position is not None else None
    code = error.character if isinstance(error.character, int) else ord(error.character or "?")
    return ProtocolProblem(
        "",
        f"invalid YAML: the character U+{code:04X} is not allowed in YAML "
        "(control characters such as NUL cannot be written in a protocol)",
        line,
    )


def line_for(lines: Lines, loc: Loc) -> int | None:
    """The line of `loc`, or of its nearest parent in the file (for a missing field)."""
    loc = tuple(loc)
    while loc not in lines and loc:
        loc = loc[:-1]
    return lines.get(loc)


def _syntax_problem(error: yaml.MarkedYAMLError) -> ProtocolProblem:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark else None
    what = error.problem or "cannot be read"
    if error.context and "single document" in error.context:
        what = "the file holds more than one YAML document (---); a protocol is one document"
    elif error.context:
        started = (
            f" that starts on line {error.context_mark.line + 1}" if error.context_mark else ""
        )
        what = f"{what} ({error.context}{started})"
    if "\\t" in what:
        what += "; YAML indents with spaces, not tabs"
    return ProtocolProblem("", f"invalid YAML: {what}", line)


class _Builder:
    """Builds Python values from composed nodes, recording lines and key problems."""

    def __init__(self, loader: yaml.SafeLoader, parsed: ParsedYaml) -> None:
        self.loader = loader
        self.parsed = parsed
        self.open: set[int] = set()  # nodes being built: an alias back to one is a cycle

    def value(self, node: Node, loc: Loc) -> Any:
        if id(node) in self.open:
            raise yaml.constructor.ConstructorError(
                None, None, "an alias refers to its own ancestor (a cycle)", node.start_mark
            )
        self.open.add(id(node))
        try:
            if isinstance(node, MappingNode) and node.tag == _MAP:
                return self._mapping(node, loc)
            if isinstance(node, SequenceNode) and node.tag == _SEQ:
                return self._sequence(node, loc)
            try:
                return self.loader.construct_object(node, deep=True)
            except ValueError as error:  # e.g. an integer of more than 4300 digits
                reason = str(error).split(";")[0]
                line = node.start_mark.line + 1
                self._problem(loc, f"cannot read {show(node.value)}: {reason}", line)
                return None
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[str, Any]:
        written = {id(key_node) for key_node, _ in node.value}
        self.loader.flatten_mapping(node)  # resolves merge keys (<<: *defaults), merged first
        out: dict[str, Any] = {}
        explicit: set[str] = set()
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                self._problem(loc, f"keys must be text, found {show(key)}", line)
                continue
            if key in explicit:  # reported; the last value is kept, as safe_load keeps it
                first = self.parsed.lines[(*loc, key)]
                self._problem((*loc, key), f"duplicate key (first at line {first})", line)
            if id(key_node) in written:
                explicit.add(key)  # a written key overrides a merged one, as in safe_load
            self.parsed.lines[(*loc, key)] = line
            out[key] = self.value(value_node, (*loc, key))
        return out

    def _sequence(self, node: SequenceNode, loc: Loc) -> list[Any]:
        items = []
        for i, item_node in enumerate(node.value):
            self.parsed.lines[(*loc, i)] = item_node.start_mark.line + 1
            items.append(self.value(item_node, (*loc, i)))
        return items

    def _problem(self, loc: Loc, message: str, line: int) -> None:
        self.parsed.problems.append(ProtocolProblem(render_path(loc), message, line))
