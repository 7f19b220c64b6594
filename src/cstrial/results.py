"""Output files: Parquet schemas, the summary, the manifest, atomic writing, reading a run back.

Every file is written under a temporary name and renamed into place, so a crash
never leaves a half-written file that looks whole; a failed write (a full disk,
a folder that cannot be written) removes its temporary file and raises
`CstrialError` naming the path. Finished chunks of a run are kept in
`OUT/.chunks/` (`ChunkStore`) until the run is complete, so a killed run resumes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.special import betaincinv

from cstrial.engine.plan import ScenarioPlan
from cstrial.errors import CstrialError

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


@contextlib.contextmanager
def writing(path: Path, *temporaries: Path) -> Iterator[None]:
    """Turn an OSError while writing `path` into a CstrialError naming it; remove `temporaries`."""
    try:
        yield
    except OSError as error:
        for tmp in temporaries:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise CstrialError(_write_failure(path, error)) from None


def _write_failure(path: Path, error: OSError) -> str:
    reason = error.strerror or str(error) or type(error).__name__
    remedy = _REMEDIES.get(error.errno or 0, "Check the folder")
    return f"cannot write {path}: {reason}. {remedy}, or choose another --out."


_REMEDIES = {
    errno.ENOSPC: "Free some disk space",
    errno.EDQUOT: "Free some disk space (the quota is full)",
    errno.EACCES: "Choose a folder you may write to",
    errno.EPERM: "Choose a folder you may write to",
    errno.EROFS: "The file system is read-only: choose another folder",
}


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


class AtomicParquetWriter:
    """Streams tables into `path` through a temporary file renamed on success.

    A failed write removes the temporary file and raises CstrialError naming `path`.
    """

    def __init__(
        self, path: Path, schema: pa.Schema | None = None, options: Mapping | None = None
    ) -> None:
        self.path = Path(path)
        self.tmp = _tmp_name(self.path)
        self.schema = schema
        self.options = dict(PARQUET_OPTIONS if options is None else options)
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        with writing(self.path):
            if self._writer is None:
                self.schema = self.schema or table.schema
                self._writer = pq.ParquetWriter(self.tmp, self.schema, **self.options)
            self._writer.write_table(conform(table, self.schema))

    def commit(self) -> None:
        with writing(self.path):
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.tmp, self.schema, **self.options)
            self._writer.close()
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with the columns of `schema`, in its order and types; a missing column is null.

    Scenarios may differ in their columns (one has a secondary endpoint another
    lacks), but a file has one schema: theirs is the union (`union_schema`).
    """
    if table.schema.names == schema.names:
        return table.cast(schema)
    present = set(table.schema.names)
    columns = [
        table.column(f.name) if f.name in present else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, names=schema.names).cast(schema)


def union_schema(base: pa.Schema | None, schemas: list[pa.Schema]) -> pa.Schema | None:
    """`base`'s fields, then every other field of `schemas` in order of first appearance."""
    fields = list(base) if base is not None else []
    names = {f.name for f in fields}
    for schema in schemas:
        for f in schema:
            if f.name not in names:
                fields.append(f)
                names.add(f.name)
    return pa.schema(fields) if fields else base


def write_table_atomic(table: pa.Table, path: Path, options: Mapping | None = None) -> None:
    """Write one whole table to `path` atomically."""
    writer = AtomicParquetWriter(path, table.schema, options)
    try:
        writer.write(table)
        writer.commit()
    except BaseException:
        writer.abort()
        raise


def write_json_atomic(data: dict, path: Path) -> None:
    """Write JSON (sorted keys, indented) to `path` atomically."""
    path = Path(path)
    tmp = _tmp_name(path)
    text = json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n"
    try:
        with writing(path, tmp):
            tmp.write_text(text)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Chunk files favour speed: they live only until the run is assembled.
CHUNK_PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 1}


@dataclass(frozen=True)
class StoredChunk:
    """One finished chunk read back: its trials, arm tallies per comparison, saved patients."""

    trials: pa.Table
    tallies: dict[str, np.ndarray]
    patients: pa.Table | None


class ChunkStore:
    """The finished chunks of a run, one file each in `folder` (OUT/.chunks/).

    Chunk c of scenario s is `s{s}-c{c}.parquet` (its trials), `s{s}-c{c}.patients.parquet`
    (its saved patients, if any) and `s{s}-c{c}.json`, written last, which records
    the run's `key` (protocol hash, seed, n_sims, ...), the arm tallies and the
    SHA-256 of the Parquet files: a chunk is finished only when its JSON exists
    and the files match it. Everything is written atomically.
    """

    def __init__(self, folder: Path, key: Mapping[str, object]) -> None:
        self.folder = Path(folder)
        self.key = dict(key)

    def reset(self) -> None:
        """Start empty, dropping any chunks of an earlier run."""
        self.remove()
        with writing(self.folder):
            self.folder.mkdir(parents=True)

    def open(self) -> None:
        """Keep the chunks already there (for resuming)."""
        with writing(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def finished(self, scenario: int, chunk: int) -> bool:
        """Whether the chunk is stored whole; CstrialError if it belongs to another run."""
        meta = self._meta(scenario, chunk)
        if meta is None:
            return False
        if meta.get("key") != self.key:
            raise CstrialError(self._mismatch(meta.get("key") or {}))
        stem = self._stem(scenario, chunk)
        files = [(stem.with_suffix(".parquet"), meta.get("trials_sha256"))]
        if meta.get("patients_sha256") is not None:
            files.append((stem.with_suffix(".patients.parquet"), meta["patients_sha256"]))
        return all(path.is_file() and sha256_file(path) == digest for path, digest in files)

    def put(
        self,
        scenario: int,
        chunk: int,
        trials: pa.Table,
        tallies: Mapping[str, np.ndarray],
        patients: pa.Table | None,
    ) -> None:
        stem = self._stem(scenario, chunk)
        meta = {"key": self.key, "scenario": scenario, "chunk": chunk}
        trials_path = stem.with_suffix(".parquet")
        write_table_atomic(trials, trials_path, CHUNK_PARQUET_OPTIONS)
        meta["trials_sha256"] = sha256_file(trials_path)
        meta["patients_sha256"] = None
        if patients is not None:
            patients_path = stem.with_suffix(".patients.parquet")
            write_table_atomic(patients, patients_path, CHUNK_PARQUET_OPTIONS)
            meta["patients_sha256"] = sha256_file(patients_path)
        meta["tallies"] = {label: [int(x) for x in t] for label, t in tallies.items()}
        write_json_atomic(meta, stem.with_suffix(".json"))

    def get(self, scenario: int, chunk: int) -> StoredChunk:
        stem = self._stem(scenario, chunk)
        meta = self._meta(scenario, chunk)
        if meta is None:
            raise CstrialError(
                f"chunk {chunk} of scenario {scenario} is missing from {self.folder}"
            )
        trials = pq.read_table(stem.with_suffix(".parquet"))
        patients = None
        if meta.get("patients_sha256") is not None:
            patients = pq.read_table(stem.with_suffix(".patients.parquet"))
        tallies = {k: np.asarray(v, dtype=np.int64) for k, v in meta["tallies"].items()}
        return StoredChunk(trials, tallies, patients)

    def _stem(self, scenario: int, chunk: int) -> Path:
        # with_suffix replaces the suffix after the last dot: the stem has none
        return self.folder / f"s{scenario}-c{chunk}"

    def _meta(self, scenario: int, chunk: int) -> dict | None:
        path = self._stem(scenario, chunk).with_suffix(".json")
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # absent, or cut short by a kill: not finished

    def _mismatch(self, theirs: Mapping[str, object]) -> str:
        differ = [
            f"{name} {theirs.get(name)!r} there, {mine!r} now"
            for name, mine in self.key.items()
            if theirs.get(name) != mine
        ]
        return (
            f"cannot resume: {self.folder} holds chunks of a different run "
            f"({'; '.join(differ)}). Drop --resume to start over, or choose another --out."
        )


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
    # per secondary endpoint: [rejections, sum of finite estimates, finite estimates]
    secondary: dict[str, list[float]] = field(default_factory=dict)


class SummaryAccumulator:
    """Builds summary.parquet from the streamed trials, one chunk at a time."""

    def __init__(self, plans: list[ScenarioPlan], n_looks: int, extra: dict | None = None) -> None:
        self.plans = plans
        self.n_looks = n_looks
        self.extra = extra or {}  # more columns per (scenario, comparison)
        self._tallies: dict[tuple[str, str], _Tally] = {}

    def add(self, trials: pa.Table, arm_tallies: dict[str, np.ndarray]) -> None:
        column = {
            name: trials.column(name).to_numpy(zero_copy_only=False)
            for name in ("decision", "stop_look", "n_enrolled", "duration_months", "estimate")
        }
        secondaries = [
            name[: -len("_reject")] for name in trials.column_names if name.endswith("_reject")
        ]
        for name in secondaries:
            for suffix in ("_reject", "_estimate"):
                column[name + suffix] = trials.column(name + suffix).to_numpy(zero_copy_only=False)
        looks = column["stop_look"] - 1
        efficacy = column["decision"] == "efficacy"
        futility = column["decision"] == "futility"
        for (scenario, comparison), rows in _groups(trials, "scenario", "comparison"):
            tally = self._tallies.setdefault(
                (scenario, comparison),
                _Tally(
                    reject=np.zeros(self.n_looks, np.int64),
                    futility=np.zeros(self.n_looks, np.int64),
                ),
            )
            tally.n += rows.size
            tally.reject += np.bincount(looks[rows[efficacy[rows]]], minlength=self.n_looks)
            tally.futility += np.bincount(looks[rows[futility[rows]]], minlength=self.n_looks)
            # sums over the group's rows in order, as pandas' groupby summed them
            tally.sum_n += float(column["n_enrolled"][rows].sum())
            tally.sum_duration += float(column["duration_months"][rows].sum())
            estimates = column["estimate"][rows]
            finite = np.isfinite(estimates)
            tally.sum_estimate += float(estimates[finite].sum())
            tally.n_estimate += int(finite.sum())
            tally.arm += arm_tallies[comparison]
            for name in secondaries:
                estimate = column[f"{name}_estimate"][rows]
                ok = np.isfinite(estimate)
                counts = tally.secondary.setdefault(name, [0, 0.0, 0])
                counts[0] += int(column[f"{name}_reject"][rows].sum())
                counts[1] += float(estimate[ok].sum())
                counts[2] += int(ok.sum())

    def table(self) -> pa.Table:
        rows = []
        for plan in self.plans:
            for comparison in plan.comparisons:
                t = self._tallies.get((plan.name, comparison.label))
                if t is None:
                    continue
                row = _summary_row(plan, comparison, t, self.n_looks)
                row.update(self.extra.get((plan.name, comparison.label), {}))
                rows.append(row)
        return pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)


def _groups(table: pa.Table, *keys: str) -> Iterator[tuple[tuple, np.ndarray]]:
    """Each distinct combination of the `keys` columns, in order of first appearance, with its rows."""
    codes = np.zeros(table.num_rows, np.int64)
    for key in keys:
        encoded = table.column(key).combine_chunks().dictionary_encode()
        codes = codes * len(encoded.dictionary) + encoded.indices.to_numpy()
    _, first, group = np.unique(codes, return_index=True, return_inverse=True)
    for g in np.argsort(first):
        rows = np.flatnonzero(group == g)
        yield tuple(table.column(key)[rows[0]].as_py() for key in keys), rows


def _summary_row(plan: ScenarioPlan, comparison, t: _Tally, n_looks: int) -> dict:
    power = t.reject.sum() / t.n
    # with patient reuse, trials are worth n / design_effect independent ones (Kish 1965)
    deff = comparison.design_effect
    n_effective = t.n / deff
    low, high = clopper_pearson(int(t.reject.sum()) / deff, n_effective)
    mean_estimate = t.sum_estimate / t.n_estimate if t.n_estimate else float("nan")
    row = {
        "scenario": plan.name,
        "comparison": comparison.label,
        "n_sims": t.n,
        "power": power,
        "power_se": float(np.sqrt(power * (1 - power) / n_effective)),
        "power_ci_low": low,
        "power_ci_high": high,
        "alpha": comparison.alpha,
        "sample_size": plan.sample_size,
        "patient_reuse": plan.patient_reuse,
        "design_effect": comparison.design_effect,
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
    for name, (rejected, sum_estimate, n_estimate) in t.secondary.items():
        row[f"{name}_power"] = rejected / t.n
        row[f"{name}_mean_estimate"] = sum_estimate / n_estimate if n_estimate else float("nan")
    return row


def clopper_pearson(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval (Clopper & Pearson 1934).

    Non-integer counts are effective ones (successes and trials over a design effect).
    The bounds are Beta quantiles, betaincinv(a, b, q) = scipy.stats.beta.ppf(q, a, b)
    without importing scipy.stats (about 1 s at start-up).
    """
    tail = (1 - level) / 2
    low = 0.0 if successes == 0 else float(betaincinv(successes, n - successes + 1, tail))
    high = 1.0 if successes == n else float(betaincinv(successes + 1, n - successes, 1 - tail))
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
