"""Trial design: group-sequential boundaries, Bayesian decision rules, design priors.

References: Lan & DeMets 1983; Wang & Tsiatis 1987; Kim & DeMets 1987; Hwang, Shih &
DeCani 1990; Jennison & Turnbull 2000, ch. 19; Berry, Carlin, Lee & Müller 2010.
"""

from __future__ import annotations

from cstrial.design.bayesian import (
    ThresholdCalibration,
    beta_binomial_posterior_probability,
    calibrate_threshold,
    normal_posterior_probability,
)
from cstrial.design.boundaries import (
    Boundaries,
    efficacy_bounds_at,
    group_sequential_boundaries,
)
from cstrial.design.characteristics import (
    DesignCharacteristics,
    conditional_power,
    design_characteristics,
    fixed_design_drift,
    power_at,
)
from cstrial.design.integration import crossing_probabilities
from cstrial.design.priors import DesignPrior, design_prior, draw_design_prior
from cstrial.design.spending import SPENDING_FAMILIES, spending_function

__all__ = [
    "SPENDING_FAMILIES",
    "Boundaries",
    "DesignCharacteristics",
    "DesignPrior",
    "ThresholdCalibration",
    "beta_binomial_posterior_probability",
    "calibrate_threshold",
    "conditional_power",
    "crossing_probabilities",
    "design_characteristics",
    "design_prior",
    "draw_design_prior",
    "efficacy_bounds_at",
    "fixed_design_drift",
    "group_sequential_boundaries",
    "normal_posterior_probability",
    "power_at",
    "spending_function",
]
