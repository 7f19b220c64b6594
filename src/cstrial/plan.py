"""Everything a chunk of replicate trials needs, worked out once per scenario in the main process.

The reference population (eligible fraction, recalibrated baseline, true effect)
is drawn from a fixed seed, independent of the run's seed: these are properties
of the model and the protocol, not of one Monte Carlo run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cstrial.accrual import DAYS_PER_MONTH, enrolment_months
from cstrial.design import group_sequential_boundaries
from cstrial.disease import MODEL_HORIZON_DAYS, baseline_shift, late_log_ratio, linear_predictor
from cstrial.pool import design_effect
from cstrial.population import Criteria, eligible, sample_population
from cstrial.population.eligibility import check_eligibility
from cstrial.population.sample import Patients
from cstrial.protocol.covariates import COVARIATES
from cstrial.treatment import hazard_course
from cstrial.treatment.harms import death_day_with_infection, excess_infection_day

REFERENCE_SEED = 20_261_121
REFERENCE_EFFECT_SEED = 20_261_123  # model effects simulated on the reference population
REFERENCE_ELIGIBLE = 200_000
REFERENCE_MAX_SCREENED = 4_000_000


@dataclass(frozen=True)
class Comparison:
    """One active arm against control, with the bounds its test is held to."""

    label: str
    arm_index: int
    alpha: float
    efficacy_z: tuple[float, ...]
    futility_z: tuple[float, ...] | None
    true_effect: float
    control_risk: float
    treatment_risk: float
    design_effect: float = 1.0  # Monte Carlo variance inflation from patient reuse (pool.py)


@dataclass(frozen=True)
class ScenarioPlan:
    """A scenario, resolved into arrays and constants for the simulation hot path."""

    index: int
    name: str
    seed: int
    sample_size: int
    criteria: Criteria
    eligible_fraction: float
    baseline_shift: float
    arm_names: tuple[str, ...]
    allocation: tuple[int, ...]
    effects: tuple[object | None, ...]
    horizon_days: float
    look_patients: tuple[int, ...]  # patients with complete follow-up at each look
    look_months: tuple[float, ...]  # calendar month of each look
    enrolment_months: np.ndarray
    patients_per_month: float
    ramp_up_months: float
    dropout_per_day: float
    conditional_power_below: float | None
    comparisons: tuple[Comparison, ...]
    primary: object  # the protocol's primary endpoint
    secondaries: tuple[object, ...]
    fixed_sequence: bool
    needs_course: bool  # an endpoint needs organ support / hospital stay
    look_fractions: tuple[float, ...]  # information fractions the bounds are computed at
    planned_events: int | None  # time-to-event primary: deaths at full information
    look_events: tuple[int, ...]  # time-to-event primary: deaths that trigger each look
    patient_reuse: int = 1  # trials each pooled virtual patient may serve (simulate.py)

    @property
    def n_looks(self) -> int:
        return len(self.look_patients)


def plan_scenario(scenario: object, seed: int) -> ScenarioPlan:
    """Resolve a protocol scenario (index, name, protocol) into a `ScenarioPlan`."""
    protocol = scenario.protocol  # type: ignore[attr-defined]
    design = protocol.design
    endpoint = protocol.endpoints.primary
    criteria = criteria_of(protocol.population)
    check_eligibility(reference_fraction(criteria), scenario.name)  # type: ignore[attr-defined]
    reference = reference_population(criteria)
    eta = linear_predictor(reference)
    target = protocol.population.control_mortality_30d
    shift = baseline_shift(eta, target, 30.0) if target is not None else 0.0
    h30 = np.exp(eta + shift)
    late = late_log_ratio(reference, eta + shift)

    n = design.sample_size
    look_patients = _look_counts(design.looks, n)
    months = enrolment_months(n, design.accrual.patients_per_month, design.accrual.ramp_up_months)
    horizon_months = endpoint.horizon_days / DAYS_PER_MONTH
    look_months = tuple(float(months[k - 1] + horizon_months) for k in look_patients)

    control_index = next(i for i, arm in enumerate(protocol.arms) if arm.control)
    active = [i for i, arm in enumerate(protocol.arms) if not arm.control]
    alpha = design.alpha / len(active)  # Bonferroni until Dunnett arrives
    risks = {
        i: arm_risk(arm.effect, h30, reference["il6_pg_ml"], endpoint.horizon_days, late)
        for i, arm in enumerate(protocol.arms)
    }
    control_risk = risks[control_index]
    planned_events = look_events = None
    fractions = [k / n for k in look_patients]
    if endpoint.type == "time-to-event":
        shares = np.array([arm.allocation for arm in protocol.arms], dtype=float)
        expected = n * float(np.dot(shares / shares.sum(), [risks[i] for i in range(len(risks))]))
        planned_events = max(len(design.looks), round(expected))
        look_events = _look_counts(design.looks, planned_events)
        fractions = [d / planned_events for d in look_events]
    bounds = _boundaries(design, fractions, alpha)
    reuse = protocol.simulation.patient_reuse
    shares = {
        i: arm.allocation / sum(a.allocation for a in protocol.arms)
        for i, arm in enumerate(protocol.arms)
    }
    comparisons = []
    for i in active:
        arm = protocol.arms[i]
        risk = risks[i]
        comparisons.append(
            Comparison(
                label=f"{arm.name} vs {protocol.arms[control_index].name}",
                arm_index=i,
                alpha=alpha,
                efficacy_z=tuple(float(z) for z in bounds.efficacy_z),
                futility_z=None
                if bounds.futility_z is None
                else tuple(float(z) for z in bounds.futility_z),
                true_effect=true_effect(endpoint, risk, control_risk)
                if endpoint.type in ("binary", "time-to-event")
                else reference_effect(endpoint, arm.effect, reference, eta + shift),
                control_risk=control_risk,
                treatment_risk=risk,
                design_effect=1.0
                if reuse == 1
                else design_effect(
                    reuse,
                    patient_risk(protocol.arms[control_index].effect, h30, reference, endpoint),
                    patient_risk(arm.effect, h30, reference, endpoint),
                    shares[control_index],
                    shares[i],
                ),
            )
        )
    # The control arm is arm 0 of the simulation; others keep protocol order.
    order = [control_index, *active]
    return ScenarioPlan(
        index=scenario.index,  # type: ignore[attr-defined]
        name=scenario.name,  # type: ignore[attr-defined]
        seed=seed,
        sample_size=n,
        criteria=criteria,
        eligible_fraction=reference_fraction(criteria),
        baseline_shift=shift,
        arm_names=tuple(protocol.arms[i].name for i in order),
        allocation=tuple(protocol.arms[i].allocation for i in order),
        effects=tuple(protocol.arms[i].effect for i in order),
        horizon_days=float(endpoint.horizon_days),
        look_patients=look_patients,
        look_months=look_months,
        enrolment_months=months,
        patients_per_month=design.accrual.patients_per_month,
        ramp_up_months=design.accrual.ramp_up_months,
        dropout_per_day=design.dropout.rate_per_year / 365.25,
        conditional_power_below=None
        if design.futility is None
        else design.futility.conditional_power_below,
        comparisons=tuple(_renumber(c, order.index(c.arm_index)) for c in comparisons),
        primary=endpoint,
        secondaries=tuple(protocol.endpoints.secondary),
        fixed_sequence=protocol.endpoints.testing == "fixed-sequence",
        needs_course=any(
            e.type in ("days-alive-out-of-hospital", "hierarchical")
            for e in (endpoint, *protocol.endpoints.secondary)
        ),
        look_fractions=tuple(fractions),
        planned_events=planned_events,
        look_events=tuple(look_events) if look_events is not None else (),
        patient_reuse=protocol.simulation.patient_reuse,
    )


def patient_risk(
    effect: object | None, h30: np.ndarray, reference: Patients, endpoint: object
) -> np.ndarray:
    """Each reference patient's risk of death by the endpoint's horizon under an arm.

    Infection harms are left out: their timing has no closed form per patient.
    """
    horizon = float(endpoint.horizon_days)  # type: ignore[attr-defined]
    late = late_log_ratio(reference, np.log(h30))
    return hazard_course(effect, h30, reference["il6_pg_ml"], horizon, late=late).risk(horizon)


def arm_risk(
    effect: object | None,
    h30: np.ndarray,
    il6: np.ndarray,
    horizon_days: float,
    late: np.ndarray | float,
) -> float:
    """Mean risk of death by the horizon under an arm, over the reference population.

    `late` is the patients' late log ratio (`disease.late_log_ratio`). Exact from the
    hazard course; with infection harms, whose timing has no closed form here, by a
    fixed-seed simulation of every reference patient (SE < 0.0012).
    """
    course = hazard_course(effect, h30, il6, horizon_days, late=late)
    ratio = getattr(effect, "infection_hazard_ratio", 1.0)
    if ratio <= 1.0:
        return float(course.risk(horizon_days).mean())
    rng = np.random.default_rng(REFERENCE_EFFECT_SEED)
    exposure = rng.standard_exponential(h30.size)
    death = course.death_time(exposure, MODEL_HORIZON_DAYS)
    infection = excess_infection_day(rng, h30.size, ratio)
    death = death_day_with_infection(course, exposure, death, infection, MODEL_HORIZON_DAYS)
    return float(np.mean(death <= horizon_days))


REFERENCE_EFFECT_PATIENTS = 20_000  # per arm


def reference_effect(
    endpoint: object, effect: object | None, reference: Patients, eta: np.ndarray
) -> float:
    """The model's effect on a days-out-of-hospital or hierarchical endpoint.

    No closed form exists, so it is estimated once from the reference population
    with a fixed seed: 20,000 patients under control care against 20,000 others under
    the arm, all followed to the horizon, analysed as the trial would be (the
    probabilistic index, or the win ratio). Its Monte Carlo error is small beside a
    trial's (SE about 0.003 on the probabilistic index, 0.01 on the win ratio).
    """
    from cstrial.disease.course import simulate_course
    from cstrial.endpoints import TrialCourse, analyse, outcome_at

    m = min(REFERENCE_EFFECT_PATIENTS, len(reference["age"]) // 2)  # rare eligibility: fewer
    patients = {k: v[: 2 * m] for k, v in reference.items()}
    h30 = np.exp(eta[: 2 * m])
    late = late_log_ratio(patients, eta[: 2 * m])
    arms = np.repeat(np.array([0, 1], dtype=np.int8), m)
    # its own stream: the reference population's seed would replay the covariates' draws
    rng = np.random.default_rng(REFERENCE_EFFECT_SEED)
    exposure = rng.standard_exponential(2 * m)
    death = np.empty(2 * m)
    ratio = np.ones(2 * m)
    for arm, arm_effect in ((0, None), (1, effect)):
        mask = arms == arm
        course = hazard_course(
            arm_effect,
            h30[mask],
            patients["il6_pg_ml"][mask],
            endpoint.horizon_days,  # type: ignore[attr-defined]
            late=late[mask],
        )
        death[mask] = course.death_time(exposure[mask], MODEL_HORIZON_DAYS)
        ratio[mask] = course.cumulative_hazard(30.0) / h30[mask]
    drawn = simulate_course(rng, patients, death, ratio, death_eta=eta[: 2 * m])
    trial = TrialCourse(
        arms=arms[None, :],
        death_day=death[None, :],
        dropout_day=np.full((1, 2 * m), np.inf),
        enrolment_months=np.zeros(2 * m),
        patients={k: v[None, :] for k, v in patients.items()},
        course=type(drawn)(**{k: v[None, :] for k, v in drawn.__dict__.items()}),
    )
    # all enrolled at month 0; analysed a month after the horizon, so everyone is followed up
    after_horizon = np.array([endpoint.horizon_days / DAYS_PER_MONTH + 1.0])  # type: ignore[attr-defined]
    outcome = outcome_at(endpoint, trial, after_horizon)
    return float(analyse(endpoint, outcome, trial, 1).estimate[0])


def _look_counts(looks: list[float], total: int) -> tuple[int, ...]:
    """Patients (or events) at each look: ceil(t * total), the last one all of them."""
    return tuple(
        total if t >= 1.0 else max(1, min(total, int(np.ceil(t * total - 1e-9)))) for t in looks
    )


def true_effect(endpoint: object, risk: float, control_risk: float) -> float:
    """The model's marginal effect on the analysis's natural scale (binary and TTE endpoints).

    Binary: risk difference. Time to event: the ratio of the arms' marginal cumulative
    hazards at the horizon, ln S_t / ln S_c, the hazard ratio a log-rank or Cox
    analysis estimates when hazards are proportional. Days alive out of hospital and
    hierarchical endpoints are filled in by `engine` from a reference simulation.
    """
    if endpoint.type == "binary":  # type: ignore[attr-defined]
        return risk - control_risk
    if endpoint.type == "time-to-event":  # type: ignore[attr-defined]
        return float(np.log1p(-risk) / np.log1p(-control_risk))
    return float("nan")


def criteria_of(population: object) -> Criteria:
    """The protocol's inclusion/exclusion as plain values for `population.eligible`."""
    return Criteria(
        inclusion=_plain(population.inclusion),  # type: ignore[attr-defined]
        exclusion=_plain(population.exclusion),  # type: ignore[attr-defined]
    )


def reference_population(criteria: Criteria) -> Patients:
    """A large eligible sample from a fixed seed (cached), for calibration and true effects."""
    return _reference(_criteria_key(criteria))[0]


def reference_fraction(criteria: Criteria) -> float:
    """The eligible fraction of the virtual population under `criteria`."""
    return _reference(_criteria_key(criteria))[1]


@lru_cache(maxsize=64)
def _reference(key: tuple) -> tuple[Patients, float]:
    criteria = Criteria(inclusion=dict(key[0]), exclusion=dict(key[1]))
    rng = np.random.default_rng(REFERENCE_SEED)
    parts: list[Patients] = []
    found = screened = 0
    while found < REFERENCE_ELIGIBLE and screened < REFERENCE_MAX_SCREENED:
        batch = sample_population(rng, 500_000)
        mask = eligible(batch, criteria)
        parts.append({k: v[mask] for k, v in batch.items()})
        found += int(mask.sum())
        screened += mask.size
    patients = {k: np.concatenate([p[k] for p in parts])[:REFERENCE_ELIGIBLE] for k in parts[0]}
    return patients, found / screened


def _criteria_key(criteria: Criteria) -> tuple:
    def freeze(mapping):
        return tuple(sorted((k, tuple(v)) for k, v in mapping.items()))

    return freeze(criteria.inclusion), freeze(criteria.exclusion)


def _plain(criteria: dict) -> dict:
    out = {}
    for name, criterion in criteria.items():
        if COVARIATES[name].kind == "numeric":
            out[name] = (_bound(criterion, "min"), _bound(criterion, "max"))
        else:
            values = getattr(criterion, "root", criterion)
            out[name] = tuple(values)
    return out


def _bound(criterion: object, side: str) -> float | None:
    value = criterion.get(side) if isinstance(criterion, dict) else getattr(criterion, side)
    return None if value is None else float(value)


def _boundaries(design: object, fractions: list[float], alpha: float):
    futility = design.futility  # type: ignore[attr-defined]
    spending = None if futility is None or futility.spending == "none" else futility.spending
    return group_sequential_boundaries(
        looks=fractions,
        alpha=alpha,
        efficacy=design.efficacy.spending,  # type: ignore[attr-defined]
        efficacy_parameter=design.efficacy.parameter,  # type: ignore[attr-defined]
        futility=spending,
        futility_parameter=None if spending is None else futility.parameter,
        binding=False if futility is None else futility.binding,
        beta=1.0 - design.power,  # type: ignore[attr-defined]
    )


def _renumber(c: Comparison, arm_index: int) -> Comparison:
    return Comparison(**{**c.__dict__, "arm_index": arm_index})
