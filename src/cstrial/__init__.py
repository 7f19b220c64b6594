"""cstrial: an in-silico trial simulator for IL-6 blockade in cardiogenic shock."""

from __future__ import annotations

__version__ = "0.1.0"

from cstrial.errors import (
    CstrialError,
    InfeasibleDesignError,
    MonteCarloPrecisionWarning,
    ProtocolError,
)

__all__ = [
    "CstrialError",
    "InfeasibleDesignError",
    "MonteCarloPrecisionWarning",
    "ProtocolError",
    "__version__",
]
