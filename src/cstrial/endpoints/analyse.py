"""One analysis of one comparison: the endpoint's test, z (> 0 favours treatment) and estimate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from cstrial.analysis import two_proportion_z
from cstrial.analysis.cmh import cmh_z
from cstrial.analysis.logistic import logistic_adjusted
from cstrial.analysis.mann_whitney import mann_whitney_z
from cstrial.analysis.proportional_odds import proportional_odds
from cstrial.analysis.result import TestResult
from cstrial.analysis.survival import cox_treatment, logrank_z, stratified_logrank_z
from cstrial.analysis.win_ratio import win_ratio
from cstrial.endpoints.outcomes import Outcome, TrialCourse
from cstrial.protocol.covariates import COVARIATES
from cstrial.protocol.models import Endpoint


@dataclass(frozen=True)
class AnalysisResult:
    """Per replicate: the test (z > 0 favours treatment, estimate, converged) and the counts."""

    z: np.ndarray
    estimate: np.ndarray
    n_control: np.ndarray
    n_treatment: np.ndarray
    events_control: np.ndarray
    events_treatment: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. win odds, net benefit
    converged: np.ndarray | None = None  # False where a fit failed (z = 0 there)
    # the SE of the log estimate (log HR, log OR) where the analysis gives one (Bayesian rules)
    se: np.ndarray | None = None


def analyse(
    endpoint: Endpoint,
    outcome: Outcome,
    trial: TrialCourse,
    arm: int,
    within: np.ndarray | None = None,
) -> AnalysisResult:
    """Test arm `arm` against control (arm 0) on `outcome`, among the patients `within`
    (R, n) if given (a stage's own patients, a subgroup).

    Estimates: risk difference (two-proportion, cmh, logistic-adjusted: standardised),
    hazard ratio (log-rank: Peto; cox), probabilistic index (mann-whitney), win ratio,
    common odds ratio of a better outcome (proportional-odds: > 1 favours treatment).
    """
    treated = trial.arms == arm
    include = outcome.include & (treated | (trial.arms == 0))
    if within is not None:
        include &= within
    control = include & ~treated
    on_treatment = include & treated
    counts = (
        control.sum(axis=1).astype(np.int32),
        on_treatment.sum(axis=1).astype(np.int32),
        (control & outcome.event).sum(axis=1).astype(np.int32),
        (on_treatment & outcome.event).sum(axis=1).astype(np.int32),
    )
    test = TESTS[endpoint.analysis](endpoint, outcome, trial, treated, include, counts)
    return AnalysisResult(
        np.asarray(test.z, float),
        np.asarray(test.estimate, float),
        *counts,
        extra=dict(test.extra),
        converged=test.converged,
        se=getattr(test, "se", None),
    )


_T = TypeVar("_T")
Counts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Test = Callable[[Endpoint, Outcome, TrialCourse, np.ndarray, np.ndarray, Counts], TestResult]

# Each analysis of the vocabulary (cstrial.protocol.vocabulary.ANALYSES), as the engine runs it.
TESTS: dict[str, Test] = {
    "two-proportion": lambda e, o, t, treated, include, n: two_proportion_z(
        n[2], n[0], n[3], n[1], e.continuity_correction
    ),
    "logistic-adjusted": lambda e, o, t, treated, include, n: logistic_adjusted(
        o.event, treated, design_matrix(t.patients, e.covariates), include
    ),
    "cmh": lambda e, o, t, treated, include, n: cmh_z(
        o.event, treated, t.patients[_given(e.strata)], include
    ),
    "log-rank": lambda e, o, t, treated, include, n: logrank_z(
        _given(o.time), o.event, treated, include
    ),
    "stratified-log-rank": lambda e, o, t, treated, include, n: stratified_logrank_z(
        _given(o.time), o.event, treated, t.patients[_given(e.strata)], include
    ),
    "cox": lambda e, o, t, treated, include, n: cox_treatment(
        _given(o.time), o.event, treated, include
    ),
    "mann-whitney": lambda e, o, t, treated, include, n: mann_whitney_z(
        _given(o.value), treated, include, higher_is_better=True
    ),
    "win-ratio": lambda e, o, t, treated, include, n: win_ratio(
        _given(o.components), treated, include
    ),
    "proportional-odds": lambda e, o, t, treated, include, n: proportional_odds(
        _given(o.value),
        treated,
        include,
        design_matrix(t.patients, e.covariates) if e.covariates else None,
    ),
}


def _given(value: _T | None) -> _T:
    """A field the endpoint type always fills for this analysis (the protocol pairs them)."""
    assert value is not None
    return value


def design_matrix(patients: Mapping[str, np.ndarray], covariates: list[str]) -> np.ndarray:
    """(R, n, p) covariates for adjustment: numeric as is (IL-6, lactate, CRP on the log
    scale), booleans as 0/1, categoricals dummy-coded against their first level."""
    columns = []
    for name in covariates:
        covariate = COVARIATES[name]
        values = patients[name]
        if covariate.kind == "numeric":
            log_scale = name in ("il6_pg_ml", "lactate_mmol_l", "crp_mg_l")
            columns.append(np.log(values) if log_scale else values.astype(float))
        elif covariate.kind == "boolean":
            columns.append(values.astype(float))
        else:
            dummies = [(values == code).astype(float) for code in range(len(covariate.levels))]
            present = [d for d in dummies if d.any()]
            columns.extend(present[1:])  # the first level present is the reference
    return np.stack(columns, axis=-1)
