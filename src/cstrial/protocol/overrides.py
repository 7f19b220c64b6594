"""Dotted override paths, such as ``arms.tocilizumab.effect.blockade``, into protocol data.

A segment is a mapping key, or for a list an item's 0-based index or, for lists
of named items (arms, endpoints.secondary), the item's name. Each segment is
checked against the schema as the path is walked, so a typo is reported with
the field it was probably meant to be, and a missing optional mapping on the
way is created. The value replaces what was there: a mapping is not merged.
"""

from __future__ import annotations

import copy
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from cstrial.protocol.base import Loc
from cstrial.protocol.messages import did_you_mean, listing, show


class OverrideError(ValueError):
    """A dotted path that does not lead to a place in the protocol.

    `at` is the location the path had reached when it failed.
    """

    def __init__(self, message: str, at: Loc = ()) -> None:
        super().__init__(message)
        self.at = at


def set_path(data: dict[str, Any], dotted: str, value: Any, schema: type[BaseModel]) -> Loc:
    """Set `value` at the dotted path in `data` (in place), checked against `schema`.

    Returns the location that was set, e.g. ('arms', 1, 'effect', 'blockade').
    """
    if not isinstance(dotted, str):
        raise OverrideError(
            f"must be a dotted path such as design.sample_size, found {show(dotted)}"
        )
    segments = dotted.split(".")
    if not all(segments):
        raise OverrideError("must be names joined by dots, such as design.sample_size")
    if segments[0] in ("scenarios", "grid"):
        raise OverrideError(f"a scenario cannot set {segments[0]}")
    shape: Any = schema
    node: Any = data
    loc: list[str | int] = []
    for depth, segment in enumerate(segments):
        here = ".".join(segments[:depth]) or "the protocol"
        try:
            key, shape = _step(shape, node, segment, here)
        except OverrideError as error:
            raise OverrideError(str(error), tuple(loc)) from None
        loc.append(key)
        if depth == len(segments) - 1:
            node[key] = copy.deepcopy(value)
        else:
            node = _child(node, key, shape)
    return tuple(loc)


def _members(shape: Any) -> list[Any]:
    """The alternatives a type allows, without Annotated wrappers and None."""
    if get_origin(shape) is Annotated:
        return _members(get_args(shape)[0])
    if get_origin(shape) in (Union, types.UnionType):
        return [m for arg in get_args(shape) for m in _members(arg) if m is not type(None)]
    return [shape]


def _is_model(shape: Any) -> bool:
    return isinstance(shape, type) and issubclass(shape, BaseModel)


def _aliases(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info.annotation for name, info in model.model_fields.items()}


def _tagged(models: list[type[BaseModel]], node: dict[str, Any]) -> list[type[BaseModel]]:
    """Of several models (the effect models), the one whose `model` tag the data names."""
    if len(models) < 2:
        return models
    tag = node.get("model")
    named = [m for m in models if tag in get_args(m.model_fields["model"].annotation)]
    return named or models


def _step(shape: Any, node: Any, segment: str, here: str) -> tuple[str | int, Any]:
    """The key for `segment` in `node`, and the schema of what it leads to."""
    members = _members(shape)
    if isinstance(node, list):
        lists = [m for m in members if get_origin(m) is list]
        if lists:
            item = get_args(lists[0])[0]
            return _index(node, segment, item, here), item
    if isinstance(node, dict):
        models = _tagged([m for m in members if _is_model(m)], node)
        if models:
            fields = {alias: ann for model in models for alias, ann in _aliases(model).items()}
            if segment not in fields:
                raise OverrideError(
                    f"unknown field {segment!r} in {here}{did_you_mean(segment, fields)} "
                    f"(allowed: {listing(fields)})"
                )
            return segment, fields[segment]
        mappings = [m for m in members if get_origin(m) is dict]
        if mappings:
            return segment, get_args(mappings[0])[1]
    raise OverrideError(f"{here} is {show(node)}, which has no field {segment!r}")


def _index(items: list[Any], segment: str, item: Any, here: str) -> int:
    """A list position from a 0-based index or, for named items, a name."""
    if segment.isdigit():
        if int(segment) >= len(items):
            raise OverrideError(
                f"{here} has {len(items)} item(s), so an index must be below {len(items)}, "
                f"found {segment}"
            )
        return int(segment)
    if not (_is_model(item) and "name" in item.model_fields):
        raise OverrideError(f"{here} is a list: use a 0-based index, found {segment!r}")
    names = [it.get("name") if isinstance(it, dict) else None for it in items]
    if segment in names:
        return names.index(segment)
    known = [name for name in names if isinstance(name, str)]
    raise OverrideError(
        f"no item named {segment!r} in {here}{did_you_mean(segment, known)} "
        f"(names: {listing(known)}; or use a 0-based index)"
    )


def _child(node: Any, key: str | int, shape: Any) -> Any:
    """What `key` holds, creating an empty mapping (or list) where nothing is yet."""
    child = node[int(key)] if isinstance(node, list) else node.get(key)
    if child is None:
        members = _members(shape)
        if any(_is_model(m) or get_origin(m) is dict for m in members):
            child = node[key] = {}
        elif any(get_origin(m) is list for m in members):
            child = node[key] = []
    return child
