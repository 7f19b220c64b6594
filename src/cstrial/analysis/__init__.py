"""Tests and estimators, vectorised over replicate trials: z > 0 always favours treatment."""

from cstrial.analysis.cmh import cmh_z
from cstrial.analysis.logistic import LogisticResult, logistic_adjusted
from cstrial.analysis.mann_whitney import mann_whitney_z
from cstrial.analysis.proportional_odds import ProportionalOddsResult, proportional_odds
from cstrial.analysis.result import TestResult
from cstrial.analysis.survival import CoxResult, cox_treatment, logrank_z, stratified_logrank_z
from cstrial.analysis.two_proportion import two_proportion_z
from cstrial.analysis.win_ratio import WinRatioResult, win_ratio

__all__ = [
    "CoxResult",
    "LogisticResult",
    "ProportionalOddsResult",
    "TestResult",
    "WinRatioResult",
    "cmh_z",
    "cox_treatment",
    "logistic_adjusted",
    "logrank_z",
    "mann_whitney_z",
    "proportional_odds",
    "stratified_logrank_z",
    "two_proportion_z",
    "win_ratio",
]
