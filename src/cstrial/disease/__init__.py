"""Natural history: hazard of death over time given covariates."""

from cstrial.disease.calibration import baseline_shift
from cstrial.disease.model import (
    MODEL_HORIZON_DAYS,
    cumulative_hazard,
    il6_log_hazard,
    inverse_timing,
    late_linear_predictor,
    late_log_ratio,
    linear_predictor,
    risk_by,
    timing_fraction,
)
from cstrial.disease.parameters import DISEASE, LATE

__all__ = [
    "DISEASE",
    "LATE",
    "MODEL_HORIZON_DAYS",
    "baseline_shift",
    "cumulative_hazard",
    "il6_log_hazard",
    "inverse_timing",
    "late_linear_predictor",
    "late_log_ratio",
    "linear_predictor",
    "risk_by",
    "timing_fraction",
]
