"""Chunks of replicate trials as tasks, run in this process, on local workers, or on Dask.

A chunk's result depends only on its task (plan, chunk index, first replicate,
number of replicates), never on where it ran, so the backend and the number of
workers never change an output.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, NamedTuple

import joblib
from joblib.externals.loky.process_executor import BrokenProcessPool, TerminatedWorkerError

from cstrial.engine.plan import ScenarioPlan
from cstrial.engine.simulate import ChunkResult, simulate_chunk
from cstrial.errors import CstrialError, UsageError

BACKENDS = ("loky", "dask")
DASK_CONNECT_TIMEOUT = 30.0  # seconds to reach the scheduler before giving up


class ChunkTask(NamedTuple):
    """One chunk to simulate: replicates first_sim .. first_sim + replicates - 1 of a scenario."""

    plan: ScenarioPlan
    chunk: int
    first_sim: int
    replicates: int


def chunk_tasks(plan: ScenarioPlan, n_sims: int, chunk_size: int) -> list[ChunkTask]:
    """The chunks of `n_sims` replicates of one scenario, in order."""
    return [
        ChunkTask(plan, c, c * chunk_size, min(chunk_size, n_sims - c * chunk_size))
        for c in range(-(-n_sims // chunk_size))
    ]


# Estimated seconds of one core per simulated patient, by sampler (measured on the
# benchmark designs): counts draw per arm and stage, events per patient, patients with
# all covariates.
SECONDS_PER_PATIENT = {"counts": 3e-8, "events": 1.2e-6, "patients": 1.5e-5}
# Below this many estimated seconds a run stays in this process: starting workers (each
# importing numpy, scipy and pyarrow) would cost more than it saves.
IN_PROCESS_SECONDS = 4.0


def workers_for(tasks: list[ChunkTask], jobs: int | None, backend: str) -> int | None:
    """The workers to use: one (this process) when the work is small, else `jobs`.

    Results never depend on it: a chunk's bytes are the same wherever it runs.
    """
    if backend != "loky" or jobs == 1:
        return jobs
    work = sum(
        t.replicates * t.plan.sample_size * SECONDS_PER_PATIENT.get(t.plan.sampler, 1e-5)
        for t in tasks
    )
    return 1 if work < IN_PROCESS_SECONDS else jobs


def check_backend(backend: str, scheduler: Any) -> None:
    """`backend` is known, and Dask has a scheduler to go to."""
    if backend not in BACKENDS:
        raise UsageError("backend", f"must be one of {', '.join(BACKENDS)}, found {backend!r}")
    if backend == "dask" and scheduler is None:
        raise UsageError(
            "scheduler",
            "is needed with the dask backend: the address of a running dask.distributed "
            "scheduler (e.g. tcp://10.0.0.5:8786)",
        )


def check_jobs(jobs: int | None) -> None:
    """`jobs` is None (all cores), a positive count, or joblib's negative count from the end."""
    if jobs == 0:
        raise UsageError("jobs", "must be a positive number of workers (or omitted for all cores)")


def execute(
    tasks: Iterable[ChunkTask],
    n_looks: int,
    save_patients: int = 0,
    jobs: int | None = None,
    backend: str = "loky",
    scheduler: Any = None,
) -> Generator[ChunkResult, None, None]:
    """The chunks' results, in task order, as they finish.

    joblib's generator hands each result over as soon as it and those before it
    are done; at most `pre_dispatch` tasks are queued ahead, so memory stays flat
    whatever the number of chunks.
    """
    tasks = list(tasks)
    n_jobs = jobs if jobs is not None else -1
    if not tasks:
        return
    if backend == "loky" and (n_jobs == 1 or len(tasks) == 1):
        for task in tasks:
            yield simulate_chunk(*task, n_looks, save_patients)
        return
    if backend == "dask":
        calls = (joblib.delayed(simulate_chunk)(*task, n_looks, save_patients) for task in tasks)
        with _dask_client(scheduler), joblib.parallel_config(backend="dask"):
            parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)
            yield from parallel(calls)
        return
    # the function travels with each call, so a test's stand-in for it runs in the workers
    calls = (
        joblib.delayed(_in_worker)(simulate_chunk, os.getpid(), *task, n_looks, save_patients)
        for task in tasks
    )
    parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)
    try:
        yield from parallel(calls)
    except (TerminatedWorkerError, BrokenProcessPool) as error:
        raise WorkerDiedError(str(error)) from None


class WorkerDiedError(CstrialError):
    """A worker process died under a chunk: most often killed by the system for memory."""

    def __init__(self, detail: str) -> None:
        signal_name = next(
            (s.name for s in (signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS) if s.name in detail),
            None,
        )
        how = f" (it was killed by {signal_name})" if signal_name else ""
        super().__init__(
            f"a worker process died while simulating a chunk{how}. The likely cause is "
            "memory: the system kills a process when memory runs out. Use fewer workers "
            "(--jobs, e.g. --jobs 1) or smaller chunks (simulation.chunk_size), then run the "
            "same command with --resume to keep the chunks already finished"
        )


# Seconds between a worker's checks that the process that started it is alive.
PARENT_CHECK_SECONDS = 0.5
_watching: list[int] = []


def _in_worker(simulate: Callable[..., ChunkResult], parent: int, *args: Any) -> ChunkResult:
    """`simulate(*args)` in a worker process that exits when `parent` (the run) is gone.

    loky keeps its workers for reuse; if the run's process is killed (kill -9 gives it no
    chance to stop them) they would live on, holding the caller's files open. Each worker
    watches its parent and exits as soon as it is gone.
    """
    if not _watching and os.getpid() != parent:
        _watching.append(parent)
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    return simulate(*args)


def _exit_with(parent: int) -> None:
    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        if os.getppid() != parent:  # re-parented: the run's process is gone
            os._exit(1)


@contextlib.contextmanager
def _dask_client(scheduler: Any) -> Iterator[Any]:
    """A distributed.Client on `scheduler` (an address, or a Client used as it is)."""
    try:
        import distributed
    except ImportError:
        raise CstrialError(
            "the dask backend needs the dask extra: pip install 'cstrial[dask]'"
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
