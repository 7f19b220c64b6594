"""The summary: additive tallies per comparison, summed over chunks, and summary.parquet's rows.

A worker tallies each comparison of its chunk (`ComparisonTally.of_trials`); the
main process only adds the tallies in chunk order (`SummaryAccumulator`) and
turns each sum into a row, computing Monte Carlo precision once
(`cstrial.engine.precision`). Sums are float sums taken chunk by chunk in chunk
order, so the summary's bytes do not depend on the number of workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from cstrial.engine.decide import EFFICACY, FUTILITY
from cstrial.engine.plan import Comparison, ScenarioPlan
from cstrial.engine.precision import PowerRow, power_precision
from cstrial.protocol.vocabulary import ANALYSES


@dataclass
class SecondaryTally:
    """One secondary endpoint: rejections, and the sum and count of its finite estimates."""

    rejections: int = 0
    sum_estimate: float = 0.0
    n_estimate: int = 0


@dataclass
class ComparisonTally:
    """What summary.parquet needs of some trials of one comparison, as sums that add up."""

    n_looks: int
    n: int = 0
    reject: np.ndarray = field(default=None)  # type: ignore[arg-type]  # efficacy stops per look
    futility: np.ndarray = field(default=None)  # type: ignore[arg-type]  # futility stops per look
    sum_n: float = 0.0
    sum_duration: float = 0.0
    sum_estimate: float = 0.0
    n_estimate: int = 0
    enrolled_control: int = 0
    deaths_control: int = 0
    enrolled_treatment: int = 0
    deaths_treatment: int = 0
    failed_fits: int = 0  # primary analyses at a look that did not converge
    secondary: dict[str, SecondaryTally] = field(default_factory=dict)
    # the design's columns: (sum, count) of their finite values; the summary's means
    means: dict[str, tuple[float, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.reject is None:
            self.reject = np.zeros(self.n_looks, np.int64)
        if self.futility is None:
            self.futility = np.zeros(self.n_looks, np.int64)

    @classmethod
    def of_trials(
        cls,
        n_looks: int,
        *,
        decision: np.ndarray,
        stop_look: np.ndarray,
        n_enrolled: np.ndarray,
        duration: np.ndarray,
        estimate: np.ndarray,
        arms: tuple[int, int, int, int],
        failed_fits: int = 0,
        secondary: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
        log_scale: bool = False,
        means: Mapping[str, tuple[float, int]] | None = None,
    ) -> ComparisonTally:
        """Tally trials given as arrays in replicate order (`stop_look` 0-based).

        `arms` is (enrolled control, deaths control, enrolled treatment, deaths
        treatment); `secondary` maps each secondary endpoint to (reject, estimate).
        With `log_scale` (a ratio estimate) the estimates are summed as logarithms, so
        the summary's mean is their geometric mean.
        """
        if log_scale:
            with np.errstate(divide="ignore", invalid="ignore"):
                estimate = np.log(estimate)
        finite = np.isfinite(estimate)
        tally = cls(
            n_looks,
            n=int(decision.size),
            reject=np.bincount(stop_look[decision == EFFICACY], minlength=n_looks),
            futility=np.bincount(stop_look[decision == FUTILITY], minlength=n_looks),
            sum_n=float(n_enrolled.sum()),
            sum_duration=float(duration.sum()),
            sum_estimate=float(estimate[finite].sum()),
            n_estimate=int(finite.sum()),
            enrolled_control=int(arms[0]),
            deaths_control=int(arms[1]),
            enrolled_treatment=int(arms[2]),
            deaths_treatment=int(arms[3]),
            failed_fits=int(failed_fits),
            means=dict(means or {}),
        )
        for name, (reject, values) in (secondary or {}).items():
            ok = np.isfinite(values)
            tally.secondary[name] = SecondaryTally(
                int(reject.sum()), float(values[ok].sum()), int(ok.sum())
            )
        return tally

    def add(self, other: ComparisonTally) -> None:
        """Add `other`'s trials to these (in place)."""
        self.n += other.n
        self.reject = self.reject + other.reject
        self.futility = self.futility + other.futility
        self.sum_n += other.sum_n
        self.sum_duration += other.sum_duration
        self.sum_estimate += other.sum_estimate
        self.n_estimate += other.n_estimate
        self.enrolled_control += other.enrolled_control
        self.deaths_control += other.deaths_control
        self.enrolled_treatment += other.enrolled_treatment
        self.deaths_treatment += other.deaths_treatment
        self.failed_fits += other.failed_fits
        for name, theirs in other.secondary.items():
            mine = self.secondary.setdefault(name, SecondaryTally())
            mine.rejections += theirs.rejections
            mine.sum_estimate += theirs.sum_estimate
            mine.n_estimate += theirs.n_estimate
        for name, (total, count) in other.means.items():
            mine_total, mine_count = self.means.get(name, (0.0, 0))
            self.means[name] = (mine_total + total, mine_count + count)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (floats round-trip exactly), for the chunk store."""
        return {
            "n_looks": self.n_looks,
            "n": self.n,
            "reject": [int(x) for x in self.reject],
            "futility": [int(x) for x in self.futility],
            "sum_n": self.sum_n,
            "sum_duration": self.sum_duration,
            "sum_estimate": self.sum_estimate,
            "n_estimate": self.n_estimate,
            "arms": [
                self.enrolled_control,
                self.deaths_control,
                self.enrolled_treatment,
                self.deaths_treatment,
            ],
            "failed_fits": self.failed_fits,
            "secondary": {
                name: [s.rejections, s.sum_estimate, s.n_estimate]
                for name, s in self.secondary.items()
            },
            "means": {name: [total, count] for name, (total, count) in self.means.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ComparisonTally:
        arms = data["arms"]
        return cls(
            int(data["n_looks"]),
            n=int(data["n"]),
            reject=np.asarray(data["reject"], np.int64),
            futility=np.asarray(data["futility"], np.int64),
            sum_n=float(data["sum_n"]),
            sum_duration=float(data["sum_duration"]),
            sum_estimate=float(data["sum_estimate"]),
            n_estimate=int(data["n_estimate"]),
            enrolled_control=int(arms[0]),
            deaths_control=int(arms[1]),
            enrolled_treatment=int(arms[2]),
            deaths_treatment=int(arms[3]),
            failed_fits=int(data.get("failed_fits", 0)),
            secondary={
                name: SecondaryTally(int(r), float(s), int(k))
                for name, (r, s, k) in data["secondary"].items()
            },
            means={
                name: (float(total), int(count))
                for name, (total, count) in data.get("means", {}).items()
            },
        )


class SummaryAccumulator:
    """summary.parquet, built by adding each chunk's tallies in chunk order."""

    def __init__(self, plans: list[ScenarioPlan], n_looks: int) -> None:
        self.plans = plans
        self.n_looks = n_looks
        self.tallies: dict[tuple[int, int], ComparisonTally] = {}

    def add(self, scenario: int, tallies: list[ComparisonTally]) -> None:
        """Add one chunk of scenario `scenario` (its plan index): a tally per comparison."""
        for position, tally in enumerate(tallies):
            total = self.tallies.setdefault((scenario, position), ComparisonTally(self.n_looks))
            total.add(tally)

    def rows(self) -> list[dict[str, Any]]:
        """One row per scenario × comparison that has trials, in plan order."""
        rows = []
        for plan in self.plans:
            for position, comparison in enumerate(plan.comparisons):
                tally = self.tallies.get((plan.index, position))
                if tally is None:
                    continue
                rows.append(summary_row(plan, comparison, tally, self.n_looks))
        return rows

    def table(self) -> pa.Table:
        return pa.Table.from_pandas(pd.DataFrame(self.rows()), preserve_index=False)

    def failed_fits(self) -> list[tuple[str, str, int, int]]:
        """(scenario, comparison, failed fits, trials) wherever some fit did not converge."""
        return [
            (plan.name, comparison.label, tally.failed_fits, tally.n)
            for plan in self.plans
            for position, comparison in enumerate(plan.comparisons)
            if (tally := self.tallies.get((plan.index, position))) is not None and tally.failed_fits
        ]

    def precision_rows(self) -> list[PowerRow]:
        return [
            PowerRow(row["scenario"], row["comparison"], int(row["n_sims"]), row["power_se"])
            for row in self.rows()
        ]


def summary_row(
    plan: ScenarioPlan, comparison: Comparison, t: ComparisonTally, n_looks: int
) -> dict[str, Any]:
    """summary.parquet's row of one scenario × comparison (columns in file order)."""
    precision = power_precision(int(t.reject.sum()), t.n)
    analysis = ANALYSES[plan.primary.analysis]
    mean_estimate = t.sum_estimate / t.n_estimate if t.n_estimate else float("nan")
    if analysis.ratio:
        mean_estimate = float(np.exp(mean_estimate))  # the geometric mean of the ratios
    row: dict[str, Any] = {
        "scenario": plan.name,
        "comparison": comparison.label,
        "n_sims": t.n,
        "power": precision.power,
        "power_se": precision.se,
        "power_ci_low": precision.ci_low,
        "power_ci_high": precision.ci_high,
        # design.assurance: the power averaged over the design prior (engine/assurance.py)
        **(
            {"assurance": precision.power, "assurance_se": precision.se}
            if plan.assurance is not None and plan.assurance.arm_index == comparison.arm_index
            else {}
        ),
        "alpha": comparison.alpha,
        "sample_size": plan.sample_size,
        "sampler": plan.sampler,
    }
    for k in range(n_looks):
        row[f"reject_look_{k + 1}"] = t.reject[k] / t.n
    for k in range(n_looks):
        row[f"futility_look_{k + 1}"] = t.futility[k] / t.n
    nan = float("nan")
    row.update(
        {
            "expected_n": t.sum_n / t.n,
            "expected_duration_months": t.sum_duration / t.n,
            "control_rate": t.deaths_control / t.enrolled_control if t.enrolled_control else nan,
            "treatment_rate": t.deaths_treatment / t.enrolled_treatment
            if t.enrolled_treatment
            else nan,
            "estimate_scale": analysis.scale,
            "mean_estimate": mean_estimate,
            "true_effect": comparison.true_effect,
            # on the estimate's scale: the mean (geometric for a ratio) minus the truth
            "bias": mean_estimate - comparison.true_effect,
            "true_control_rate": comparison.control_risk,
            "true_treatment_rate": comparison.treatment_risk,
            "eligible_fraction": plan.eligible_fraction,
            "screened_per_enrolled": 1.0 / plan.eligible_fraction,
            "failed_fits": t.failed_fits,
        }
    )
    ratios = {e.name for e in plan.secondaries if ANALYSES[e.analysis].ratio}
    for name, s in t.secondary.items():
        row[f"{name}_power"] = s.rejections / t.n
        mean = s.sum_estimate / s.n_estimate if s.n_estimate else nan
        row[f"{name}_mean_estimate"] = float(np.exp(mean)) if name in ratios else mean
    # the closed form beside the simulation, and the patients to screen for it (enrichment)
    row["analytic_sample_size"] = comparison.analytic_sample_size
    row["analytic_screened"] = comparison.analytic_sample_size / plan.eligible_fraction
    # the design's own columns: selection, re-estimated N, posteriors, ... (their means)
    for name, (total, count) in t.means.items():
        row[f"mean_{name}" if name == "n_screened" else name] = total / count if count else nan
    return row
