"""cstrial: an in-silico trial simulator for IL-6 blockade in cardiogenic shock."""

from __future__ import annotations

__version__ = "0.1.0"

from cstrial.errors import (
    CstrialError,
    InfeasibleDesignError,
    MonteCarloPrecisionWarning,
    ProtocolError,
)


def run(protocol: object, **options: object) -> object:
    """Simulate a protocol (path or `Protocol`) and write the run; see `cstrial.engine.run`."""
    from cstrial.engine import run as _run

    return _run(protocol, **options)


__all__ = [
    "CstrialError",
    "InfeasibleDesignError",
    "MonteCarloPrecisionWarning",
    "ProtocolError",
    "__version__",
    "run",
]
