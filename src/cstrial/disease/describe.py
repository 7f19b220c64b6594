"""`cstrial population`: the enrolled virtual population of a protocol, and the published targets."""

from __future__ import annotations

from typing import Any

import numpy as np

from cstrial.disease import (
    baseline_shift,
    cumulative_hazard,
    late_log_ratio,
    linear_predictor,
    risk_by,
)
from cstrial.disease.organ_support import organ_support
from cstrial.disease.targets import evaluate_targets
from cstrial.errors import UsageError
from cstrial.population.eligibility import check_eligibility
from cstrial.population.reference import criteria_of, reference_fraction, reference_population
from cstrial.protocol import Protocol
from cstrial.protocol.covariates import COVARIATES


def describe_population(protocol: Protocol, n: int = 100_000) -> dict[str, Any]:
    """Covariate distributions, eligibility, control mortality and organ support of the
    enrolled population.

    The enrolled population is the default virtual population under the protocol's
    inclusion/exclusion (the reference sample the engine calibrates on, first `n`
    patients); mortality is the model's expected control-arm risk.
    """
    if n < 1:
        raise UsageError("n", f"must be at least 1, found {n}")
    criteria = criteria_of(protocol.population)
    fraction = reference_fraction(criteria)
    check_eligibility(fraction)
    patients = {k: v[:n] for k, v in reference_population(criteria).items()}
    eta = linear_predictor(patients)
    target = protocol.population.control_mortality_30d
    shift = baseline_shift(eta, target) if target is not None else 0.0
    h30 = np.exp(eta + shift)
    late = late_log_ratio(patients, eta + shift)
    return {
        "n": len(patients["age"]),
        "eligible_fraction": fraction,
        "screened_per_enrolled": 1.0 / fraction,
        "baseline_shift": shift,
        "summary": {
            name: _summarise(name, patients[name]) for name in COVARIATES if name in patients
        },
        "mortality": _mortality(patients, h30, late),
        "targets": evaluate_targets(),
        "organ_support": organ_support(patients, eta + shift),
    }


def _summarise(name: str, values: np.ndarray) -> dict[str, float]:
    covariate = COVARIATES[name]
    if covariate.kind == "numeric":
        q = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
        return {
            "mean": float(values.mean()),
            "sd": float(values.std()),
            "min": float(q[0]),
            "q1": float(q[1]),
            "median": float(q[2]),
            "q3": float(q[3]),
            "max": float(q[4]),
        }
    if covariate.kind == "boolean":
        return {"true": float(values.mean())}
    return {level: float(np.mean(values == code)) for code, level in enumerate(covariate.levels)}


MORTALITY_DAYS = (30, 180, 365)


def _mortality(patients: dict, h30: np.ndarray, late: np.ndarray) -> dict[str, object]:
    out: dict[str, object] = {}
    for day in MORTALITY_DAYS:
        risk = risk_by(cumulative_hazard(h30, float(day), late))
        out[f"control_{day}d"] = float(risk.mean())
        for name in ("scai_stage", "phenotype"):
            levels = COVARIATES[name].levels
            out[f"control_{day}d_by_{name}"] = {
                level: float(risk[patients[name] == code].mean())
                for code, level in enumerate(levels)
                if np.any(patients[name] == code)
            }
    return out
