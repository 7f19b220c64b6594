"""Hypothesis strategies built from the protocol's pydantic schema, so a new field is fuzzed
without anyone remembering to add it.

`schema_leaves(Protocol)` walks the models and lists every place a value can go: numeric
fields (with the `Bounds` their validators declare), choices (with their options), names,
text, flags, and unions of models (the effect models), each with a strategy for it.
`schema_protocol` then draws a protocol: a valid base protocol with a few of those places
set to drawn values, mostly inside the declared bounds (at and next to them included, so
accepted extremes reach the engine), sometimes hostile (just outside, huge, non-finite, of
the wrong type, lone surrogates, terminal escapes).
"""

from __future__ import annotations

import copy
import math
import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from hypothesis import strategies as st
from pydantic import BaseModel

from cstrial.protocol.covariates import COVARIATES
from cstrial.protocol.criteria import Criteria, Range
from cstrial.protocol.fields import Bounds, bounds_of

ITEM = object()
"""A path segment meaning "an item of this list" (an existing one, or the first)."""

HUGE = [2**64, 2**1100, -(2**1100), 10**300, 1e308, -1e308, 5e-324, -5e-324, 1e-300]
NON_FINITE = [math.nan, math.inf, -math.inf]
ANSI = "\x1b[31mred\x1b[0m\x1b]0;title\x07"
SURROGATE = "a\ud800b"
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
"""Any code points, lone surrogates and control characters included."""
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(["", "600", "1e-3", ANSI, SURROGATE, "x" * 300]),
    st.just([]),
    st.just({}),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", ANSI, SURROGATE]), st.integers(), max_size=2),
)
"""Values of the wrong type anywhere."""


@dataclass(frozen=True)
class Leaf:
    """A place in the protocol and a strategy for the values drawn for it."""

    path: tuple[Any, ...]
    kind: str  # number, choice, name, text, flag, literal, models, criteria, any
    strategy: st.SearchStrategy[Any]
    bounds: Bounds | None = None


def numbers(bounds: Bounds, integer: bool, valid: bool = False) -> st.SearchStrategy[Any]:
    """Values inside `bounds` (the edges and their neighbours often), and just outside them."""
    low = bounds.gt if bounds.gt is not None else bounds.ge
    high = bounds.lt if bounds.lt is not None else bounds.le
    assert low is not None and high is not None
    if integer:
        lo, hi = math.ceil(low), math.floor(high)
        inside = st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, min(lo + 1, hi)]))
        outside = st.sampled_from([lo - 1, hi + 1, float(lo), lo + 0.5])
    else:
        inside = st.one_of(
            st.floats(
                low,
                high,
                exclude_min=bounds.gt is not None,
                exclude_max=bounds.lt is not None,
                allow_nan=False,
            ),
            st.sampled_from(
                [v for v in (low, high) if bounds.within(v)]
                + [math.nextafter(low, math.inf), math.nextafter(high, -math.inf)]
            ).filter(bounds.within),
        )
        outside = st.sampled_from(
            [math.nextafter(low, -math.inf), math.nextafter(high, math.inf)]
            + [v for v in (low, high) if not bounds.within(v)]
        )
    if valid:
        return inside
    hostile = st.sampled_from(HUGE + NON_FINITE)
    return st.one_of(inside, inside, inside, outside, hostile, WRONG)


def _validators(metadata: list[Any]) -> list[Any]:
    return [getattr(m, "func", None) for m in metadata]


def _members(tp: Any) -> list[Any]:
    if get_origin(tp) in (Union, types.UnionType):
        return [a for a in get_args(tp) if a is not type(None)]
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field_type(info: Any) -> Any:
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


def schema_leaves(
    model: type[BaseModel], prefix: tuple[Any, ...] = (), valid: bool = False
) -> list[Leaf]:
    """Every place a value can go in `model`, with a strategy for it: with `valid`, only
    values each field accepts on its own (the protocol may still break a cross-field rule)."""
    leaves: list[Leaf] = []
    for name, info in model.model_fields.items():
        if info.exclude:  # removed fields, named only for their error message
            continue
        leaves += _walk(_field_type(info), (*prefix, info.alias or name), valid=valid)
    return leaves


def _walk(
    tp: Any, path: tuple[Any, ...], optional: bool = False, valid: bool = False
) -> list[Leaf]:
    wrong = st.nothing() if valid else WRONG
    metadata: list[Any] = []
    if get_origin(tp) is Annotated:
        tp, *metadata = get_args(tp)
    if get_origin(tp) in (Union, types.UnionType) and not metadata:
        members = _members(tp)
        optional = optional or len(members) < len(get_args(tp))
        if len(members) == 1:  # X | None, the checks of X inside its Annotated
            return _walk(members[0], path, optional, valid)
    if tp is Criteria or (
        metadata
        and any(getattr(f, "__name__", "") == "check_criteria" for f in _validators(metadata))
    ):
        return [Leaf(path, "criteria", criteria(valid))]
    funcs = _validators(metadata)
    bounds = next((bounds_of(m) for m in metadata if bounds_of(m) is not None), None)
    members = _members(tp)
    maybe_none = (lambda s: st.one_of(st.none(), s)) if optional else (lambda s: s)
    if bounds is not None and not bounds.explicit:
        return [Leaf(path, "number", st.floats(), None)]  # half-bounded: the bounds test fails
    if bounds is not None:
        integer = members[0] is int
        return [Leaf(path, "number", maybe_none(numbers(bounds, integer, valid)), bounds)]
    options = next((f.options for f in funcs if hasattr(f, "options")), None)
    if options is not None:
        near = st.sampled_from(options).map(lambda o: o.upper() if o.islower() else o + "x")
        if valid:
            return [Leaf(path, "choice", maybe_none(st.sampled_from(options)))]
        return [Leaf(path, "choice", st.one_of(st.sampled_from(options), near, WRONG))]
    pattern = next((f.pattern for f in funcs if hasattr(f, "pattern")), None)
    if pattern is not None:
        names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,12}", fullmatch=True)
        hostile = st.sampled_from(["a" * 300, SURROGATE, ANSI, "base", "1x", "a.b"])
        if valid:
            return [Leaf(path, "name", names)]
        return [Leaf(path, "name", st.one_of(names, names, hostile, WRONG))]
    if members == [str]:
        if valid:
            return [
                Leaf(
                    path,
                    "text",
                    st.text(st.characters(codec="utf-8", categories=["L", "N", "Zs"]), max_size=30),
                )
            ]
        return [Leaf(path, "text", st.one_of(TEXT, st.just(ANSI), st.just(SURROGATE), WRONG))]
    if members == [bool]:
        return [Leaf(path, "flag", st.one_of(st.booleans(), st.booleans(), wrong))]
    if len(members) == 1 and get_origin(members[0]) is Literal:
        return [Leaf(path, "literal", st.one_of(st.sampled_from(get_args(members[0])), wrong))]
    models = [m for m in members if _is_model(m)]
    if len(models) > 1:  # a union chosen by a tag (the effect models): whole mappings
        union = st.one_of(*[from_model(m, valid) for m in models])
        return [Leaf(path, "models", maybe_none(union))]
    if len(models) == 1:
        return schema_leaves(models[0], path, valid)
    if len(members) == 1 and get_origin(members[0]) is list:
        (item,) = get_args(members[0])
        return _walk(item, (*path, ITEM), valid=valid)
    if tp in (int, float):
        return [Leaf(path, "number", st.floats(), None)]  # unbounded: the bounds test fails
    return [Leaf(path, "any", wrong)] if not valid else []


def from_model(model: type[BaseModel], valid: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping for `model`: its required fields and some optional ones, each drawn."""
    required: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        tp = _field_type(info)
        leaves = _walk(tp, (), valid=valid)
        if len(leaves) == 1 and leaves[0].path == ():
            strategy = leaves[0].strategy
        elif leaves and all(leaf.path and leaf.path[0] is ITEM for leaf in leaves):
            strategy = st.lists(leaves[0].strategy, max_size=3)
        else:
            strategy = st.just({})
        tag = get_origin(info.annotation) is Literal and len(get_args(info.annotation)) == 1
        if tag:  # the tag that chooses the model (an effect's `model`): always written
            strategy = st.just(get_args(info.annotation)[0])
        (required if info.is_required() or tag else optional)[info.alias or name] = strategy
    return st.fixed_dictionaries(required, optional=optional)


def criteria(valid: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Inclusion or exclusion criteria: covariate names with ranges or levels, sometimes wrong."""
    ranges = from_model(Range, valid)
    wrong = st.nothing() if valid else WRONG

    def criterion(name: str) -> st.SearchStrategy[Any]:
        covariate = COVARIATES[name]
        if covariate.kind == "numeric":
            return st.one_of(ranges, wrong)
        levels = (True, False) if covariate.kind == "boolean" else covariate.levels
        return st.one_of(st.lists(st.sampled_from(levels), min_size=1, max_size=3), wrong)

    names = st.sampled_from(sorted(COVARIATES))
    entry = names.flatmap(lambda n: st.tuples(st.just(n), criterion(n)))
    return st.one_of(st.lists(entry, max_size=3).map(dict), wrong)


def _place(data: Any, path: tuple[Any, ...], value: Any, draw: Any) -> None:
    """Put `value` at `path` in `data`, creating mappings on the way (lists: an item)."""
    node = data
    for depth, key in enumerate(path):
        last = depth == len(path) - 1
        if key is ITEM:
            if not isinstance(node, list) or not node:
                return  # nothing to put it in: leave the protocol as it is
            key = draw(st.integers(0, len(node) - 1))
        elif not isinstance(node, dict):
            return
        if last:
            node[key] = value
            return
        child = node[key] if isinstance(node, list) else node.get(key)
        if not isinstance(child, dict | list):
            child = {}
            node[key] = child
        node = child


@st.composite
def schema_protocol(draw: Any, base: dict[str, Any], leaves: list[Leaf]) -> tuple[dict, list]:
    """`base` with one to four places of the schema set to drawn values; and what was set."""
    data = copy.deepcopy(base)
    changes = []
    for _ in range(draw(st.integers(1, 4))):
        leaf = draw(st.sampled_from(leaves))
        value = draw(leaf.strategy)
        _place(data, leaf.path, value, draw)
        changes.append((leaf.path, value))
    return data, changes


def render(path: tuple[Any, ...]) -> str:
    return ".".join("*" if key is ITEM else str(key) for key in path)
