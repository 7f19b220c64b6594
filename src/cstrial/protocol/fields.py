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
from dataclasses import dataclass
from typing import Annotated, Any, TypeGuard, get_args

from pydantic import BeforeValidator

from cstrial.protocol.base import problem
from cstrial.protocol.covariates import COVARIATE_NAMES, COVARIATES
from cstrial.protocol.limits import MAX_NAME_LENGTH, MAX_TEXT_LENGTH
from cstrial.protocol.messages import bounds_phrase, found, listing, show, unknown_name


def is_number(value: Any) -> TypeGuard[int | float]:
    """A YAML number (an int or a float, but not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: int | float) -> bool:
    # an int is always finite; math.isfinite(2**1100) would overflow converting it to float
    return isinstance(value, int) or math.isfinite(value)


@dataclass(frozen=True)
class Bounds:
    """The explicit bounds of a numeric field, kept on its validator so tests can read them.

    Every numeric field states a lower and an upper bound: limits a real design never
    reaches, so that no value the schema accepts can overflow or exhaust the engine.
    """

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    @property
    def explicit(self) -> bool:
        """Both a lower and an upper bound are declared (tests require it of every field)."""
        lower = self.gt is not None or self.ge is not None
        upper = self.lt is not None or self.le is not None
        return lower and upper

    def within(self, x: int | float) -> bool:
        # ints are compared with the float bounds exactly, never converted (no overflow)
        return (
            (self.gt is None or x > self.gt)
            and (self.ge is None or x >= self.ge)
            and (self.lt is None or x < self.lt)
            and (self.le is None or x <= self.le)
        )


def bounds_of(validator: Any) -> Bounds | None:
    """The `Bounds` a validator made by `number` or `whole` checks, else None."""
    return getattr(getattr(validator, "func", None), "bounds", None)


def number(
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    note: str = "",
) -> BeforeValidator:
    """Check for a finite real number within bounds: ``Annotated[float, number(gt=0, lt=0.5)]``.

    Declare both a lower (`gt` or `ge`) and an upper (`lt` or `le`) bound: the schema
    tests fail for a numeric field without them (tests/test_hostile_input.py).
    `note` is added to the message in parentheses, to say why the bounds are what they are.
    """
    bounds = Bounds(gt=gt, ge=ge, lt=lt, le=le)
    wanted = " ".join(p for p in ("a number", bounds_phrase(gt=gt, ge=ge, lt=lt, le=le)) if p)
    wanted += f" ({note})" if note else ""

    def check(value: Any) -> float:
        if is_number(value) and not _finite(value):
            raise problem(f"must be a finite number{found(value)}")
        if not is_number(value) or not bounds.within(value):
            raise problem(f"must be {wanted}{found(value)}")
        try:
            return float(value)
        except OverflowError:  # an integer beyond any float (only where a bound is missing)
            raise problem(f"must be {wanted}{found(value)}") from None

    check.bounds = bounds  # type: ignore[attr-defined]
    return BeforeValidator(check)


def whole(*, ge: int, le: int | None = None, note: str = "") -> BeforeValidator:
    """Check for a whole number in [`ge`, `le`]: 2.0 is read as 2, but 1.5, true and '2' are errors."""
    bounds = Bounds(ge=ge, le=le)
    wanted = f"a whole number ≥ {ge:,}" + ("" if le is None else f" and ≤ {le:,}")
    wanted += f" ({note})" if note else ""

    def check(value: Any) -> int:
        if is_number(value) and not _finite(value):
            raise problem(f"must be a finite number{found(value)}")
        if not is_number(value) or value != int(value) or not bounds.within(value):
            raise problem(f"must be {wanted}{found(value)}")
        return int(value)

    check.bounds = bounds  # type: ignore[attr-defined]
    return BeforeValidator(check)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise problem(f"must be true or false{found(value)}")
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def unreadable(text: str) -> str | None:
    """Why `text` cannot be shown or stored as it is (a lone surrogate, a control character)."""
    for char in text:
        if "\ud800" <= char <= "\udfff":
            return (
                f"holds a lone Unicode surrogate (U+{ord(char):04X}), which is not text: "
                "it cannot be written as UTF-8"
            )
    control = _CONTROL.search(text)
    if control:
        return (
            f"holds the control character U+{ord(control.group()):04X}; "
            "use plain text (tabs and line breaks are allowed)"
        )
    return None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise problem(f"must be text{found(value)}")
    if len(value) > MAX_TEXT_LENGTH:
        raise problem(f"must be at most {MAX_TEXT_LENGTH:,} characters, found {len(value):,}")
    reason = unreadable(value)
    if reason:
        raise problem(reason)
    return value


def _pattern(regex: str, rule: str) -> Callable[[Any], str]:
    compiled = re.compile(regex)

    def check(value: Any) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise problem(f"must be {rule}{found(value)}")
        if len(value) > MAX_NAME_LENGTH:
            raise problem(
                f"must be at most {MAX_NAME_LENGTH} characters (it names folders and "
                f"columns), found {len(value)}: {show(value)}"
            )
        return value

    check.pattern = regex  # type: ignore[attr-defined]  # read by the schema-driven tests
    return check


def _covariate(value: Any) -> str:
    if not isinstance(value, str) or value not in COVARIATES:
        raise problem(unknown_name("covariate", value, COVARIATE_NAMES))
    return value


_covariate.options = COVARIATE_NAMES  # type: ignore[attr-defined]  # for schema-driven tests


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

    check.options = values  # type: ignore[attr-defined]  # read by the schema-driven tests
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
