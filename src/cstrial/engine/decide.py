"""Decision rules: what a look decides for each comparison of each running trial.

A rule sees the look's statistics of the trials still running and returns, per
trial, a code: `CONTINUE`, or one of `DECISIONS` (efficacy, futility, or none at
the final look). The engine asks its plan's rule at every look; a rule with
state across looks (a Bayesian posterior, a closed test) keeps it in the arrays it
is given. `GroupSequential` is the frequentist rule of `design.looks`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cstrial.design import conditional_power

# The decision codes of trials.parquet's `decision` column, and "not yet decided".
DECISIONS = ("none", "efficacy", "futility")
NONE, EFFICACY, FUTILITY = (DECISIONS.index(d) for d in DECISIONS)
CONTINUE = -1


@dataclass(frozen=True)
class GroupSequential:
    """Stop for efficacy at look k when z >= efficacy_z[k]; for futility at an interim when
    z <= futility_z[k] or the conditional power (under the current trend) falls below
    `conditional_power_below`. Non-binding or binding, the simulated trial obeys its
    futility rule at interims; the final look decides efficacy or none.
    """

    efficacy_z: tuple[float, ...]
    futility_z: tuple[float, ...] | None = None
    conditional_power_below: float | None = None
    look_fractions: tuple[float, ...] = ()

    def decide(self, look: int, z: np.ndarray) -> np.ndarray:
        final = look == len(self.efficacy_z) - 1
        efficacy = z >= self.efficacy_z[look]
        if final:
            return np.where(efficacy, EFFICACY, NONE).astype(np.int8)
        futility = np.zeros_like(efficacy)
        if self.futility_z is not None:
            futility |= z <= self.futility_z[look]
        if self.conditional_power_below is not None:
            t = self.look_fractions[look]
            cp = conditional_power(z, t, self.efficacy_z[-1], z / np.sqrt(t))
            futility |= cp < self.conditional_power_below
        return np.where(efficacy, EFFICACY, np.where(futility, FUTILITY, CONTINUE)).astype(np.int8)
