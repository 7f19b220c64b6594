"""Inclusion and exclusion exactly as written in the protocol, and enrolment of eligible patients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from cstrial.errors import InfeasibleDesignError
from cstrial.parameters import ParameterTable
from cstrial.population.parameters import POPULATION
from cstrial.population.sample import Keep, Patients, screen
from cstrial.protocol.covariates import COVARIATES

# A criterion is a list of allowed values (categorical/boolean) or a (min, max) range.
Criterion = Sequence[object] | tuple[float | None, float | None]

# Below this eligible fraction a trial cannot be enrolled from the virtual population.
MIN_ELIGIBLE_FRACTION = 1e-4
SCREEN_BATCH = 1 << 16


@dataclass(frozen=True)
class Criteria:
    """Inclusion (all must hold) and exclusion (none may hold) criteria, by covariate."""

    inclusion: Mapping[str, Criterion] = field(default_factory=dict)
    exclusion: Mapping[str, Criterion] = field(default_factory=dict)


def narrowed(criteria: Criteria, inclusion: Mapping[str, Criterion]) -> Criteria:
    """`criteria` with the further inclusion criteria `inclusion` (a subgroup): a covariate
    in both must meet both (ranges intersect, allowed values intersect)."""
    merged = dict(criteria.inclusion)
    for name, criterion in inclusion.items():
        if name not in merged:
            merged[name] = criterion
        elif COVARIATES[name].kind == "numeric":
            bounds = [*merged[name], *criterion]  # low, high, low, high (None: open)
            lows = [float(x) for x in bounds[0::2] if x is not None]
            highs = [float(x) for x in bounds[1::2] if x is not None]
            merged[name] = (max(lows) if lows else None, min(highs) if highs else None)
        else:
            merged[name] = [v for v in merged[name] if v in list(criterion)]
    return Criteria(inclusion=merged, exclusion=criteria.exclusion)


def eligible(patients: Patients, criteria: Criteria) -> np.ndarray:
    """Boolean mask of patients meeting every inclusion and no exclusion criterion."""
    n = len(next(iter(patients.values())))
    mask = np.ones(n, dtype=bool)
    for name, criterion in criteria.inclusion.items():
        mask &= _meets(patients[name], name, criterion)
    for name, criterion in criteria.exclusion.items():
        mask &= ~_meets(patients[name], name, criterion)
    return mask


def enroll(
    rng: np.random.Generator,
    n: int,
    criteria: Criteria,
    eligible_fraction: float,
    table: ParameterTable = POPULATION,
) -> tuple[Patients, int]:
    """Screen virtual patients until exactly `n` are eligible; return them and the number screened.

    `table` is the population's parameter table (a sensitivity analysis overrides it).

    Patients are screened in batches sized from the expected eligible fraction; the
    enrolled are the first `n` eligible in screening order, so the result depends only
    on the generator's state.
    """
    check_eligibility(eligible_fraction)
    parts: list[Patients] = []
    found = 0
    screened = 0
    while found < n:
        # bounded batches keep the temporaries in cache; their sizes depend only on n
        batch = min(int(np.ceil((n - found) / eligible_fraction * 1.05)) + 64, SCREEN_BATCH)
        candidates, position = screen(rng, batch, _criteria_as_they_come(criteria), table)
        take = min(n - found, position.size)
        if take:
            parts.append({k: v[:take] for k, v in candidates.items()})
        found += take
        screened += int(position[take - 1]) + 1 if found == n else batch
    patients = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return patients, screened


def _criteria_as_they_come(criteria: Criteria) -> Keep:
    """A `screen` filter applying each criterion as soon as its covariate is drawn."""
    pending = set(criteria.inclusion) | set(criteria.exclusion)

    def keep(patients: Patients) -> np.ndarray | None:
        ready = {name for name in pending if name in patients}
        if not ready:
            return None
        pending.difference_update(ready)
        return eligible(
            patients,
            Criteria(
                inclusion={k: v for k, v in criteria.inclusion.items() if k in ready},
                exclusion={k: v for k, v in criteria.exclusion.items() if k in ready},
            ),
        )

    return keep


def check_eligibility(eligible_fraction: float, scenario: str | None = None) -> None:
    """Raise InfeasibleDesignError when (almost) no one in the population is eligible."""
    if eligible_fraction < MIN_ELIGIBLE_FRACTION:
        where = f"scenario {scenario!r}: " if scenario else ""
        raise InfeasibleDesignError(where + _rarity_message(eligible_fraction))


def _meets(values: np.ndarray, name: str, criterion: Criterion) -> np.ndarray:
    covariate = COVARIATES[name]
    if covariate.kind == "numeric":
        low, high = criterion
        mask = np.ones(values.shape, dtype=bool)
        if low is not None:
            mask &= values >= low
        if high is not None:
            mask &= values <= high
        return mask
    # categorical codes and booleans index a small lookup table of allowed values
    if covariate.kind == "boolean":
        allowed = np.zeros(2, dtype=bool)
        allowed[[int(bool(v)) for v in criterion]] = True
        return allowed[values.astype(np.int8)]
    allowed = np.zeros(len(covariate.levels), dtype=bool)
    allowed[[covariate.levels.index(str(v)) for v in criterion]] = True
    return allowed[values]


def _rarity_message(fraction: float) -> str:
    if fraction == 0:
        share = "none of the virtual cardiogenic-shock population"
    else:
        share = (
            f"{fraction:.4%} of the virtual cardiogenic-shock population "
            f"(about 1 in {1 / fraction:,.0f} screened)"
        )
    return (
        f"population.inclusion/exclusion leave {share} eligible; at least "
        f"{MIN_ELIGIBLE_FRACTION:.2%} is needed. Widen a range (e.g. a lower "
        "il6_pg_ml min) or allow more categories."
    )
