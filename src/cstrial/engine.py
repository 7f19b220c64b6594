"""Run a protocol: plan each scenario, simulate its chunks in parallel, stream results to disk.

Chunk c of scenario s always draws from SeedSequence(seed, spawn_key=(s, c)) and
holds `simulation.chunk_size` replicates, so the bytes of trials.parquet do not
depend on the number of workers or the backend. The engine never prints; it
reports progress through a callback.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import joblib

from cstrial import __version__
from cstrial.disease import DISEASE
from cstrial.errors import CstrialError
from cstrial.plan import ScenarioPlan, plan_scenario
from cstrial.population import POPULATION
from cstrial.protocol import Protocol, expand_scenarios, load_protocol
from cstrial.results import (
    AtomicParquetWriter,
    RunResult,
    SummaryAccumulator,
    sha256_file,
    trials_schema,
    write_json_atomic,
    write_table_atomic,
)
from cstrial.simulate import ChunkResult, simulate_chunk
from cstrial.treatment import TREATMENT

Progress = Callable[[int, int], None]
DEPENDENCIES = ("numpy", "scipy", "pandas", "pyarrow", "joblib", "pydantic", "PyYAML")


def run(
    protocol: Protocol | str | Path,
    *,
    n_sims: int | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    out: str | Path | None = None,
    scenario: str | None = None,
    save_patients: int | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Simulate every scenario of `protocol` and write the run to `out`.

    Options override the protocol's `simulation` block; `out` defaults to
    results/<protocol name>/. Returns the summary and manifest.
    """
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    sim = protocol.simulation
    n_sims = sim.n_sims if n_sims is None else n_sims
    seed = sim.seed if seed is None else seed
    save_patients = sim.save_patients if save_patients is None else save_patients
    if n_sims < 1:
        raise CstrialError(f"--n-sims must be at least 1, found {n_sims}")
    if seed < 0:
        raise CstrialError(f"--seed must be a non-negative integer, found {seed}")
    out = Path(out) if out is not None else Path("results") / protocol.name
    started = time.perf_counter()

    scenarios = _select(expand_scenarios(protocol), scenario)
    plans = [plan_scenario(s, seed) for s in scenarios]
    n_looks = max(p.n_looks for p in plans)
    chunk_size = sim.chunk_size
    tasks = [
        (plan, c, c * chunk_size, min(chunk_size, n_sims - c * chunk_size))
        for plan in plans
        for c in range(-(-n_sims // chunk_size))
    ]

    _make_out(out)
    trials = AtomicParquetWriter(out / "trials.parquet", trials_schema(n_looks))
    patients = AtomicParquetWriter(out / "patients.parquet")
    summary = SummaryAccumulator(plans, n_looks)
    try:
        for done, result in enumerate(_execute(tasks, n_looks, save_patients, jobs), start=1):
            trials.write(result.trials)
            summary.add(result.trials, result.tallies)
            if result.patients is not None:
                patients.write(result.patients)
            if progress is not None:
                progress(done, len(tasks))
        trials.commit()
        if save_patients > 0:
            patients.commit()
        summary_table = summary.table()
        write_table_atomic(summary_table, out / "summary.parquet")
    except BaseException:
        trials.abort()
        patients.abort()
        raise

    manifest = _manifest(
        protocol, plans, seed, n_sims, jobs, save_patients, time.perf_counter() - started, out
    )
    write_json_atomic(manifest, out / "manifest.json")
    return RunResult(out, summary_table.to_pandas(), manifest)


def _execute(
    tasks: list, n_looks: int, save_patients: int, jobs: int | None
) -> Iterator[ChunkResult]:
    n_jobs = jobs if jobs is not None else -1
    if n_jobs == 1 or len(tasks) == 1:
        for plan, chunk, first, reps in tasks:
            yield simulate_chunk(plan, chunk, first, reps, n_looks, save_patients)
        return
    parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)
    yield from parallel(
        joblib.delayed(simulate_chunk)(plan, chunk, first, reps, n_looks, save_patients)
        for plan, chunk, first, reps in tasks
    )


def _select(scenarios: list, name: str | None) -> list:
    if name is None:
        return scenarios
    chosen = [s for s in scenarios if s.name == name]
    if not chosen:
        names = ", ".join(s.name for s in scenarios)
        raise CstrialError(
            f"--scenario {name!r} is not in the protocol; its scenarios are: {names}"
        )
    return chosen


def _make_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CstrialError(
            f"cannot write results to {out}: {exc.strerror or exc}. Choose another --out."
        ) from None


def _manifest(
    protocol: Protocol,
    plans: list[ScenarioPlan],
    seed: int,
    n_sims: int,
    jobs: int | None,
    save_patients: int,
    wall_time: float,
    out: Path,
) -> dict:
    files = ["trials.parquet", "summary.parquet"] + (["patients.parquet"] if save_patients else [])
    return {
        "cstrial_version": __version__,
        "protocol": {
            "name": protocol.name,
            "path": str(protocol.source_path) if protocol.source_path else None,
            "sha256": _sha256_text(protocol.source_text or protocol.resolved_yaml()),
            "resolved_yaml": protocol.resolved_yaml(),
            "source_text": protocol.source_text,
        },
        "seed": seed,
        "n_sims": n_sims,
        "chunk_size": protocol.simulation.chunk_size,
        "save_patients": save_patients,
        "scenarios": [
            {
                "index": p.index,
                "name": p.name,
                "eligible_fraction": p.eligible_fraction,
                "baseline_shift": p.baseline_shift,
                "look_patients": list(p.look_patients),
                "look_months": list(p.look_months),
                "comparisons": [
                    {
                        "comparison": c.label,
                        "alpha": c.alpha,
                        "efficacy_z": list(c.efficacy_z),
                        "futility_z": None if c.futility_z is None else list(c.futility_z),
                        "true_effect": c.true_effect,
                    }
                    for c in p.comparisons
                ],
            }
            for p in plans
        ],
        "jobs": jobs,
        "wall_time_seconds": round(wall_time, 3),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "dependencies": {name: _version(name) for name in DEPENDENCIES},
        "parameters": {t.title: t.to_records() for t in (POPULATION, DISEASE, TREATMENT)},
        "files": {name: sha256_file(out / name) for name in files},
    }


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
