"""Output files: Parquet schemas, the summary, the manifest, atomic writing, reading a run back.

Every file is written under a temporary name and renamed into place, so a crash
never leaves a half-written file that looks whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.stats import beta as beta_dist

from cstrial.errors import CstrialError
from cstrial.plan import ScenarioPlan

# Fixed writer settings: part of the byte-reproducibility contract.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
}


def trials_schema(n_looks: int) -> pa.Schema:
    """Schema of trials.parquet for designs with up to `n_looks` looks."""
    return pa.schema(
        [
            ("scenario", pa.string()),
            ("comparison", pa.string()),
            ("sim", pa.int64()),
            ("decision", pa.string()),
            ("stop_look", pa.int16()),
            ("n_enrolled", pa.int32()),
            ("n_control", pa.int32()),
            ("n_treatment", pa.int32()),
            ("events_control", pa.int32()),
            ("events_treatment", pa.int32()),
            *[(f"z_look_{k + 1}", pa.float64()) for k in range(n_looks)],
            ("estimate", pa.float64()),
            ("p_value", pa.float64()),
            ("duration_months", pa.float64()),
        ]
    )


class AtomicParquetWriter:
    """Streams tables into `path` through a temporary file renamed on success."""

    def __init__(self, path: Path, schema: pa.Schema | None = None) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self.schema = schema
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.schema = self.schema or table.schema
            self._writer = pq.ParquetWriter(self.tmp, self.schema, **PARQUET_OPTIONS)
        self._writer.write_table(table.cast(self.schema))

    def commit(self) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.tmp, self.schema, **PARQUET_OPTIONS)
        self._writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Write one whole table to `path` atomically."""
    writer = AtomicParquetWriter(path, table.schema)
    try:
        writer.write(table)
        writer.commit()
    except BaseException:
        writer.abort()
        raise


def write_json_atomic(data: dict, path: Path) -> None:
    """Write JSON (sorted keys, indented) to `path` atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class _Tally:
    n: int = 0
    reject: np.ndarray = field(default_factory=lambda: np.zeros(0))
    futility: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sum_n: float = 0.0
    sum_duration: float = 0.0
    sum_estimate: float = 0.0
    n_estimate: int = 0
    arm: np.ndarray = field(default_factory=lambda: np.zeros(4, dtype=np.int64))


class SummaryAccumulator:
    """Builds summary.parquet from the streamed trials, one chunk at a time."""

    def __init__(self, plans: list[ScenarioPlan], n_looks: int) -> None:
        self.plans = plans
        self.n_looks = n_looks
        self._tallies: dict[tuple[str, str], _Tally] = {}

    def add(self, trials: pa.Table, arm_tallies: dict[str, np.ndarray]) -> None:
        frame = trials.select(
            [
                "scenario",
                "comparison",
                "decision",
                "stop_look",
                "n_enrolled",
                "duration_months",
                "estimate",
            ]
        ).to_pandas()
        for (scenario, comparison), group in frame.groupby(["scenario", "comparison"], sort=False):
            tally = self._tallies.setdefault(
                (scenario, comparison),
                _Tally(
                    reject=np.zeros(self.n_looks, np.int64),
                    futility=np.zeros(self.n_looks, np.int64),
                ),
            )
            looks = group["stop_look"].to_numpy() - 1
            decision = group["decision"].to_numpy()
            tally.n += len(group)
            tally.reject += np.bincount(looks[decision == "efficacy"], minlength=self.n_looks)
            tally.futility += np.bincount(looks[decision == "futility"], minlength=self.n_looks)
            tally.sum_n += float(group["n_enrolled"].sum())
            tally.sum_duration += float(group["duration_months"].sum())
            estimates = group["estimate"].to_numpy()
            finite = np.isfinite(estimates)
            tally.sum_estimate += float(estimates[finite].sum())
            tally.n_estimate += int(finite.sum())
            tally.arm += arm_tallies[comparison]

    def table(self) -> pa.Table:
        rows = []
        for plan in self.plans:
            for comparison in plan.comparisons:
                t = self._tallies.get((plan.name, comparison.label))
                if t is None:
                    continue
                rows.append(_summary_row(plan, comparison, t, self.n_looks))
        return pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)


def _summary_row(plan: ScenarioPlan, comparison, t: _Tally, n_looks: int) -> dict:
    power = t.reject.sum() / t.n
    low, high = clopper_pearson(int(t.reject.sum()), t.n)
    mean_estimate = t.sum_estimate / t.n_estimate if t.n_estimate else float("nan")
    row = {
        "scenario": plan.name,
        "comparison": comparison.label,
        "n_sims": t.n,
        "power": power,
        "power_se": float(np.sqrt(power * (1 - power) / t.n)),
        "power_ci_low": low,
        "power_ci_high": high,
        "alpha": comparison.alpha,
        "sample_size": plan.sample_size,
    }
    for k in range(n_looks):
        row[f"reject_look_{k + 1}"] = t.reject[k] / t.n
    for k in range(n_looks):
        row[f"futility_look_{k + 1}"] = t.futility[k] / t.n
    enrolled_c, deaths_c, enrolled_t, deaths_t = t.arm
    row.update(
        {
            "expected_n": t.sum_n / t.n,
            "expected_duration_months": t.sum_duration / t.n,
            "control_rate": deaths_c / enrolled_c if enrolled_c else float("nan"),
            "treatment_rate": deaths_t / enrolled_t if enrolled_t else float("nan"),
            "mean_estimate": mean_estimate,
            "true_effect": comparison.true_effect,
            "bias": mean_estimate - comparison.true_effect,
            "true_control_rate": comparison.control_risk,
            "true_treatment_rate": comparison.treatment_risk,
            "eligible_fraction": plan.eligible_fraction,
            "screened_per_enrolled": 1.0 / plan.eligible_fraction,
        }
    )
    return row


def clopper_pearson(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval (Clopper & Pearson 1934)."""
    tail = (1 - level) / 2
    low = 0.0 if successes == 0 else float(beta_dist.ppf(tail, successes, n - successes + 1))
    high = 1.0 if successes == n else float(beta_dist.ppf(1 - tail, successes + 1, n - successes))
    return low, high


@dataclass(frozen=True)
class RunResult:
    """A finished run: where it is, its summary and its manifest."""

    out: Path
    summary: pd.DataFrame
    manifest: dict

    @property
    def trials_path(self) -> Path:
        return self.out / "trials.parquet"


def read_run(out: str | Path) -> RunResult:
    """Read a finished run directory back."""
    out = Path(out)
    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        raise CstrialError(f"{out} is not a cstrial run: it has no manifest.json")
    manifest = json.loads(manifest_path.read_text())
    summary = pd.read_parquet(out / "summary.parquet")
    return RunResult(out, summary, manifest)


def iter_trials(out: str | Path) -> Iterator[pd.DataFrame]:
    """The trials of a run, one row group at a time."""
    parquet = pq.ParquetFile(Path(out) / "trials.parquet")
    for i in range(parquet.num_row_groups):
        yield parquet.read_row_group(i).to_pandas()


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
