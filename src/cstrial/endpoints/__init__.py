"""Endpoints: a trial's simulated courses turned into each endpoint's data at an analysis date."""

from cstrial.endpoints.analyse import AnalysisResult, analyse
from cstrial.endpoints.outcomes import TrialCourse, outcome_at

__all__ = ["AnalysisResult", "TrialCourse", "analyse", "outcome_at"]
