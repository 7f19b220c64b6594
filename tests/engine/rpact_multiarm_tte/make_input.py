"""Write input.json for generate.R: each scenario's hazard ratios (rpact's effectMatrix)
from the cstrial model, and the design. Run from the repository root:
    PYTHONPATH=src python tests/engine/rpact_multiarm_tte/make_input.py

getSimulationMultiArmSurvival (rpact 3.3.4) takes one constant hazard ratio per arm.
The default population is a mixture of strata, so the marginal hazard ratio of an arm
with a conditional hazard ratio h is not h (about 0.76 for 0.7, 0.84 for 0.8): each
arm's is the mean over the horizon of its marginal log hazard ratio against control,
day by day, weighted by the day's deaths in all arms.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cstrial.engine.plan import plan_scenario
from cstrial.protocol import expand_scenarios, load_protocol

HERE = Path(__file__).parent
DAYS = np.arange(0, 181, 1.0)


def marginal_hazard_ratios(plan) -> list[float]:
    laws = plan.laws
    survival = np.einsum("s,sag->ag", laws.prevalence, laws.survival_at(DAYS))
    hazards = -np.diff(np.log(survival), axis=1)  # (arms, days)
    deaths = -np.diff(survival, axis=1).sum(axis=0)  # all arms' deaths, day by day
    log_ratio = np.log(hazards[1:] / hazards[0])
    return [float(np.exp(np.sum(deaths * r) / deaths.sum())) for r in log_ratio]


def main() -> None:
    protocol = load_protocol(HERE / "multiarm-tte.yaml")
    design = protocol.design
    scenarios = []
    for scenario in expand_scenarios(protocol):
        plan = plan_scenario(scenario, protocol.simulation.seed)
        scenarios.append(
            {
                "name": scenario.name,
                "hazard_ratios": marginal_hazard_ratios(plan),
                "conditional_hazard_ratios": [
                    arm.effect.value for arm in scenario.protocol.arms if not arm.control
                ],
                "look_events": list(plan.look_events),
            }
        )
    data = {
        "alpha": design.alpha,
        "information_rates": design.looks,
        "planned_events": design.planned_events,
        "scenarios": scenarios,
    }
    (HERE / "input.json").write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
