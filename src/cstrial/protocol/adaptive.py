"""The protocol's adaptive-design fields: `design.combination`, `design.reestimation` and
`design.enrichment` (docs/adaptive.md).

A combination test (inverse normal, pre-specified weights from the planned looks) is
what lets a trial change its sample size or its population at an interim and keep its
type I error; re-estimation and enrichment therefore require it, and at least one
interim look.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import model_validator

from cstrial.protocol.base import Found, Schema, problem
from cstrial.protocol.criteria import Criteria
from cstrial.protocol.fields import choice, number, whole
from cstrial.protocol.limits import MAX_SAMPLE_SIZE
from cstrial.protocol.messages import show

CombinationName = Literal["inverse-normal"]
ReestimationRuleName = Literal["conditional-power", "promising-zone"]
SelectionName = Literal["best", "epsilon", "threshold"]
IntersectionName = Literal["simes", "bonferroni", "spiessens-debois"]

CombinationTest = Annotated[CombinationName, choice(CombinationName, "combination test")]
ReestimationRule = Annotated[ReestimationRuleName, choice(ReestimationRuleName, "rule")]
Selection = Annotated[SelectionName, choice(SelectionName, "selection rule")]
Intersection = Annotated[IntersectionName, choice(IntersectionName, "intersection test")]
Power = Annotated[float, number(gt=0, lt=1)]
PerStage = Annotated[
    int, whole(ge=2, le=MAX_SAMPLE_SIZE, note="patients (or deaths) of a stage, over all arms")
]
NonNegative = Annotated[float, number(ge=0, le=5, note="a risk difference or log ratio")]
Difference = Annotated[float, number(ge=-5, le=5, note="a risk difference or log ratio")]


class Reestimation(Schema):
    """Sample-size (time to event: deaths) re-estimation at each interim for the next stage.

    `conditional-power`: the next stage's size that gives conditional power `target`
    under the observed effect (rpact's ``conditionalPower``), within
    [`min_per_stage`, `max_per_stage`]. `promising-zone` (Mehta & Pocock 2011): the same,
    but only when the conditional power at the planned size lies in
    [`cp_min`, `cp_max`); otherwise the planned size.
    """

    rule: ReestimationRule = "conditional-power"
    target: Power = 0.8
    min_per_stage: PerStage
    max_per_stage: PerStage
    cp_min: Power | None = None
    cp_max: Power | None = None

    @model_validator(mode="after")
    def _ranges(self) -> Reestimation:
        if self.min_per_stage > self.max_per_stage:
            raise problem(
                f"min_per_stage ({self.min_per_stage}) must not exceed max_per_stage "
                f"({self.max_per_stage})"
            )
        if self.rule == "promising-zone":
            if self.cp_min is None or self.cp_max is None:
                raise problem(
                    "the promising-zone rule needs its band of conditional power, e.g. "
                    "cp_min: 0.36, cp_max: 0.8 (Mehta & Pocock 2011)"
                )
            if self.cp_min >= self.cp_max:
                raise problem(f"cp_min ({self.cp_min:g}) must be below cp_max ({self.cp_max:g})")
        elif self.cp_min is not None or self.cp_max is not None:
            raise problem("cp_min and cp_max belong to rule: promising-zone")
        return self


class Enrichment(Schema):
    """Adaptive enrichment: at the first interim select the full population (F), the
    subgroup (S) or both from the stage-1 estimates; later stages enrol the selection.

    `best`: the population with the larger estimated benefit; `epsilon`: every population
    whose estimate is within `epsilon` of the best; `threshold`: every population whose
    estimate is at least `threshold` (none: the trial stops). Estimates are on the
    benefit scale: control minus treatment risk (binary), minus the log hazard ratio
    (time to event).
    """

    subgroup: Criteria
    selection: Selection = "best"
    epsilon: NonNegative | None = None
    threshold: Difference | None = None
    intersection: Intersection = "simes"

    @model_validator(mode="after")
    def _parameters(self) -> Enrichment:
        if not self.subgroup:
            raise problem("subgroup needs a criterion, e.g. {il6_pg_ml: {min: 200}}")
        if self.selection == "epsilon" and self.epsilon is None:
            raise problem("selection: epsilon needs epsilon, e.g. epsilon: 0.02")
        if self.selection == "threshold" and self.threshold is None:
            raise problem("selection: threshold needs threshold, e.g. threshold: 0.0")
        if self.selection != "epsilon" and self.epsilon is not None:
            raise problem("epsilon belongs to selection: epsilon")
        if self.selection != "threshold" and self.threshold is not None:
            raise problem("threshold belongs to selection: threshold")
        return self


def adaptive_problems(data: dict[Any, Any]) -> Found:
    """Rules between the adaptive fields and the rest of `design` (checked on the raw
    mapping of `design`)."""
    found: Found = []
    looks = data.get("looks", [1.0])
    one_look = isinstance(looks, list) and len(looks) < 2
    combination = data.get("combination")
    for name in ("reestimation", "enrichment"):
        if data.get(name) is None:
            continue
        if one_look:
            found.append(
                (
                    (name,),
                    f"needs an interim: design.looks is {show(looks)}, a fixed design; give "
                    "at least two looks, e.g. looks: [0.5, 1.0]",
                )
            )
        if combination is None:
            found.append(
                (
                    (name,),
                    "needs design.combination: inverse-normal, the combination test that "
                    "keeps the type I error when an interim changes the trial",
                )
            )
    if combination is not None and one_look:
        found.append(
            (
                ("combination",),
                f"combines the stages of a trial with interims; looks is {show(looks)}",
            )
        )
    if data.get("reestimation") is not None and data.get("enrichment") is not None:
        found.append(
            (
                ("reestimation",),
                "re-estimation together with enrichment is not offered; use one of them",
            )
        )
    futility = data.get("futility")
    if combination is not None and isinstance(futility, dict):
        if futility.get("conditional_power_below") is not None:
            found.append(
                (
                    ("futility", "conditional_power_below"),
                    "is not offered with design.combination; use futility.spending (the "
                    "futility bound then applies to the combination statistic)",
                )
            )
        if data.get("enrichment") is not None:
            found.append(
                (
                    ("futility",),
                    "futility stopping with enrichment is not offered; use selection: "
                    "threshold to stop a trial whose populations both look futile",
                )
            )
    return found


def adaptive_arm_problems(design: Any, n_arms: int) -> Found:
    """The adaptive designs are for one treatment against control (multi-arm selection
    is `design.multiplicity`'s)."""
    if not isinstance(design, dict) or n_arms == 2:
        return []
    return [
        (("design", name), f"is offered for two arms (one treatment, one control), found {n_arms}")
        for name in ("combination", "reestimation", "enrichment")
        if design.get(name) is not None
    ]
