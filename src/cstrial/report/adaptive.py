"""Tables of adaptive designs for the report: selection probabilities, power per hypothesis,
expected and screened N, and the distribution of the final (re-estimated) N.

Computed from trials.parquet (the summary's tallies add up over chunks, so they hold
means but not quantiles). The HTML report's layout is being rewritten with Jinja2; it
only has to place these tables (`adaptive_tables`).
"""

from __future__ import annotations

import pandas as pd

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
_SELECTIONS = {
    "select_full": "P(full only)",
    "select_subgroup": "P(subgroup only)",
    "select_both": "P(both)",
    "select_none": "P(none: stopped)",
}


def adaptive_tables(trials: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per scenario: `enrichment` (selection probabilities, power for H_F, H_S and either,
    which under a null scenario is the familywise error, expected N and screened) and
    `sample_size` (power, expected final N, P(increase) and the final N's quantiles).
    Only the tables whose columns the run has."""
    out: dict[str, pd.DataFrame] = {}
    first = trials.drop_duplicates(["scenario", "sim"])  # one row per trial
    if "select_both" in trials.columns:
        rows = []
        for scenario, group in first.groupby("scenario", sort=False):
            if group["select_both"].isna().all():
                continue  # a scenario without the enrichment interim
            row = {"scenario": scenario}
            row.update({label: group[name].mean() for name, label in _SELECTIONS.items()})
            row["P(reject H_F)"] = group["rejected_full"].mean()
            row["P(reject H_S)"] = group["rejected_subgroup"].mean()
            row["P(reject either)"] = group["rejected_any"].mean()
            row["expected N"] = group["final_n"].mean()
            if "n_screened" in group.columns:
                row["expected screened"] = group["n_screened"].mean()
            rows.append(row)
        out["enrichment"] = pd.DataFrame(rows)
    size = next((c for c in ("final_n", "final_events") if c in trials.columns), None)
    if size is not None and "increased" in trials.columns:
        rows = []
        for scenario, group in first.groupby("scenario", sort=False):
            if group["increased"].isna().all():
                continue  # a scenario without re-estimation
            n = group[size]
            row = {
                "scenario": scenario,
                "power": (group["decision"] == "efficacy").mean(),
                f"expected {size}": n.mean(),
                "P(increase)": group["increased"].mean(),
            }
            row.update({f"{size} q{round(100 * q)}": n.quantile(q) for q in QUANTILES})
            rows.append(row)
        out["sample_size"] = pd.DataFrame(rows)
    return out
