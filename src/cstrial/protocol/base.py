"""The base of every protocol model, and how a rule reports one or many problems.

Pydantic stops checking a model's cross-field rules once one of its fields is
invalid, so a user fixing a protocol would meet its problems one at a time.
`Schema` instead checks cross-field rules on the raw mapping, beside pydantic's
own field checks, and reports them all at once, each already in plain words
(an error of type ``cstrial`` whose ``message`` is what the user reads).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from cstrial.protocol.messages import translate, unknown_field

Loc = tuple[str | int, ...]
"""Where a value is: mapping keys and 0-based list indices from the top of the protocol."""

Found = list[tuple[Loc, str]]
"""Problems as (location relative to the model being checked, message)."""


def problem(message: str) -> PydanticCustomError:
    """One problem at the place being validated, worded for the user."""
    return PydanticCustomError("cstrial", "{message}", {"message": message})


def problems(found: Found, title: str = "protocol") -> ValidationError:
    """Several problems at once, each at its own location below the place being validated."""
    details = [InitErrorDetails(type=problem(msg), loc=loc, input=None) for loc, msg in found]
    return ValidationError.from_exception_data(title, details)


def plain(error: ValidationError, fields: list[str] | None = None) -> Found:
    """The problems in a pydantic error as (location, plain sentence).

    `fields` are the fields of the model that raised it, used to suggest the
    intended field for an unknown key directly inside that model.
    """
    found: Found = []
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        if detail["type"] == "extra_forbidden" and len(loc) == 1 and fields is not None:
            found.append((loc, unknown_field(loc[0], fields)))
        else:
            found.append((loc, translate(detail)))
    return found


class Schema(BaseModel):
    """A protocol section: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def field_names(cls) -> list[str]:
        """The keys this section accepts, as written in YAML."""
        return [info.alias or name for name, info in cls.model_fields.items()]

    @classmethod
    def cross_check(cls, data: dict[Any, Any]) -> Found:
        """Rules that span fields, checked on the raw mapping; tolerant of bad fields."""
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _report_everything(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        found = cls.cross_check(data) if isinstance(data, dict) else []
        try:
            model = handler(data)
        except ValidationError as error:
            raise problems([*plain(error, cls.field_names()), *found], cls.__name__) from None
        if found:
            raise problems(found, cls.__name__)
        return model
