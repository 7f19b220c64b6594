"""cstrial: an in-silico trial simulator for IL-6 blockade in cardiogenic shock.

The public surface, importable from `cstrial` (loaded on first use, so that
`import cstrial` stays light):

    run, read_run, verify_run            a run: simulate, read back, re-run and compare
    load_protocol, expand_scenarios      the protocol and its scenarios
    group_sequential_boundaries, design_characteristics
    analytic_sample_size, simulated_sample_size, compare_designs, write_report
    calibrate_efficacy                   a Bayesian design's efficacy threshold for a type I error
    describe_population, evaluate_targets
    sensitivity_analysis, write_sensitivity, ModelParameters   power under the model's uncertainty
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.2.0"

from cstrial.errors import (
    ConvergenceError,
    CstrialError,
    InfeasibleDesignError,
    MonteCarloPrecisionWarning,
    ProtocolError,
)

_LAZY = {
    "run": "cstrial.engine",
    "read_run": "cstrial.results",
    "verify_run": "cstrial.verify",
    "load_protocol": "cstrial.protocol",
    "expand_scenarios": "cstrial.protocol",
    "group_sequential_boundaries": "cstrial.design",
    "design_characteristics": "cstrial.design",
    "analytic_sample_size": "cstrial.sample_size",
    "simulated_sample_size": "cstrial.sample_size",
    "compare_designs": "cstrial.compare",
    "calibrate_efficacy": "cstrial.calibrate",
    "write_report": "cstrial.report",
    "describe_population": "cstrial.disease.describe",
    "evaluate_targets": "cstrial.disease.targets",
    "sensitivity_analysis": "cstrial.sensitivity",
    "write_sensitivity": "cstrial.sensitivity",
    "ModelParameters": "cstrial.model_parameters",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cstrial' has no attribute {name!r}")


__all__ = [
    "ConvergenceError",
    "CstrialError",
    "InfeasibleDesignError",
    "MonteCarloPrecisionWarning",
    "ProtocolError",
    "__version__",
    *_LAZY,
]
