"""Bayesian decision rules and assurance in the protocol: `design.decision`, `design.assurance`.

    design:
      decision:
        type: bayesian
        prior: {normal: [0, 1.5]}           # log OR / log HR; a binary primary: {beta: [1, 1]}
        efficacy: {probability: 0.99, above: 1.0}   # stop when P(OR > 1) > 0.99
        futility: {probability: 0.05, above: 1.2}   # stop when P(OR > 1.2) < 0.05
      assurance:
        prior: {tocilizumab.blockade: {beta: [4, 3]}}

The rule each statement is about depends on the primary endpoint (checked against it
by `decision_problems`): a binary primary states that the treatment's risk is below the
control's by more than `above` (a risk difference, default 0); an odds ratio or win
ratio that it is above `above` (default 1); a hazard ratio that it is below `below`
(default 1). `cstrial.engine.bayes` evaluates them; docs/bayesian.md explains them.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from cstrial.protocol.base import Found, Schema, problem
from cstrial.protocol.fields import is_number, number
from cstrial.protocol.messages import listing, show
from cstrial.protocol.vocabulary import ANALYSES

#: Each design prior family's two parameters, as the protocol writes them.
PRIOR_FAMILIES: dict[str, tuple[str, str]] = {
    "normal": ("mean", "sd"),
    "lognormal": ("meanlog", "sdlog"),
    "beta": ("a", "b"),
    "uniform": ("low", "high"),
}

#: The parameters of an arm's effect that a design prior may be put on, by effect model,
#: with the range the parameter may take.
ASSURED_PARAMETERS: dict[str, dict[str, tuple[float, float]]] = {
    "il6-mediated": {"blockade": (0.0, 1.0)},
    "pkpd": {"blockade": (0.0, 1.0)},
    "risk-ratio": {"value": (0.01, 100.0)},
    "odds-ratio": {"value": (0.01, 100.0)},
    "hazard-ratio": {"value": (0.01, 100.0)},
}
"""A ratio's draws beyond [0.01, 100] (a lognormal's far tails) are set to the nearer end."""

#: The scale of each primary analysis that a normal prior on the log effect applies to,
#: and whether larger values favour treatment (`above`) or smaller (`below`).
#: (The win ratio is not here: its z is Finkelstein-Schoenfeld's, with no SE of its log.)
LOG_SCALE_DIRECTION: dict[str, str] = {
    "hazard-ratio": "below",
    "odds-ratio": "above",
}

_PRIOR_EXAMPLES = "e.g. {beta: [4, 3]}, {uniform: [0.3, 0.9]} or {normal: [0, 1.5]}"


def _prior(value: Any) -> dict[str, tuple[float, float]]:
    """A design or analysis prior written {family: [p1, p2]}, its parameters checked."""
    if not isinstance(value, dict) or len(value) != 1:
        raise problem(
            f"must be one family with two numbers, {_PRIOR_EXAMPLES}; found {show(value)}"
        )
    ((family, values),) = value.items()
    if family not in PRIOR_FAMILIES:
        raise problem(
            f"unknown prior family {show(family)}; expected one of {listing(PRIOR_FAMILIES)}, "
            f"{_PRIOR_EXAMPLES}"
        )
    names = PRIOR_FAMILIES[family]
    if not isinstance(values, list) or len(values) != 2:
        raise problem(f"{family} needs two numbers [{', '.join(names)}], found {show(values)}")
    for i, (name, x) in enumerate(zip(names, values, strict=True)):
        if not is_number(x) or not math.isfinite(x):
            raise problem(f"{family}[{i}] ({name}) must be a finite number, found {show(x)}")
    first, second = float(values[0]), float(values[1])
    if family in ("normal", "lognormal") and second <= 0:
        raise problem(
            f"{family}[1] ({names[1]}) is a scale and must be > 0, found {show(values[1])}"
        )
    if family == "beta":
        for i, x in enumerate((first, second)):
            if x <= 0:
                raise problem(
                    f"beta[{i}] ({names[i]}) must be > 0, found {show(values[i])}; beta: [a, b] "
                    "has mean a / (a + b), e.g. [4, 3] for 0.57 worth 7 observations"
                )
    if family == "uniform" and second <= first:
        raise problem(
            f"uniform[1] (high) must be > low ({show(values[0])}), found {show(values[1])}"
        )
    return {family: (first, second)}


Prior = Annotated[dict[str, tuple[float, float]], BeforeValidator(_prior)]
PosteriorProbability = Annotated[
    float, number(gt=0, lt=1, note="a posterior probability; P > it stops")
]
Threshold = Annotated[
    float,
    number(ge=0, le=100, note="a risk difference for a binary primary, else a ratio such as an OR"),
]


class Statement(Schema):
    """A posterior statement and its bound: efficacy when P > probability, futility when
    P < probability."""

    probability: PosteriorProbability
    above: Threshold | None = None
    below: Threshold | None = None

    @classmethod
    def cross_check(cls, data: dict[Any, Any]) -> Found:
        if data.get("above") is not None and data.get("below") is not None:
            return [(("below",), "give either above or below, not both")]
        return []


class BayesianDecision(Schema):
    """Stop on posterior probabilities at every look (REMAP-CAP style)."""

    type: Literal["bayesian"]
    prior: Prior
    efficacy: Statement
    futility: Statement | None = None


class Assurance(Schema):
    """A design prior on an arm's effect parameter: each simulated trial draws its own."""

    prior: Annotated[dict[str, Prior], BeforeValidator(lambda v: {} if v is None else v)]

    @classmethod
    def cross_check(cls, data: dict[Any, Any]) -> Found:
        prior = data.get("prior")
        if isinstance(prior, dict) and len(prior) != 1:
            return [
                (
                    ("prior",),
                    "needs exactly one arm's parameter, such as "
                    f"{{tocilizumab.blockade: {{beta: [4, 3]}}}}, found {show(prior)}",
                )
            ]
        return []


def decision_problems(data: dict[Any, Any]) -> Found:
    """`design.decision` and `design.assurance` against the arms and primary endpoint
    (locations from the protocol's top); tolerant of fields reported elsewhere."""
    design = data.get("design")
    if not isinstance(design, dict):
        return []
    found: Found = []
    decision = design.get("decision")
    primary = (
        (data.get("endpoints") or {}).get("primary")
        if isinstance(data.get("endpoints"), dict)
        else None
    )
    if isinstance(decision, dict) and isinstance(primary, dict):
        found += _decision_fits_primary(decision, primary)
    assurance = design.get("assurance")
    arms = data.get("arms")
    if (
        isinstance(assurance, dict)
        and isinstance(assurance.get("prior"), dict)
        and isinstance(arms, list)
    ):
        found += _assurance_fits_arms(assurance["prior"], arms)
    return found


def _decision_fits_primary(decision: dict[Any, Any], primary: dict[Any, Any]) -> Found:
    kind, analysis = primary.get("type"), primary.get("analysis")
    if not isinstance(analysis, str) or analysis not in ANALYSES:
        return []
    at = ("design", "decision")
    prior = decision.get("prior")
    family = next(iter(prior)) if isinstance(prior, dict) and len(prior) == 1 else None
    found: Found = []
    if kind == "binary":
        if family is not None and family != "beta":
            found.append(
                (
                    (*at, "prior"),
                    "a binary primary takes independent beta priors on each arm's risk, "
                    f"e.g. {{beta: [1, 1]}}; found {family}",
                )
            )
        for name in ("efficacy", "futility"):
            statement = decision.get(name)
            if not isinstance(statement, dict):
                continue
            if statement.get("below") is not None:
                found.append(
                    (
                        (*at, name, "below"),
                        "a binary primary's statement is a risk reduction above a margin: "
                        "write above: 0.0 (P(control risk - treatment risk > 0))",
                    )
                )
            margin = statement.get("above")
            if is_number(margin) and not 0 <= margin < 1:
                found.append(
                    (
                        (*at, name, "above"),
                        "is a risk difference for a binary primary: must be ≥ 0 and < 1, "
                        f"found {show(margin)}",
                    )
                )
        return found
    scale = ANALYSES[analysis].scale
    direction = LOG_SCALE_DIRECTION.get(scale)
    if direction is None:
        supported = [a for a, k in ANALYSES.items() if k.scale in LOG_SCALE_DIRECTION]
        return [
            (
                at,
                f"a Bayesian decision needs a binary primary or an estimate on a log scale "
                f"(analysis: {listing(supported)}); {analysis} estimates a {scale}",
            )
        ]
    if family is not None and family != "normal":
        found.append(
            (
                (*at, "prior"),
                f"the {scale} takes a normal prior on its logarithm, e.g. {{normal: [0, 1.5]}}; "
                f"found {family}",
            )
        )
    other = "above" if direction == "below" else "below"
    for name in ("efficacy", "futility"):
        statement = decision.get(name)
        if not isinstance(statement, dict):
            continue
        if statement.get(other) is not None:
            found.append(
                (
                    (*at, name, other),
                    f"the {scale} favours treatment {direction} its threshold: write "
                    f"{direction}: {show(statement[other])}",
                )
            )
        value = statement.get(direction)
        if is_number(value) and not value > 0:
            found.append(
                ((*at, name, direction), f"is a {scale}: must be > 0, found {show(value)}")
            )
    return found


def _assurance_fits_arms(prior: dict[Any, Any], arms: list[Any]) -> Found:
    found: Found = []
    by_name = {a.get("name"): a for a in arms if isinstance(a, dict)}
    for key, spec in prior.items():
        at = ("design", "assurance", "prior", key)
        arm_name, _, parameter = str(key).partition(".")
        arm = by_name.get(arm_name)
        if arm is None or not parameter:
            found.append(
                (
                    at,
                    f"must be <arm>.<parameter>, e.g. tocilizumab.blockade; arms: "
                    f"{listing(n for n in by_name if isinstance(n, str))}",
                )
            )
            continue
        if arm.get("control"):
            found.append((at, f"{arm_name} is the control arm: it has no effect to put a prior on"))
            continue
        effect = arm.get("effect")
        model = effect.get("model") if isinstance(effect, dict) else None
        parameters = ASSURED_PARAMETERS.get(model, {}) if isinstance(model, str) else {}
        if parameter not in parameters:
            supported = ", ".join(f"{p} ({m})" for m, ps in ASSURED_PARAMETERS.items() for p in ps)
            found.append(
                (
                    at,
                    f"{arm_name}'s effect ({model or 'none'}) has no parameter {parameter!r} "
                    f"that a design prior can be put on; supported: {supported}",
                )
            )
            continue
        low, high = parameters[parameter]
        if isinstance(spec, dict) and len(spec) == 1:
            ((family, values),) = spec.items()
            positive = low > 0  # a ratio: lognormal (or beta) draws stay above 0
            fits = (
                family == "beta"
                or (family == "lognormal" and positive)
                or (
                    family == "uniform"
                    and isinstance(values, list)
                    and len(values) == 2
                    and all(is_number(v) for v in values)
                    and low <= values[0]
                    and values[1] <= high
                )
            )
            if family in PRIOR_FAMILIES and not fits:
                found.append(
                    (
                        (*at, family),
                        f"{parameter} lies in [{low:g}, {high:g}]: a {family} prior would draw "
                        f"values outside it; use "
                        + ("lognormal: [meanlog, sdlog], " if positive else "")
                        + f"beta: [a, b] or uniform within [{low:g}, {high:g}]",
                    )
                )
    return found
