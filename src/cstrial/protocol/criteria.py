"""Inclusion and exclusion criteria: one per covariate, shaped by the covariate's kind.

A numeric covariate takes a range ``{min: 50}``; a categorical one a list of
its levels ``[AMI]``; a boolean one a list of ``true``/``false``. Which shape
is right depends on the key, so the whole mapping is checked here at once and
every bad entry is reported.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationError, model_validator

from cstrial.protocol.base import Found, Schema, plain, problem, problems
from cstrial.protocol.covariates import COVARIATE_NAMES, COVARIATES, Covariate
from cstrial.protocol.fields import number
from cstrial.protocol.messages import did_you_mean, listing, show, unknown_name

Limit = Annotated[
    float, number(ge=-1e6, le=1e6, note="beyond any value of any covariate, in its unit")
]


class Range(Schema):
    """Allowed values of a numeric covariate: min ≤ value ≤ max, either bound optional."""

    min: Limit | None = None
    max: Limit | None = None

    @model_validator(mode="after")
    def _bounds_make_sense(self) -> Range:
        if self.min is None and self.max is None:
            raise problem("needs min, max or both, e.g. {min: 18, max: 90}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise problem(f"min ({self.min:g}) must not exceed max ({self.max:g})")
        return self


Criterion = Range | list[str] | list[bool]
"""A range for a numeric covariate, else the list of allowed values."""


def _levels(covariate: Covariate) -> tuple[Any, ...]:
    return (True, False) if covariate.kind == "boolean" else covariate.levels


def _check_values(covariate: Covariate, value: Any) -> tuple[Any, Found]:
    """Validate the list of allowed values of a categorical or boolean covariate."""
    levels = _levels(covariate)
    values = f"(values: {listing(levels)})"
    example = f"[{listing(levels[:1])}]"
    if isinstance(value, dict):
        message = (
            f"{covariate.name} is {covariate.kind}: give a list of allowed values "
            f"such as {example}, not a range {values}"
        )
        return None, [((), message)]
    if not isinstance(value, list):
        message = f"must be a list of allowed values such as {example}, found {show(value)}"
        return None, [((), message)]
    if not value:
        return None, [((), f"needs at least one allowed value {values}")]
    found: Found = []
    for i, item in enumerate(value):
        # `True in (1, 0)` holds in Python, so compare types as well as values
        if not any(type(item) is type(level) and item == level for level in levels):
            hint = did_you_mean(item, [str(level) for level in levels])
            found.append(((i,), f"{show(item)} is not a value of {covariate.name}{hint} {values}"))
    return list(value), found


def _check_range(covariate: Covariate, value: Any) -> tuple[Any, Found]:
    """Validate the {min, max} range of a numeric covariate."""
    if isinstance(value, list):
        message = (
            f"{covariate.name} is numeric: use a range such as {{min: .., max: ..}}, "
            f"found {show(value)}"
        )
        return None, [((), message)]
    try:
        return Range.model_validate(value), []
    except ValidationError as error:
        return None, plain(error, Range.field_names())


def check_criteria(value: Any) -> dict[str, Any]:
    """Validate an inclusion or exclusion mapping, reporting every bad key and value."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        example = "{il6_pg_ml: {min: 50}, etiology: [AMI]}"
        raise problem(
            f"must be a mapping of covariate: criterion, such as {example}, found {show(value)}"
        )
    checked: dict[str, Any] = {}
    found: Found = []
    for key, criterion in value.items():
        covariate = COVARIATES.get(key)
        if covariate is None:
            where = key if isinstance(key, str) else show(key)
            found.append(((where,), unknown_name("covariate", key, COVARIATE_NAMES)))
            continue
        check = _check_range if covariate.kind == "numeric" else _check_values
        checked[key], key_found = check(covariate, criterion)
        found += [((key, *loc), message) for loc, message in key_found]
    if found:
        raise problems(found)
    return checked


Criteria = Annotated[dict[str, Criterion], BeforeValidator(check_criteria)]
"""covariate name → criterion, e.g. {il6_pg_ml: {min: 50}, etiology: [AMI]}."""
