"""Everything a chunk of replicate trials needs, worked out once per scenario in the main process.

The reference population (`cstrial.population.reference`: eligible fraction,
recalibrated baseline, true effect) is drawn from a fixed seed, independent of the
run's seed: these are properties of the model and the protocol, not of one Monte
Carlo run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from cstrial.design.accrual import DAYS_PER_MONTH, enrolment_months
from cstrial.design.boundaries import Boundaries, design_boundaries
from cstrial.design.sample_size import analytic_for_rates
from cstrial.disease import MODEL_HORIZON_DAYS, baseline_shift, linear_predictor
from cstrial.engine.pool import Enrolment
from cstrial.engine.precision import design_effect
from cstrial.errors import CstrialError
from cstrial.population.eligibility import Criteria, check_eligibility
from cstrial.population.reference import criteria_of, reference_fraction, reference_population
from cstrial.population.sample import Patients
from cstrial.protocol import Protocol, Scenario
from cstrial.protocol.effects import Effect
from cstrial.protocol.models import Endpoint
from cstrial.protocol.vocabulary import ENDPOINT_KINDS
from cstrial.treatment import hazard_course
from cstrial.treatment.harms import death_day_with_infection, excess_infection_day

REFERENCE_EFFECT_SEED = 20_261_123  # model effects simulated on the reference population


@dataclass(frozen=True)
class Comparison:
    """One active arm against control, with the bounds its test is held to."""

    label: str
    arm_index: int  # in the simulation's order: control is arm 0
    alpha: float
    efficacy_z: tuple[float, ...]
    futility_z: tuple[float, ...] | None
    true_effect: float
    control_risk: float
    treatment_risk: float
    design_effect: float = 1.0  # Monte Carlo variance inflation from patient reuse (pool.py)
    # binary primaries: the closed-form total N for design.power at the true risks
    analytic_sample_size: float = float("nan")


@dataclass(frozen=True)
class ScenarioPlan:
    """A scenario, resolved into arrays and constants for the simulation hot path."""

    index: int
    name: str
    seed: int
    enrolment: Enrolment
    arm_names: tuple[str, ...]
    allocation: tuple[int, ...]
    effects: tuple[Effect | None, ...]
    horizon_days: float
    look_patients: tuple[int, ...]  # patients with complete follow-up at each look
    look_months: tuple[float, ...]  # calendar month of each look
    enrolment_months: np.ndarray
    patients_per_month: float
    ramp_up_months: float
    dropout_per_day: float
    conditional_power_below: float | None
    comparisons: tuple[Comparison, ...]
    primary: Endpoint
    secondaries: tuple[Endpoint, ...]
    fixed_sequence: bool
    needs_course: bool  # an endpoint needs organ support / hospital stay
    look_fractions: tuple[float, ...]  # information fractions the bounds are computed at
    planned_events: int | None  # time-to-event primary: deaths at full information
    look_events: tuple[int, ...]  # time-to-event primary: deaths that trigger each look

    @property
    def n_looks(self) -> int:
        return len(self.look_patients)

    @property
    def sample_size(self) -> int:
        return self.enrolment.sample_size

    @property
    def criteria(self) -> Criteria:
        return self.enrolment.criteria

    @property
    def eligible_fraction(self) -> float:
        return self.enrolment.eligible_fraction

    @property
    def baseline_shift(self) -> float:
        return self.enrolment.baseline_shift

    @property
    def patient_reuse(self) -> int:
        return self.enrolment.patient_reuse


@dataclass(frozen=True)
class _Calendar:
    look_patients: tuple[int, ...]
    look_months: tuple[float, ...]
    enrolment_months: np.ndarray
    fractions: tuple[float, ...]
    planned_events: int | None
    look_events: tuple[int, ...]


def plan_scenario(scenario: Scenario, seed: int) -> ScenarioPlan:
    """Resolve a protocol scenario (index, name, protocol) into a `ScenarioPlan`."""
    protocol = scenario.protocol
    design = protocol.design
    endpoint = protocol.endpoints.primary
    criteria = criteria_of(protocol.population)
    fraction = reference_fraction(criteria)
    check_eligibility(fraction, scenario.name)
    reference = reference_population(criteria)
    eta = linear_predictor(reference)
    target = protocol.population.control_mortality_30d
    shift = baseline_shift(eta, target, 30.0) if target is not None else 0.0
    h30 = np.exp(eta + shift)
    risks = [
        arm_risk(arm.effect, h30, reference["il6_pg_ml"], endpoint.horizon_days)
        for arm in protocol.arms
    ]
    calendar = _calendar(protocol, risks)
    alpha = design.alpha / len(protocol.active_arms)  # Bonferroni
    bounds = design_boundaries(design, calendar.fractions, alpha)
    # The control arm is arm 0 of the simulation; the others keep protocol order.
    control = next(i for i, arm in enumerate(protocol.arms) if arm.control)
    order = [control, *(i for i, arm in enumerate(protocol.arms) if not arm.control)]
    comparisons = tuple(
        _comparison(
            protocol, scenario.name, order, k, i, risks, bounds, alpha, reference, h30, shift, eta
        )
        for k, i in enumerate(order[1:], start=1)
    )
    return ScenarioPlan(
        index=scenario.index,
        name=scenario.name,
        seed=seed,
        enrolment=Enrolment(
            design.sample_size, criteria, fraction, shift, protocol.simulation.patient_reuse
        ),
        arm_names=tuple(protocol.arms[i].name for i in order),
        allocation=tuple(protocol.arms[i].allocation for i in order),
        effects=tuple(protocol.arms[i].effect for i in order),
        horizon_days=float(endpoint.horizon_days),
        look_patients=calendar.look_patients,
        look_months=calendar.look_months,
        enrolment_months=calendar.enrolment_months,
        patients_per_month=design.accrual.patients_per_month,
        ramp_up_months=design.accrual.ramp_up_months,
        dropout_per_day=design.dropout.rate_per_year / 365.25,
        conditional_power_below=None
        if design.futility is None
        else design.futility.conditional_power_below,
        comparisons=comparisons,
        primary=endpoint,
        secondaries=tuple(protocol.endpoints.secondary),
        fixed_sequence=protocol.endpoints.testing == "fixed-sequence",
        needs_course=any(
            ENDPOINT_KINDS[e.type].course for e in (endpoint, *protocol.endpoints.secondary)
        ),
        look_fractions=calendar.fractions,
        planned_events=calendar.planned_events,
        look_events=calendar.look_events,
    )


def _calendar(protocol: Protocol, risks: list[float]) -> _Calendar:
    """When the looks happen: patients followed up, or (time to event) deaths, and the months."""
    design = protocol.design
    endpoint = protocol.endpoints.primary
    n = design.sample_size
    look_patients = _look_counts(design.looks, n)
    months = enrolment_months(n, design.accrual.patients_per_month, design.accrual.ramp_up_months)
    horizon_months = endpoint.horizon_days / DAYS_PER_MONTH
    look_months = tuple(float(months[k - 1] + horizon_months) for k in look_patients)
    if endpoint.type != "time-to-event":
        fractions = tuple(k / n for k in look_patients)
        return _Calendar(look_patients, look_months, months, fractions, None, ())
    shares = np.array([arm.allocation for arm in protocol.arms], dtype=float)
    expected = n * float(np.dot(shares / shares.sum(), risks))
    planned_events = max(len(design.looks), round(expected))
    look_events = _look_counts(design.looks, planned_events)
    fractions = tuple(d / planned_events for d in look_events)
    return _Calendar(look_patients, look_months, months, fractions, planned_events, look_events)


def _comparison(
    protocol: Protocol,
    scenario: str,
    order: list[int],
    position: int,
    arm_index: int,
    risks: list[float],
    bounds: Boundaries,
    alpha: float,
    reference: Patients,
    h30: np.ndarray,
    shift: float,
    eta: np.ndarray,
) -> Comparison:
    """Arm `arm_index` (protocol order; `position` in simulation order) against control."""
    endpoint = protocol.endpoints.primary
    arm, control = protocol.arms[arm_index], protocol.arms[order[0]]
    risk, control_risk = risks[arm_index], risks[order[0]]
    if ENDPOINT_KINDS[endpoint.type].closed_form_truth:
        effect = true_effect(endpoint, risk, control_risk)
    else:
        effect = reference_effect(endpoint, arm.effect, reference, eta + shift)
    reuse = protocol.simulation.patient_reuse
    total = sum(a.allocation for a in protocol.arms)
    return Comparison(
        label=f"{arm.name} vs {control.name}",
        arm_index=position,
        alpha=alpha,
        efficacy_z=tuple(float(z) for z in bounds.efficacy_z),
        futility_z=None
        if bounds.futility_z is None
        else tuple(float(z) for z in bounds.futility_z),
        true_effect=effect,
        control_risk=control_risk,
        treatment_risk=risk,
        design_effect=1.0
        if reuse == 1
        else design_effect(
            reuse,
            patient_risk(control.effect, h30, reference, endpoint),
            patient_risk(arm.effect, h30, reference, endpoint),
            control.allocation / total,
            arm.allocation / total,
        ),
        analytic_sample_size=_analytic_sample_size(
            protocol, scenario, arm.name, control_risk, risk, alpha
        ),
    )


def _analytic_sample_size(
    protocol: Protocol, scenario: str, arm: str, control_risk: float, risk: float, alpha: float
) -> float:
    """The closed-form N for design.power at these risks (binary primaries that lower the risk;
    NaN otherwise)."""
    if protocol.endpoints.primary.type != "binary" or not risk < control_risk:
        return float("nan")
    with contextlib.suppress(CstrialError):
        return float(
            analytic_for_rates(
                protocol,
                control_risk,
                risk,
                power=protocol.design.power,
                alpha=alpha,
                arm=arm,
                scenario=scenario,
            ).sample_size
        )
    return float("nan")


def patient_risk(
    effect: Effect | None, h30: np.ndarray, reference: Patients, endpoint: Endpoint
) -> np.ndarray:
    """Each reference patient's risk of death by the endpoint's horizon under an arm.

    Infection harms are left out: their timing has no closed form per patient.
    """
    horizon = float(endpoint.horizon_days)
    return hazard_course(effect, h30, reference["il6_pg_ml"], horizon).risk(horizon)


def arm_risk(effect: Effect | None, h30: np.ndarray, il6: np.ndarray, horizon_days: float) -> float:
    """Mean risk of death by the horizon under an arm, over the reference population.

    Exact from the hazard course; with infection harms, whose timing has no closed
    form here, by a fixed-seed simulation of every reference patient (SE < 0.0012).
    """
    course = hazard_course(effect, h30, il6, horizon_days)
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
    endpoint: Endpoint, effect: Effect | None, reference: Patients, eta: np.ndarray
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
    arms = np.repeat(np.array([0, 1], dtype=np.int8), m)
    # its own stream: the reference population's seed would replay the covariates' draws
    rng = np.random.default_rng(REFERENCE_EFFECT_SEED)
    exposure = rng.standard_exponential(2 * m)
    death = np.empty(2 * m)
    ratio = np.ones(2 * m)
    for arm, arm_effect in ((0, None), (1, effect)):
        mask = arms == arm
        course = hazard_course(
            arm_effect, h30[mask], patients["il6_pg_ml"][mask], endpoint.horizon_days
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
        course=drawn.reshaped((1, 2 * m)),
    )
    # all enrolled at month 0; analysed a month after the horizon, so everyone is followed up
    after_horizon = np.array([endpoint.horizon_days / DAYS_PER_MONTH + 1.0])
    outcome = outcome_at(endpoint, trial, after_horizon)
    return float(analyse(endpoint, outcome, trial, 1).estimate[0])


def _look_counts(looks: list[float], total: int) -> tuple[int, ...]:
    """Patients (or events) at each look: ceil(t * total), the last one all of them."""
    return tuple(
        total if t >= 1.0 else max(1, min(total, int(np.ceil(t * total - 1e-9)))) for t in looks
    )


def true_effect(endpoint: Endpoint, risk: float, control_risk: float) -> float:
    """The model's marginal effect on the analysis's natural scale (binary and TTE endpoints).

    Binary: risk difference. Time to event: the ratio of the arms' marginal cumulative
    hazards at the horizon, ln S_t / ln S_c, the hazard ratio a log-rank or Cox
    analysis estimates when hazards are proportional. Days alive out of hospital and
    hierarchical endpoints have no closed form: see `reference_effect`.
    """
    if endpoint.type == "binary":
        return risk - control_risk
    if endpoint.type == "time-to-event":
        return float(np.log1p(-risk) / np.log1p(-control_risk))
    return float("nan")
