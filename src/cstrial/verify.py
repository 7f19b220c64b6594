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
from cstrial.folder import MARKER, manifest_sha256, reading_run
from cstrial.results import read_manifest, sha256_file


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
    kind: str = "values"  # or "integrity" (against the manifest), "manifest" (its fields)

    def render(self) -> str:
        if self.kind == "integrity":
            return f"{self.file}: {self.recorded}; expected {self.rerun}"
        if self.kind == "manifest":
            return (
                f"manifest.json: {self.column} is {_show(self.recorded)} in the run, "
                f"{_show(self.rerun)} in the re-run"
            )
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
    hashes_only: bool = False

    @property
    def ok(self) -> bool:
        return not self.differences

    def render(self) -> str:
        if self.hashes_only:
            if self.ok:
                lines = [
                    f"intact: {', '.join(self.files)} of {self.run} match the SHA-256 its "
                    "manifest records, and no output file is unlisted (not re-run)"
                ]
            else:
                lines = [f"{self.run} is not intact: its files do not match its manifest"]
                lines += [f"  • {d.render()}" for d in self.differences]
        elif self.ok:
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
            "hashes_only": self.hashes_only,
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
    hashes_only: bool = False,
) -> VerifyReport:
    """Check the finished run at `path`: its files against its manifest, then a re-run.

    First integrity: every file the manifest names must be there with the SHA-256 it
    records, and every output file present must be named (`check_hashes`). Then, unless
    `hashes_only`, the run is re-run from its manifest: the re-run's manifest must
    record what this one does (protocol text and hash, seed, n_sims, scenarios, bounds,
    model parameters) and its files the same values. Integers and labels must be
    equal; floats equal too (NaN equals NaN), or within relative tolerance `rtol` if
    one is given (for runs moved between machines whose BLAS differ in the last bit).
    Raises CstrialError if `path` is not a finished run or its manifest is damaged.
    """
    if not math.isfinite(rtol) or rtol < 0:
        raise CstrialError(f"--rtol must be a finite number of 0 or more, found {rtol}")
    out = Path(path)
    if not out.is_dir() or not (out / "manifest.json").is_file():
        raise CstrialError(f"{out} is not a cstrial run: it has no manifest.json")
    with reading_run(out, "verify"):
        manifest = read_manifest(out)
        integrity = check_hashes(out, manifest)
        try:
            seed, n_sims = int(manifest["seed"]), int(manifest["n_sims"])
            save_patients = int(manifest.get("save_patients") or 0)
            protocol_info = dict(manifest["protocol"])
        except (KeyError, TypeError, ValueError) as error:
            raise CstrialError(
                f"{out}/manifest.json lacks what a re-run needs ({error}); "
                "it was not written by cstrial run, or was edited"
            ) from None
        files = tuple(f for f in RUN_OUTPUTS if f in manifest["files"])
        if hashes_only:
            return VerifyReport(out, files, tuple(integrity), seed, n_sims, 0.0, hashes_only=True)
        made_by = str(manifest.get("cstrial_version"))
        if not same_streams(made_by, __version__):
            raise VersionMismatchError(
                f"{out} was made by cstrial {made_by}, whose seeded outputs cstrial "
                f"{__version__} does not reproduce (the random streams changed: CHANGELOG.md). "
                f"Verify it with cstrial {made_by}, or re-run the protocol with {__version__}"
            )
        notes = []
        if made_by != __version__:
            notes.append(f"the run was made with cstrial {made_by}, re-run with {__version__}")
        text = protocol_info.get("source_text") or protocol_info.get("resolved_yaml")
        if not isinstance(text, str) or not text:
            raise CstrialError(f"{out}/manifest.json holds no protocol text to re-run")
        with tempfile.TemporaryDirectory(prefix="cstrial-verify-") as tmp:
            source = Path(tmp) / "protocol.yaml"
            source.write_text(text, encoding="utf-8")
            started = time.perf_counter()
            rerun = _rerun(
                source,
                manifest,
                seed,
                n_sims,
                save_patients,
                jobs,
                Path(tmp) / "rerun",
                progress,
                backend,
                scheduler,
            )
            seconds = time.perf_counter() - started
            differences = [*integrity, *compare_manifests(manifest, rerun.manifest)]
            for file in files:
                differences += compare_parquet(out / file, rerun.out / file, rtol=rtol)
    return VerifyReport(
        run=out,
        files=files,
        differences=tuple(differences),
        seed=seed,
        n_sims=n_sims,
        rerun_seconds=seconds,
        notes=tuple(notes),
    )


def _rerun(
    source: Path,
    manifest: dict,
    seed: int,
    n_sims: int,
    save_patients: int,
    jobs: int | None,
    out: Path,
    progress: Callable[[int, int], None] | None,
    backend: str,
    scheduler: Any,
) -> Any:
    from cstrial.engine import run  # the engine imports the world; verify is light until used

    with warnings.catch_warnings():
        # the original run already told its user about Monte Carlo precision
        warnings.simplefilter("ignore", MonteCarloPrecisionWarning)
        return run(
            source,
            n_sims=n_sims,
            seed=seed,
            jobs=jobs,
            out=out,
            scenario=_scenario(manifest),
            save_patients=save_patients,
            progress=progress,
            backend=backend,
            scheduler=scheduler,
        )


# The outputs of a run whose values a re-run reproduces.
RUN_OUTPUTS = ("trials.parquet", "summary.parquet", "patients.parquet")
# What a manifest records that a re-run must record alike (the rest says where and how
# fast it ran: paths, workers, wall time, platform, dependency versions).
MANIFEST_FIELDS = (
    "seed",
    "n_sims",
    "scenario",
    "chunk_size",
    "save_patients",
    "scenarios",
    "parameters",
)
PROTOCOL_FIELDS = ("name", "sha256", "resolved_yaml", "source_text")


def check_hashes(out: Path, manifest: dict) -> list[Difference]:
    """Every file the manifest names is there, a regular file with the SHA-256 it records;
    every output file in the folder is named; the manifest is the one the commit wrote."""
    found = []
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        return [
            Difference(
                "manifest.json", None, None, "no file list", "the run's files", kind="integrity"
            )
        ]
    for name, digest in sorted(listed.items()):
        path = out / name
        if name not in RUN_OUTPUTS or not isinstance(digest, str):
            found.append(
                Difference(
                    "manifest.json",
                    None,
                    None,
                    f"lists {name!r}",
                    "only the run's outputs",
                    kind="integrity",
                )
            )
        elif path.is_symlink():
            found.append(
                Difference(name, None, None, "a symlink", "a regular file", kind="integrity")
            )
        elif not path.is_file():
            found.append(
                Difference(
                    name, None, None, "missing", "as manifest.json lists it", kind="integrity"
                )
            )
        else:
            actual = sha256_file(path)
            if actual != digest:
                found.append(
                    Difference(
                        name,
                        None,
                        None,
                        f"SHA-256 {actual[:16]}…",
                        f"{digest[:16]}… as manifest.json records",
                        kind="integrity",
                    )
                )
    for name in RUN_OUTPUTS:
        if (out / name).exists() and name not in listed:
            found.append(
                Difference(
                    name,
                    None,
                    None,
                    "in the folder",
                    "in manifest.json's file list (the manifest does not vouch for it)",
                    kind="integrity",
                )
            )
    recorded = manifest_sha256(out)
    if recorded is not None and recorded != sha256_file(out / "manifest.json"):
        found.append(
            Difference(
                "manifest.json",
                None,
                None,
                "changed since the run wrote it",
                f"SHA-256 {recorded[:16]}… as {MARKER} records",
                kind="integrity",
            )
        )
    return found


def compare_manifests(recorded: dict, rerun: dict) -> list[Difference]:
    """The fields of `recorded` that a re-run from it records otherwise (protocol, bounds, ...)."""
    found = []
    for name in MANIFEST_FIELDS:
        if not _same(recorded.get(name), _json_values(rerun.get(name))):
            found.append(_field_difference(name, recorded.get(name), rerun.get(name)))
    mine, theirs = recorded.get("protocol") or {}, rerun.get("protocol") or {}
    for name in PROTOCOL_FIELDS:
        if not _same(mine.get(name), theirs.get(name)):
            found.append(_field_difference(f"protocol.{name}", mine.get(name), theirs.get(name)))
    return found


def _field_difference(name: str, recorded: Any, rerun: Any) -> Difference:
    where = _first_path(recorded, _json_values(rerun))
    return Difference(
        "manifest.json",
        f"{name}{where}",
        None,
        _brief(_at(recorded, where)),
        _brief(_at(_json_values(rerun), where)),
        kind="manifest",
    )


def _json_values(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples as lists, numpy scalars as numbers)."""
    import json

    return json.loads(json.dumps(value, default=_plain_json))


def _plain_json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _first_path(a: Any, b: Any) -> str:
    """Where in two JSON values they first differ, as `[0].comparisons[1].efficacy_z[2]`."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(a.keys() | b.keys()):
            if k not in a or k not in b or not _same(a[k], b[k]):
                return f".{k}" + (_first_path(a[k], b[k]) if k in a and k in b else "")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if not _same(x, y):
                return f"[{i}]" + _first_path(x, y)
    return ""


def _at(value: Any, where: str) -> Any:
    import re

    for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", where):
        try:
            value = value[key] if key else value[int(index)]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _brief(value: Any) -> Any:
    text = value if isinstance(value, str) else None
    if text is not None and len(text) > 60:
        return text[:57] + "..."
    return value


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
