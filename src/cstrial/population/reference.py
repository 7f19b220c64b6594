"""The reference population: a large eligible sample of the virtual population, from a fixed seed.

Calibration (the baseline shift for `control_mortality_30d`), the eligible fraction
and the true effects are properties of the model and the protocol, not of one Monte
Carlo run, so they are computed on this sample, drawn from its own fixed seed and
cached per set of criteria.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cstrial.errors import InfeasibleDesignError
from cstrial.parameters import ParameterTable
from cstrial.population.eligibility import Criteria, eligible
from cstrial.population.parameters import POPULATION
from cstrial.population.sample import Patients, sample_population
from cstrial.protocol.covariates import COVARIATES
from cstrial.protocol.limits import MAX_POPULATIONS
from cstrial.protocol.models import Population

REFERENCE_SEED = 20_261_121
REFERENCE_ELIGIBLE = 200_000
REFERENCE_MAX_SCREENED = 4_000_000


def criteria_of(population: Population) -> Criteria:
    """The protocol's inclusion/exclusion as plain values for `population.eligible`."""
    return Criteria(
        inclusion=_plain(population.inclusion),
        exclusion=_plain(population.exclusion),
    )


def reference_population(criteria: Criteria, table: ParameterTable = POPULATION) -> Patients:
    """A large eligible sample from a fixed seed (cached), for calibration and true effects;
    `table` is the population's parameters (a sensitivity analysis overrides them)."""
    return _reference(_criteria_key(criteria), table)[0]


def reference_fraction(criteria: Criteria, table: ParameterTable = POPULATION) -> float:
    """The eligible fraction of the virtual population under `criteria`."""
    return _reference(_criteria_key(criteria), table)[1]


# keyed by the table's identity: tables with overridden values are made once per set of
# overrides (`cstrial.model_parameters`), so a changed value never meets a stale sample
@lru_cache(maxsize=64)
def _reference(key: tuple, table: ParameterTable = POPULATION) -> tuple[Patients, float]:
    criteria = Criteria(inclusion=dict(key[0]), exclusion=dict(key[1]))
    rng = np.random.default_rng(REFERENCE_SEED)
    parts: list[Patients] = []
    found = screened = 0
    while found < REFERENCE_ELIGIBLE and screened < REFERENCE_MAX_SCREENED:
        batch = sample_population(rng, 500_000, table)
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


def eligibility(population: Population) -> dict[str, float]:
    """The eligible fraction of a protocol's population and the patients screened per enrolled."""
    fraction = reference_fraction(criteria_of(population))
    return {
        "eligible_fraction": fraction,
        "screened_per_enrolled": 1.0 / fraction if fraction else float("inf"),
    }


def check_populations(scenarios: list) -> None:
    """Raise InfeasibleDesignError, before any work, when the scenarios ask for more distinct
    eligible populations than `MAX_POPULATIONS` (each costs a reference population)."""
    keys = {_criteria_key(criteria_of(s.protocol.population)) for s in scenarios}
    if len(keys) > MAX_POPULATIONS:
        raise InfeasibleDesignError(
            f"scenarios/grid: the scenarios have {len(keys):,} different populations "
            f"(population.inclusion/exclusion), more than the {MAX_POPULATIONS} cstrial "
            "computes in one run (each needs a reference population of 200,000 eligible "
            "patients); vary the criteria over fewer values, or split the protocol"
        )
