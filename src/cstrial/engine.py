"""Run a protocol: plan each scenario, simulate its chunks in parallel, stream results to disk.

Chunk c of scenario s always draws from SeedSequence(seed, spawn_key=(s, c)) and
holds `simulation.chunk_size` replicates, so the bytes of trials.parquet do not
depend on the number of workers or the backend. The engine never prints; it
reports progress through a callback.

Each finished chunk is stored at once in OUT/.chunks/ (see `results.ChunkStore`)
and written, in chunk order, to trials.parquet (and patients.parquet) under a
temporary name, renamed into place once the last chunk is in; then the chunk
folder is removed. So memory does not grow with n_sims, and `resume=True` picks
up a killed run from its finished chunks with the same bytes as a run straight
through.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from cstrial import __version__
from cstrial.errors import CstrialError, MonteCarloPrecisionWarning
from cstrial.model_docs import TABLES as MODEL_TABLES
from cstrial.plan import ScenarioPlan, plan_scenario
from cstrial.protocol import Protocol, expand_scenarios, load_protocol
from cstrial.results import (
    AtomicParquetWriter,
    ChunkStore,
    RunResult,
    SummaryAccumulator,
    sha256_file,
    trials_schema,
    union_schema,
    write_json_atomic,
    write_table_atomic,
)
from cstrial.simulate import ChunkResult, one_blas_thread, simulate_chunk, warm_up

Progress = Callable[[int, int], None]
DEPENDENCIES = ("numpy", "scipy", "pandas", "pyarrow", "joblib", "pydantic", "PyYAML")
BACKENDS = ("loky", "dask")
CHUNKS_FOLDER = ".chunks"
MAX_N_SIMS = 100_000_000
# About 150 bytes of working memory per simulated patient: 20 million is ~3 GiB per worker.
MAX_PATIENTS_PER_CHUNK = 20_000_000
DASK_CONNECT_TIMEOUT = 30.0  # seconds to reach the scheduler before giving up
OUTPUT_FILES = ("trials.parquet", "summary.parquet", "patients.parquet", "manifest.json")


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
    resume: bool = False,
    backend: str = "loky",
    scheduler: Any = None,
) -> RunResult:
    """Simulate every scenario of `protocol` and write the run to `out`.

    Options override the protocol's `simulation` block; `out` defaults to
    results/<protocol name>/. With `resume`, chunks finished by an earlier,
    interrupted run of the same protocol, seed and n_sims in `out` are kept, not
    simulated again. `backend` is "loky" (local processes) or "dask", which runs
    the chunks on the `dask.distributed` cluster at `scheduler` (an address such
    as tcp://host:8786, or a `distributed.Client`). Returns the run's `RunResult`.
    """
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    sim = protocol.simulation
    n_sims = sim.n_sims if n_sims is None else n_sims
    seed = sim.seed if seed is None else seed
    save_patients = sim.save_patients if save_patients is None else save_patients
    if not 1 <= n_sims <= MAX_N_SIMS:
        raise CstrialError(f"--n-sims must be between 1 and {MAX_N_SIMS:,}, found {n_sims:,}")
    if seed < 0:
        raise CstrialError(f"--seed must be a non-negative integer, found {seed}")
    if save_patients < 0:
        raise CstrialError(f"--save-patients must be 0 or more, found {save_patients}")
    if backend not in BACKENDS:
        raise CstrialError(f"--backend must be one of {', '.join(BACKENDS)}, found {backend!r}")
    if backend == "dask" and scheduler is None:
        raise CstrialError(
            "--backend dask needs --scheduler ADDRESS, the address of a running "
            "dask.distributed scheduler (e.g. tcp://10.0.0.5:8786)"
        )
    out = Path(out) if out is not None else Path("results") / protocol.name
    started = time.perf_counter()

    scenarios = _select(expand_scenarios(protocol), scenario)
    chunk_size = sim.chunk_size
    _check_chunk_memory(scenarios, min(chunk_size, n_sims))
    n_tasks = len(scenarios) * -(-n_sims // chunk_size)
    with _workers_starting(jobs, backend, n_tasks), one_blas_thread():
        plans = [plan_scenario(s, seed) for s in scenarios]
    n_looks = max(p.n_looks for p in plans)
    tasks = [
        (plan, c, c * chunk_size, min(chunk_size, n_sims - c * chunk_size))
        for plan in plans
        for c in range(-(-n_sims // chunk_size))
    ]

    _make_out(out)
    store = ChunkStore(
        out / CHUNKS_FOLDER,
        {
            "cstrial_version": __version__,
            "protocol_sha256": _sha256_text(protocol.resolved_yaml()),
            "seed": seed,
            "n_sims": n_sims,
            "chunk_size": chunk_size,
            "save_patients": save_patients,
            "n_looks": n_looks,
        },
    )
    if resume:
        store.open()
        pending = [t for t in tasks if not store.finished(t[0].index, t[1])]
    else:
        store.reset()
        pending = tasks
    _remove_stale_temporaries(out)
    done = len(tasks) - len(pending)
    if progress is not None:
        progress(done, len(tasks))
    # closing(): a failure here (a full disk) stops the workers at once
    with contextlib.closing(
        _execute(_first_chunks_first(pending), n_looks, save_patients, jobs, backend, scheduler)
    ) as results:
        fresh = _stored(results, store, progress, done, len(tasks))
        try:
            trials, patients, summary = _stream(
                store,
                tasks,
                {(plan.index, chunk) for plan, chunk, _, _ in pending},
                fresh,
                plans,
                n_looks,
                out,
                _analytic_columns(scenarios, plans),
            )
        except MemoryError:
            raise CstrialError(
                f"out of memory simulating chunks of {chunk_size} trials; lower "
                "simulation.chunk_size or --jobs, then add --resume to keep the chunks "
                "already finished"
            ) from None

    try:
        trials.commit()
        if save_patients > 0:
            patients.commit()
        summary_table = summary.table()
        write_table_atomic(summary_table, out / "summary.parquet")
        manifest = _manifest(
            protocol,
            plans,
            seed,
            n_sims,
            jobs,
            save_patients,
            time.perf_counter() - started,
            out,
            scenario=scenario,
            backend=backend,
            resumed=resume,
        )
        write_json_atomic(manifest, out / "manifest.json")
    except BaseException:
        # without its manifest a run is not whole: take its files away, keep the chunks
        trials.abort()
        patients.abort()
        for name in OUTPUT_FILES:
            with contextlib.suppress(OSError):
                (out / name).unlink()
        raise
    store.remove()
    summary_frame = summary_table.to_pandas()
    _warn_if_imprecise(summary_frame)
    return RunResult(out, summary_frame, manifest)


# Above this Monte Carlo SE a power estimate is too coarse to quote (STYLE.md).
POWER_SE_ADVISED = 0.01


def _warn_if_imprecise(summary: pd.DataFrame) -> None:
    worst = summary.loc[summary["power_se"].idxmax()]
    if worst["power_se"] > POWER_SE_ADVISED:
        warnings.warn(
            f"the power of {worst['comparison']} in scenario {worst['scenario']} has a Monte "
            f"Carlo SE of {worst['power_se']:.4f} with n_sims {int(worst['n_sims'])}, above "
            f"{POWER_SE_ADVISED}: quote it with its CI, or raise --n-sims (2,500 trials keep the "
            "SE below 0.01 at any power)",
            MonteCarloPrecisionWarning,
            stacklevel=3,
        )


def _analytic_columns(scenarios: list, plans: list[ScenarioPlan]) -> dict:
    """Per scenario and comparison: the closed-form N for the design's power, and the
    patients to screen for it (the enrichment trade-off), for binary primaries."""
    from cstrial.sample_size import analytic_for_rates  # it builds on the engine's modules

    columns = {}
    for scenario, plan in zip(scenarios, plans, strict=True):
        protocol = scenario.protocol
        for c in plan.comparisons:
            n = float("nan")
            if protocol.endpoints.primary.type == "binary" and c.treatment_risk < c.control_risk:
                with contextlib.suppress(CstrialError):
                    n = float(
                        analytic_for_rates(
                            protocol,
                            c.control_risk,
                            c.treatment_risk,
                            power=protocol.design.power,
                            alpha=c.alpha,
                            arm=plan.arm_names[c.arm_index],
                            scenario=plan.name,
                        ).sample_size
                    )
            columns[(plan.name, c.label)] = {
                "analytic_sample_size": n,
                "analytic_screened": n / plan.eligible_fraction,
            }
    return columns


def _stored(
    results: Iterator[ChunkResult],
    store: ChunkStore,
    progress: Progress | None,
    done: int,
    total: int,
) -> Iterator[ChunkResult]:
    """Each chunk's result as it arrives, once it is kept in the store (for --resume)."""
    for result in results:
        store.put(result.scenario, result.chunk, result.trials, result.tallies, result.patients)
        done += 1
        if progress is not None:
            progress(done, total)
        yield result


def _first_chunks_first(tasks: list) -> list:
    """Each scenario's first chunk, then the rest in order: the files' columns are known early."""
    return sorted(tasks, key=lambda task: task[1] != 0)  # a stable sort


def _stream(
    store: ChunkStore,
    tasks: list,
    simulating: set[tuple[int, int]],
    fresh: Iterator[ChunkResult],
    plans: list[ScenarioPlan],
    n_looks: int,
    out: Path,
    extra: dict | None = None,
) -> tuple[AtomicParquetWriter, AtomicParquetWriter, SummaryAccumulator]:
    """Write every chunk, in order, to trials.parquet and patients.parquet (uncommitted) and the summary.

    The chunks in `simulating` come from `fresh` as they are simulated (each
    scenario's first chunk first), the others (finished by an interrupted run) from
    the store: the same tables either way, so a resumed run writes what a run
    straight through writes. Only the first chunks of later scenarios wait in memory.
    """
    waiting: dict[tuple[int, int], Any] = {}

    def chunk(key: tuple[int, int]) -> Any:
        if key not in simulating and key not in waiting:
            waiting[key] = store.get(*key)  # a first chunk is read once: schema, then rows
        while key not in waiting:
            result = next(fresh)
            waiting[(result.scenario, result.chunk)] = result
        return waiting[key]

    # one schema per file: the contract columns, then any a scenario adds (secondary endpoints)
    firsts = [chunk((plan.index, 0)) for plan, index, _, _ in tasks if index == 0]
    trials_columns = union_schema(trials_schema(n_looks), [f.trials.schema for f in firsts])
    patients_columns = union_schema(
        None, [f.patients.schema for f in firsts if f.patients is not None]
    )
    del firsts
    trials = AtomicParquetWriter(out / "trials.parquet", trials_columns)
    patients = AtomicParquetWriter(out / "patients.parquet", patients_columns)
    summary = SummaryAccumulator(plans, n_looks, extra)
    try:
        for plan, index, _, _ in tasks:
            done = chunk((plan.index, index))
            del waiting[(plan.index, index)]
            trials.write(done.trials)
            summary.add(done.trials, done.tallies)
            if done.patients is not None:
                patients.write(done.patients)
    except BaseException:
        trials.abort()
        patients.abort()
        raise
    return trials, patients, summary


def _execute(
    tasks: list,
    n_looks: int,
    save_patients: int,
    jobs: int | None,
    backend: str = "loky",
    scheduler: Any = None,
) -> Iterator[ChunkResult]:
    """The chunks' results, in task order, as they finish.

    joblib's generator hands each result over as soon as it and those before it
    are done; at most `pre_dispatch` tasks are queued ahead, so memory stays flat
    whatever the number of chunks.
    """
    n_jobs = jobs if jobs is not None else -1
    if not tasks:
        return
    if backend == "loky" and (n_jobs == 1 or len(tasks) == 1):
        for plan, chunk, first, reps in tasks:
            yield simulate_chunk(plan, chunk, first, reps, n_looks, save_patients)
        return
    calls = (
        joblib.delayed(simulate_chunk)(plan, chunk, first, reps, n_looks, save_patients)
        for plan, chunk, first, reps in tasks
    )
    if backend == "dask":
        with _dask_client(scheduler):
            with joblib.parallel_config(backend="dask"):
                parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)
            yield from parallel(calls)
        return
    parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)
    yield from parallel(calls)


@contextlib.contextmanager
def _workers_starting(jobs: int | None, backend: str, n_tasks: int) -> Iterator[None]:
    """Start the local workers (and their imports) while the main process plans.

    joblib dispatches a generator's tasks in the background at once, and the next
    Parallel with the same settings reuses the same workers: the ~1 s a worker
    takes to start overlaps planning instead of following it. Results are unaffected.
    """
    n_jobs = jobs if jobs is not None else -1
    if backend != "loky" or n_jobs == 1 or n_tasks <= 1:
        yield
        return
    workers = joblib.cpu_count() if n_jobs < 0 else n_jobs
    warming = joblib.Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)(
        joblib.delayed(warm_up)() for _ in range(min(workers, n_tasks))
    )
    try:
        yield
    finally:
        for _ in warming:  # wait for them (and let an error in planning surface first)
            pass


@contextlib.contextmanager
def _dask_client(scheduler: Any) -> Iterator[Any]:
    """A distributed.Client on `scheduler` (an address, or a Client used as it is)."""
    try:
        import distributed
    except ImportError:
        raise CstrialError(
            "--backend dask needs the dask extra: pip install 'cstrial[dask]'"
        ) from None
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    try:
        client = distributed.Client(scheduler, timeout=DASK_CONNECT_TIMEOUT, set_as_default=True)
    except (OSError, TimeoutError, ValueError) as error:
        raise CstrialError(
            f"cannot reach the Dask scheduler at {scheduler}: {error}. Check the address "
            "(e.g. tcp://host:8786) and that the scheduler is running."
        ) from None
    try:
        with client.as_current():
            yield client
    finally:
        client.close()


def _check_chunk_memory(scenarios: list, replicates: int) -> None:
    """A clear error, before any allocation, when one chunk would not fit in memory."""
    for s in scenarios:
        patients = replicates * s.protocol.design.sample_size
        if patients > MAX_PATIENTS_PER_CHUNK:
            where = "" if s.name == "base" else f"scenario {s.name!r}: "
            raise CstrialError(
                f"{where}a chunk of {replicates:,} trials of {s.protocol.design.sample_size:,} "
                f"patients holds {patients:,} patients, more than the {MAX_PATIENTS_PER_CHUNK:,} "
                "that fit in a worker's memory. Lower simulation.chunk_size (to "
                f"{max(1, MAX_PATIENTS_PER_CHUNK // s.protocol.design.sample_size):,} or less) "
                "or design.sample_size."
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
    probe = out / f".write-test-{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        raise CstrialError(
            f"cannot write results to {out}: {exc.strerror or exc}. Choose another --out."
        ) from None


def _remove_stale_temporaries(out: Path) -> None:
    """Temporary files left by a killed run in `out` (they never look whole, but take space)."""
    for name in OUTPUT_FILES:
        for tmp in out.glob(f".{name}.tmp-*"):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _manifest(
    protocol: Protocol,
    plans: list[ScenarioPlan],
    seed: int,
    n_sims: int,
    jobs: int | None,
    save_patients: int,
    wall_time: float,
    out: Path,
    *,
    scenario: str | None = None,
    backend: str = "loky",
    resumed: bool = False,
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
        "scenario": scenario,
        "chunk_size": protocol.simulation.chunk_size,
        "patient_reuse": protocol.simulation.patient_reuse,
        "save_patients": save_patients,
        "scenarios": [
            {
                "index": p.index,
                "name": p.name,
                "eligible_fraction": p.eligible_fraction,
                "baseline_shift": p.baseline_shift,
                "look_patients": list(p.look_patients),
                "look_months": list(p.look_months),
                # time-to-event primary: deaths at full information and at each look
                "planned_events": p.planned_events,
                "look_events": list(p.look_events) if p.planned_events is not None else None,
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
        "backend": backend,
        "resumed": resumed,
        "wall_time_seconds": round(wall_time, 3),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "dependencies": {name: _version(name) for name in DEPENDENCIES},
        # every parameter table, with each uncertain parameter's plausible range and its source
        "parameters": {t.title: t.to_records() for t in MODEL_TABLES},
        "files": {name: sha256_file(out / name) for name in files},
    }


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
