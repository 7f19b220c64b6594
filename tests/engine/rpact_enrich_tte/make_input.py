"""Write input.json for generate.R: each scenario's subsets (S, then its complement R) as
rpact's effectList for getSimulationEnrichmentSurvival: prevalences, hazard ratios and
the control arm's risk by the horizon (piControls, which rpact uses to split each stage's
deaths between the subsets), from the cstrial laws of the test's plan (constant hazards
over the horizon, no deaths after it: proportional hazards within each subset), and the
design. Run from the repository root:
    PYTHONPATH=src python tests/engine/rpact_enrich_tte/make_input.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent)]

from test_adaptive_rpact_enrich_tte import SCENARIOS, enrichment_tte_plan  # noqa: E402


def main() -> None:
    scenarios = []
    for name, case in SCENARIOS.items():
        plan = enrichment_tte_plan(case)
        laws = plan.laws
        horizon = np.array([float(plan.horizon_days)])
        risk = 1 - laws.survival_at(horizon)[..., 0]  # (strata [R, S], arms)
        hr = np.log(1 - risk[:, 1]) / np.log(1 - risk[:, 0])
        order = [1, 0]  # S first, then R
        scenarios.append(
            {
                "name": name,
                "prevalences": laws.prevalence[order].tolist(),
                "hazard_ratios": hr[order].tolist(),
                "pi_controls": risk[order, 0].tolist(),
                "epsilon": case["epsilon"],
                "efficacy_z": list(plan.comparisons[0].efficacy_z),
                "planned_events": list(plan.look_events),
            }
        )
    data = {"alpha": 0.025, "information_rates": [0.5, 1.0], "scenarios": scenarios}
    (HERE / "input.json").write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
