"""One analysis of one comparison: the endpoint's test, z (> 0 favours treatment) and estimate."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cstrial.analysis import two_proportion_z
from cstrial.analysis.cmh import cmh_z
from cstrial.analysis.logistic import logistic_adjusted
from cstrial.analysis.mann_whitney import mann_whitney_z
from cstrial.analysis.survival import cox_treatment, logrank_z, stratified_logrank_z
from cstrial.analysis.win_ratio import win_ratio
from cstrial.endpoints.outcomes import Outcome, TrialCourse
from cstrial.protocol.covariates import COVARIATES


@dataclass(frozen=True)
class AnalysisResult:
    """Per replicate: the z statistic, the estimate on its natural scale, and the counts."""

    z: np.ndarray
    estimate: np.ndarray
    n_control: np.ndarray
    n_treatment: np.ndarray
    events_control: np.ndarray
    events_treatment: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. win odds, net benefit


def analyse(endpoint: object, outcome: Outcome, trial: TrialCourse, arm: int) -> AnalysisResult:
    """Test arm `arm` against control (arm 0) on `outcome`.

    Estimates: risk difference (two-proportion, cmh, logistic-adjusted: standardised),
    hazard ratio (log-rank: Peto; cox), probabilistic index (mann-whitney), win ratio.
    """
    treated = trial.arms == arm
    include = outcome.include & (treated | (trial.arms == 0))
    control = include & ~treated
    on_treatment = include & treated
    counts = (
        control.sum(axis=1).astype(np.int32),
        on_treatment.sum(axis=1).astype(np.int32),
        (control & outcome.event).sum(axis=1).astype(np.int32),
        (on_treatment & outcome.event).sum(axis=1).astype(np.int32),
    )
    z, estimate, *extra = _test(endpoint, outcome, trial, treated, include, counts)
    return AnalysisResult(
        np.asarray(z, float), np.asarray(estimate, float), *counts, extra=extra[0] if extra else {}
    )


def _test(endpoint, outcome, trial, treated, include, counts):
    analysis = endpoint.analysis
    if analysis == "two-proportion":
        n_c, n_t, e_c, e_t = counts
        return two_proportion_z(e_c, n_c, e_t, n_t)
    if analysis == "logistic-adjusted":
        result = logistic_adjusted(
            outcome.event, treated, design_matrix(trial.patients, endpoint.covariates), include
        )
        return result.rd_z, result.risk_difference
    if analysis == "cmh":
        return cmh_z(outcome.event, treated, trial.patients[endpoint.strata], include)
    if analysis == "log-rank":
        return logrank_z(outcome.time, outcome.event, treated, include)
    if analysis == "stratified-log-rank":
        return stratified_logrank_z(
            outcome.time, outcome.event, treated, trial.patients[endpoint.strata], include
        )
    if analysis == "cox":
        result = cox_treatment(outcome.time, outcome.event, treated, include)
        return result.z, result.hazard_ratio
    if analysis == "mann-whitney":
        return mann_whitney_z(outcome.value, treated, include, higher_is_better=True)
    if analysis == "win-ratio":
        result = win_ratio(outcome.components, treated, include)
        return (
            result.z,
            result.win_ratio,
            {"win_odds": result.win_odds, "net_benefit": result.net_benefit},
        )
    raise ValueError(f"unknown analysis {analysis!r}")


def design_matrix(patients: dict[str, np.ndarray], covariates: list[str]) -> np.ndarray:
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
