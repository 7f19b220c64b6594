"""Re-run a finished run from its manifest and compare its outputs, value by value.

`verify_run` reads RUN/manifest.json, runs the recorded protocol text again with
the recorded seed, n_sims, scenario selection and saved patients into a
temporary folder, and compares trials.parquet, summary.parquet (and
patients.parquet, if the run has one) column by column. Values are compared,
not file bytes, so another pyarrow writing other metadata does not fail a
verification, but any changed value does. It is the command a CI pipeline runs
on seeded outputs.
"""

from __future__ import annotations

import math
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cstrial import __version__
from cstrial.errors import CstrialError, MonteCarloPrecisionWarning
from cstrial.results import read_run


class VersionMismatchError(CstrialError):
    """The run was made by a cstrial whose seeded outputs this version does not reproduce."""


def same_streams(made_by: str, current: str) -> bool:
    """Whether two versions draw the same seeded outputs: the same major and minor version
    (CHANGELOG.md says when the streams change, and the minor version moves with them)."""
    return made_by.split(".")[:2] == current.split(".")[:2]


# Rows compared at a time: memory stays flat whatever the size of the run.
_BATCH_ROWS = 65_536
_KEY_COLUMNS = ("scenario", "comparison", "sim", "patient")


@dataclass(frozen=True)
class Difference:
    """One way a file of the run differs from the re-run: a column's first differing row, or a shape."""

    file: str
    column: str | None
    row: int | None
    recorded: Any
    rerun: Any
    where: str = ""  # the row's scenario/comparison/sim, when known

    def render(self) -> str:
        if self.column is None:
            return f"{self.file}: {self.recorded} in the run, {self.rerun} in the re-run"
        where = f" ({self.where})" if self.where else ""
        return (
            f"{self.file}: column {self.column} differs, first at row {self.row}{where}: "
            f"{_show(self.recorded)} in the run, {_show(self.rerun)} in the re-run"
        )


@dataclass(frozen=True)
class VerifyReport:
    """What `verify_run` compared and what differed (nothing, if `ok`)."""

    run: Path
    files: tuple[str, ...]
    differences: tuple[Difference, ...]
    seed: int
    n_sims: int
    rerun_seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.differences

    def render(self) -> str:
        if self.ok:
            lines = [
                f"verified: {', '.join(self.files)} of {self.run} equal a re-run "
                f"(seed {self.seed}, {self.n_sims} trials per scenario, {self.rerun_seconds:.1f} s)"
            ]
        else:
            lines = [f"{self.run} does not verify: a re-run from its manifest differs"]
            lines += [f"  • {d.render()}" for d in self.differences]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "run": str(self.run),
            "verified": self.ok,
            "files": list(self.files),
            "seed": self.seed,
            "n_sims": self.n_sims,
            "rerun_seconds": round(self.rerun_seconds, 3),
            "differences": [
                {
                    "file": d.file,
                    "column": d.column,
                    "row": d.row,
                    "where": d.where or None,
                    "recorded": _plain(d.recorded),
                    "rerun": _plain(d.rerun),
                }
                for d in self.differences
            ],
            "notes": list(self.notes),
        }


def verify_run(
    path: str | Path,
    *,
    jobs: int | None = None,
    rtol: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    backend: str = "loky",
    scheduler: Any = None,
) -> VerifyReport:
    """Re-run the finished run at `path` from its manifest and compare its outputs.

    Integers and labels must be equal; floats equal too (NaN equals NaN), or within
    relative tolerance `rtol` if one is given (for runs moved between machines whose
    BLAS differ in the last bit). Raises CstrialError if `path` is not a finished run.
    """
    from cstrial.engine import run  # the engine imports the world; verify is light until used

    if not math.isfinite(rtol) or rtol < 0:
        raise CstrialError(f"--rtol must be a finite number of 0 or more, found {rtol}")
    recorded = read_run(path)
    manifest = recorded.manifest
    try:
        protocol_info = manifest["protocol"]
        seed, n_sims = int(manifest["seed"]), int(manifest["n_sims"])
        save_patients = int(manifest.get("save_patients") or 0)
    except (KeyError, TypeError, ValueError) as error:
        raise CstrialError(
            f"{recorded.out}/manifest.json lacks what a re-run needs ({error}); "
            "it was not written by cstrial run"
        ) from None
    text = protocol_info.get("source_text") or protocol_info.get("resolved_yaml")
    if not text:
        raise CstrialError(f"{recorded.out}/manifest.json holds no protocol text to re-run")
    # the files the run wrote, as its manifest lists them (a stale file beside them is not the run's)
    written = manifest.get("files") or {}
    files = [f for f in ("trials.parquet", "summary.parquet", "patients.parquet") if f in written]
    if not written:
        files = ["trials.parquet", "summary.parquet"] + (
            ["patients.parquet"] if save_patients > 0 else []
        )
    made_by = str(manifest.get("cstrial_version"))
    if not same_streams(made_by, __version__):
        raise VersionMismatchError(
            f"{recorded.out} was made by cstrial {made_by}, whose seeded outputs cstrial "
            f"{__version__} does not reproduce (the random streams changed: CHANGELOG.md). "
            f"Verify it with cstrial {made_by}, or re-run the protocol with {__version__}"
        )
    notes = []
    if made_by != __version__:
        notes.append(f"the run was made with cstrial {made_by}, re-run with {__version__}")

    with tempfile.TemporaryDirectory(prefix="cstrial-verify-") as tmp:
        name = Path(protocol_info.get("path") or "protocol.yaml").name
        source = Path(tmp) / name
        source.write_text(text, encoding="utf-8")
        started = time.perf_counter()
        with warnings.catch_warnings():
            # the original run already told its user about Monte Carlo precision
            warnings.simplefilter("ignore", MonteCarloPrecisionWarning)
            rerun = run(
                source,
                n_sims=n_sims,
                seed=seed,
                jobs=jobs,
                out=Path(tmp) / "rerun",
                scenario=_scenario(manifest),
                save_patients=save_patients,
                progress=progress,
                backend=backend,
                scheduler=scheduler,
            )
        seconds = time.perf_counter() - started
        differences = []
        for file in files:
            differences += compare_parquet(recorded.out / file, rerun.out / file, rtol=rtol)
    return VerifyReport(
        run=recorded.out,
        files=tuple(files),
        differences=tuple(differences),
        seed=seed,
        n_sims=n_sims,
        rerun_seconds=seconds,
        notes=tuple(notes),
    )


def compare_parquet(recorded: Path, rerun: Path, *, rtol: float = 0.0) -> list[Difference]:
    """Every column of `recorded` whose values differ from `rerun`'s, with its first differing row."""
    name = recorded.name
    if not recorded.is_file():
        return [Difference(name, None, None, "no such file", "a file")]
    if not rerun.is_file():
        return [Difference(name, None, None, "a file", "no such file")]
    try:
        mine, theirs = pq.ParquetFile(recorded), pq.ParquetFile(rerun)
    except (OSError, pa.ArrowException) as error:
        return [Difference(name, None, None, f"an unreadable file ({error})", "a Parquet file")]
    mine_columns, their_columns = mine.schema_arrow.names, theirs.schema_arrow.names
    if mine_columns != their_columns:
        missing = [c for c in their_columns if c not in mine_columns]
        extra = [c for c in mine_columns if c not in their_columns]
        what = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"extra {', '.join(extra)}" if extra else "",
                "another column order" if not missing and not extra else "",
            )
            if part
        )
        return [Difference(name, None, None, f"columns differ ({what})", "the re-run's columns")]
    if mine.metadata.num_rows != theirs.metadata.num_rows:
        return [
            Difference(
                name,
                None,
                None,
                f"{mine.metadata.num_rows} rows",
                f"{theirs.metadata.num_rows} rows",
            )
        ]
    first: dict[str, Difference] = {}
    offset = 0
    batches = zip(
        mine.iter_batches(batch_size=_BATCH_ROWS),
        theirs.iter_batches(batch_size=_BATCH_ROWS),
        strict=True,
    )
    for a, b in batches:
        for column in mine_columns:
            if column in first:
                continue
            row = _first_difference(a.column(column), b.column(column), rtol)
            if row is not None:
                first[column] = Difference(
                    name,
                    column,
                    offset + row,
                    a.column(column)[row].as_py(),
                    b.column(column)[row].as_py(),
                    _where(a, row),
                )
        offset += a.num_rows
    return [first[c] for c in mine_columns if c in first]


def _first_difference(a: pa.Array, b: pa.Array, rtol: float) -> int | None:
    """Index of the first element where `a` and `b` differ (nulls equal nulls, NaN equals NaN)."""
    if a.type != b.type:
        return 0
    valid_a = np.asarray(a.is_valid())
    valid_b = np.asarray(b.is_valid())
    if pa.types.is_floating(a.type):
        x = a.to_numpy(zero_copy_only=False)
        y = b.to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            same = (x == y) | (np.isnan(x) & np.isnan(y))
            if rtol > 0:
                same |= np.abs(x - y) <= rtol * np.maximum(np.abs(x), np.abs(y))
    else:
        try:
            same = np.asarray(pc.fill_null(pc.equal(a, b), False))
        except pa.ArrowNotImplementedError:  # e.g. dictionary or nested columns
            same = np.array([u == v for u, v in zip(a.to_pylist(), b.to_pylist(), strict=True)])
    same = np.where(valid_a & valid_b, same, valid_a == valid_b)
    wrong = np.flatnonzero(~same)
    return int(wrong[0]) if wrong.size else None


def _where(batch: pa.RecordBatch, row: int) -> str:
    parts = []
    for key in _KEY_COLUMNS:
        if key in batch.schema.names:
            parts.append(f"{key} {_show(batch.column(key)[row].as_py())}")
    return ", ".join(parts)


def _scenario(manifest: dict) -> str | None:
    """The --scenario of the recorded run (older manifests: one scenario listed means one chosen)."""
    if "scenario" in manifest:
        return manifest["scenario"]
    scenarios = manifest.get("scenarios") or []
    return scenarios[0]["name"] if len(scenarios) == 1 else None


def _show(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
