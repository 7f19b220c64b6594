"""Multi-arm simulations agree with rpact 3.3.4's `getSimulationMultiArmRates`.

Reference values: tests/engine/rpact/multiarm_simulation/<case>.json, written by
tests/engine/rpact/multiarm_simulation.R (the exact R call is in each file). The cases
mirror tests/assets/multiarm.yaml: control mortality 0.40, two constant risk-ratio arms,
900 patients in three stages of 102, 99 and 99 per arm, alpha 0.025, inverse-normal
combination, selection on the estimated risk reduction, a dropped arm not replaced
(`keep_total: false`, as rpact's per-arm stage sizes). Each quantity must agree within
4 Monte Carlo SE of the difference of the two simulations. docs/multiarm.md lists the
semantic differences that the cases avoid (early efficacy with selection).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_multiarm import _protocol_plans, _run

from cstrial.engine.multiarm import multiarm_design
from cstrial.engine.plan import plan_scenario
from cstrial.protocol import expand_scenarios
from cstrial.protocol.models import Bound
from cstrial.protocol.multiarm import Selection

REFERENCE = Path(__file__).parent / "rpact" / "multiarm_simulation"
CASES = {p.stem: json.loads(p.read_text()) for p in sorted(REFERENCE.glob("*.json"))}
METHOD = {"Dunnett": "dunnett", "Simes": "simes", "Bonferroni": "bonferroni"}
LOOKS = (0.34, 0.67, 1.0)


def _selection(case: dict) -> dict:
    rule = {"all": "all", "best": "best", "epsilon": "epsilon"}[case["selection"]]
    selection = {"rule": rule, "measure": "estimate", "keep_total": False}
    if rule == "epsilon":
        selection["epsilon"] = case["epsilon"]
    if _threshold(case) is not None:
        selection["threshold"] = _threshold(case)
        if rule == "all":
            selection["rule"] = "threshold"
    return selection


def _threshold(case: dict) -> float | None:
    """rpact's threshold, if the case has one (R's NULL is written as {})."""
    value = case.get("threshold")
    return float(value) if isinstance(value, int | float) else None


def _simulate(case: dict, n: int) -> pd.DataFrame:
    protocol, _ = _protocol_plans(LOOKS)["base"]
    a, b = (rate / 0.4 for rate in case["rates"])
    efficacy = Bound.model_validate(
        {"spending": "lan-demets-obrien-fleming" if case["early_efficacy"] else "none"}
    )
    design = protocol.design.model_copy(
        update={
            "multiplicity": METHOD[case["test"]],
            "selection": Selection.model_validate(_selection(case)),
            "efficacy": efficacy,
        }
    )
    data = protocol.as_written()
    data["arms"][1]["effect"]["value"] = a
    data["arms"][2]["effect"]["value"] = b
    protocol = type(protocol).model_validate(data).model_copy(update={"design": design})
    scenario = expand_scenarios(protocol)[0]
    plan = plan_scenario(scenario, 16)
    assert [round(c.treatment_risk, 12) for c in plan.comparisons] == case["rates"]
    return _run(plan, n)


def _check(case: dict, trials: pd.DataFrame) -> None:
    n_ref, n = case["iterations"], trials.sim.nunique()

    def close(observed, expected, what, sd=None):
        observed, expected = np.atleast_1d(observed), np.atleast_1d(expected)
        if sd is None:
            p = np.clip((observed + expected) / 2, 1e-3, 1 - 1e-3)
            sd = np.sqrt(p * (1 - p))
        se = sd * np.sqrt(1 / n_ref + 1 / n)
        assert np.all(np.abs(observed - expected) <= 4 * se), (
            f"{case['id']} {what}: cstrial {observed.round(4).tolist()}, "
            f"rpact {expected.round(4).tolist()}, 4 SE {(4 * se).round(4).tolist()}"
        )

    arms = [trials[trials.comparison == f"{arm} vs control"].sort_values("sim") for arm in "ab"]
    rejected = [np.mean(arm.decision == "efficacy") for arm in arms]
    close(rejected, case["rejected"], "per-arm rejection")
    close(arms[0].any_rejected.mean(), case["reject_at_least_one"], "disjunctive power")
    selected = np.array(case["selected"])  # stage x arm: enrolled in the stage
    for k in (2, 3):
        ours = [arm[f"in_stage_{k}"].mean() for arm in arms]
        close(ours, selected[k - 1], f"arms selected for stage {k}")
    total = arms[0].control_patients.to_numpy() + sum(a.arm_patients.to_numpy() for a in arms)
    close(total.mean(), case["expected_subjects"], "expected subjects", sd=total.std())


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_multi_arm_simulation_agrees_with_rpact(case):
    _check(CASES[case], _simulate(CASES[case], 20_000))


def test_multi_arm_simulation_agrees_with_rpact_fast():
    """The default run's small version: one case, 2,000 trials."""
    case = CASES["dunnett-best-late-both-work"]
    _check(case, _simulate(case, 2_000))


def test_the_rpact_cases_cover_every_intersection_test_and_selection_rule():
    assert {c["test"] for c in CASES.values()} == set(METHOD)
    assert {c["selection"] for c in CASES.values()} >= {"all", "best", "epsilon"}
    assert any(_threshold(c) is not None for c in CASES.values())
    assert any(c["early_efficacy"] for c in CASES.values())
    assert any(c["rates"] == [0.4, 0.4] for c in CASES.values())  # a global null


def test_the_design_is_the_closed_combination_test_of_the_reference():
    protocol, plan = _protocol_plans(LOOKS)["base"]
    design = protocol.design.model_copy(
        update={"selection": Selection.model_validate({"rule": "best"})}
    )
    built = multiarm_design(protocol.model_copy(update={"design": design}), plan)
    assert built.closed
    # rpact: getDesignInverseNormal(kMax = 3, typeOfDesign = "asOF",
    # informationRates = c(0.34, 0.67, 1))$criticalValues
    assert built.efficacy_z == pytest.approx((3.6704586, 2.5043728, 1.9937474), abs=1e-3)
