"""Scenario grids: dotted paths to lists of values, expanded to their Cartesian product.

A protocol's top-level ``grid:`` maps dotted paths (the same paths a scenario's
``set`` uses) to lists of values. Every combination is a scenario, applied to the
protocol as written, after the named scenarios::

    grid:
      arms.tocilizumab.effect.blockade: [0.5, 0.7]
      design.sample_size: [600, 900]

gives four scenarios, the first path varying slowest:
``grid-blockade-0.5-sample_size-600``, ``grid-blockade-0.5-sample_size-900``,
``grid-blockade-0.7-sample_size-600``, ``grid-blockade-0.7-sample_size-900``.

Names are ``grid`` then, for each path, ``-<label>-<value>``. The label is the
path's last segment, lengthened one segment at a time while it is generic (``min``,
``max``, ``value``, ``parameter``, ``spending``, ``model``, a list index) or shared
with another path: ``population.inclusion.il6_pg_ml.min`` → ``il6_pg_ml.min``.
Values are written as in YAML (``0.5``, ``800``, ``true``); a mapping as its keys
and values run together (``{min: 100}`` → ``min100``), a list joined by dots
(``[C, D]`` → ``C.D``), an empty one as ``empty``; any other character becomes
``_``. The names keep to the letters, digits, ``_``, ``.`` and ``-`` of every
scenario name. Values written alike (600 and 600.0) are one value: a duplicate.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from typing import Any

MAX_GRID_POINTS = 1000
"""More grid points than this is almost always a mistake (and hours of simulation)."""

PREFIX = "grid"
_GENERIC = {"min", "max", "value", "parameter", "spending", "model"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def grid_points(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, as {path: value}, the first path slowest."""
    if not grid:
        return []
    paths = list(grid)
    return [dict(zip(paths, values, strict=True)) for values in itertools.product(*grid.values())]


def grid_size(grid: Mapping[str, Any]) -> int:
    """The number of grid points (the product of the list lengths)."""
    return math.prod(len(v) for v in grid.values()) if grid else 0


def grid_labels(paths: list[str]) -> dict[str, str]:
    """A short, unique label for each dotted path: its shortest telling suffix."""
    split = {path: path.split(".") for path in paths}
    depth = {path: 1 for path in paths}
    for path, segments in split.items():
        while depth[path] < len(segments) and _generic(segments[-depth[path]]):
            depth[path] += 1
    while True:
        labels = {path: ".".join(split[path][-depth[path] :]) for path in paths}
        shared = [p for p in paths if list(labels.values()).count(labels[p]) > 1]
        growable = [p for p in shared if depth[p] < len(split[p])]
        if not growable:
            return labels
        for path in growable:
            depth[path] += 1


def grid_names(grid: Mapping[str, list[Any]]) -> list[str]:
    """The scenario name of each grid point, in the order of `grid_points`."""
    labels = grid_labels(list(grid))
    names: list[str] = []
    taken: set[str] = set()  # a set: a list's membership test made large grids quadratic
    for point in grid_points(grid):
        name = "-".join([PREFIX, *(f"{labels[p]}-{value_text(v)}" for p, v in point.items())])
        unique, k = name, 2
        while unique in taken:  # values that only differ in unsafe characters
            unique, k = f"{name}-{k}", k + 1
        names.append(unique)
        taken.add(unique)
    return names


def value_text(value: Any) -> str:
    """A value as it appears in a grid scenario's name."""
    return _UNSAFE.sub("_", _text(value))


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, int) and value.bit_length() > 64:
        return hex(value)[:18] + "..."  # str() refuses integers of thousands of digits
    if isinstance(value, Mapping | list | tuple) and not value:
        return "empty"
    if isinstance(value, Mapping):
        return ".".join(f"{k}{_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ".".join(_text(v) for v in value)
    return str(value)


def _generic(segment: str) -> bool:
    return segment in _GENERIC or segment.isdigit()
