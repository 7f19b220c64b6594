"""Group-sequential design: spending functions, exact boundaries, operating characteristics.

References: Lan & DeMets 1983; Wang & Tsiatis 1987; Kim & DeMets 1987; Hwang, Shih &
DeCani 1990; Jennison & Turnbull 2000, ch. 19.
"""

from __future__ import annotations

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
from cstrial.design.spending import SPENDING_FAMILIES, spending_function

__all__ = [
    "SPENDING_FAMILIES",
    "Boundaries",
    "DesignCharacteristics",
    "conditional_power",
    "crossing_probabilities",
    "design_characteristics",
    "efficacy_bounds_at",
    "fixed_design_drift",
    "group_sequential_boundaries",
    "power_at",
    "spending_function",
]
