"""Assurance: the probability of success when each trial draws its own true effect from a
design prior (`design.assurance`), for frequentist and Bayesian designs alike.

O'Hagan, Stevens & Campbell (2005) define assurance as the power averaged over a design
prior on the effect: here every simulated trial first draws the assured arm's effect
parameter (e.g. tocilizumab's `blockade`) from the prior, then enrols patients whose
hazards follow that value. The share of trials that stop for efficacy is the assurance,
reported in summary.parquet as `assurance` (with `assurance_se`) beside `power`; the
drawn value of each trial is the trials.parquet column `drawn_<arm>_<parameter>`.

How it stays exact. The engine's fast samplers draw outcomes from each arm's exact law,
computed once per scenario for one effect; a law per drawn value would cost a law
computation per trial. Assurance runs therefore take the patient-level sampler, where
the effect enters each patient's hazard directly: the assured arm's patients are
simulated under their own trial's value (`PatientsSampler._arm_effects`), with no
interpolation and no approximation beyond the model's own. The price is the patient
sampler's speed. The draws come from their own random stream, SeedSequence(seed,
spawn_key=(scenario, chunk, 1)), so the trials' patients are the same draws as without
assurance: a point-mass prior at the protocol's value gives, bit for bit, the trials of
the same protocol run with `simulation.sampler: patients`.

Scenarios. A scenario that sets the assured parameter itself (e.g. a null scenario with
`arms.tocilizumab.effect.blockade: 0`, or a grid over it) keeps its fixed value: the
prior applies to the scenarios that leave the parameter as the protocol writes it.
References: O'Hagan, Stevens & Campbell 2005, Pharm Stat 4:187; Spiegelhalter et al.
2004, §6.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from cstrial.design.priors import DesignPrior
from cstrial.protocol.bayesian import ASSURED_PARAMETERS

if TYPE_CHECKING:
    from cstrial.engine.plan import ScenarioPlan
    from cstrial.protocol import Scenario

ASSURANCE_STREAM = 1  # the third spawn key of the draws' generator


@dataclass(frozen=True)
class AssurancePlan:
    """The assured arm (index in the simulation's order), its parameter and the prior."""

    arm: str
    arm_index: int
    parameter: str
    prior: DesignPrior
    low: float = -math.inf  # the parameter's range: draws beyond it are set to its ends
    high: float = math.inf

    @property
    def column(self) -> str:
        return f"drawn_{self.arm}_{self.parameter}"

    def draw(self, seed: int, scenario: int, chunk: int, replicates: int) -> np.ndarray:
        """The chunk's trials' values, from the chunk's own assurance stream."""
        sequence = np.random.SeedSequence(seed, spawn_key=(scenario, chunk, ASSURANCE_STREAM))
        draws = self.prior.draw(replicates, np.random.Generator(np.random.PCG64(sequence)))
        return np.clip(draws, self.low, self.high)


def with_assurance(scenario: Scenario, plan: ScenarioPlan) -> ScenarioPlan:
    """`plan` with the protocol's assurance, unless the scenario fixes the parameter (or
    there is none): the patient-level sampler, and no single true effect."""
    assurance = scenario.protocol.design.assurance
    if assurance is None:
        return plan
    ((key, spec),) = assurance.prior.items()
    arm, _, parameter = key.partition(".")
    if _fixed_by(scenario, arm, parameter):
        return plan
    ((family, parameters),) = spec.items()
    index = plan.arm_names.index(arm)
    effect = plan.effects[index]
    low, high = ASSURED_PARAMETERS[str(getattr(effect, "model", ""))][parameter]
    assured = AssurancePlan(
        arm, index, parameter, DesignPrior(family, parameters), low=low, high=high
    )
    nan = math.nan
    comparisons = tuple(
        replace(c, true_effect=nan, treatment_risk=nan, analytic_sample_size=nan)
        if c.arm_index == assured.arm_index
        else c
        for c in plan.comparisons
    )
    reason = f"design.assurance: each trial draws {key} from its prior"
    return replace(
        plan,
        assurance=assured,
        comparisons=comparisons,
        sampler="patients",
        sampler_reason=reason if plan.sampler == "patients" else f"{reason}; {plan.sampler_reason}",
    )


def _fixed_by(scenario: Scenario, arm: str, parameter: str) -> bool:
    """Whether the scenario (named or grid point) sets the arm's parameter, its effect or
    the arm itself."""
    paths = set(scenario.grid or {}) | set(scenario.overrides or {})
    fixing = {f"arms.{arm}", f"arms.{arm}.effect", f"arms.{arm}.effect.{parameter}"}
    return bool(paths & fixing)
