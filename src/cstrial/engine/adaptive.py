"""Adaptive designs on the staged engine: inverse-normal combination tests with sample-size
(deaths) re-estimation or adaptive enrichment (docs/adaptive.md).

Every hypothesis is tested on stage-wise statistics: binary and other per-patient
endpoints on each stage's own patients (`Look.stage_analysis`); time to event on the
increments of the cumulative log-rank, (√D_k Z_k − √D_{k−1} Z_{k−1}) / √(D_k − D_{k−1})
with D the deaths analysed at each look (rpact's approach: under H0 they are
independent standard normals whatever the interim decided). The stages are combined by
the inverse normal with weights fixed from the planned looks, w_k = √(t_k − t_{k−1}),
against the group-sequential bounds of `design.efficacy` (Lehmacher & Wassmer 1999;
Cui, Hung & Wang 1999). Enrichment tests H_F (full population) and H_S (subgroup) by
the closed test with Simes, Bonferroni or Spiessens–Debois intersections
(`cstrial.design.multiplicity.closed_combination_test`; Wassmer & Brannath 2016, ch. 11).

Re-estimation follows rpact 3.3.4 exactly: at each interim, the next stage's size (all
arms) that gives conditional power `target` under the observed effect, given the
conditional critical value of the combination test, within [min_per_stage,
max_per_stage] and rounded up (`getSimulationRates(conditionalPower=...)` for binary
endpoints, Farrington–Manning null variance with θ0 = 0; `getSimulationSurvival` for
deaths). The promising zone (Mehta & Pocock 2011) increases the planned size to that
only when the conditional power at the planned size lies in [cp_min, cp_max).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from scipy.special import ndtr, ndtri

from cstrial.design.multiplicity import closed_combination_test, inverse_normal_weights
from cstrial.engine.decide import (
    CONTINUE,
    DROPPED,
    EFFICACY,
    FUTILITY,
    NONE,
    Verdict,
    planned_stage,
)
from cstrial.engine.stages import FULL, SUBGROUP, StagePlan

if TYPE_CHECKING:
    from cstrial.endpoints import AnalysisResult
    from cstrial.engine.plan import ScenarioPlan
    from cstrial.engine.samplers import Look
    from cstrial.protocol import Protocol

# rpact: a conditional critical value from a bound of 6 or more is +inf (no rejection)
_BOUND_INFINITE = 6.0


@dataclass(frozen=True)
class ReestimationRule:
    """`design.reestimation`, resolved: sizes are patients (time to event: deaths) per stage."""

    rule: str  # conditional-power | promising-zone
    target: float
    min_per_stage: int
    max_per_stage: int
    cp_min: float | None = None
    cp_max: float | None = None


@dataclass(frozen=True)
class EnrichmentRule:
    """`design.enrichment`, resolved (the subgroup's criteria live in the plan)."""

    selection: str  # best | epsilon | threshold
    epsilon: float | None
    threshold: float | None
    intersection: str  # simes | bonferroni | spiessens-debois


# per-trial columns of trials.parquet (their means are the summary's probabilities);
# time to event: `reestimated_events`, `final_events` (deaths) for `_n`
SSR_COLUMNS = ("conditional_power", "reestimated_n", "increased", "final_n")
ENRICHMENT_COLUMNS = (
    "select_full",
    "select_subgroup",
    "select_both",
    "select_none",
    "rejected_full",
    "rejected_subgroup",
    "rejected_any",
)


@dataclass(frozen=True)
class CombinationDesign:
    """Inverse-normal combination test, optionally with re-estimation or enrichment.

    Comparisons: one (the full population), or with enrichment two, the full population
    first and the subgroup second (`ScenarioPlan.comparisons`).
    """

    efficacy_z: tuple[float, ...]
    futility_z: tuple[float, ...] | None
    look_fractions: tuple[float, ...]
    time_to_event: bool
    allocation_ratio: float  # treatment patients per control patient
    ratio_estimate: bool = False  # the analysis estimates a ratio (hazard ratio)
    reestimation: ReestimationRule | None = None
    enrichment: EnrichmentRule | None = None

    @property
    def weights(self) -> np.ndarray:
        return inverse_normal_weights(self.look_fractions)

    def start(self, plan: ScenarioPlan, replicates: int) -> CombinationRule:
        return CombinationRule(self, plan, replicates)

    def columns(self) -> list[tuple[str, pa.DataType]]:
        names: tuple[str, ...] = ()
        if self.reestimation is not None:
            names = SSR_COLUMNS
        if self.enrichment is not None:
            names = (*ENRICHMENT_COLUMNS, "final_n")
        if self.reestimation is None and self.enrichment is None:
            names = ("final_n",)
        if self.time_to_event:
            names = tuple(n[:-2] + "_events" if n.endswith("_n") else n for n in names)
        kinds = {n: pa.bool_() for n in (*ENRICHMENT_COLUMNS, "increased")}
        return [(n, kinds.get(n, pa.float64())) for n in names]


class CombinationRule:
    """One chunk's state: each trial's stage-wise z per hypothesis, its selection, sizes.

    Hypothesis columns: with enrichment (S, F), the order of the Spiessens–Debois test;
    without, (F,).
    """

    def __init__(self, design: CombinationDesign, plan: ScenarioPlan, replicates: int) -> None:
        self.design, self.plan = design, plan
        k, m = plan.n_looks, 2 if design.enrichment is not None else 1
        self.m = m
        self.stage_z = np.full((replicates, k, m), np.nan)
        self.fraction = np.ones((replicates, k))  # n_S / n_F of each stage
        self.selected = np.ones((replicates, m), dtype=bool)
        self.previous_z = np.zeros((replicates, m))  # time to event: cumulative, last look
        self.previous_d = np.zeros((replicates, m))
        self.sizes = np.zeros(replicates)  # patients (deaths) so far, of the stages run
        self.values: dict[str, np.ndarray] = {}
        for name, kind in design.columns():
            fill = False if kind == pa.bool_() else np.nan
            self.values[name] = np.full(replicates, fill, dtype=bool if fill is False else float)

    # -- hypotheses <-> comparisons: comparison 0 is F, comparison 1 (enrichment) is S
    def _comparison(self, h: int) -> int:
        return 1 - h if self.m == 2 else 0

    def decide(self, look: int, running: np.ndarray, seen: Look, stage: StagePlan) -> Verdict:
        design, plan = self.design, self.plan
        final = look == plan.n_looks - 1
        z_stage, size = self._stage_statistics(look, running, seen)
        self.stage_z[running, look] = np.where(self.selected[running], z_stage, np.nan)
        self.sizes[running] += size
        result = closed_combination_test(
            self.stage_z[running, : look + 1],
            design.efficacy_z[: look + 1],
            design.weights[: look + 1],
            self._test(),
            subgroup_fraction=self.fraction[running, : look + 1] if self.m == 2 else None,
        )
        rejected = result.rejected[:, look, :]  # (R, M)
        decision = np.full((len(plan.comparisons), running.size), CONTINUE, np.int8)
        for h in range(self.m):
            c = self._comparison(h)
            decision[c] = np.where(rejected[:, h], EFFICACY, NONE if final else CONTINUE)
        following = planned_stage(plan, look, stage)
        if self.m == 1:
            combination = result.combination_z[:, look, 0]
            if not final and design.futility_z is not None:
                futile = (combination <= design.futility_z[look]) & ~rejected[:, 0]
                decision[0] = np.where(futile, FUTILITY, decision[0])
            if not final and design.reestimation is not None:
                following = self._reestimate(look, running, seen, following, combination)
        elif look == 0 and not final:
            following = self._select(running, seen, decision, following)
        if self.m == 2:
            self._record_rejections(running, rejected)
        self._record_size(running, decision)
        return Verdict(decision, following)

    def _test(self) -> str:
        return (
            "bonferroni" if self.design.enrichment is None else self.design.enrichment.intersection
        )

    def _stage_statistics(
        self, look: int, running: np.ndarray, seen: Look
    ) -> tuple[np.ndarray, np.ndarray]:
        """(R, M) stage-wise z per hypothesis, and the stage's size (patients or deaths) of
        the full analysis; sets the stage's n_S / n_F."""
        z = np.full((running.size, self.m), np.nan)
        n = np.zeros((running.size, self.m))
        for h in range(self.m):
            c = self._comparison(h)
            if self.design.time_to_event:
                a = seen.analyses[c]
                d = (a.events_control + a.events_treatment).astype(float)
                d0, z0 = self.previous_d[running, h], self.previous_z[running, h]
                new = d - d0
                with np.errstate(invalid="ignore", divide="ignore"):
                    inc = (np.sqrt(d) * a.z - np.sqrt(d0) * z0) / np.sqrt(new)
                z[:, h] = np.where(new > 0, inc, 0.0)  # no new deaths: no evidence
                n[:, h] = new
                self.previous_d[running, h], self.previous_z[running, h] = d, a.z
            else:
                assert seen.stage_analysis is not None
                a = seen.stage_analysis(c)
                z[:, h] = a.z
                n[:, h] = a.n_control + a.n_treatment
        if self.m == 2:
            with np.errstate(invalid="ignore", divide="ignore"):
                f = n[:, 0] / n[:, 1]
            self.fraction[running, look] = np.clip(np.nan_to_num(f, nan=1.0), 1e-6, 1.0)
        full = 1 if self.m == 2 else 0
        return z, n[:, full]

    # ----------------------------------------------------------------- re-estimation

    def _reestimate(
        self,
        look: int,
        running: np.ndarray,
        seen: Look,
        following: StagePlan,
        combination: np.ndarray,
    ) -> StagePlan:
        rule = self.design.reestimation
        assert rule is not None
        t = np.asarray(self.design.look_fractions)
        bound = self.design.efficacy_z[look + 1]
        if bound >= _BOUND_INFINITE:
            critical = np.full(running.size, np.inf)
        else:
            critical = (bound * np.sqrt(t[look + 1]) - combination * np.sqrt(t[look])) / np.sqrt(
                t[look + 1] - t[look]
            )
        a = seen.analyses[0]
        if self.design.time_to_event:
            planned = following.events - stage_events(seen)
            required, power_at = _events_rule(a, self.design.allocation_ratio, critical, rule)
        else:
            planned = following.patients
            required, power_at = _rates_rule(a, self.design.allocation_ratio, critical, rule)
        cp_planned = power_at(planned.astype(float))
        size = np.ceil(np.minimum(np.maximum(rule.min_per_stage, required), rule.max_per_stage))
        if rule.rule == "promising-zone":
            assert rule.cp_min is not None and rule.cp_max is not None
            zone = (cp_planned >= rule.cp_min) & (cp_planned < rule.cp_max)
            raised = np.minimum(np.maximum(size, planned), rule.max_per_stage)
            size = np.where(zone, raised, planned)
        size = size.astype(np.int64)
        if look == 0:
            self.values["conditional_power"][running] = cp_planned
            self.values[self._size_name("reestimated")][running] = size
            self.values["increased"][running] = size > planned
        if self.design.time_to_event:
            return following.with_events(stage_events(seen) + size)
        return following.with_patients(size)

    # ----------------------------------------------------------------- enrichment

    def _select(
        self, running: np.ndarray, seen: Look, decision: np.ndarray, following: StagePlan
    ) -> StagePlan:
        """Select F, S, both or none from the stage-1 estimates (benefit scale)."""
        rule = self.design.enrichment
        assert rule is not None
        ratio = self.design.ratio_estimate
        benefit = np.stack(
            [_benefit(seen.analyses[1], ratio), _benefit(seen.analyses[0], ratio)], axis=1
        )
        benefit = np.nan_to_num(benefit, nan=-np.inf)  # (R, [S, F])
        best = benefit.max(axis=1, keepdims=True)
        if rule.selection == "best":
            chosen = np.zeros_like(benefit, dtype=bool)
            chosen[np.arange(running.size), np.argmax(benefit, axis=1)] = True
        elif rule.selection == "epsilon":
            assert rule.epsilon is not None
            chosen = benefit >= best - rule.epsilon
        else:
            assert rule.threshold is not None
            chosen = benefit >= rule.threshold
        self.selected[running] = chosen
        none = ~chosen.any(axis=1)
        for h in range(2):
            c = self._comparison(h)
            undecided = decision[c] == CONTINUE
            decision[c] = np.where(undecided & ~chosen[:, h], DROPPED, decision[c])
            decision[c] = np.where(undecided & none, FUTILITY, decision[c])
        v = self.values
        v["select_subgroup"][running] = chosen[:, 0] & ~chosen[:, 1]
        v["select_full"][running] = chosen[:, 1] & ~chosen[:, 0]
        v["select_both"][running] = chosen.all(axis=1)
        v["select_none"][running] = none
        population = np.where(chosen[:, 0] & ~chosen[:, 1], SUBGROUP, FULL)
        return following.with_population(population)

    def _record_rejections(self, running: np.ndarray, rejected: np.ndarray) -> None:
        v = self.values
        v["rejected_subgroup"][running] |= rejected[:, 0]
        v["rejected_full"][running] |= rejected[:, 1]
        v["rejected_any"][running] |= rejected.any(axis=1)

    def _size_name(self, what: str) -> str:
        return f"{what}_events" if self.design.time_to_event else f"{what}_n"

    def _record_size(self, running: np.ndarray, decision: np.ndarray) -> None:
        name = self._size_name("final")
        if name not in self.values:
            return
        done = (decision != CONTINUE).all(axis=0)
        self.values[name][running[done]] = self.sizes[running[done]]

    def columns(self) -> list[dict[str, np.ndarray]]:
        return [self.values for _ in self.plan.comparisons]


def stage_events(seen: Look) -> np.ndarray:
    """Deaths analysed at this look in the full population (comparison 0)."""
    a = seen.analyses[0]
    return (a.events_control + a.events_treatment).astype(np.int64)


def _benefit(analysis: AnalysisResult, ratio: bool) -> np.ndarray:
    """The estimated benefit: control minus treatment risk, or minus the log hazard ratio."""
    estimate = np.asarray(analysis.estimate, dtype=float)
    if ratio:
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.log(estimate)
    return -estimate


def _rates_rule(
    analysis: AnalysisResult, allocation: float, critical: np.ndarray, rule: ReestimationRule
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """rpact's `.getSimulationRatesStageSubjects` and achieved conditional power for the
    difference of rates, θ0 = 0, lower rates better (directionUpper = FALSE)."""
    a = allocation
    n1 = np.asarray(analysis.n_treatment, dtype=float)
    n2 = np.asarray(analysis.n_control, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        r1 = np.asarray(analysis.events_treatment, dtype=float) / n1
        r2 = np.asarray(analysis.events_control, dtype=float) / n2
    pooled = (a * r1 + r2) / (1 + a)  # Farrington–Manning at θ0 = 0
    null_sd = np.sqrt(pooled * (1 - pooled) + pooled * (1 - pooled) * a)
    alt_sd = np.sqrt(r1 * (1 - r1) + r2 * (1 - r2) * a)
    difference = r1 - r2
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        required = (
            (1 + 1 / a)
            * np.maximum(0.0, critical * null_sd + ndtri(rule.target) * alt_sd) ** 2
            / np.maximum(1e-12, -difference) ** 2
        )
    required = np.where(np.isfinite(required), required, rule.max_per_stage)

    def power_at(n: np.ndarray) -> np.ndarray:
        v = r1 * (1 - r1) + a * r2 * (1 - r2)
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = (
                np.sqrt(a)
                / (1 + a)
                * (
                    difference * np.sqrt(1 + a) / np.sqrt(v)
                    + np.sign(difference)
                    * critical
                    * (1 - np.sqrt(pooled * (1 - pooled) * (1 + a)) / np.sqrt(v))
                    * (1 + a)
                    / np.sqrt(a * n)
                )
            )
        theta = np.where(v == 0, 0.0, -theta)  # directionUpper = FALSE
        return ndtr(-(critical - theta * np.sqrt(n)))

    return required, power_at


def _events_rule(
    analysis: AnalysisResult, allocation: float, critical: np.ndarray, rule: ReestimationRule
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """rpact's `getSimulationSurvivalStageEventsCpp` and achieved conditional power: the
    hazard ratio estimated from the cumulative log-rank, exp(Z (1 + a) / √(a D))."""
    a = allocation
    d = np.asarray(analysis.events_control + analysis.events_treatment, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_theta = np.asarray(analysis.z, dtype=float) * (1 + a) / np.sqrt(a * d)
    log_theta = np.maximum(np.nan_to_num(log_theta, nan=0.0), np.log1p(1e-12))
    with np.errstate(over="ignore", invalid="ignore"):
        required = (
            np.maximum(0.0, critical + ndtri(rule.target)) ** 2 * (1 + a) ** 2 / a / log_theta**2
        )
    required = np.where(np.isfinite(required), required, rule.max_per_stage)

    def power_at(n: np.ndarray) -> np.ndarray:
        return ndtr(-(critical - log_theta * np.sqrt(np.maximum(n, 0)) * np.sqrt(a) / (1 + a)))

    return required, power_at


# --------------------------------------------------------------------------- from a protocol


def adaptive_plan(protocol: Protocol, plan: ScenarioPlan) -> ScenarioPlan:
    """The plan with what the adaptive fields add: enrolment dates for the most patients
    re-estimation may enrol; with enrichment, the subgroup, its laws and H_S's comparison."""
    from dataclasses import replace

    from cstrial.design.accrual import enrolment_months

    design = protocol.design
    if design.reestimation is not None and plan.planned_events is None:
        most = plan.look_patients[0] + (plan.n_looks - 1) * design.reestimation.max_per_stage
        if most > plan.enrolment_months.size:
            months = enrolment_months(most, plan.patients_per_month, plan.ramp_up_months)
            plan = replace(plan, enrolment_months=months)
    if design.enrichment is not None:
        plan = _with_subgroup(protocol, plan)
    return plan


def _with_subgroup(protocol: Protocol, plan: ScenarioPlan) -> ScenarioPlan:
    from dataclasses import replace

    from cstrial.engine.laws import outcome_laws
    from cstrial.engine.plan import true_effect
    from cstrial.errors import ProtocolError, ProtocolProblem
    from cstrial.population.eligibility import Criteria
    from cstrial.population.reference import criteria_of
    from cstrial.protocol.vocabulary import ANALYSES

    enrichment = protocol.design.enrichment
    assert enrichment is not None
    written = protocol.population.model_copy(
        update={"inclusion": enrichment.subgroup, "exclusion": {}}
    )
    subgroup = Criteria(inclusion=criteria_of(written).inclusion)
    endpoints = (protocol.endpoints.primary, *protocol.endpoints.secondary)
    strata = {e.strata for e in endpoints if e.strata is not None and ANALYSES[e.analysis].laws}
    laws = outcome_laws(
        plan.criteria,
        plan.effects,
        control_mortality_30d=protocol.population.control_mortality_30d,
        strata=next(iter(strata), None),
        horizons=tuple(float(e.horizon_days) for e in endpoints),
        effect_horizon=plan.horizon_days,
        subgroup=subgroup,
    )
    share = laws.subgroup_share
    where = "design.enrichment.subgroup"
    text = _criteria_text(enrichment.subgroup)
    if share <= 0.0 or share >= 1.0:
        what = "no one" if share <= 0 else "everyone"
        raise ProtocolError(
            [
                ProtocolProblem(
                    where,
                    f"{text} holds {what} of scenario {plan.name!r}'s eligible population "
                    f"(share {share:.3g}): a subgroup must be a proper, non-empty part of "
                    "it; change the threshold or the population's inclusion criteria",
                )
            ],
            source=protocol.name,
        )
    full = plan.comparisons[0]
    risk = laws.risk(plan.horizon_days)[laws.in_subgroup]  # (strata in S, arms)
    weight = laws.prevalence[laws.in_subgroup] / share
    arm_risk = weight @ risk
    control, treated = float(arm_risk[0]), float(arm_risk[full.arm_index])
    effect = (
        true_effect(plan.primary, treated, control)
        if plan.primary.type in ("binary", "time-to-event")
        else float("nan")
    )
    sub = replace(
        full,
        label=f"{full.label} ({text})",
        population=SUBGROUP,
        true_effect=effect,
        control_risk=control,
        treatment_risk=treated,
        analytic_sample_size=float("nan"),
    )
    plan_laws = laws if plan.laws is not None else None
    return replace(
        plan,
        laws=plan_laws,
        subgroup=subgroup,
        subgroup_share=share,
        comparisons=(full, sub),
    )


def _criteria_text(criteria: Mapping[str, Any]) -> str:
    parts = []
    for name, c in criteria.items():
        low, high = getattr(c, "min", None), getattr(c, "max", None)
        if low is not None and high is not None:
            parts.append(f"{low:g} <= {name} <= {high:g}")
        elif low is not None:
            parts.append(f"{name} >= {low:g}")
        elif high is not None:
            parts.append(f"{name} <= {high:g}")
        else:
            parts.append(f"{name} in {list(getattr(c, 'root', c))}")
    return ", ".join(parts)


def combination_design(protocol: Protocol, plan: ScenarioPlan) -> CombinationDesign:
    """`design.combination` with its re-estimation or enrichment, for this scenario."""
    design = protocol.design
    full = plan.comparisons[0]
    reestimation = enrichment = None
    if design.reestimation is not None:
        r = design.reestimation
        reestimation = ReestimationRule(
            r.rule, r.target, r.min_per_stage, r.max_per_stage, r.cp_min, r.cp_max
        )
    if design.enrichment is not None:
        e = design.enrichment
        enrichment = EnrichmentRule(e.selection, e.epsilon, e.threshold, e.intersection)
    from cstrial.protocol.vocabulary import ANALYSES

    return CombinationDesign(
        efficacy_z=full.efficacy_z,
        futility_z=full.futility_z,
        look_fractions=plan.look_fractions,
        time_to_event=plan.planned_events is not None,
        allocation_ratio=plan.allocation[full.arm_index] / plan.allocation[0],
        ratio_estimate=ANALYSES[plan.primary.analysis].ratio,
        reestimation=reestimation,
        enrichment=enrichment,
    )
