"""The multi-arm table of a run's report: per scenario and arm, the operating
characteristics of a multi-arm design (`cstrial.engine.multiarm`).

Data only: the HTML report (being rewritten with templates) lays it out.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

#: (summary.parquet column, the table's heading), in the table's order
MULTIARM_TABLE = (
    ("scenario", "scenario"),
    ("comparison", "comparison"),
    ("power", "power after multiplicity"),
    ("selected", "P(selected)"),
    ("arm_patients", "expected arm patients"),
    ("control_patients", "expected control patients"),
    ("any_rejected", "disjunctive power (any arm)"),
    ("all_effective_rejected", "conjunctive power (all arms with an effect)"),
    ("familywise_error", "familywise error"),
)


def multiarm_rows(summary: pd.DataFrame) -> list[dict[str, Any]] | None:
    """The rows of the multi-arm table (headings as keys), or None when no scenario of the
    run has a multi-arm design. A column a design does not fill (P(selected) without
    selection, the familywise error of a scenario without a null arm) is None."""
    if "any_rejected" not in summary.columns:
        return None
    rows = summary[summary["any_rejected"].notna()]
    out = []
    for record in rows.to_dict(orient="records"):
        row = {}
        for column, heading in MULTIARM_TABLE:
            value = record.get(column)
            row[heading] = None if value is None or value != value else value  # NaN: None
        out.append(row)
    return out
