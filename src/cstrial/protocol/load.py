"""Loading a protocol from a YAML file or a mapping, reporting every problem at once."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cstrial.errors import ProtocolError, ProtocolProblem
from cstrial.protocol.fields import unreadable
from cstrial.protocol.models import Protocol
from cstrial.protocol.overrides import OverrideError, set_path
from cstrial.protocol.scenarios import scenario_problems
from cstrial.protocol.validation import check, in_file_order, to_problems
from cstrial.protocol.yaml_nodes import Lines, parse_yaml

# PyYAML parses about 50 kB of dense YAML a second: larger files are refused, not waited for.
MAX_PROTOCOL_BYTES = 256 * 1024
_TOP = "name, title, population, arms, endpoints, design, simulation, scenarios, grid"


def load_protocol(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Protocol:
    """Read, validate and return the protocol in a YAML file.

    `overrides` maps dotted paths (as a scenario's `set`: ``arms.tocilizumab.effect.blockade``)
    to values put in place before validation, as the CLI's ``--set PATH=VALUE`` does; the
    protocol is then the file as if written with those values (its scenarios apply on top),
    and it keeps no source text, so a run records and re-runs its resolved YAML.

    Raises ProtocolError naming every problem in the file with its line and
    field path, including problems of its scenarios and of the overrides.
    """
    path = Path(path)
    text: str | None = _read(path)
    assert text is not None
    parsed = parse_yaml(text)
    if parsed.data is None and parsed.problems:  # a YAML syntax error
        raise ProtocolError(parsed.problems, str(path))
    data = parsed.data
    if overrides:
        data = _overridden(data, overrides, str(path))
        text = None
    return _validated(data, str(path), parsed.lines, parsed.problems, text, path)


def _overridden(data: Any, overrides: Mapping[str, Any], source: str) -> Any:
    """The data with each override in place; ProtocolError naming each path that fails."""
    if not isinstance(data, dict):
        return data  # reported as it is by the validation
    data = copy.deepcopy(data)
    problems = []
    for dotted, value in overrides.items():
        try:
            set_path(data, dotted, value, Protocol)
        except OverrideError as error:
            problems.append(ProtocolProblem(f"--set {dotted}", str(error)))
    if problems:
        raise ProtocolError(problems, source)
    return data


def parse_protocol(
    data: dict[str, Any], source: str = "protocol", lines: Lines | None = None
) -> Protocol:
    """Validate and return the protocol in a mapping, as `load_protocol` does for a file.

    `lines` maps locations such as ('arms', 1, 'allocation') to file lines, if known.
    """
    return _validated(data, source, lines or {}, [], None, None)


def _read(path: Path) -> str:
    try:
        if path.exists() and not path.is_file() and not path.is_dir():
            raise ProtocolError([ProtocolProblem("", "is not a regular file")], str(path))
        with open(path, "rb") as handle:  # never more than the limit, whatever the file
            data = handle.read(MAX_PROTOCOL_BYTES + 1)
        if len(data) <= MAX_PROTOCOL_BYTES:
            return data.decode("utf-8")
        reason = (
            f"is larger than {MAX_PROTOCOL_BYTES // 1024} KiB; a protocol is a short YAML file "
            "(use scenarios or a grid rather than repeating the protocol)"
        )
    except FileNotFoundError:
        reason = "file not found"
    except IsADirectoryError:
        reason = "is a directory, not a protocol file"
    except UnicodeDecodeError as error:
        reason = f"is not UTF-8 text (byte {error.start})"
    except OSError as error:
        reason = f"cannot be read: {error.strerror or error}"
    raise ProtocolError([ProtocolProblem("", reason)], str(path))


def _validated(
    data: Any,
    source: str,
    lines: Lines,
    problems: list[ProtocolProblem],
    text: str | None,
    path: Path | None,
) -> Protocol:
    if not isinstance(data, dict):
        what = "the file is empty" if data is None else "the top level is not a mapping"
        message = f"{what}: a protocol is a mapping of fields ({_TOP})"
        raise ProtocolError([*problems, ProtocolProblem("", message, lines.get(()))], source)
    unreadable = _surrogates(data)
    if unreadable:  # pydantic cannot even hold such text: report it before anything else
        raise ProtocolError(in_file_order([*problems, *to_problems(unreadable, lines)]), source)
    context = {"written": data, "source_text": text, "source_path": path}
    protocol, found = check(data, context)
    problems = [*problems, *to_problems(found, lines), *scenario_problems(data, lines, found)]
    if problems or protocol is None:
        raise ProtocolError(in_file_order(problems), source)
    return protocol


def _surrogates(node: Any, loc: tuple = ()) -> list[tuple[tuple, str]]:
    """Each key or text holding a lone Unicode surrogate (YAML's "\\ud800"), which is not
    text: it can be neither validated nor written as UTF-8."""
    found: list[tuple[tuple, str]] = []
    if isinstance(node, str):
        reason = unreadable(node)
        if reason and "surrogate" in reason:
            found.append((loc, reason))
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and (reason := unreadable(key)) and "surrogate" in reason:
                found.append(((*loc, key), f"this key {reason}"))
                continue
            found += _surrogates(value, (*loc, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _surrogates(value, (*loc, i))
    return found
