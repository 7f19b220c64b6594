"""Scenarios: the protocol as written (`base`) and each named variant of it.

A scenario's `set` maps dotted paths to new values; the variant is the data as
written with those values put in place, validated again like any protocol. So
a scenario can only produce a protocol that could have been written by hand.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from cstrial.errors import ProtocolError, ProtocolProblem
from cstrial.protocol.base import Found, Loc
from cstrial.protocol.messages import render_path
from cstrial.protocol.models import Protocol
from cstrial.protocol.overrides import OverrideError, set_path
from cstrial.protocol.validation import check, in_file_order
from cstrial.protocol.yaml_nodes import Lines, line_for

BASE = "base"


@dataclass(frozen=True)
class Scenario:
    """One scenario of a run; index 0 is `base`, the protocol as written."""

    index: int
    name: str
    protocol: Protocol


def expand_scenarios(protocol: Protocol) -> list[Scenario]:
    """`base` followed by each of `protocol.scenarios`, in order, as full protocols.

    Raises ProtocolError if a scenario does not give a valid protocol (a
    protocol from `load_protocol` or `parse_protocol` has been checked already).
    """
    written = protocol.as_written()
    context = {"source_text": protocol.source_text, "source_path": protocol.source_path}
    expanded = [Scenario(0, BASE, protocol)]
    for i, spec in enumerate(protocol.scenarios):
        variant, problems = _variant(i, written, spec.set, {}, context)
        if variant is None:
            source = str(protocol.source_path) if protocol.source_path else "protocol"
            raise ProtocolError(in_file_order(problems), source)
        expanded.append(Scenario(i + 1, spec.name, variant))
    return expanded


def scenario_problems(written: dict[str, Any], lines: Lines, base: Found) -> list[ProtocolProblem]:
    """Every problem the scenarios of `written` cause, beyond those of the base protocol."""
    scenarios = written.get("scenarios")
    if not isinstance(scenarios, list):
        return []
    problems = []
    for i, spec in enumerate(scenarios):
        overrides = spec.get("set") if isinstance(spec, dict) else None
        if isinstance(overrides, dict):  # a malformed scenario is reported by its schema
            problems += _variant(i, written, overrides, lines, {}, base)[1]
    return problems


def _variant(
    i: int,
    written: dict[str, Any],
    overrides: dict[Any, Any],
    lines: Lines,
    context: dict[str, Any],
    base: Collection[tuple[Loc, str]] = (),
) -> tuple[Protocol | None, list[ProtocolProblem]]:
    """Scenario `i`'s protocol, or None and its problems, each placed at its override."""
    data = copy.deepcopy(written)
    data.pop("scenarios", None)
    applied: dict[str, Loc] = {}
    problems: list[ProtocolProblem] = []
    for key, value in overrides.items():
        try:
            applied[key] = set_path(data, key, value, Protocol)
        except OverrideError as error:
            # a path into a part of the base that is itself invalid fails because of it
            if not any(_related(error.at, loc) for loc, _ in base):
                problems.append(_problem(i, key, (), str(error), lines))
    if len(applied) < len(overrides):
        return None, problems
    variant, found = check(data, context | {"written": data})
    new = [(loc, message) for loc, message in found if (loc, message) not in base]
    return variant, [_placed(i, loc, message, applied, lines) for loc, message in new]


def _related(a: Loc, b: Loc) -> bool:
    """Whether one location is inside (or is) the other."""
    return a[: len(b)] == b or b[: len(a)] == a


def _placed(
    i: int, loc: Loc, message: str, applied: dict[str, Loc], lines: Lines
) -> ProtocolProblem:
    """A problem in a variant, reported at the override that caused it."""
    under = [key for key, at in applied.items() if loc[: len(at)] == at]
    if under:
        key = max(under, key=lambda k: len(applied[k]))
        return _problem(i, key, loc[len(applied[key]) :], message, lines)
    above = [key for key, at in applied.items() if at[: len(loc)] == loc]
    cause = f"makes {render_path(loc) or 'the protocol'} invalid: {message}"
    return _problem(i, above[0] if above else None, (), cause, lines)


def _problem(i: int, key: str | None, below: Loc, message: str, lines: Lines) -> ProtocolProblem:
    """A problem at ``scenarios[i].set.<key><below>``, on the line of that override."""
    at: Loc = ("scenarios", i, "set") if key is None else ("scenarios", i, "set", key)
    return ProtocolProblem(render_path((*at, *below)), message, line_for(lines, at))
