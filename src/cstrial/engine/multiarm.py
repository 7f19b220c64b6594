"""Multi-arm trials with a shared control: many-to-one tests, closed testing across looks, and
arm selection at interims (`design.multiplicity`, `design.selection`).

Two decision designs, both built by `multiarm_design` from the protocol:

- **Single step** (`design.multiplicity: dunnett` without selection; `hochberg` with one
  look): each arm's cumulative z against the group-sequential Dunnett bounds
  (`cstrial.design.multiplicity.dunnett_group_sequential_bounds`, familywise error
  exactly alpha under the global null, the correlation from the shared control and the
  allocation; Magirr, Jaki & Whitehead 2012); with one look, Hochberg's step-up test.
  The stage plan never changes, as in the default design.
- **Closed combination test** (any `design.selection`, or `holm` or `simes`): the closed
  test over the arms' hypotheses with Bonferroni (bonferroni, holm), Simes or Dunnett
  intersection tests of each stage's own patients, combined across looks by the
  inverse-normal method with the pre-planned weights, against the univariate
  group-sequential bounds at alpha (`closed_combination_test`; Bauer & Kieser 1999;
  Wassmer & Brannath 2016, ch. 11), exactly as rpact's ``getSimulationMultiArm*``.
  At each interim arms may be dropped: by their own futility bound (the elementary
  hypothesis' combination z, non-binding) and by the selection rule; dropped arms stop
  enrolling, their share going to the open arms (`keep_total: true`) or the stage
  shrinking (`false`). An arm whose hypothesis is rejected keeps enrolling while the
  trial goes on (rpact's ``successCriterion = "all"``); the trial stops when every arm
  has stopped (rejected, dropped or futile).

Per comparison and trial the rule fills trials.parquet's columns `rejected` (after
multiplicity), `selected` (never dropped by the selection rule), `stage_stopped` (the
last stage the arm enrolled in), `in_stage_<k>` (the arm enrolled in stage k),
`arm_patients`, `control_patients` (randomised by the trial's end), and the trial's
`any_rejected` (disjunctive), `all_effective_rejected` (conjunctive over the arms with
an effect) and `familywise_error` (a true-null arm rejected); their means are the
summary's power per arm, P(select), expected patients per arm, disjunctive and
conjunctive power and the familywise error rate.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from scipy.special import ndtr

from cstrial.design.boundaries import design_boundaries
from cstrial.design.multiplicity import (
    closed_combination_test,
    dunnett_group_sequential_bounds,
    hochberg,
    inverse_normal_weights,
    many_to_one_correlation,
)
from cstrial.engine.decide import (
    CONTINUE,
    DROPPED,
    EFFICACY,
    FUTILITY,
    NONE,
    GroupSequential,
    Verdict,
    planned_stage,
)
from cstrial.engine.stages import StagePlan
from cstrial.errors import ProtocolError, ProtocolProblem
from cstrial.protocol.vocabulary import ANALYSES
from cstrial.treatment.effects import is_null

if TYPE_CHECKING:
    from cstrial.engine.plan import ScenarioPlan
    from cstrial.engine.samplers import Look
    from cstrial.protocol import Protocol

#: intersection test of the closed combination test for each `design.multiplicity`
INTERSECTION_OF = {
    "bonferroni": "bonferroni",
    "holm": "bonferroni",
    "simes": "simes",
    "dunnett": "dunnett",
}


@dataclass(frozen=True)
class SelectionRule:
    """`design.selection`: which open arms continue after an interim."""

    rule: str  # all | best | epsilon | threshold
    epsilon: float | None
    threshold: float | None
    measure: str  # z | estimate
    keep_total: bool

    def keep(
        self, measure: np.ndarray, open_: np.ndarray, key: np.ndarray | None = None
    ) -> np.ndarray:
        """(R, M) which of the open arms continue, given their measures (larger is better).

        `best` among exactly tied arms (equal counts give equal estimates) takes the tied
        arm numbered `key` modulo the number tied, `key` (R,) being an integer of the
        look's data (cstrial's rule has no random stream; rpact breaks ties with a random
        jitter): each tied arm is as likely to go on, and the trial stays reproducible.
        Without `key` the first tied arm goes on."""
        m = np.where(open_, measure, -np.inf)
        m = np.where(np.isnan(m), -np.inf, m)
        best = m.max(axis=1, keepdims=True)
        if self.rule == "best":
            keep = np.zeros_like(open_)
            tied = np.isfinite(m) & (m >= best - 1e-12)
            count = np.maximum(tied.sum(axis=1), 1)
            pick = np.zeros(m.shape[0], dtype=np.int64) if key is None else key % count
            rank = np.cumsum(tied, axis=1) - 1  # each tied arm's number among the tied
            chosen = tied & (rank == pick[:, None])
            first = np.argmax(m, axis=1)
            none = ~chosen.any(axis=1)
            chosen[np.flatnonzero(none), first[none]] = True
            keep = chosen
        elif self.rule == "epsilon":
            assert self.epsilon is not None
            with np.errstate(invalid="ignore"):  # no open arm: -inf - -inf
                keep = best - m <= self.epsilon
        else:  # all, threshold
            keep = np.ones_like(open_)
        if self.threshold is not None:
            keep &= m > self.threshold
        return keep & open_ & np.isfinite(m)


@dataclass(frozen=True)
class MultiArmDesign:
    """A scenario's multi-arm design (picklable; see the module docstring)."""

    method: str
    closed: bool  # closed combination test (else single step on cumulative z)
    efficacy_z: tuple[float, ...]
    futility: GroupSequential | None  # per-arm futility (closed: on the elementary combination)
    weights: tuple[float, ...]
    selection: SelectionRule | None
    null_arms: tuple[bool, ...]
    effective_arms: tuple[bool, ...]
    alpha: float
    estimate_benefit: str  # how an estimate turns into a benefit: minus | minus-log | none

    def start(self, plan: ScenarioPlan, replicates: int) -> MultiArmRule:
        return MultiArmRule(self, plan, replicates)

    def columns(self) -> list[tuple[str, pa.DataType]]:
        return columns_of(len(self.weights))


def columns_of(looks: int) -> list[tuple[str, pa.DataType]]:
    stages = [(f"in_stage_{k + 1}", pa.bool_()) for k in range(1, looks)]
    return [
        ("rejected", pa.bool_()),
        ("selected", pa.bool_()),
        ("stage_stopped", pa.float64()),
        *stages,
        ("arm_patients", pa.float64()),
        ("control_patients", pa.float64()),
        ("any_rejected", pa.bool_()),
        ("all_effective_rejected", pa.float64()),
        ("familywise_error", pa.float64()),
    ]


class MultiArmRule:
    """One chunk's state: each trial's stage-wise statistics, open arms and decisions."""

    def __init__(self, design: MultiArmDesign, plan: ScenarioPlan, replicates: int) -> None:
        self.design, self.plan = design, plan
        m, k = len(plan.comparisons), plan.n_looks
        self.m, self.k = m, k
        self.stage_z = np.full((replicates, k, m), np.nan)
        self.stage_n = np.full((replicates, k, m + 1), np.nan)
        self.open = np.ones((replicates, m), dtype=bool)  # enrolling in the next stage
        self.selected = np.ones((replicates, m), dtype=bool)
        self.decision = np.full((replicates, m), CONTINUE, dtype=np.int8)
        self.in_stage = np.zeros((replicates, k, m), dtype=bool)
        self.patients = np.zeros((replicates, m + 1))
        self.cumulative_z = np.zeros((replicates, m))
        self.events = np.zeros((replicates, m))

    # ------------------------------------------------------------------ one look

    def decide(self, look: int, running: np.ndarray, seen: Look, stage: StagePlan) -> Verdict:
        d = self.design
        self.in_stage[running, look] = stage.allocation[:, 1:] > 0
        for c in range(self.m):
            self.patients[running, 0] = seen.arms[c][0]
            self.patients[running, c + 1] = seen.arms[c][2]
        final = look == self.k - 1
        if d.closed:
            self._stage_statistics(look, running, seen)
            new = self._closed(look, running, seen, final)
        else:
            new = self._single_step(look, running, seen, final)
        undecided = self.decision[running] == CONTINUE
        self.decision[running] = np.where(undecided, new, self.decision[running])
        verdict = self.decision[running].T.copy()
        return Verdict(verdict, self._next_stage(look, running, stage))

    def _single_step(self, look: int, running: np.ndarray, seen: Look, final: bool) -> np.ndarray:
        d = self.design
        z = np.stack([a.z for a in seen.analyses], axis=1)  # (R, M)
        if d.method == "hochberg":  # one look (checked when the design is built)
            reject = hochberg(np.where(np.isnan(z), np.nan, ndtr(-z)), d.alpha)
            return np.where(reject, EFFICACY, NONE).astype(np.int8)
        rule = GroupSequential(
            d.efficacy_z,
            None if d.futility is None else d.futility.futility_z,
            None if d.futility is None else d.futility.conditional_power_below,
            self.plan.look_fractions,
        )
        return np.stack([rule.decide(look, z[:, c]) for c in range(self.m)], axis=1)

    def _stage_statistics(self, look: int, running: np.ndarray, seen: Look) -> None:
        """Each open arm's z of this stage's own patients (time to event: the increment of
        the cumulative log-rank by events, Jennison & Turnbull 2000, ch. 3)."""
        enrolled = self.in_stage[running, look]
        for c, analysis in enumerate(seen.analyses):
            if seen.stage_analysis is not None:
                own = seen.stage_analysis(c)
                z, n_c, n_t = own.z, own.n_control, own.n_treatment
            else:
                d_now = (analysis.events_control + analysis.events_treatment).astype(float)
                d_before = self.events[running, c]
                z_before = self.cumulative_z[running, c]
                with np.errstate(invalid="ignore", divide="ignore"):
                    z = (np.sqrt(d_now) * analysis.z - np.sqrt(d_before) * z_before) / np.sqrt(
                        d_now - d_before
                    )
                n_c = n_t = np.full(running.size, np.nan)
                self.events[running, c] = d_now
                self.cumulative_z[running, c] = analysis.z
            ok = enrolled[:, c] & np.isfinite(z)
            self.stage_z[running, look, c] = np.where(ok, z, np.nan)
            self.stage_n[running, look, 0] = n_c
            self.stage_n[running, look, c + 1] = np.where(ok & (n_t > 0), n_t, np.nan)

    def _closed(self, look: int, running: np.ndarray, seen: Look, final: bool) -> np.ndarray:
        d = self.design
        test = INTERSECTION_OF[d.method]
        allocation = None
        if test == "dunnett":
            sizes = self.stage_n[running, : look + 1]
            planned = np.asarray(self.plan.allocation, dtype=float)
            # time to event, or a stage with no control patient: the planned allocation
            missing = ~np.isfinite(sizes[..., 0]) | (sizes[..., 0] <= 0)
            sizes = np.where(missing[..., None], planned, sizes)
            closed_arms = ~np.isfinite(self.stage_z[running, : look + 1])
            sizes[..., 1:] = np.where(closed_arms, np.nan, sizes[..., 1:])
            allocation = sizes
        result = closed_combination_test(
            self.stage_z[running, : look + 1],
            d.efficacy_z[: look + 1],
            d.weights[: look + 1],
            test,
            allocation=allocation,
        )
        rejected = result.rejected[:, look, :]
        new = np.full((running.size, self.m), CONTINUE, dtype=np.int8)
        new[rejected] = EFFICACY
        undecided = (self.decision[running] == CONTINUE) & ~rejected
        if final:
            new[undecided] = NONE
            return new
        open_ = self.open[running].copy()
        if d.futility is not None:
            elementary = result.combination_z[:, look, -self.m :]  # H_1..H_M come last
            for c in range(self.m):
                code = d.futility.decide(look, np.nan_to_num(elementary[:, c], nan=-np.inf))
                futile = (code == FUTILITY) & undecided[:, c]
                new[futile, c] = FUTILITY
                open_[futile, c] = False
        if d.selection is not None:
            # exact ties in `best` are broken by the control arm's deaths so far: a number
            # that does not depend on which of the tied arms is which
            key = np.asarray(seen.arms[0][1], dtype=np.int64)
            keep = d.selection.keep(self._measure(seen), open_, key)
            dropped = open_ & ~keep
            self.selected[running] &= ~dropped
            new[dropped & undecided & (new == CONTINUE)] = DROPPED
            open_ &= keep
        self.open[running] = open_
        return new

    def _measure(self, seen: Look) -> np.ndarray:
        """(R, M) the selection measure, larger is better."""
        assert self.design.selection is not None
        if self.design.selection.measure == "z":
            return np.stack([a.z for a in seen.analyses], axis=1)
        estimate = np.stack([a.estimate for a in seen.analyses], axis=1)
        if self.design.estimate_benefit == "minus-log":
            with np.errstate(divide="ignore", invalid="ignore"):
                return -np.log(estimate)
        return -estimate

    def _next_stage(self, look: int, running: np.ndarray, stage: StagePlan) -> StagePlan:
        following = planned_stage(self.plan, look, stage)
        if not self.design.closed:
            return following
        full = np.asarray(self.plan.allocation, dtype=np.int64)
        allocation = np.broadcast_to(full, (running.size, full.size)).copy()
        allocation[:, 1:] *= self.open[running]
        following = following.with_allocation(allocation)
        if self.design.selection is not None and not self.design.selection.keep_total:
            share = allocation.sum(axis=1) / full.sum()
            patients = np.ceil(following.patients * share - 1e-9).astype(np.int64)
            following = following.with_patients(np.maximum(patients, 0))
        return following

    # ------------------------------------------------------------------ columns

    def columns(self) -> list[dict[str, np.ndarray]]:
        d = self.design
        rejected = self.decision == EFFICACY
        effective = np.asarray(d.effective_arms)
        null = np.asarray(d.null_arms)
        any_rejected = rejected.any(axis=1)
        conjunctive = (
            rejected[:, effective].all(axis=1).astype(float)
            if effective.any()
            else np.full(rejected.shape[0], np.nan)
        )
        fwe = (
            rejected[:, null].any(axis=1).astype(float)
            if null.any()
            else np.full(rejected.shape[0], np.nan)
        )
        stages = np.arange(1, self.k + 1)
        last = np.where(
            self.in_stage.any(axis=1), (self.in_stage * stages[None, :, None]).max(axis=1), 0
        )
        out = []
        for c in range(self.m):
            column = {
                "rejected": rejected[:, c],
                "selected": self.selected[:, c],
                "stage_stopped": last[:, c].astype(float),
                **{f"in_stage_{k + 1}": self.in_stage[:, k, c] for k in range(1, self.k)},
                "arm_patients": self.patients[:, c + 1],
                "control_patients": self.patients[:, 0],
                "any_rejected": any_rejected,
                "all_effective_rejected": conjunctive,
                "familywise_error": fwe,
            }
            out.append(column)
        return out


# ---------------------------------------------------------------------- testing graph


@dataclass(frozen=True)
class GraphDesign:
    """`endpoints.testing: {graph: ...}`: a group-sequential graphical procedure over the
    arms' primary and secondary hypotheses (Bretz et al. 2009; Maurer & Bretz 2013).

    Hypotheses in order: the primary of each arm (simulation order), then each secondary
    of each arm. A primary stops its arm for efficacy at the bounds of its initial level
    w_i·alpha; secondaries are analysed when their arm stops, and a hypothesis is
    rejected at look k if its z crosses the bounds c_l(level) of its level after the
    graph's updates at some look l <= k at which it was observed
    (`cstrial.design.graph.graph_rejections`). A hypothesis with weight 0 that no edge
    reaches is never rejected. `fixed-sequence` is the graph whose primaries share
    alpha equally and pass everything down their arm's secondaries in order.
    """

    weights: tuple[float, ...]
    transitions: tuple[tuple[float, ...], ...]
    primary_bounds: tuple[tuple[float, ...], ...]  # per arm, at w_i·alpha
    futility: tuple[GroupSequential, ...]
    alpha: float
    efficacy: str
    efficacy_parameter: float | None
    null_arms: tuple[bool, ...]
    secondaries: tuple[str, ...]

    def start(self, plan: ScenarioPlan, replicates: int) -> GraphRule:
        return GraphRule(self, plan, replicates)

    def columns(self) -> list[tuple[str, pa.DataType]]:
        return [
            ("graph_rejected", pa.bool_()),
            *[(f"{name}_graph_rejected", pa.bool_()) for name in self.secondaries],
            ("any_rejected", pa.bool_()),
            ("all_effective_rejected", pa.float64()),
            ("familywise_error", pa.float64()),
        ]


class GraphRule:
    """Each comparison alone on its cumulative z at its initial level; the graph at the end."""

    def __init__(self, design: GraphDesign, plan: ScenarioPlan, replicates: int) -> None:
        self.design, self.plan = design, plan
        m, k, s = len(plan.comparisons), plan.n_looks, len(design.secondaries)
        self.m = m
        self.z = np.full((replicates, k, m * (1 + s)), np.nan)
        self.decided = np.zeros((replicates, m), dtype=bool)

    def decide(self, look: int, running: np.ndarray, seen: Look, stage: StagePlan) -> Verdict:
        from cstrial.endpoints import analyse, outcome_at

        d = self.design
        plan_looks = self.plan.n_looks
        decision = np.empty((self.m, running.size), dtype=np.int8)
        for c, analysis in enumerate(seen.analyses):
            # efficacy at the primary's initial level; futility as the design has it
            efficacy = analysis.z >= d.primary_bounds[c][look]
            own = d.futility[c].decide(look, analysis.z)
            if look == plan_looks - 1:
                decision[c] = np.where(efficacy, EFFICACY, NONE)
            else:
                futile = own == FUTILITY
                decision[c] = np.where(efficacy, EFFICACY, np.where(futile, FUTILITY, CONTINUE))
            open_ = ~self.decided[running, c]
            self.z[running[open_], look, c] = analysis.z[open_]
            stopping = open_ & (decision[c] != CONTINUE)
            if d.secondaries and stopping.any():
                assert seen.course is not None  # secondaries run on patient-level samplers
                pick = np.flatnonzero(stopping)
                course = seen.course.take(pick)
                months = seen.months[pick]
                arm = self.plan.comparisons[c].arm_index
                for j, endpoint in enumerate(self.plan.secondaries):
                    result = analyse(endpoint, outcome_at(endpoint, course, months), course, arm)
                    self.z[running[pick], look, (1 + j) * self.m + c] = result.z
            self.decided[running[stopping], c] = True
        return Verdict(decision, planned_stage(self.plan, look, stage))

    def columns(self) -> list[dict[str, np.ndarray]]:
        from cstrial.design.graph import graph_rejections

        d = self.design
        result = graph_rejections(
            self.z,
            d.weights,
            d.transitions,
            d.alpha,
            looks=self.plan.look_fractions if self.plan.n_looks > 1 else None,
            efficacy=d.efficacy,
            efficacy_parameter=d.efficacy_parameter,
        )
        rejected = result.rejected
        primary = rejected[:, : self.m]
        null = np.asarray(d.null_arms)
        nan = np.full(rejected.shape[0], np.nan)
        fwe = primary[:, null].any(axis=1).astype(float) if null.any() else nan
        effective = ~null
        conjunctive = primary[:, effective].all(axis=1).astype(float) if effective.any() else nan
        return [
            {
                "graph_rejected": primary[:, c],
                **{
                    f"{name}_graph_rejected": rejected[:, (1 + j) * self.m + c]
                    for j, name in enumerate(d.secondaries)
                },
                "any_rejected": np.asarray(primary.any(axis=1)),
                "all_effective_rejected": conjunctive,
                "familywise_error": fwe,
            }
            for c in range(self.m)
        ]


def graph_design(protocol: Protocol, plan: ScenarioPlan) -> GraphDesign | None:
    """The testing graph of `endpoints.testing`, or None when there is none."""
    testing = protocol.endpoints.testing
    if isinstance(testing, str):
        return None
    design = protocol.design
    if design.multiplicity != "bonferroni" or design.selection is not None:
        raise _invalid(
            protocol,
            "endpoints.testing",
            "a graph is itself the multiplicity procedure across arms and endpoints; remove "
            "design.multiplicity and design.selection, or the graph",
        )
    weights = np.asarray(testing.graph.weights, dtype=float)
    m = len(plan.comparisons)
    looks = plan.look_fractions
    bounds = []
    for w in weights[:m]:
        level = w * design.alpha
        if level <= 0:
            bounds.append((float("inf"),) * len(looks))
        else:
            at = design_boundaries(design, looks, level)
            bounds.append(tuple(float(z) for z in at.efficacy_z))
    futility = tuple(
        GroupSequential(c.efficacy_z, c.futility_z, plan.conditional_power_below, looks)
        for c in plan.comparisons
    )
    nulls = tuple(is_null(plan.effects[c.arm_index]) for c in plan.comparisons)
    return GraphDesign(
        weights=tuple(float(w) for w in weights),
        transitions=tuple(tuple(float(g) for g in row) for row in testing.graph.transitions),
        primary_bounds=tuple(bounds),
        futility=futility,
        alpha=design.alpha,
        efficacy=design.efficacy.spending,
        efficacy_parameter=design.efficacy.parameter,
        null_arms=nulls,
        secondaries=tuple(e.name for e in plan.secondaries),
    )


# ---------------------------------------------------------------------- from the protocol


def _invalid(protocol: Protocol, path: str, message: str) -> ProtocolError:
    """A protocol problem found when the design is built (exit 2, like the schema's)."""
    source = str(protocol.source_path) if protocol.source_path else "protocol"
    return ProtocolError([ProtocolProblem(path, message)], source)


@functools.lru_cache(maxsize=32)
def _dunnett_bounds(
    looks: tuple[float, ...],
    alpha: float,
    allocation: tuple[int, ...],
    efficacy: str,
    parameter: float | None,
) -> tuple[float, ...]:
    bounds = dunnett_group_sequential_bounds(
        looks, alpha, many_to_one_correlation(allocation), efficacy, parameter
    )
    return tuple(float(z) for z in bounds.efficacy_z)


def multiarm_design(protocol: Protocol, plan: ScenarioPlan) -> MultiArmDesign | None:
    """The multi-arm design `design.multiplicity` and `design.selection` ask for, or None for
    the default (Bonferroni-split alpha, each arm alone on its cumulative z)."""
    design = protocol.design
    method = design.multiplicity
    selection = design.selection
    if method == "bonferroni" and selection is None:
        return None
    looks = plan.look_fractions
    closed = selection is not None or method in ("holm", "simes", "bonferroni")
    if method == "hochberg":
        if selection is not None or len(looks) > 1:
            raise _invalid(
                protocol,
                "design.multiplicity",
                "hochberg is a step-up test of one final analysis; with interim looks or "
                "design.selection use simes (the closed Simes test, of which Hochberg's "
                "procedure is a shortcut) or holm",
            )
        closed = False
    futility = None
    if design.futility is not None:
        bounds = design_boundaries(design, looks, design.alpha)
        futility = GroupSequential(
            tuple(float(z) for z in bounds.efficacy_z),
            None if bounds.futility_z is None else tuple(float(z) for z in bounds.futility_z),
            design.futility.conditional_power_below,
            looks,
        )
    if closed:
        efficacy = tuple(
            float(z) for z in design_boundaries(design, looks, design.alpha).efficacy_z
        )
    elif method == "dunnett":
        efficacy = _dunnett_bounds(
            looks,
            design.alpha,
            plan.allocation,
            design.efficacy.spending,
            design.efficacy.parameter,
        )
    else:
        efficacy = (float("inf"),) * len(looks)
    benefit = "none"
    analysis = ANALYSES[plan.primary.analysis]
    if plan.primary.type == "binary":
        benefit = "minus"
    elif plan.primary.type == "time-to-event" and analysis.ratio:
        benefit = "minus-log"
    rule = None
    if selection is not None:
        if selection.measure == "estimate" and benefit == "none":
            raise _invalid(
                protocol,
                "design.selection.measure",
                "estimate is offered for binary and time-to-event primaries; "
                f"{plan.primary.name} is {plan.primary.type}: use measure: z",
            )
        rule = SelectionRule(
            selection.rule,
            selection.epsilon,
            selection.threshold,
            selection.measure,
            selection.keep_total,
        )
    nulls = tuple(is_null(plan.effects[c.arm_index]) for c in plan.comparisons)
    return MultiArmDesign(
        method=method,
        closed=closed,
        efficacy_z=efficacy,
        futility=futility,
        weights=tuple(float(w) for w in inverse_normal_weights(looks)),
        selection=rule,
        null_arms=nulls,
        effective_arms=tuple(not n for n in nulls),
        alpha=design.alpha,
        estimate_benefit=benefit,
    )
