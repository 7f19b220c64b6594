"""Decision rules: what a look decides for each comparison of each running trial, and what the
trial's next stage enrols.

A design (`Design`) is fixed per scenario; for each chunk it starts a `Rule`, which
may keep state across looks (a closed test's stage-wise p-values, a re-estimated
sample size, a posterior). At every look the engine hands the rule what the running
trials have seen (`cstrial.engine.samplers.Look`) and their current stage plans; the
rule returns a `Verdict`: per comparison and running trial a code (`CONTINUE`, or one
of `DECISIONS`), and the next stage's plan (arms open, allocation, patients,
population, events). At the end the rule hands over per-trial columns for
trials.parquet, whose means the summary reports.

`GroupSequentialDesign` is the frequentist rule of `design.looks`: each comparison on
its own z against its bounds, the stage plan never changing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pyarrow as pa

from cstrial.design import conditional_power
from cstrial.engine.stages import StagePlan

if TYPE_CHECKING:
    from cstrial.engine.plan import ScenarioPlan
    from cstrial.engine.samplers import Look

# The decision codes of trials.parquet's `decision` column, and "not yet decided".
# `dropped`: an arm closed at an interim by a selection rule (not by its own bound).
DECISIONS = ("none", "efficacy", "futility", "dropped")
NONE, EFFICACY, FUTILITY, DROPPED = (DECISIONS.index(d) for d in DECISIONS)
CONTINUE = -1


@dataclass(frozen=True)
class Verdict:
    """What one look decides for the running trials (R of them).

    `decision` (C, R): per comparison a code; comparisons already decided are ignored.
    `next_stage`: the plan of the stage after this look (rows = the running trials), or
    None to keep the design's planned stage.
    """

    decision: np.ndarray
    next_stage: StagePlan | None = None


class Rule(Protocol):
    """A design's rule for one chunk of trials (it may keep state across looks)."""

    def decide(self, look: int, running: np.ndarray, seen: Look, stage: StagePlan) -> Verdict:
        """The verdict of look `look` (0-based) on trials `running` (rows of the chunk);
        `stage` is the plan their last stage enrolled under."""
        ...

    def columns(self) -> list[dict[str, np.ndarray]]:
        """Per comparison, extra per-trial columns of trials.parquet (over the chunk's
        replicates, NaN where not defined), named as `Design.columns` declares."""
        ...


class Design(Protocol):
    """A scenario's decision design: picklable, shared by every chunk."""

    def start(self, plan: ScenarioPlan, replicates: int) -> Rule:
        """A fresh rule for a chunk of `replicates` trials."""
        ...

    def columns(self) -> list[tuple[str, pa.DataType]]:
        """The extra trials.parquet columns the rule fills (their means go to the summary)."""
        ...


def planned_stage(plan: ScenarioPlan, look: int, stage: StagePlan) -> StagePlan:
    """The stage after look `look` as the design planned it: the next look's patients and
    deaths, the arms and population unchanged."""
    nxt = min(look + 1, plan.n_looks - 1)
    patients = plan.look_patients[nxt] - plan.look_patients[look]
    events = plan.look_events[nxt] if plan.look_events else 0
    return stage.with_patients(np.full(stage.patients.size, patients)).with_events(
        np.full(stage.patients.size, events)
    )


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


@dataclass(frozen=True)
class GroupSequentialDesign:
    """Every comparison tested alone on its cumulative z (`GroupSequential`), stage plans as
    designed. Stateless, so one object serves as design and rule."""

    rules: tuple[GroupSequential, ...]

    @classmethod
    def of_plan(cls, plan: ScenarioPlan) -> GroupSequentialDesign:
        return cls(
            tuple(
                GroupSequential(
                    c.efficacy_z, c.futility_z, plan.conditional_power_below, plan.look_fractions
                )
                for c in plan.comparisons
            )
        )

    def start(self, plan: ScenarioPlan, replicates: int) -> GroupSequentialRule:
        return GroupSequentialRule(self.rules, plan)

    def columns(self) -> list[tuple[str, pa.DataType]]:
        return []


@dataclass(frozen=True)
class GroupSequentialRule:
    rules: tuple[GroupSequential, ...]
    plan: ScenarioPlan

    def decide(self, look: int, running: np.ndarray, seen: Look, stage: StagePlan) -> Verdict:
        decision = np.stack(
            [rule.decide(look, a.z) for rule, a in zip(self.rules, seen.analyses, strict=True)]
        )
        return Verdict(decision, planned_stage(self.plan, look, stage))

    def columns(self) -> list[dict[str, np.ndarray]]:
        return [{} for _ in self.rules]


def column_means(columns: Mapping[str, np.ndarray]) -> dict[str, tuple[float, int]]:
    """Each column's sum and count over its finite values (booleans count as 0/1)."""
    out = {}
    for name, values in columns.items():
        x = np.asarray(values, dtype=float)
        ok = np.isfinite(x)
        out[name] = (float(x[ok].sum()), int(ok.sum()))
    return out


def declared(designs: Sequence[Design]) -> list[tuple[str, pa.DataType]]:
    """The extra columns of several scenarios' designs, in order of first appearance."""
    seen: dict[str, pa.DataType] = {}
    for design in designs:
        for name, kind in design.columns():
            seen.setdefault(name, kind)
    return list(seen.items())
