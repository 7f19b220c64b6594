"""Output files: atomic writing of Parquet, JSON and bytes, and reading a finished run back.

Every file is written under a temporary name and renamed into place, so a crash
never leaves a half-written file that looks whole; a failed write (a full disk,
a folder that cannot be written) removes its temporary file and raises
`CstrialError` naming the path. Every file cstrial writes goes through here.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cstrial.errors import CstrialError
from cstrial.folder import read_json, reading_run
from cstrial.protocol import Protocol, parse_protocol
from cstrial.protocol.load import MAX_PROTOCOL_BYTES
from cstrial.protocol.yaml_nodes import parse_yaml

# Fixed writer settings: part of the byte-reproducibility contract.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
}


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

    def write_group(self, tables: list[pa.Table]) -> None:
        """Write `tables` (one schema once conformed) as one row group."""
        with writing(self.path):
            if self._writer is None:
                self.schema = self.schema or tables[0].schema
                self._writer = pq.ParquetWriter(self.tmp, self.schema, **self.options)
            table = pa.concat_tables([conform(t, self.schema) for t in tables])
            self._writer.write_table(table, row_group_size=max(1, table.num_rows))

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
    lacks), but a file has one schema, declared from every scenario's plan
    (`cstrial.engine.tables`).
    """
    if table.schema.names == schema.names:
        return table.cast(schema)
    present = set(table.schema.names)
    columns = [
        table.column(f.name) if f.name in present else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, names=schema.names).cast(schema)


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
    text = json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n"
    write_bytes_atomic(text.encode("utf-8"), path)


def write_bytes_atomic(data: bytes, path: Path) -> None:
    """Write `data` to `path` atomically."""
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        with writing(path, tmp):
            tmp.write_bytes(data)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def parquet_bytes(table: pa.Table, options: Mapping | None = None) -> bytes:
    """`table` as the bytes of a Parquet file (written in memory)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **dict(PARQUET_OPTIONS if options is None else options))
    return sink.getvalue().to_pybytes()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class RunResult:
    """A finished run: where it is, its summary and its manifest."""

    out: Path
    summary: pd.DataFrame
    manifest: dict

    @property
    def trials_path(self) -> Path:
        return self.out / "trials.parquet"


def read_run(out: str | Path, command: str = "read") -> RunResult:
    """Read a finished run directory back: its manifest and its summary, vouched for.

    Waits for no writer: a folder being written is refused (exit 2) naming who holds it;
    a commit a crash interrupted is finished first. A damaged or missing file is a
    `CstrialError` saying so, never a traceback.
    """
    out = Path(out)
    if not out.is_dir() or not (out / "manifest.json").is_file():
        raise CstrialError(f"{out} is not a cstrial run: it has no manifest.json")
    with reading_run(out, command):
        return read_run_unlocked(out)


def read_run_unlocked(out: Path) -> RunResult:
    """`read_run` for a caller that already holds the folder's lock."""
    manifest = read_manifest(out)
    summary_path = vouched(out, manifest, "summary.parquet")
    try:
        summary = pq.read_table(summary_path).to_pandas()
    except (OSError, pa.ArrowException) as error:
        raise CstrialError(f"{summary_path} cannot be read: {error}") from None
    return RunResult(out, summary, manifest)


def read_manifest(out: Path) -> dict:
    """RUN/manifest.json, checked for the fields every cstrial manifest has."""
    manifest = read_json(
        out / "manifest.json", "It was not written by cstrial run, or was damaged since."
    )
    if not isinstance(manifest.get("files"), dict) or "cstrial_version" not in manifest:
        raise CstrialError(
            f"{out}/manifest.json lacks its file list or cstrial version: it was not written "
            "by cstrial run, or was edited"
        )
    return manifest


def vouched(out: Path, manifest: dict, name: str) -> Path:
    """RUN/`name`, if the manifest vouches for it: listed, a regular file inside the run
    folder (no symlink) and with the SHA-256 the manifest records; else CstrialError."""
    path = out / name
    digest = (manifest.get("files") or {}).get(name)
    if digest is None:
        raise CstrialError(
            f"{path} is not one of the run's files (manifest.json does not list it), so it "
            "is not read: it may be left from another run"
        )
    if path.is_symlink() or not path.is_file():
        what = "a symlink" if path.is_symlink() else "missing"
        raise CstrialError(f"{path} is {what}: a run's files are regular files in its folder")
    if sha256_file(path) != digest:
        raise CstrialError(
            f"{path} does not match the SHA-256 its manifest records: it changed after the "
            f"run. `cstrial verify {out}` says what differs"
        )
    return path


def run_protocol(run: RunResult) -> Protocol | None:
    """The protocol of a run, rebuilt from its manifest (None if it cannot be).

    The protocol's text as written is preferred (it keeps scenarios and grid as the
    user wrote them); the resolved YAML is the fallback for protocols built in code.
    Both go through the protected YAML loader (size, depth and alias limits).
    """
    info = run.manifest.get("protocol", {})
    source = f"{run.out}/manifest.json"
    for text in (info.get("source_text"), info.get("resolved_yaml")):
        if not isinstance(text, str) or not text:
            continue
        if len(text.encode("utf-8")) > MAX_PROTOCOL_BYTES:
            continue
        parsed = parse_yaml(text)
        if parsed.problems or not isinstance(parsed.data, dict):
            continue
        try:
            return parse_protocol(parsed.data, source=source, lines=parsed.lines)
        except CstrialError:
            continue
    return None


def iter_trials(out: str | Path) -> Iterator[pd.DataFrame]:
    """The trials of a run, one row group at a time (vouched for by its manifest)."""
    out = Path(out)
    parquet = pq.ParquetFile(vouched(out, read_manifest(out), "trials.parquet"))
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
