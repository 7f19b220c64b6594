"""Scenarios: the protocol as written (`base`), each named variant of it, and each grid point.

A scenario's `set` maps dotted paths to new values; the variant is the data as
written with those values put in place, validated again like any protocol. So
a scenario can only produce a protocol that could have been written by hand.

A `grid` (see `cstrial.protocol.grid`) maps dotted paths to lists of values;
each combination is one more scenario, applied to the protocol as written (not
to the named scenarios), after the named scenarios, the first path varying
slowest. Scenario indices, and so the seeds of their simulations, follow this
order: adding a grid never changes the results of `base` or a named scenario.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from cstrial.errors import NoEffectWarning, ProtocolError, ProtocolProblem, UsageError
from cstrial.protocol.base import Found, Loc
from cstrial.protocol.effects import is_null
from cstrial.protocol.grid import MAX_GRID_POINTS, grid_names, grid_points, grid_size
from cstrial.protocol.messages import render_path, show
from cstrial.protocol.models import Protocol
from cstrial.protocol.overrides import OverrideError, set_path
from cstrial.protocol.validation import check, in_file_order
from cstrial.protocol.yaml_nodes import Lines, line_for

BASE = "base"

Anchor = Callable[[str | None], Loc]
"""Where the override of a dotted path is written in the file (None: the block itself)."""


@dataclass(frozen=True)
class Scenario:
    """One scenario of a run; index 0 is `base`, the protocol as written.

    `grid` holds a grid point's values by dotted path (None for `base` and named scenarios).
    """

    index: int
    name: str
    protocol: Protocol
    grid: Mapping[str, Any] | None = None
    overrides: Mapping[str, Any] | None = None  # a named scenario's `set`


def expand_scenarios(protocol: Protocol) -> list[Scenario]:
    """`base`, each of `protocol.scenarios`, then each grid point, in order, as full protocols.

    Raises ProtocolError if a scenario does not give a valid protocol (a
    protocol from `load_protocol` or `parse_protocol` has been checked already).
    """
    written = protocol.as_written()
    context = {"source_text": protocol.source_text, "source_path": protocol.source_path}
    source = str(protocol.source_path) if protocol.source_path else "protocol"
    expanded = [Scenario(0, BASE, protocol)]
    for i, spec in enumerate(protocol.scenarios):
        variant, problems = _variant(written, spec.set, {}, context, _named(i))
        if variant is None:
            raise ProtocolError(in_file_order(problems), source)
        expanded.append(Scenario(len(expanded), spec.name, variant, overrides=dict(spec.set)))
    for name, point in zip(grid_names(protocol.grid), grid_points(protocol.grid), strict=True):
        variant, problems = _variant(written, point, {}, context, _grid())
        if variant is None:
            raise ProtocolError(in_file_order(problems), source)
        expanded.append(Scenario(len(expanded), name, variant, dict(point)))
    return expanded


def select_scenarios(
    scenarios: list[Scenario], names: str | Collection[str] | None
) -> list[Scenario]:
    """The scenarios called `names` (one name or several), in the protocol's order; all if None.

    Raises `UsageError` (parameter `scenario`) naming any name the protocol lacks.
    """
    if names is None:
        return scenarios
    wanted = {names} if isinstance(names, str) else set(names)
    missing = sorted(wanted - {s.name for s in scenarios})
    if missing:
        known = ", ".join(s.name for s in scenarios)
        raise UsageError(
            "scenario",
            f"{', '.join(map(repr, missing))} is not in the protocol; its scenarios are: {known}",
        )
    return [s for s in scenarios if s.name in wanted]


def scenario_problems(written: dict[str, Any], lines: Lines, base: Found) -> list[ProtocolProblem]:
    """Every problem the scenarios and grid of `written` cause, beyond those of the base protocol."""
    problems = []
    scenarios = written.get("scenarios")
    if isinstance(scenarios, list):
        for i, spec in enumerate(scenarios):
            overrides = spec.get("set") if isinstance(spec, dict) else None
            if isinstance(overrides, dict):  # a malformed scenario is reported by its schema
                problems += _variant(written, overrides, lines, {}, _named(i), base)[1]
    return problems + _grid_problems(written, lines, base)


def _grid_problems(written: dict[str, Any], lines: Lines, base: Found) -> list[ProtocolProblem]:
    """Each grid value checked alone (reported at its line), then every combination."""
    grid = written.get("grid")
    if not isinstance(grid, dict) or not grid:
        return []
    # a malformed entry is reported by the schema; the others are still checked
    wellformed = {k: v for k, v in grid.items() if isinstance(k, str) and isinstance(v, list) and v}
    if grid_size(wellformed) > MAX_GRID_POINTS:
        return []  # refused as a whole by the schema, before any point is checked
    problems = []
    for path, values in wellformed.items():
        for j, value in enumerate(values):
            problems += _variant(written, {path: value}, lines, {}, _grid_value(path, j), base)[1]
    if problems or base or len(wellformed) < len(grid):
        return problems  # combinations of values that are wrong alone add only noise
    for point in grid_points(grid):
        problems += _variant(written, point, lines, {}, _grid())[1]
        if len(problems) >= 5:  # enough to see the pattern
            break
    return problems


def _named(i: int) -> Anchor:
    return lambda key: ("scenarios", i, "set") if key is None else ("scenarios", i, "set", key)


def _grid_value(path: str, j: int) -> Anchor:
    return lambda key: ("grid", path, j)


def _grid() -> Anchor:
    return lambda key: ("grid",) if key is None else ("grid", key)


def _variant(
    written: dict[str, Any],
    overrides: Mapping[Any, Any],
    lines: Lines,
    context: dict[str, Any],
    anchor: Anchor,
    base: Collection[tuple[Loc, str]] = (),
) -> tuple[Protocol | None, list[ProtocolProblem]]:
    """The variant's protocol, or None and its problems, each placed at its override."""
    data = copy.deepcopy(written)
    data.pop("scenarios", None)
    data.pop("grid", None)
    applied: dict[str, Loc] = {}
    problems: list[ProtocolProblem] = []
    for key, value in overrides.items():
        try:
            applied[key] = set_path(data, key, value, Protocol)
        except OverrideError as error:
            # a path into a part of the base that is itself invalid fails because of it
            if not (error.at and any(_related(error.at, loc) for loc, _ in base)):
                problems.append(_problem(anchor(key), (), str(error), lines))
    if len(applied) < len(overrides):
        return None, problems
    variant, found = check(data, context | {"written": data})
    new = [(loc, message) for loc, message in found if (loc, message) not in base]
    placed = [_placed(loc, message, applied, lines, anchor) for loc, message in new]
    if placed and anchor(None) == ("grid",) and len(overrides) > 1:
        point = ", ".join(f"{k}: {show(v)}" for k, v in overrides.items())
        for problem in placed:
            problem.message = f"with {point}: {problem.message}"
    return variant, placed


def _related(a: Loc, b: Loc) -> bool:
    """Whether one location is inside (or is) the other."""
    return a[: len(b)] == b or b[: len(a)] == a


def _placed(
    loc: Loc, message: str, applied: dict[str, Loc], lines: Lines, anchor: Anchor
) -> ProtocolProblem:
    """A problem in a variant, reported at the override that caused it."""
    under = [key for key, at in applied.items() if loc[: len(at)] == at]
    if under:
        key = max(under, key=lambda k: len(applied[k]))
        return _problem(anchor(key), loc[len(applied[key]) :], message, lines)
    above = [key for key, at in applied.items() if at[: len(loc)] == loc]
    cause = f"makes {render_path(loc) or 'the protocol'} invalid: {message}"
    return _problem(anchor(above[0] if above else None), (), cause, lines)


def _problem(at: Loc, below: Loc, message: str, lines: Lines) -> ProtocolProblem:
    """A problem at `at` + `below`, on the line of the override."""
    return ProtocolProblem(render_path((*at, *below)), message, line_for(lines, at))


def warn_if_no_arm_differs(protocol: Protocol) -> None:
    """A `NoEffectWarning` when no active arm of the protocol as written has an effect.

    Null scenarios are how type I error is estimated, so this is a warning, not an
    error; but a protocol whose own design alternative is the null is usually a slip.
    """
    if all(is_null(arm.effect) for arm in protocol.active_arms):
        warnings.warn(
            "no active arm differs from the control arm in the protocol as written "
            "(every effect is null: a ratio of 1, a blockade of 0), so its power is the "
            "type I error. Give the arms the effect the trial is designed to detect, and keep "
            "the null as a scenario",
            NoEffectWarning,
            stacklevel=2,
        )
