"""Root-finding that ties the disease model's baseline to published mortality.

Two uses: (1) the stage intercepts of `DISEASE` were found with
`stage_intercepts` on a large AMI-CS sample (re-run by a test so a drift fails
CI); (2) a protocol's `control_mortality_30d` shifts the baseline so the mean
control-arm risk of the *enrolled* population equals it.
"""

from __future__ import annotations

import numpy as np

from cstrial.disease.model import linear_predictor, risk_by, timing_fraction
from cstrial.errors import ConvergenceError
from cstrial.population.sample import Patients


def baseline_shift(eta: np.ndarray, target_risk: float, horizon_days: float = 30.0) -> float:
    """The shift delta of every eta so that mean risk by the horizon equals `target_risk`."""
    from scipy.optimize import brentq  # here: workers never recalibrate

    g = float(timing_fraction(horizon_days))

    def excess(delta: float) -> float:
        return float(np.mean(risk_by(np.exp(eta + delta) * g))) - target_risk

    try:
        return brentq(excess, -30.0, 30.0, xtol=1e-10)
    except ValueError as exc:  # no sign change: the target is unreachable
        raise ConvergenceError(
            f"cannot recalibrate the baseline to a mortality of {target_risk}"
        ) from exc


def stage_intercepts(patients: Patients, targets: dict[str, float]) -> dict[str, float]:
    """Stage intercepts so that mean 30-day mortality within each stage equals its target."""
    eta = linear_predictor(patients)
    stage_codes = {"C": 0, "D": 1, "E": 2}
    from cstrial.disease.parameters import DISEASE

    current = np.array(
        [DISEASE["log_h30_scai_c"], DISEASE["log_h30_scai_d"], DISEASE["log_h30_scai_e"]]
    )
    out = {}
    for stage, target in targets.items():
        code = stage_codes[stage]
        in_stage = patients["scai_stage"] == code
        shift = baseline_shift(eta[in_stage], target)
        out[stage] = float(current[code] + shift)
    return out
