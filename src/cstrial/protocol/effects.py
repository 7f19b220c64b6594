"""Treatment effect models: what an active arm does, chosen by its `model` key.

The constant models (risk, odds and hazard ratios) apply the same effect to
every patient; `il6-mediated` removes a fraction of the IL-6-attributable risk,
so its effect depends on each patient's IL-6. `treatment/` implements them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, model_serializer

from cstrial.protocol.base import Schema, problem, problems
from cstrial.protocol.fields import number, whole
from cstrial.protocol.messages import listing, show, unknown_name

Ratio = Annotated[
    float, number(ge=0.01, le=100, note="1 means no effect; beyond 1/100 or 100 no trial is needed")
]
Blockade = Annotated[
    float, number(ge=0, le=1, note="the fraction of IL-6-attributable risk removed")
]
Hours = Annotated[float, number(ge=0, le=8760, note="at most a year")]
InfectionRatio = Annotated[
    float, number(ge=1, le=10, note="1 means no excess infections; harms only, so at least 1")
]


class RiskRatio(Schema):
    """Multiplies every patient's risk of the event by `value`."""

    model: Literal["risk-ratio"] = "risk-ratio"
    value: Ratio


class OddsRatio(Schema):
    """Multiplies every patient's odds of the event by `value`."""

    model: Literal["odds-ratio"] = "odds-ratio"
    value: Ratio


class HazardRatio(Schema):
    """Multiplies every patient's hazard of the event by `value`."""

    model: Literal["hazard-ratio"] = "hazard-ratio"
    value: Ratio


class Il6Mediated(Schema):
    """Removes a fraction `blockade` of the IL-6-attributable risk, from `delay_hours` on."""

    model: Literal["il6-mediated"] = "il6-mediated"
    blockade: Blockade
    delay_hours: Hours = 0.0
    infection_hazard_ratio: InfectionRatio = 1.0


Drug = Literal["tocilizumab", "anakinra"]
DosePerKg = Annotated[float, number(gt=0, le=100, note="mg/kg; capped at 800 mg in all")]
Dose = Annotated[float, number(gt=0, le=10_000, note="mg")]
Doses = Annotated[int, whole(ge=1, le=100)]
DosesPerDay = Annotated[int, whole(ge=1, le=24)]
Days = Annotated[int, whole(ge=1, le=365)]
IntervalHours = Annotated[float, number(ge=1, le=8760, note="from 1 hour to a year")]


_TOCILIZUMAB_ONLY = ("dose_mg_per_kg", "doses", "dose_interval_hours")
_ANAKINRA_ONLY = ("dose_mg", "doses_per_day", "days")


class Pkpd(Schema):
    """A dosing regimen whose IL-6 signalling blockade follows the drug's PK/PD over time.

    At full blockade the fraction `blockade` of the IL-6-attributable risk is removed
    (as `il6-mediated`); the regimen sets how full the blockade is, piece by piece.
    Tocilizumab: IV `dose_mg_per_kg` (capped at 800 mg), `doses` every
    `dose_interval_hours`. Anakinra: SC `dose_mg`, `doses_per_day`, for `days`.
    """

    model: Literal["pkpd"] = "pkpd"
    drug: Drug
    blockade: Blockade = 0.7
    delay_hours: Hours = 0.0
    infection_hazard_ratio: InfectionRatio = 1.0
    dose_mg_per_kg: DosePerKg | None = None
    doses: Doses = 1
    dose_interval_hours: IntervalHours = 24.0
    dose_mg: Dose | None = None
    doses_per_day: DosesPerDay = 1
    days: Days = 14

    @model_serializer(mode="wrap")
    def _own_fields_only(self, handler: Any) -> dict[str, Any]:
        # the other drug's fields are refused on input, so never write them out either:
        # resolved YAML and as_written() must load back as the same protocol
        data = handler(self)
        other = _ANAKINRA_ONLY if self.drug == "tocilizumab" else _TOCILIZUMAB_ONLY
        return {key: value for key, value in data.items() if key not in other}

    @classmethod
    def cross_check(cls, data: dict[Any, Any]) -> list:
        drug = data.get("drug")
        found = []
        if drug == "tocilizumab":
            if "dose_mg_per_kg" not in data:
                found.append((("dose_mg_per_kg",), "tocilizumab needs dose_mg_per_kg, e.g. 8"))
            for key in ("dose_mg", "doses_per_day", "days"):
                if key in data:
                    found.append(
                        (
                            (key,),
                            f"{key} is for anakinra; tocilizumab takes "
                            "dose_mg_per_kg, doses, dose_interval_hours",
                        )
                    )
        elif drug == "anakinra":
            for key in ("dose_mg_per_kg", "doses", "dose_interval_hours"):
                if key in data:
                    found.append(
                        (
                            (key,),
                            f"{key} is for tocilizumab; anakinra takes "
                            "dose_mg, doses_per_day, days",
                        )
                    )
        return found


EFFECT_MODELS: dict[str, type[Schema]] = {
    "risk-ratio": RiskRatio,
    "odds-ratio": OddsRatio,
    "hazard-ratio": HazardRatio,
    "il6-mediated": Il6Mediated,
    "pkpd": Pkpd,
}
"""Effect model name (the YAML `model:` value) → its schema."""

_LATER: tuple[str, ...] = ()  # named in DESIGN.md, not built in this version


def _dispatch(value: Any) -> Any:
    """Validate an effect mapping against the schema its `model` names."""
    if isinstance(value, tuple(EFFECT_MODELS.values())):
        return value
    if not isinstance(value, dict):
        example = "{model: risk-ratio, value: 0.85}"
        raise problem(f"must be a mapping such as {example}, found {show(value)}")
    name = value.get("model")
    if "model" not in value:
        message = f"required field missing (one of {listing(EFFECT_MODELS)})"
    elif name in _LATER:
        message = (
            f"{show(name)} is not available in this version of cstrial; "
            f"available: {listing(EFFECT_MODELS)}"
        )
    elif not isinstance(name, str) or name not in EFFECT_MODELS:
        message = unknown_name("effect model", name, EFFECT_MODELS)
    else:
        return EFFECT_MODELS[name].model_validate(value)
    raise problems([(("model",), message)])


Effect = Annotated[
    RiskRatio | OddsRatio | HazardRatio | Il6Mediated | Pkpd, BeforeValidator(_dispatch)
]
"""One of the effect models, chosen by the `model` key."""


def is_null(effect: Any) -> bool:
    """Whether an arm with this effect cannot differ from the control arm (no effect at all)."""
    if effect is None:
        return True
    if isinstance(effect, RiskRatio | OddsRatio | HazardRatio):
        return effect.value == 1.0
    return effect.blockade == 0.0 and effect.infection_hazard_ratio == 1.0
