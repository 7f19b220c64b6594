"""The finished chunks of a run, kept in OUT/.chunks/ until the run is whole (for --resume)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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
    (its saved patients, if any) and `s{s}-c{c}.json`, written last, which records
    the run's `key` (protocol hash, seed, n_sims, ...), the comparisons' tallies and the
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
        tallies: list[ComparisonTally],
        patients: pa.Table | None,
    ) -> None:
        stem = self._stem(scenario, chunk)
        meta: dict[str, object] = {"key": self.key, "scenario": scenario, "chunk": chunk}
        # hashed in memory, then written: the file is never read back to vouch for it
        meta["trials_sha256"] = self._write(trials, stem.with_suffix(".parquet"))
        meta["patients_sha256"] = None
        if patients is not None:
            meta["patients_sha256"] = self._write(patients, stem.with_suffix(".patients.parquet"))
        meta["tallies"] = [t.to_json() for t in tallies]
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
        trials = pq.read_table(stem.with_suffix(".parquet"))
        patients = None
        if meta.get("patients_sha256") is not None:
            patients = pq.read_table(stem.with_suffix(".patients.parquet"))
        tallies = [ComparisonTally.from_json(t) for t in meta["tallies"]]
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
