"""Leaf values of a protocol: numbers, whole numbers, flags, text, names and choices.

YAML has already typed every scalar, so these are strict: text is never read
as a number ('600' in quotes is an error), true is never a number, and nan or
inf are refused everywhere. Each type words its own message, stating what is
allowed and what was found.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeGuard, get_args

from pydantic import BeforeValidator

from cstrial.protocol.base import problem
from cstrial.protocol.covariates import COVARIATE_NAMES, COVARIATES
from cstrial.protocol.messages import bounds_phrase, found, listing, unknown_name


def is_number(value: Any) -> TypeGuard[int | float]:
    """A YAML number (an int or a float, but not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _within(
    x: float, gt: float | None, ge: float | None, lt: float | None, le: float | None
) -> bool:
    return (
        (gt is None or x > gt)
        and (ge is None or x >= ge)
        and (lt is None or x < lt)
        and (le is None or x <= le)
    )


def number(
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    note: str = "",
) -> BeforeValidator:
    """Check for a finite real number within bounds: ``Annotated[float, number(gt=0, lt=0.5)]``.

    `note` is added to the message in parentheses, to say why the bounds are what they are.
    """
    wanted = " ".join(p for p in ("a number", bounds_phrase(gt=gt, ge=ge, lt=lt, le=le)) if p)
    wanted += f" ({note})" if note else ""

    def check(value: Any) -> float:
        if is_number(value) and not math.isfinite(value):
            raise problem(f"must be a finite number{found(value)}")
        if not is_number(value) or not _within(value, gt, ge, lt, le):
            raise problem(f"must be {wanted}{found(value)}")
        return float(value)

    return BeforeValidator(check)


def whole(*, ge: int, le: int | None = None, note: str = "") -> BeforeValidator:
    """Check for a whole number in [`ge`, `le`]: 2.0 is read as 2, but 1.5, true and '2' are errors."""
    wanted = f"a whole number ≥ {ge}" if le is None else f"a whole number from {ge} to {le}"
    wanted += f" ({note})" if note else ""

    def check(value: Any) -> int:
        if is_number(value) and not math.isfinite(value):
            raise problem(f"must be a finite number{found(value)}")
        if (
            not is_number(value)
            or value != int(value)
            or value < ge
            or (le is not None and value > le)
        ):
            raise problem(f"must be {wanted}{found(value)}")
        return int(value)

    return BeforeValidator(check)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise problem(f"must be true or false{found(value)}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise problem(f"must be text{found(value)}")
    return value


def _pattern(regex: str, rule: str) -> Callable[[Any], str]:
    compiled = re.compile(regex)

    def check(value: Any) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise problem(f"must be {rule}{found(value)}")
        return value

    return check


def _covariate(value: Any) -> str:
    if not isinstance(value, str) or value not in COVARIATES:
        raise problem(unknown_name("covariate", value, COVARIATE_NAMES))
    return value


def empty_when_null(value: Any) -> Any:
    """A key written with nothing after it (``secondary:``) means an empty list or mapping."""
    return [] if value is None else value


def choice(options: Any, what: str) -> BeforeValidator:
    """Check for one of `options` (a Literal, or a tuple of names from the vocabulary).

    ``Annotated[str, choice(tuple(ANALYSES), "analysis")]``; misspellings get a did-you-mean.
    """
    values: tuple[str, ...] = options if isinstance(options, tuple) else get_args(options)

    def check(value: Any) -> str:
        if isinstance(value, str) and value in values:
            return value
        if not isinstance(value, str):
            raise problem(f"must be one of {listing(values)}{found(value)}")
        raise problem(unknown_name(what, value, values))

    return BeforeValidator(check)


Flag = Annotated[bool, BeforeValidator(_flag)]
Text = Annotated[str, BeforeValidator(_text)]
Slug = Annotated[
    str,
    BeforeValidator(
        _pattern(
            r"[A-Za-z0-9][A-Za-z0-9_.-]*",
            "a name of letters, digits, '_', '.' or '-' that starts with a letter or digit",
        )
    ),
]
"""A protocol or scenario name: it becomes a folder name and a value in results."""

Name = Annotated[
    str,
    BeforeValidator(
        _pattern(
            r"[A-Za-z][A-Za-z0-9_-]*",
            "a name of letters, digits, '_' or '-' that starts with a letter "
            "(scenario paths such as arms.<name>.effect address it)",
        )
    ),
]
"""An arm or endpoint name: no dots and not a number, so a dotted scenario path can name it."""

CovariateName = Annotated[str, BeforeValidator(_covariate)]
"""A name from the covariate vocabulary (`cstrial.protocol.covariates`)."""
