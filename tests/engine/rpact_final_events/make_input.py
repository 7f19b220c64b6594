"""Write input.json for generate.R: each scenario's arms' marginal survival laws from the
cstrial model as piecewise-exponential hazards per month (rpact's piecewiseSurvivalTime,
lambda2 control, lambda1 treatment), and the design. Run from the repository root:
    PYTHONPATH=src python tests/engine/rpact_final_events/make_input.py [FOLDER]
FOLDER (default: this one) holds the protocol (its one *.yaml) and gets input.json;
tests/engine/rpact_ssr_tte is the other folder this serves.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from cstrial.design.accrual import DAYS_PER_MONTH
from cstrial.engine.plan import plan_scenario
from cstrial.protocol import expand_scenarios, load_protocol

HERE = Path(__file__).parent
# one-day pieces over the first month (where most deaths fall), five-day pieces to the
# horizon; after it a hazard of ~0: cstrial counts deaths up to the horizon only
KNOTS_DAYS = np.concatenate([np.arange(0, 30), np.arange(30, 181, 5)]).astype(float)
AFTER_HORIZON = 1e-9


def main(folder: Path = HERE) -> None:
    (path,) = folder.glob("*.yaml")
    protocol = load_protocol(path)
    design = protocol.design
    scenarios = []
    for scenario in expand_scenarios(protocol):
        plan = plan_scenario(scenario, protocol.simulation.seed)
        laws = plan.laws
        survival = np.einsum("s,sag->ag", laws.prevalence, laws.survival_at(KNOTS_DAYS))
        widths = np.diff(KNOTS_DAYS) / DAYS_PER_MONTH
        hazards = -np.diff(np.log(survival), axis=1) / widths  # (arms, pieces) per month
        hazards = np.concatenate([hazards, np.full((2, 1), AFTER_HORIZON)], axis=1)
        scenarios.append(
            {
                "name": scenario.name,
                "piecewise_months": (KNOTS_DAYS / DAYS_PER_MONTH).tolist(),
                "lambda2": hazards[0].tolist(),
                "lambda1": hazards[1].tolist(),
                "risk_control": float(1 - survival[0, -1]),
                "risk_treatment": float(1 - survival[1, -1]),
                "efficacy_z": list(plan.comparisons[0].efficacy_z),
                "look_events": list(plan.look_events),
            }
        )
    n = design.sample_size
    data = {
        "sample_size": n,
        "accrual_months": n / design.accrual.patients_per_month,
        "dropout_per_month": design.dropout.rate_per_year / 12,
        "alpha": design.alpha,
        "information_rates": design.looks,
        "planned_events": design.planned_events,
        "scenarios": scenarios,
    }
    (folder / "input.json").write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
