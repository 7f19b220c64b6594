"""The finished chunks of a run, kept in OUT/.chunks/ until the run is whole (for --resume)."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cstrial.engine.summary import ComparisonTally
from cstrial.errors import CstrialError
from cstrial.results import (
    parquet_bytes,
    sha256_file,
    write_bytes_atomic,
    write_json_atomic,
    writing,
)

RUN_RECORD = "run-id"  # JSON: the run id and key (not *.json: those are chunk records)


class ChunkRecordWarning(UserWarning):
    """A stored chunk was set aside on resume: not this run's, or damaged."""


def record_sha256(meta: Mapping[str, object]) -> str:
    """SHA-256 of a chunk record's content (every field but the hash itself), canonical JSON."""
    content = {k: v for k, v in meta.items() if k != "record_sha256"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# Chunk files favour speed: they live only until the run is assembled.
CHUNK_PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 1}


@dataclass(frozen=True)
class StoredChunk:
    """One finished chunk read back: its trials, a tally per comparison, saved patients."""

    trials: pa.Table
    tallies: list[ComparisonTally]  # in the order of the plan's comparisons
    patients: pa.Table | None


class ChunkStore:
    """The finished chunks of a run, one file each in `folder` (OUT/.chunks/).

    Chunk c of scenario s is `s{s}-c{c}.parquet` (its trials), `s{s}-c{c}.patients.parquet`
    (its saved patients, if any) and `s{s}-c{c}.json`, written last: the chunk's record.
    The record carries the chunk's identity (the run's id from `run-id`, the scenario,
    the chunk, the seed), the run's `key` (protocol hash, seed, n_sims, ...), the
    comparisons' tallies, the SHA-256 of the Parquet files and a SHA-256 over all of
    that (`record_sha256`). A chunk is finished only when its record is its own (this
    run, this scenario and chunk, an intact record) and the files match it: a record
    copied over another, from another run or damaged is set aside and the chunk
    simulated again. Everything is written atomically.
    """

    def __init__(self, folder: Path, key: Mapping[str, object]) -> None:
        self.folder = Path(folder)
        self.key = dict(key)
        self.run_id: str | None = None

    def reset(self) -> None:
        """Start empty, dropping any chunks of an earlier run; a new run id."""
        self.remove()
        with writing(self.folder):
            self.folder.mkdir(parents=True)
        self._new_id()

    def open(self) -> None:
        """Keep the chunks already there (for resuming), with their run's id."""
        with writing(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads((self.folder / RUN_RECORD).read_text())
            self.run_id = str(data["run"])
        except (OSError, ValueError, KeyError, TypeError):
            # no id (a new folder, or chunks without one): none of its chunks is this run's
            self._new_id()

    def _new_id(self) -> None:
        self.run_id = uuid.uuid4().hex
        write_json_atomic({"run": self.run_id, "key": self.key}, self.folder / RUN_RECORD)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def finished(self, scenario: int, chunk: int) -> bool:
        """Whether the chunk is stored whole; CstrialError if it belongs to another run."""
        meta = self._meta(scenario, chunk)
        if meta is None:
            return False
        if meta.get("key") != self.key:
            raise CstrialError(self._mismatch(meta.get("key") or {}))
        problem = self._not_its_own(meta, scenario, chunk)
        if problem:
            warnings.warn(
                f"chunk {chunk} of scenario {scenario} in {self.folder} is not this run's "
                f"({problem}): it is simulated again",
                ChunkRecordWarning,
                stacklevel=2,
            )
            return False
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
        tallies: list[ComparisonTally],
        patients: pa.Table | None,
    ) -> None:
        stem = self._stem(scenario, chunk)
        meta: dict[str, object] = {
            "key": self.key,
            "run": self.run_id,
            "scenario": scenario,
            "chunk": chunk,
            "seed": self.key.get("seed"),
        }
        # hashed in memory, then written: the file is never read back to vouch for it
        meta["trials_sha256"] = self._write(trials, stem.with_suffix(".parquet"))
        meta["patients_sha256"] = None
        if patients is not None:
            meta["patients_sha256"] = self._write(patients, stem.with_suffix(".patients.parquet"))
        meta["tallies"] = [t.to_json() for t in tallies]
        meta["record_sha256"] = record_sha256(meta)
        write_json_atomic(meta, stem.with_suffix(".json"))

    @staticmethod
    def _write(table: pa.Table, path: Path) -> str:
        data = parquet_bytes(table, CHUNK_PARQUET_OPTIONS)
        write_bytes_atomic(data, path)
        return hashlib.sha256(data).hexdigest()

    def get(self, scenario: int, chunk: int) -> StoredChunk:
        stem = self._stem(scenario, chunk)
        meta = self._meta(scenario, chunk)
        if meta is None:
            raise CstrialError(
                f"chunk {chunk} of scenario {scenario} is missing from {self.folder}"
            )
        trials = self._read(stem.with_suffix(".parquet"), meta.get("trials_sha256"))
        patients = None
        if meta.get("patients_sha256") is not None:
            patients = self._read(stem.with_suffix(".patients.parquet"), meta["patients_sha256"])
        tallies = [ComparisonTally.from_json(t) for t in meta["tallies"]]
        return StoredChunk(trials, tallies, patients)

    def _not_its_own(self, meta: dict, scenario: int, chunk: int) -> str | None:
        """Why a record is not this chunk's of this run (None if it is)."""
        if meta.get("record_sha256") != record_sha256(meta):
            return "its record does not match its own hash: edited or damaged"
        if meta.get("run") != self.run_id:
            return "it was written by another run"
        if (meta.get("scenario"), meta.get("chunk")) != (scenario, chunk):
            return (
                f"its record is that of chunk {meta.get('chunk')} of scenario "
                f"{meta.get('scenario')}"
            )
        if meta.get("seed") != self.key.get("seed"):
            return f"its seed is {meta.get('seed')}"
        return None

    def _read(self, path: Path, digest: object) -> pa.Table:
        """The table in `path`, read from bytes that match `digest` (checked as read)."""
        with writing(path):
            data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise CstrialError(
                f"{path} changed while the run was resuming (its SHA-256 no longer matches "
                "its record); run again with --resume"
            )
        return pq.read_table(pa.BufferReader(data))

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
