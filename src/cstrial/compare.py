"""Designs side by side: power, type I error, expected size and duration, stopping per look.

Each design is a finished run directory (read back with `cstrial.results.read_run`)
or a protocol file, run on the spot. Every scenario × comparison of every design is
a row of the comparison; the type I error of a row is the power of its design's
null scenario for the same comparison (the scenario named ``null-effect``, else the
first whose true effect is 0), and "N for target power" is the closed form of
`cstrial.sample_size` at that scenario's event rates (labelled analytic). With
the eligible fraction and the patients screened per patient enrolled beside
them, the rows show the enrichment trade-off: a stricter inclusion threshold
needs fewer patients enrolled but more screened.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from cstrial.design.sample_size import analytic_for_rates
from cstrial.errors import CstrialError, UsageError
from cstrial.protocol import Protocol, expand_scenarios
from cstrial.results import RunResult, read_run, run_protocol, write_table_atomic

NULL_SCENARIO = "null-effect"

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DesignComparison:
    """The comparison table (one row per design × scenario × comparison) and where it went."""

    table: pd.DataFrame
    runs: tuple[RunResult, ...]
    out: Path | None

    @property
    def n_looks(self) -> int:
        return sum(1 for c in self.table.columns if c.startswith("reject_look_"))

    def to_records(self) -> list[dict]:
        frame = self.table.astype(object).where(self.table.notna(), None)
        return frame.to_dict(orient="records")


def compare_designs(
    sources: Sequence[str | Path],
    *,
    n_sims: int | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    out: str | Path | None = None,
    power: float | None = None,
    progress: Progress | None = None,
    scenario: str | Collection[str] | None = None,
    save_patients: int | None = None,
    backend: str = "loky",
    scheduler: Any = None,
    overrides: Mapping[str, Any] | None = None,
) -> DesignComparison:
    """Compare designs given as run directories or protocol files.

    Protocols are run with the run options (`n_sims`, `seed`, `jobs`, `scenario`,
    `save_patients`, `backend`, `scheduler`, as `cstrial.engine.run` takes them) into
    `out`/<protocol name>/; run directories are read as they are. With `scenario`,
    only that scenario's rows are compared (a run directory's type I error still
    comes from its null scenario, if it has one). The table is written to
    `out`/comparison.parquet (default results/compare/). `power` is the target of
    the analytic N column (default each protocol's design.power). `overrides`
    (dotted path → value, as a scenario's `set`) change every protocol file given.
    """
    if not sources:
        raise CstrialError("give at least one run directory or protocol file to compare")
    out = Path(out) if out is not None else Path("results") / "compare"
    taken: set[Path] = set()
    options = {
        "n_sims": n_sims,
        "seed": seed,
        "jobs": jobs,
        "scenario": scenario,
        "save_patients": save_patients,
        "backend": backend,
        "scheduler": scheduler,
    }
    runs = [_resolve(Path(source), out, taken, options, progress, overrides) for source in sources]
    labels = _labels(runs)
    tables = [design_table(run, label, power) for run, label in zip(runs, labels, strict=True)]
    table = pd.concat(tables, ignore_index=True, sort=False)
    if scenario is not None:
        wanted = {scenario} if isinstance(scenario, str) else set(scenario)
        missing = [
            str(run.out)
            for run, t in zip(runs, tables, strict=True)
            if not wanted <= set(t["scenario"])
        ]
        if missing:
            raise UsageError(
                "scenario",
                f"{', '.join(map(repr, sorted(wanted)))}: not a scenario of {', '.join(missing)}; "
                f"their scenarios are {sorted(set(table['scenario']))}",
            )
        table = table[table["scenario"].isin(wanted)]
    table = table[_ordered(table.columns)]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CstrialError(
            f"cannot write results to {out}: {exc.strerror or exc}. Choose another --out."
        ) from None
    write_table_atomic(
        pa.Table.from_pandas(table, preserve_index=False), out / "comparison.parquet"
    )
    return DesignComparison(table, tuple(runs), out)


def design_table(run: RunResult, design: str, power: float | None = None) -> pd.DataFrame:
    """One design's rows of the comparison, from its run."""
    summary = run.summary
    protocol = run_protocol(run)
    scenarios = {s.name: s.protocol for s in expand_scenarios(protocol)} if protocol else {}
    looks = sorted(
        (c for c in summary.columns if c.startswith(("reject_look_", "futility_look_"))),
        key=lambda c: (c.startswith("futility"), int(c.rsplit("_", 1)[1])),
    )
    rows = []
    for row in summary.to_dict(orient="records"):
        null = _null_row(summary, row["comparison"])
        scenario_protocol = scenarios.get(row["scenario"])
        target = power
        if target is None and scenario_protocol is not None:
            target = scenario_protocol.design.power
        analytic = _analytic(scenario_protocol, row, target)
        record = {
            "design": design,
            "source": str(run.out),
            "scenario": row["scenario"],
            "comparison": row["comparison"],
            "sample_size": row.get("sample_size"),
            "n_sims": row["n_sims"],
            "power": row["power"],
            "power_se": row["power_se"],
            "power_ci_low": row["power_ci_low"],
            "power_ci_high": row["power_ci_high"],
            "type_one_error": np.nan if null is None else null["power"],
            "type_one_error_se": np.nan if null is None else null["power_se"],
            "null_scenario": None if null is None else null["scenario"],
            "expected_n": row["expected_n"],
            "expected_duration_months": row["expected_duration_months"],
            "true_effect": row["true_effect"],
            "control_rate": row.get("true_control_rate", row["control_rate"]),
            "treatment_rate": row.get("true_treatment_rate", row["treatment_rate"]),
            "eligible_fraction": row.get("eligible_fraction", np.nan),
            "screened_per_enrolled": row.get("screened_per_enrolled", np.nan),
            "target_power": np.nan if target is None else target,
            "analytic_sample_size": analytic,
            "analytic_screened": analytic * row.get("screened_per_enrolled", np.nan),
            **{c: row[c] for c in looks},
            **multiarm_columns(row),
        }
        rows.append(record)
    return pd.DataFrame(rows)


#: summary.parquet's multi-arm columns (`cstrial.engine.multiarm`) and their names here
MULTIARM_COLUMNS = {
    "selected": "p_selected",
    "arm_patients": "expected_arm_patients",
    "control_patients": "expected_control_patients",
    "any_rejected": "disjunctive_power",
    "all_effective_rejected": "conjunctive_power",
    "familywise_error": "familywise_error",
}


def multiarm_columns(row: dict[str, Any]) -> dict[str, Any]:
    """A summary row's multi-arm operating characteristics under the comparison's names
    (none for a design without them). `power` is already the arm's power after
    multiplicity; the others are the trial's, repeated on each of its arms' rows."""
    if "any_rejected" not in row:
        return {}
    return {name: row.get(column, np.nan) for column, name in MULTIARM_COLUMNS.items()}


def _resolve(
    source: Path,
    out: Path,
    taken: set[Path],
    options: dict[str, Any],
    progress: Progress | None,
    overrides: Mapping[str, Any] | None = None,
) -> RunResult:
    if source.is_dir():
        if not (source / "manifest.json").is_file():
            raise CstrialError(
                f"{source} is a folder without manifest.json: give a run directory "
                "(written by `cstrial run`) or a protocol file"
            )
        return read_run(source)
    from cstrial.engine import run as run_protocol_file
    from cstrial.protocol import load_protocol

    protocol = load_protocol(source, overrides)
    callback = None
    if progress is not None:

        def callback(done: int, total: int) -> None:
            progress(protocol.name, done, total)

    return run_protocol_file(
        protocol, out=_free(out / protocol.name, taken), progress=callback, **options
    )


def _free(folder: Path, taken: set[Path]) -> Path:
    """`folder`, or folder-2, folder-3, ... if an earlier design of this comparison took it."""
    candidate, k = folder, 2
    while candidate in taken:
        candidate, k = folder.with_name(f"{folder.name}-{k}"), k + 1
    taken.add(candidate)
    return candidate


def _labels(runs: list[RunResult]) -> list[str]:
    """Each design's name: its protocol name, made unique with the run folder if needed."""
    names = [r.manifest.get("protocol", {}).get("name") or r.out.name for r in runs]
    return [
        name if names.count(name) == 1 else f"{name} ({run.out})"
        for name, run in zip(names, runs, strict=True)
    ]


def _null_row(summary: pd.DataFrame, comparison: str) -> dict | None:
    rows = summary[summary["comparison"] == comparison]
    named = rows[rows["scenario"] == NULL_SCENARIO]
    if len(named):
        return named.iloc[0].to_dict()
    zero = rows[np.isclose(rows["true_effect"].astype(float), 0.0, atol=1e-12)]
    return zero.iloc[0].to_dict() if len(zero) else None


def _analytic(protocol: Protocol | None, row: dict, power: float | None) -> float:
    """The closed-form total N for `power` at this row's true rates (nan if none exists)."""
    closed_form = ("binary", "time-to-event")
    if protocol is None or power is None or protocol.endpoints.primary.type not in closed_form:
        return math.nan
    p_c = row.get("true_control_rate", row["control_rate"])
    p_t = row.get("true_treatment_rate", row["treatment_rate"])
    if not (0 < p_t < p_c < 1):
        return math.nan  # no benefit: no sample size reaches the target
    control = protocol.control_arm.name
    arm = next(
        (a.name for a in protocol.active_arms if f"{a.name} vs {control}" == row["comparison"]),
        None,
    )
    if arm is None:
        return math.nan
    alpha = row.get("alpha")
    answer = analytic_for_rates(
        protocol, p_c, p_t, power=power, alpha=None if alpha is None else float(alpha), arm=arm
    )
    return float(answer.sample_size)


_FIRST = [
    "design",
    "scenario",
    "comparison",
    "sample_size",
    "n_sims",
    "power",
    "power_se",
    "power_ci_low",
    "power_ci_high",
    "type_one_error",
    "type_one_error_se",
    "null_scenario",
    "expected_n",
    "expected_duration_months",
    "true_effect",
    "control_rate",
    "treatment_rate",
    "eligible_fraction",
    "screened_per_enrolled",
    "target_power",
    "analytic_sample_size",
    "analytic_screened",
]


def _ordered(columns: Sequence[str]) -> list[str]:
    looks = [c for c in columns if c.startswith(("reject_look_", "futility_look_"))]
    looks.sort(key=lambda c: (c.startswith("futility"), int(c.rsplit("_", 1)[1])))
    rest = [c for c in columns if c not in _FIRST and c not in looks]
    return [c for c in _FIRST if c in columns] + looks + rest
