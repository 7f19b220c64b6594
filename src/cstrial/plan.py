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
from cstrial.disease import baseline_shift, linear_predictor
from cstrial.population import Criteria, eligible, sample_population
from cstrial.population.eligibility import check_eligibility
from cstrial.population.sample import Patients
from cstrial.protocol.covariates import COVARIATES
from cstrial.treatment import hazard_course

REFERENCE_SEED = 20_261_121
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

    n = design.sample_size
    look_patients = tuple(
        n if t >= 1.0 else max(1, min(n, int(np.ceil(t * n - 1e-9)))) for t in design.looks
    )
    months = enrolment_months(n, design.accrual.patients_per_month, design.accrual.ramp_up_months)
    horizon_months = endpoint.horizon_days / DAYS_PER_MONTH
    look_months = tuple(float(months[k - 1] + horizon_months) for k in look_patients)

    control_index = next(i for i, arm in enumerate(protocol.arms) if arm.control)
    active = [i for i, arm in enumerate(protocol.arms) if not arm.control]
    alpha = design.alpha / len(active)  # Bonferroni until Dunnett arrives
    fractions = [k / n for k in look_patients]
    bounds = _boundaries(design, fractions, alpha)
    control_risk = float(
        hazard_course(None, h30, reference["il6_pg_ml"], endpoint.horizon_days)
        .risk(endpoint.horizon_days)
        .mean()
    )
    comparisons = []
    for i in active:
        arm = protocol.arms[i]
        risk = float(
            hazard_course(arm.effect, h30, reference["il6_pg_ml"], endpoint.horizon_days)
            .risk(endpoint.horizon_days)
            .mean()
        )
        comparisons.append(
            Comparison(
                label=f"{arm.name} vs {protocol.arms[control_index].name}",
                arm_index=i,
                alpha=alpha,
                efficacy_z=tuple(float(z) for z in bounds.efficacy_z),
                futility_z=None
                if bounds.futility_z is None
                else tuple(float(z) for z in bounds.futility_z),
                true_effect=risk - control_risk,
                control_risk=control_risk,
                treatment_risk=risk,
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
    )


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
