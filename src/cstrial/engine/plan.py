"""Everything a chunk of replicate trials needs, worked out once per scenario in the main process.

The reference population (`cstrial.population.reference`: eligible fraction,
recalibrated baseline, true effect) is drawn from a fixed seed, independent of the
run's seed: these are properties of the model and the protocol, not of one Monte
Carlo run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from cstrial.design.accrual import DAYS_PER_MONTH, enrolment_months
from cstrial.design.boundaries import Boundaries, design_boundaries
from cstrial.design.sample_size import analytic_for_rates
from cstrial.disease import MODEL_HORIZON_DAYS, baseline_shift, late_log_ratio, linear_predictor
from cstrial.engine.adaptive import adaptive_plan
from cstrial.engine.assurance import AssurancePlan, with_assurance
from cstrial.engine.designs import decision_design
from cstrial.engine.laws import LAW_TOLERANCE, OutcomeLaws, outcome_laws
from cstrial.engine.stages import FULL
from cstrial.errors import CstrialError, InfeasibleDesignError
from cstrial.model_parameters import DEFAULT, ModelParameters
from cstrial.population.eligibility import Criteria, check_eligibility
from cstrial.population.reference import criteria_of, reference_fraction, reference_population
from cstrial.population.sample import Patients
from cstrial.protocol import Protocol, Scenario
from cstrial.protocol.effects import Effect
from cstrial.protocol.models import Endpoint
from cstrial.protocol.vocabulary import ANALYSES, ENDPOINT_KINDS
from cstrial.treatment import hazard_course
from cstrial.treatment.effects import is_null
from cstrial.treatment.harms import death_day_with_infection, excess_infection_day

if TYPE_CHECKING:
    from cstrial.engine.decide import Design

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
    # binary primaries: the closed-form total N for design.power at the true risks
    analytic_sample_size: float = float("nan")
    population: int = FULL  # the patients its hypothesis is about (FULL or SUBGROUP)


@dataclass(frozen=True)
class ScenarioPlan:
    """A scenario, resolved into arrays and constants for the simulation hot path."""

    index: int
    name: str
    seed: int
    sample_size: int
    criteria: Criteria
    eligible_fraction: float
    baseline_shift: float  # added to every patient's linear predictor (calibration)
    arm_names: tuple[str, ...]
    allocation: tuple[int, ...]
    effects: tuple[Effect | None, ...]
    horizon_days: float
    look_patients: tuple[int, ...]  # patients with complete follow-up at each look
    look_months: tuple[float, ...]  # calendar month of each look
    enrolment_months: np.ndarray  # of patients 1, 2, ... up to the most a design may enrol
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
    # time to event: the final analysis at the planned deaths (design.final_analysis:
    # events), not when every patient has reached the horizon
    final_at_events: bool = False
    sampler: str = "patients"  # counts | events | patients (`cstrial.engine.samplers`)
    sampler_reason: str = ""  # why this sampler (the manifest records it)
    laws: OutcomeLaws | None = None  # the arms' exact outcome laws, when computed
    # the decision design (`cstrial.engine.decide`); None: group-sequential on each z
    design: Design | None = None
    # adaptive enrichment: the subgroup's criteria and its share of the enrolled
    subgroup: Criteria | None = None
    subgroup_share: float = 1.0
    # design.assurance: each trial draws the arm's effect parameter (engine/assurance.py)
    assurance: AssurancePlan | None = None
    # overridden model parameters (a sensitivity analysis); the default: the documented model
    model: ModelParameters = DEFAULT

    @property
    def n_looks(self) -> int:
        return len(self.look_patients)


@dataclass(frozen=True)
class _Calendar:
    look_patients: tuple[int, ...]
    look_months: tuple[float, ...]
    enrolment_months: np.ndarray
    fractions: tuple[float, ...]
    planned_events: int | None
    look_events: tuple[int, ...]


def plan_scenario(
    scenario: Scenario,
    seed: int,
    save_patients: int = 0,
    model: ModelParameters = DEFAULT,
    law_tolerance: float = LAW_TOLERANCE,
) -> ScenarioPlan:
    """Resolve a protocol scenario (index, name, protocol) into a `ScenarioPlan`.

    `save_patients` (the run's option) keeps the patient-level sampler, which is the
    only one with patients to save. `model` overrides model parameters
    (`cstrial.model_parameters`, a sensitivity analysis): the arms' laws, control rate
    and true effects are those of the overridden model, and the plan carries it to the
    samplers (workers are separate processes). `law_tolerance` is the laws' precision (`outcome_laws`).
    """
    protocol = scenario.protocol
    design = protocol.design
    endpoint = protocol.endpoints.primary
    criteria = criteria_of(protocol.population)
    # The control arm is arm 0 of the simulation; the others keep protocol order.
    control = next(i for i, arm in enumerate(protocol.arms) if arm.control)
    order = [control, *(i for i, arm in enumerate(protocol.arms) if not arm.control)]
    effects = tuple(model.effect(protocol.arms[i].effect) for i in order)
    laws, law_problem = _outcome_laws(protocol, criteria, effects, model, law_tolerance)
    if laws is not None:
        fraction, shift = laws.eligible_fraction, laws.baseline_shift
    else:
        fraction = reference_fraction(criteria, model.population)
        check_eligibility(fraction, scenario.name)
        target = protocol.population.control_mortality_30d
        eta = linear_predictor(reference_population(criteria, model.population), model.disease)
        shift = baseline_shift(eta, target, 30.0) if target is not None else 0.0
    risks = _arm_risks(protocol, order, laws, criteria, shift, model)
    seen = _observed_share(protocol, laws)
    calendar = _calendar(protocol, [risks[order.index(i)] * seen for i in range(len(order))])
    alpha = design.alpha / len(protocol.active_arms)  # Bonferroni
    bounds = design_boundaries(design, calendar.fractions, alpha)
    comparisons = tuple(
        _comparison(protocol, scenario.name, order, k, risks, bounds, alpha, criteria, shift, model)
        for k in range(1, len(order))
    )
    sampler, reason = choose_sampler(protocol, laws, law_problem, save_patients)
    plan = ScenarioPlan(
        index=scenario.index,
        name=scenario.name,
        seed=seed,
        sample_size=design.sample_size,
        criteria=criteria,
        eligible_fraction=fraction,
        baseline_shift=shift,
        arm_names=tuple(protocol.arms[i].name for i in order),
        allocation=tuple(protocol.arms[i].allocation for i in order),
        effects=effects,
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
        final_at_events=calendar.planned_events is not None and design.final_analysis == "events",
        sampler=sampler,
        sampler_reason=reason,
        laws=laws,
        model=model,
    )
    plan = adaptive_plan(protocol, plan)  # re-estimation's enrolment, enrichment's subgroup
    return with_assurance(scenario, replace(plan, design=decision_design(protocol, plan)))


def _outcome_laws(
    protocol: Protocol,
    criteria: Criteria,
    effects: tuple[Effect | None, ...],
    model: ModelParameters = DEFAULT,
    tolerance: float = LAW_TOLERANCE,
) -> tuple[OutcomeLaws | None, str]:
    """The arms' laws (stratified by the one covariate the analyses stratify by, if any), or
    None and why not."""
    endpoints = (protocol.endpoints.primary, *protocol.endpoints.secondary)
    strata = {e.strata for e in endpoints if e.strata is not None and ANALYSES[e.analysis].laws}
    if len(strata) > 1:
        return None, f"the analyses stratify by different covariates ({', '.join(sorted(strata))})"
    try:
        laws = outcome_laws(
            criteria,
            effects,
            control_mortality_30d=protocol.population.control_mortality_30d,
            strata=next(iter(strata), None),
            horizons=tuple(float(e.horizon_days) for e in endpoints),
            effect_horizon=float(protocol.endpoints.primary.horizon_days),
            model=model,
            tolerance=tolerance,
        )
    except InfeasibleDesignError:
        raise
    except CstrialError as error:
        return None, str(error)
    return laws, ""


def choose_sampler(
    protocol: Protocol, laws: OutcomeLaws | None, law_problem: str, save_patients: int
) -> tuple[str, str]:
    """counts, events or patients, and why: the exact laws wherever every analysis allows."""
    endpoints = (protocol.endpoints.primary, *protocol.endpoints.secondary)
    reasons = []
    if protocol.simulation.sampler == "patients":
        reasons.append("simulation.sampler is patients")
    if save_patients > 0:
        reasons.append("patients are saved (--save-patients)")
    for e in endpoints:
        if ENDPOINT_KINDS[e.type].course:
            reasons.append(f"{e.name} is built from the organ-support course")
        elif not ANALYSES[e.analysis].laws:
            reasons.append(f"{e.name}'s analysis ({e.analysis}) reads covariates")
    harmed = [a.name for a in protocol.arms if getattr(a.effect, "infection_hazard_ratio", 1) > 1]
    if harmed:
        reasons.append(f"infection harms ({', '.join(harmed)}) have no closed-form timing")
    if laws is None and law_problem:
        reasons.append(law_problem)
    if reasons:
        return "patients", "; ".join(reasons)
    primary = protocol.endpoints.primary
    if primary.analysis == "two-proportion" and not protocol.endpoints.secondary:
        return "counts", "a binary primary with the two-proportion test: counts from the arms' laws"
    return "events", "every analysis reads arm, time and strata only: times from the arms' laws"


def _arm_risks(
    protocol: Protocol,
    order: list[int],
    laws: OutcomeLaws | None,
    criteria: Criteria,
    shift: float,
    model: ModelParameters = DEFAULT,
) -> list[float]:
    """Each arm's risk of death by the primary's horizon, in simulation order: from the
    laws, or (infection harms, no laws) by a fixed-seed simulation of the reference
    population."""
    horizon = float(protocol.endpoints.primary.horizon_days)
    marginal = laws.marginal_risk(horizon) if laws is not None else None
    reference = None
    risks = []
    for k, i in enumerate(order):
        effect = model.effect(protocol.arms[i].effect)
        harmed = getattr(effect, "infection_hazard_ratio", 1.0) > 1.0
        if marginal is not None and not harmed:
            risks.append(float(marginal[k]))
            continue
        if reference is None:
            reference = reference_population(criteria, model.population)
            eta = linear_predictor(reference, model.disease) + shift
            h30, late = np.exp(eta), late_log_ratio(reference, eta, model.late, model.disease)
        risks.append(arm_risk(effect, h30, reference["il6_pg_ml"], horizon, late, model))
    return risks


def _observed_share(protocol: Protocol, laws: OutcomeLaws | None) -> float:
    """The share of deaths by the primary's horizon that dropout leaves observed:
    E[exp(-rate T) | T <= horizon] under the control arm's law (with no law, the death at
    mid-horizon, exp(-rate h / 2))."""
    rate = protocol.design.dropout.rate_per_year / 365.25
    horizon = float(protocol.endpoints.primary.horizon_days)
    if rate == 0:
        return 1.0
    if laws is None:
        return float(np.exp(-rate * horizon / 2))
    days = np.append(laws.days[laws.days < horizon], horizon)
    survival = laws.prevalence @ laws.survival_at(days)[:, 0]  # the control arm
    dying = -np.diff(survival)
    middle = (days[1:] + days[:-1]) / 2
    return float((dying * np.exp(-rate * middle)).sum() / dying.sum())


def _calendar(protocol: Protocol, risks: list[float]) -> _Calendar:
    """When the looks happen: patients followed up, or (time to event) deaths, and the months.

    `risks` are each arm's risk of an observed death by the horizon (dropout censors the
    others), in protocol order: the planned deaths are the expected observed ones."""
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
    planned_events = design.planned_events or max(len(design.looks), round(expected))
    look_events = _look_counts(design.looks, planned_events)
    fractions = tuple(d / planned_events for d in look_events)
    return _Calendar(look_patients, look_months, months, fractions, planned_events, look_events)


def _comparison(
    protocol: Protocol,
    scenario: str,
    order: list[int],
    position: int,
    risks: list[float],
    bounds: Boundaries,
    alpha: float,
    criteria: Criteria,
    shift: float,
    model: ModelParameters = DEFAULT,
) -> Comparison:
    """The arm at `position` of the simulation's order against control (position 0)."""
    endpoint = protocol.endpoints.primary
    arm, control = protocol.arms[order[position]], protocol.arms[order[0]]
    arm_effect = model.effect(arm.effect)
    risk, control_risk = risks[position], risks[0]
    if ENDPOINT_KINDS[endpoint.type].closed_form_truth:
        effect = true_effect(endpoint, risk, control_risk)
    elif is_null(arm_effect) and getattr(arm_effect, "infection_hazard_ratio", 1.0) == 1.0:
        effect = ANALYSES[endpoint.analysis].null  # exact by symmetry, not simulated
    else:
        reference = reference_population(criteria, model.population)
        effect = reference_effect(
            endpoint,
            arm_effect,
            reference,
            linear_predictor(reference, model.disease) + shift,
            model,
        )
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


def arm_risk(
    effect: Effect | None,
    h30: np.ndarray,
    il6: np.ndarray,
    horizon_days: float,
    late: np.ndarray | float,
    model: ModelParameters = DEFAULT,
) -> float:
    """Mean risk of death by the horizon under an arm, over the reference population.

    Exact from the hazard course; with infection harms, whose timing has no closed
    form here, by a fixed-seed simulation of every reference patient (SE < 0.0012).
    `late` is the patients' late log ratio (`cstrial.disease.late_log_ratio`).
    """
    course = hazard_course(effect, h30, il6, horizon_days, late=late, model=model)
    ratio = getattr(effect, "infection_hazard_ratio", 1.0)
    if ratio <= 1.0:
        return float(course.risk(horizon_days).mean())
    rng = np.random.default_rng(REFERENCE_EFFECT_SEED)
    exposure = rng.standard_exponential(h30.size)
    death = course.death_time(exposure, MODEL_HORIZON_DAYS)
    infection = excess_infection_day(rng, h30.size, ratio, model.harms)
    death = death_day_with_infection(
        course, exposure, death, infection, MODEL_HORIZON_DAYS, model.harms
    )
    return float(np.mean(death <= horizon_days))


REFERENCE_EFFECT_PATIENTS = 20_000  # per arm


def reference_effect(
    endpoint: Endpoint,
    effect: Effect | None,
    reference: Patients,
    eta: np.ndarray,
    model: ModelParameters = DEFAULT,
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
    late = late_log_ratio(patients, eta[: 2 * m], model.late, model.disease)
    for arm, arm_effect in ((0, None), (1, effect)):
        mask = arms == arm
        course = hazard_course(
            arm_effect,
            h30[mask],
            patients["il6_pg_ml"][mask],
            endpoint.horizon_days,
            late=late[mask],
            model=model,
        )
        death[mask] = course.death_time(exposure[mask], MODEL_HORIZON_DAYS)
        ratio[mask] = course.cumulative_hazard(30.0) / h30[mask]
    drawn = simulate_course(rng, patients, death, ratio, model.course, death_eta=eta[: 2 * m])
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
