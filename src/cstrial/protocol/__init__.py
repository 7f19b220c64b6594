"""The protocol: pydantic models of the YAML, loading with line-aware errors, scenarios.

`load_protocol` reads and validates a YAML file, `parse_protocol` a mapping;
both raise `ProtocolError` listing every problem with its line and field path.
`expand_scenarios` gives the protocol as written (`base`) and each scenario.
"""

from __future__ import annotations

from cstrial.protocol.criteria import Range
from cstrial.protocol.effects import (
    EFFECT_MODELS,
    Effect,
    HazardRatio,
    Il6Mediated,
    OddsRatio,
    Pkpd,
    RiskRatio,
)
from cstrial.protocol.load import load_protocol, parse_protocol
from cstrial.protocol.models import (
    SPENDING_FUNCTIONS,
    Accrual,
    Arm,
    Bound,
    Design,
    Dropout,
    Endpoint,
    Endpoints,
    Futility,
    Population,
    Protocol,
    ScenarioSpec,
    Simulation,
)
from cstrial.protocol.scenarios import Scenario, expand_scenarios, select_scenarios

__all__ = [
    "EFFECT_MODELS",
    "SPENDING_FUNCTIONS",
    "Accrual",
    "Arm",
    "Bound",
    "Design",
    "Dropout",
    "Effect",
    "Endpoint",
    "Endpoints",
    "Futility",
    "HazardRatio",
    "Il6Mediated",
    "OddsRatio",
    "Pkpd",
    "Population",
    "Protocol",
    "Range",
    "RiskRatio",
    "Scenario",
    "ScenarioSpec",
    "Simulation",
    "expand_scenarios",
    "load_protocol",
    "parse_protocol",
    "select_scenarios",
]
