"""Peak memory of the main process against n_sims: it must not grow with the number of chunks.

    python -m benchmarks.memory                       # 100,000 and 2,000,000 replicates
    python -m benchmarks.memory --n-sims 10000 50000  # other sizes
    python -m benchmarks.memory --out /tmp/memory.json

Each size runs in a fresh Python process (so one run's peak cannot hide in
another's), on a cheap protocol (tests/assets/small.yaml: 400 patients, two
scenarios, outcomes drawn by the `counts` sampler, chunks of 1,000 trials) with two
worker processes, and reports `ru_maxrss` of that main process, which writes every
file; the workers' memory is set by the chunk size, not by n_sims. The claim checked
(docs/scale.md): the peak at 2,000,000 replicates is within 10% of the peak at
100,000.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "tests" / "assets" / "small.yaml"
SIZES = (100_000, 2_000_000)
TOLERANCE = 0.10

# Runs in the child process: one run, then its own peak resident set size in KiB.
_CHILD = """
import resource, sys, warnings
from cstrial.engine import run
warnings.simplefilter("ignore")
run(sys.argv[1], n_sims=int(sys.argv[2]), jobs=int(sys.argv[3]), out=sys.argv[4])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def measure(n_sims: int, jobs: int = 2, chunk_size: int = 1000) -> dict:
    """Run `n_sims` replicates in a fresh process; its peak RSS (MiB) and wall time."""
    with tempfile.TemporaryDirectory(prefix="cstrial-memory-") as tmp:
        protocol = Path(tmp) / "small.yaml"
        text = PROTOCOL.read_text().replace("chunk_size: 250", f"chunk_size: {chunk_size}")
        protocol.write_text(text)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(protocol), str(n_sims), str(jobs), f"{tmp}/run"],
            capture_output=True,
            text=True,
            check=True,
            env={**_environment(), "PYTHONPATH": str(ROOT / "src")},
        )
        seconds = time.perf_counter() - started
        trials = (Path(tmp) / "run" / "trials.parquet").stat().st_size
    return {
        "n_sims": n_sims,
        "chunks": 2 * -(-n_sims // chunk_size),
        "main_peak_mib": round(int(done.stdout.split()[-1]) / 1024, 1),
        "wall_seconds": round(seconds, 1),
        "trials_parquet_mib": round(trials / 2**20, 1),
    }


def _environment() -> dict:
    import os

    return dict(os.environ)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sims", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "memory.json")
    args = parser.parse_args(argv)
    rows = [measure(n, args.jobs) for n in args.n_sims]
    for row in rows:
        print(
            f"n_sims {row['n_sims']:>10,}  chunks {row['chunks']:>6,}  main peak "
            f"{row['main_peak_mib']:7.1f} MiB  wall {row['wall_seconds']:6.1f} s  "
            f"trials.parquet {row['trials_parquet_mib']:.1f} MiB"
        )
    peaks = [r["main_peak_mib"] for r in rows]
    growth = max(peaks) / min(peaks) - 1
    flat = growth <= TOLERANCE
    print(f"largest peak over smallest: +{growth:.1%} ({'within' if flat else 'above'} 10%)")
    args.out.write_text(
        json.dumps({"runs": rows, "growth": round(growth, 4), "flat": flat}, indent=2) + "\n"
    )
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
