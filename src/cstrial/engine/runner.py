"""Run a protocol: plan each scenario, simulate its chunks in parallel, stream results to disk.

Chunk c of scenario s always draws from SeedSequence(seed, spawn_key=(s, c)) and
holds `simulation.chunk_size` replicates, so the bytes of trials.parquet do not
depend on the number of workers or the backend. The engine never prints; it
reports progress through a callback.

Each finished chunk is stored at once in OUT/.chunks/ (`cstrial.engine.chunks`)
and written, in chunk order, to trials.parquet (and patients.parquet) under a
temporary name, renamed into place once the last chunk is in; then the chunk
folder is removed. The files' schemas are declared from the plans
(`cstrial.engine.tables`), so chunks are written as they arrive. Memory does not
grow with n_sims, and `resume=True` picks up a killed run from its finished
chunks with the same bytes as a run straight through.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

from cstrial import __version__
from cstrial.engine.chunks import ChunkStore, StoredChunk
from cstrial.engine.manifest import run_manifest, sha256_text
from cstrial.engine.parallel import (
    ChunkTask,
    check_backend,
    check_jobs,
    chunk_tasks,
    execute,
    workers_for,
)
from cstrial.engine.plan import plan_scenario
from cstrial.engine.precision import warn_if_imprecise
from cstrial.engine.signals import stopping_on_signals
from cstrial.engine.simulate import ChunkResult, one_blas_thread
from cstrial.engine.summary import SummaryAccumulator
from cstrial.engine.tables import patients_schema, trials_schema
from cstrial.errors import ConvergenceWarning, CstrialError, InfeasibleDesignError, UsageError
from cstrial.folder import (
    CHUNKS,
    RUN_FILES,
    check_out,
    commit,
    discard_staging,
    kill_at,
    staging,
    writing_run,
)
from cstrial.model_parameters import DEFAULT, ModelParameters
from cstrial.population.reference import check_populations
from cstrial.protocol import Protocol, expand_scenarios, load_protocol, select_scenarios
from cstrial.protocol.limits import MAX_N_SIMS, MAX_SEED
from cstrial.protocol.limits import MAX_PATIENTS_PER_CHUNK as MAX_PATIENTS_COUNTS
from cstrial.protocol.scenarios import warn_if_no_arm_differs
from cstrial.results import (
    AtomicParquetWriter,
    RunResult,
    sha256_file,
    write_json_atomic,
    write_table_atomic,
)

Progress = Callable[[int, int], None]
# Rows of a Parquet row group: bounded, so the writer's metadata stays small whatever n_sims.
ROW_GROUP_ROWS = 65_536
# The samplers that hold every patient of a chunk (arm, times, covariates) peak at about
# 130 (events) and 260 (patients) bytes per patient (measured, docs/scale.md): 4 million
# patients is at most ~1 GiB per worker. The counts sampler holds counts per trial and
# arm; its plan holds ~15 bytes per patient of a trial, so 20 million at most.
# (the counts sampler: protocol.limits, checked by validate too)
MAX_PATIENTS_PER_CHUNK = 4_000_000


def run(
    protocol: Protocol | str | Path,
    *,
    n_sims: int | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    out: str | Path | None = None,
    scenario: str | Collection[str] | None = None,
    save_patients: int | None = None,
    progress: Progress | None = None,
    resume: bool = False,
    backend: str = "loky",
    scheduler: Any = None,
    force: bool = False,
    model: ModelParameters | None = None,
) -> RunResult:
    """Simulate every scenario of `protocol` (or those named in `scenario`) and write the run.

    Options override the protocol's `simulation` block; `out` defaults to
    results/<protocol name>/. With `resume`, chunks finished by an earlier,
    interrupted run of the same protocol, seed and n_sims in `out` are kept, not
    simulated again. `backend` is "loky" (local processes) or "dask", which runs
    the chunks on the `dask.distributed` cluster at `scheduler` (an address such
    as tcp://host:8786, or a `distributed.Client`). `model` overrides model parameters
    (`cstrial.model_parameters.ModelParameters`: a what-if on the model; the manifest
    records the overrides). Returns the run's `RunResult`.
    Invalid options raise `UsageError` naming the parameter.

    `out` is a run folder (`cstrial.folder`): a folder holding files cstrial did not
    write is refused unless `force` (they are kept either way); the folder is locked
    for the run; the run is committed whole at the end, so an earlier run in `out`
    stays intact until then. SIGINT and SIGTERM stop the workers and leave the
    finished chunks for `resume`.
    """
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    sim = protocol.simulation
    n_sims = sim.n_sims if n_sims is None else n_sims
    seed = sim.seed if seed is None else seed
    save_patients = sim.save_patients if save_patients is None else save_patients
    _check_options(n_sims, seed, save_patients, jobs)
    check_backend(backend, scheduler)
    out = check_out(Path(out) if out is not None else Path("results") / protocol.name)
    started = time.perf_counter()

    scenarios = select_scenarios(expand_scenarios(protocol), scenario)
    check_populations(scenarios)
    if any(s.index == 0 for s in scenarios):
        warn_if_no_arm_differs(protocol)
    chunk_size = sim.chunk_size
    _check_chunk_memory(scenarios, min(chunk_size, n_sims), MAX_PATIENTS_COUNTS)
    with one_blas_thread():
        plans = [plan_scenario(s, seed, save_patients, model or DEFAULT) for s in scenarios]
    _check_chunk_memory(
        [s for s, p in zip(scenarios, plans, strict=True) if p.sampler != "counts"],
        min(chunk_size, n_sims),
        MAX_PATIENTS_PER_CHUNK,
    )
    n_looks = max(p.n_looks for p in plans)
    tasks = [task for plan in plans for task in chunk_tasks(plan, n_sims, chunk_size)]
    jobs = workers_for(tasks, jobs, backend)

    with writing_run(out, force=force), stopping_on_signals():
        store = ChunkStore(
            out / CHUNKS,
            {
                "cstrial_version": __version__,
                "protocol_sha256": sha256_text(protocol.resolved_yaml()),
                "seed": seed,
                "n_sims": n_sims,
                "chunk_size": chunk_size,
                "save_patients": save_patients,
                "n_looks": n_looks,
                **({"model_overrides": dict(model.overrides)} if model and model.overrides else {}),
            },
        )
        if resume:
            store.open()
            pending = [t for t in tasks if not store.finished(t.plan.index, t.chunk)]
        else:
            store.reset()
            pending = tasks
        _remove_stale_temporaries(out)
        done = len(tasks) - len(pending)
        if progress is not None:
            progress(done, len(tasks))
        stage = staging(out)
        trials = AtomicParquetWriter(stage / "trials.parquet", trials_schema(plans, n_looks))
        patients = AtomicParquetWriter(stage / "patients.parquet", patients_schema(plans))
        summary = SummaryAccumulator(plans, n_looks)
        try:
            # closing(): a failure here (a full disk, a signal) stops the workers at once
            fresh = execute(pending, n_looks, save_patients, jobs, backend, scheduler)
            with contextlib.closing(fresh):
                stored = _stored(fresh, store, progress, done, len(tasks))
                trial_groups, patient_groups = RowGroups(trials), RowGroups(patients)
                for task, result in _in_order(tasks, pending, store, stored):
                    trial_groups.add(task.plan.index, result.trials)
                    summary.add(task.plan.index, result.tallies)
                    if result.patients is not None:
                        patient_groups.add(task.plan.index, result.patients)
                trial_groups.flush()
                patient_groups.flush()
            trials.commit()
            if save_patients > 0:
                patients.commit()
            summary_table = summary.table()
            write_table_atomic(summary_table, stage / "summary.parquet")
            manifest = run_manifest(
                protocol,
                plans,
                seed,
                n_sims,
                jobs,
                save_patients,
                time.perf_counter() - started,
                stage,
                scenario=_recorded(scenario),
                backend=backend,
                resumed=resume,
            )
            write_json_atomic(manifest, stage / "manifest.json")
            hashes = {**manifest["files"], "manifest.json": sha256_file(stage / "manifest.json")}
            kill_at("staged")
            # one commit: after any crash the folder is the old run or this one, whole
            commit(out, hashes)
        except MemoryError:
            _abort(out, trials, patients)
            raise CstrialError(
                f"out of memory simulating chunks of {chunk_size} trials; lower "
                "simulation.chunk_size or --jobs, then add --resume to keep the chunks "
                "already finished"
            ) from None
        except BaseException:
            # an uncommitted run leaves the folder as it was, and its chunks for --resume
            _abort(out, trials, patients)
            raise
        store.remove()
    store.remove()
    warn_if_imprecise(summary.precision_rows())
    warn_if_fits_failed(summary.failed_fits())
    return RunResult(out, summary_table.to_pandas(), manifest)


def warn_if_fits_failed(failures: list[tuple[str, str, int, int]]) -> None:
    """A `ConvergenceWarning` per scenario and comparison whose analyses sometimes failed."""
    for scenario, comparison, failed, trials in failures:
        warnings.warn(
            f"{failed:,} analyses of {comparison} in scenario {scenario} ({trials:,} trials) "
            "did not converge (separation or a singular fit, usual in small trials): those "
            "looks counted as no evidence (z = 0). Consider a larger sample, fewer "
            "covariates, or an unadjusted analysis",
            ConvergenceWarning,
            stacklevel=3,
        )


def _check_options(n_sims: int, seed: int, save_patients: int, jobs: int | None) -> None:
    if not 1 <= n_sims <= MAX_N_SIMS:
        raise UsageError("n_sims", f"must be between 1 and {MAX_N_SIMS:,}, found {n_sims:,}")
    if not 0 <= seed <= MAX_SEED:
        raise UsageError("seed", f"must be a whole number from 0 to {MAX_SEED:,}, found {seed}")
    if save_patients < 0:
        raise UsageError("save_patients", f"must be 0 or more, found {save_patients}")
    check_jobs(jobs)


def _recorded(scenario: str | Collection[str] | None) -> str | list[str] | None:
    """The scenario selection as the manifest records it (a name, or several)."""
    if scenario is None or isinstance(scenario, str):
        return scenario
    names = list(scenario)
    return names[0] if len(names) == 1 else names


def _stored(
    results: Iterable[ChunkResult],
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


def _in_order(
    tasks: list[ChunkTask],
    pending: list[ChunkTask],
    store: ChunkStore,
    fresh: Iterator[ChunkResult],
) -> Iterator[tuple[ChunkTask, ChunkResult | StoredChunk]]:
    """Every chunk in task order: the pending ones as simulated (`fresh` yields them in
    order), the others, finished by an interrupted run, read from the store. So a resumed
    run writes what a run straight through writes."""
    simulating = {(t.plan.index, t.chunk) for t in pending}
    for task in tasks:
        key = (task.plan.index, task.chunk)
        yield task, next(fresh) if key in simulating else store.get(*key)


def _abort(out: Path, *writers: AtomicParquetWriter) -> None:
    """Drop an uncommitted run's files: the folder stays as it was (chunks kept)."""
    for writer in writers:
        writer.abort()
    discard_staging(out)


class RowGroups:
    """Chunks' tables written to `writer` in row groups of at most ROW_GROUP_ROWS rows.

    A Parquet writer keeps every row group's metadata in memory until it closes, so one
    row group per chunk made the main process grow with n_sims; consecutive chunks of a
    scenario are gathered instead (a row group never spans two scenarios). The groups
    depend only on the chunks' order and sizes, never on the workers.
    """

    def __init__(self, writer: AtomicParquetWriter) -> None:
        self.writer = writer
        self.tables: list[Any] = []
        self.rows = 0
        self.scenario: int | None = None

    def add(self, scenario: int, table: Any) -> None:
        if self.tables and (
            scenario != self.scenario or self.rows + table.num_rows > ROW_GROUP_ROWS
        ):
            self.flush()
        self.scenario = scenario
        self.tables.append(table)
        self.rows += table.num_rows

    def flush(self) -> None:
        if self.tables:
            self.writer.write_group(self.tables)
        self.tables, self.rows = [], 0


def _check_chunk_memory(scenarios: list, replicates: int, limit: int) -> None:
    """A clear error, before any chunk is simulated, when one would not fit in memory."""
    for s in scenarios:
        size = s.protocol.design.sample_size
        patients = replicates * size
        if patients <= limit:
            continue
        where = "" if s.name == "base" else f"scenario {s.name!r}: "
        if size > limit:
            raise InfeasibleDesignError(
                f"{where}one trial of {size:,} patients is more than the {limit:,} patients "
                "a worker simulates at once within about 1 GiB of memory. Lower "
                "design.sample_size."
            )
        raise InfeasibleDesignError(
            f"{where}a chunk of {replicates:,} trials of {size:,} patients holds "
            f"{patients:,} patients, more than the {limit:,} a worker simulates at once "
            f"within about 1 GiB of memory. Lower simulation.chunk_size (to "
            f"{max(1, limit // size):,} or less) or design.sample_size."
        )


def _remove_stale_temporaries(out: Path) -> None:
    """Temporary files left by a killed run in `out` (they never look whole, but take space)."""
    for name in RUN_FILES:
        for tmp in out.glob(f".{name}.tmp-*"):
            with contextlib.suppress(OSError):
                tmp.unlink()
