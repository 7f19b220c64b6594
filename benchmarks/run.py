"""Time cstrial on standard designs; compare with numpy's raw normal-draw rate and with rpact.

    python -m benchmarks.run                 # 600 patients x 10,000 replicates per design
    python -m benchmarks.run --n-sims 100000 # the issue's target size
    python -m benchmarks.run --smoke         # tiny, a few seconds (CI)

Four designs, each 600 patients: binary 30-day death, fixed and with 3 looks
(information 0.33/0.67/1, Lan-DeMets O'Brien-Fleming efficacy bounds), 180-day
survival by log-rank with 3 event-driven looks, and the 3-look binary design
analysed by covariate-adjusted logistic regression (drawn as virtual patients:
`patient-level`, at a tenth of the replicates). Each is run as a whole
process (`python -c ... cstrial.engine.run`), timed from start to exit, as
`Rscript` running rpact is, so both sides pay their start-up. Reported per design:

- wall time of the whole process, and of the engine's run alone;
- virtual patients per second: n_sims x sample_size / whole-process wall time
  (a nominal rate: a trial that stops early draws only the stages it reached, and
  the laws' samplers draw outcomes, not covariates);
- the ratio of that rate to numpy's raw rate of `Generator(PCG64).standard_normal`
  draws, measured in this run on 10^7 floats (one core), overall and per worker;
- peak memory of the whole process tree (main process and its workers): the
  largest sum over the tree of each process's proportional set size (PSS, from
  /proc/PID/smaps_rollup; shared pages split between the processes sharing them),
  sampled every 200 ms (Linux; elsewhere "-"; reading smaps_rollup every 50 ms
  cost the run itself about 10% on 2 cores); and the main process's own peak,
  ru_maxrss from `resource.getrusage(RUSAGE_SELF)`. (ru_maxrss of the workers is
  not used: a forked worker starts with its parent's pages counted.)
- where R and rpact are installed (`Rscript -e 'library(rpact)'` succeeds), the
  wall time of rpact's `getSimulationRates` (binary) or `getSimulationSurvival`
  (time-to-event) on the same design (same looks, alpha spending, subjects or
  deaths per look, true event rates), and cstrial's time over rpact's. rpact draws
  arm totals (binary) or exponential survival times; cstrial draws from the
  model's exact outcome laws (non-exponential survival), so only the times
  compare, not the powers.

The table is printed and written as JSON (benchmarks/results.json by default).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).parent
SAMPLE_SIZE = 600
N_SIMS = 10_000
SEED = 20261121
PATIENT_LEVEL_SHARE = 10  # the patient-level design runs n_sims / 10 replicates


@dataclass(frozen=True)
class Design:
    """One benchmarked design: a name, its looks, and whether cstrial can simulate it yet."""

    name: str
    endpoint: str
    looks: tuple[float, ...]
    efficacy: str = "lan-demets-obrien-fleming"
    available: bool = True
    reason: str = ""
    share: int = 1  # runs n_sims / share replicates

    @property
    def has_rpact(self) -> bool:
        return self.endpoint in ("binary", "time-to-event")


DESIGNS = (
    Design("binary fixed", "binary", (1.0,)),
    Design("binary 3-look", "binary", (0.33, 0.67, 1.0)),
    Design("time-to-event 3-look", "time-to-event", (0.33, 0.67, 1.0)),
    Design("patient-level 3-look", "adjusted", (0.33, 0.67, 1.0), share=PATIENT_LEVEL_SHARE),
)
ENDPOINTS = {
    "binary": {
        "name": "death_30d",
        "type": "binary",
        "horizon_days": 30,
        "analysis": "two-proportion",
    },
    # event-driven looks: at 33%, 67% and 100% of the deaths expected by 180 days
    "time-to-event": {
        "name": "death_180d",
        "type": "time-to-event",
        "horizon_days": 180,
        "analysis": "log-rank",
    },
    # covariates read by the analysis: the patient-level sampler
    "adjusted": {
        "name": "death_30d",
        "type": "binary",
        "horizon_days": 30,
        "analysis": "logistic-adjusted",
        "covariates": ["scai_stage", "lactate_mmol_l", "il6_pg_ml", "age"],
    },
}
ACCRUAL_PER_MONTH = 25


def protocol(design: Design, sample_size: int, n_sims: int, chunk_size: int) -> dict:
    """The benchmark protocol: the README's tocilizumab trial, binary 30-day death."""
    return {
        "name": "benchmark-" + design.name.replace(" ", "-"),
        "title": f"Benchmark: {design.name}",
        "population": {
            "model": "default",
            "inclusion": {
                "scai_stage": ["C", "D", "E"],
                "etiology": ["AMI"],
                "il6_pg_ml": {"min": 50},
                "age": {"min": 18, "max": 90},
            },
            "exclusion": {"comatose_after_arrest": [True]},
        },
        "arms": [
            {"name": "placebo", "control": True},
            {
                "name": "tocilizumab",
                "effect": {"model": "il6-mediated", "blockade": 0.7, "delay_hours": 6},
            },
        ],
        "endpoints": {"primary": ENDPOINTS[design.endpoint]},
        "design": {
            "sample_size": sample_size,
            "alpha": 0.025,
            "looks": list(design.looks),
            "efficacy": {"spending": design.efficacy},
            "accrual": {"patients_per_month": ACCRUAL_PER_MONTH},
        },
        "simulation": {
            "n_sims": n_sims,
            "seed": SEED,
            "chunk_size": chunk_size,
        },
    }


def normal_draw_rate(size: int = 10_000_000, repeats: int = 3) -> float:
    """Draws per second of Generator(PCG64).standard_normal on `size` floats (best of `repeats`)."""
    rng = np.random.Generator(np.random.PCG64(SEED))
    out = np.empty(size)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        rng.standard_normal(size, out=out)
        best = min(best, time.perf_counter() - started)
    return size / best


# The benchmarked process: run, then report what the parent cannot see.
_CHILD = """
import json, resource, sys, time
started = time.perf_counter()
from cstrial.engine import run
result = run(sys.argv[1], n_sims=int(sys.argv[2]), jobs=int(sys.argv[3]), out=sys.argv[4])
engine_seconds = time.perf_counter() - started
row = result.summary.iloc[0]
print(json.dumps({
    "engine_seconds": engine_seconds,
    "run_wall_seconds": result.manifest["wall_time_seconds"],
    "power": float(row["power"]),
    "sampler": result.manifest["scenarios"][0]["sampler"],
    "control_rate": float(row["true_control_rate"]),
    "treatment_rate": float(row["true_treatment_rate"]),
    "look_patients": result.manifest["scenarios"][0]["look_patients"],
    "look_events": result.manifest["scenarios"][0].get("look_events"),
    "main_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


class TreeMemory:
    """Samples the total PSS of a process and its descendants (Linux /proc) until stopped."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.supported = Path(f"/proc/{pid}/smaps_rollup").exists()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        if self.supported:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.supported:
            self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = sum(_pss_kib(pid) for pid in _tree(self.pid))
            self.peak_kib = max(self.peak_kib, total)
            self._stop.wait(self.interval)


def _tree(root: int) -> list[int]:
    """`root` and every process descended from it."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def time_cstrial(protocol_path: Path, n_sims: int, jobs: int, out: Path) -> dict:
    """Run cstrial as a whole process; its wall time, engine time, power, rates and peak memory."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(protocol_path), str(n_sims), str(jobs), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeMemory(child.pid) as memory:
        stdout, stderr = child.communicate()
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"cstrial failed on {protocol_path}:\n{stderr}")
    report = json.loads(stdout.strip().splitlines()[-1])
    report["wall_seconds"] = wall
    report["tree_peak_mib"] = memory.peak_kib / 1024 if memory.supported else None
    return report


def rpact_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    check = subprocess.run(
        ["Rscript", "-e", "suppressMessages(library(rpact))"], capture_output=True, check=False
    )
    return check.returncode == 0


# rpact on the same design: the same looks, spending, alpha, subjects (binary) or deaths
# (time-to-event) per look, and true event rates (for survival: the 180-day death risks,
# exponential in rpact; cstrial's hazard is not, so only the timing is comparable).
_R = """
suppressMessages(library(rpact))
args <- commandArgs(trailingOnly = TRUE)
kind <- args[1]
rates <- as.numeric(strsplit(args[2], ",")[[1]])
looks <- as.numeric(strsplit(args[3], ",")[[1]])
n <- as.integer(args[4])
subjects <- as.numeric(args[5])
accrual <- as.numeric(args[6])
k <- length(looks)
if (k > 1) {
  design <- getDesignGroupSequential(kMax = k, alpha = 0.025, sided = 1,
    typeOfDesign = "asOF", informationRates = looks / looks[k])
} else {
  design <- getDesignGroupSequential(kMax = 1L, alpha = 0.025, sided = 1)
}
if (kind == "binary") {
  sim <- getSimulationRates(design, groups = 2, pi1 = rates[2], pi2 = rates[1],
    directionUpper = FALSE, plannedSubjects = looks, maxNumberOfIterations = n, seed = 1)
} else {
  sim <- getSimulationSurvival(design, pi1 = rates[2], pi2 = rates[1], eventTime = 6,
    accrualTime = accrual, plannedEvents = looks, maxNumberOfSubjects = subjects,
    directionUpper = FALSE, maxNumberOfIterations = n, seed = 1)
}
cat(sim$overallReject, "\\n")
"""


def time_rpact(design: Design, control: float, treatment: float, looks: list[int], n_sims: int):
    """rpact's getSimulationRates / getSimulationSurvival on the same design, as a whole process."""
    rates = f"{control:.10g},{treatment:.10g}"
    accrual = SAMPLE_SIZE / ACCRUAL_PER_MONTH
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as script:
        script.write(_R)
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [
                "Rscript",
                script.name,
                design.endpoint,
                rates,
                ",".join(map(str, looks)),
                str(n_sims),
                str(SAMPLE_SIZE),
                f"{accrual:g}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
    finally:
        os.unlink(script.name)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    return {"wall_seconds": wall, "power": float(done.stdout.split()[0])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes for CI: a few seconds")
    parser.add_argument("--n-sims", type=int, help=f"replicates per design (default {N_SIMS:,})")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="worker processes")
    parser.add_argument("--no-rpact", action="store_true", help="skip rpact even if installed")
    parser.add_argument("--out", type=Path, help="JSON results (default benchmarks/results.json)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of every timing, interleaved (cstrial and rpact alternate); the table "
        "gives medians, the JSON every round: on a shared machine one run varies by 10-20%%",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be 1 or more, found {args.repeat}")

    n_sims = args.n_sims or (60 if args.smoke else N_SIMS)
    chunk_size = 30 if args.smoke else 1000
    out = args.out or HERE / ("results-smoke.json" if args.smoke else "results.json")
    draws_per_second = normal_draw_rate(10**6 if args.smoke else 10**7)
    use_rpact = not args.no_rpact and rpact_available()

    timings: dict[str, list[dict]] = {d.name: [] for d in DESIGNS}
    rpact_times: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="cstrial-bench-") as tmp:
        # round after round, so a slow spell of a shared machine hits both sides alike
        for _ in range(args.repeat):
            for design in DESIGNS:
                if not design.available:
                    continue
                replicates = max(1, n_sims // design.share)
                path = Path(tmp) / f"{design.name.replace(' ', '-')}.yaml"
                spec = protocol(design, SAMPLE_SIZE, replicates, min(chunk_size, replicates))
                path.write_text(yaml.safe_dump(spec))
                result = time_cstrial(path, replicates, args.jobs, Path(tmp) / "out" / path.stem)
                timings[design.name].append(result)
                if use_rpact and design.has_rpact:
                    looks = result["look_events"] or result["look_patients"]
                    rpact_times.setdefault(design.name, []).append(
                        time_rpact(
                            design,
                            result["control_rate"],
                            result["treatment_rate"],
                            looks,
                            replicates,
                        )
                    )
    rows = [
        _row(
            design,
            timings[design.name],
            rpact_times.get(design.name),
            max(1, n_sims // design.share),
            args.jobs,
        )
        for design in DESIGNS
    ]
    for row in rows:
        if row["status"] == "ok":
            row["raw_normal_draws_per_second"] = round(draws_per_second)
            rate = row["patients_per_second"]
            row["ratio_to_raw_normal_rate"] = round(rate / draws_per_second, 6)
            row["ratio_to_raw_normal_rate_per_worker"] = round(
                rate / args.jobs / draws_per_second, 4
            )
        if not use_rpact:
            row["rpact"] = "not installed" if not args.no_rpact else "skipped"

    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "numpy": np.__version__,
        },
        "smoke": args.smoke,
        "repeat": args.repeat,
        "memory": "peak_memory_mib: largest total PSS of the process tree (main + workers), "
        "sampled every 200 ms from /proc/PID/smaps_rollup; main_peak_mib: ru_maxrss of the "
        "main process (resource.getrusage RUSAGE_SELF)",
        "designs": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(_table(rows, draws_per_second, use_rpact, args.no_rpact))
    print(f"\nwrote {out}")
    return 0


def _row(
    design: Design,
    results: list[dict],
    rpact: list[dict] | None,
    n_sims: int,
    jobs: int,
) -> dict:
    """One design's table row: medians over the rounds, and every round's wall times."""
    row: dict = {
        "design": design.name,
        "sample_size": SAMPLE_SIZE,
        "n_sims": n_sims,
    }
    if not design.available:
        return row | {"status": design.reason}
    wall = statistics.median(r["wall_seconds"] for r in results)
    first = results[0]
    peaks = [r["tree_peak_mib"] for r in results if r["tree_peak_mib"] is not None]
    row.update(
        status="ok",
        jobs=jobs,
        rounds=len(results),
        wall_seconds=round(wall, 3),
        wall_seconds_each=[round(r["wall_seconds"], 3) for r in results],
        engine_seconds=round(statistics.median(r["engine_seconds"] for r in results), 3),
        patients_per_second=round(n_sims * SAMPLE_SIZE / wall),
        patients_per_second_per_worker=round(n_sims * SAMPLE_SIZE / wall / jobs),
        peak_memory_mib=round(max(peaks), 1) if peaks else None,
        main_peak_mib=round(max(r["main_peak_mib"] for r in results), 1),
        power=first["power"],
        sampler=first.get("sampler", "-"),
        control_rate=first["control_rate"],
        treatment_rate=first["treatment_rate"],
    )
    timed = [r for r in rpact or [] if "wall_seconds" in r]
    if rpact:
        row["rpact"] = (
            {
                "wall_seconds": statistics.median(r["wall_seconds"] for r in timed),
                "wall_seconds_each": [round(r["wall_seconds"], 3) for r in timed],
                "power": timed[0]["power"],
            }
            if timed
            else rpact[0]
        )
        if timed:
            row["cstrial_over_rpact_time"] = round(wall / row["rpact"]["wall_seconds"], 2)
    return row


def _table(rows: list[dict], draws_per_second: float, use_rpact: bool, skipped: bool) -> str:
    header = (
        f"{'design':<22} {'sampler':>8} {'N':>5} {'n_sims':>8} {'wall s':>8} {'patients/s':>12} "
        f"{'/raw normal':>11} {'peak MiB':>9} {'main MiB':>9} {'power':>6} {'rpact s':>8} "
        f"{'x rpact':>8}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        if row["status"] != "ok":
            lines.append(f"{row['design']:<22} {row['status']}")
            continue
        rpact = row.get("rpact")
        rpact_s = (
            f"{rpact['wall_seconds']:.2f}"
            if isinstance(rpact, dict) and "wall_seconds" in rpact
            else "-"
        )
        ratio = f"{row['cstrial_over_rpact_time']:.2f}" if "cstrial_over_rpact_time" in row else "-"
        lines.append(
            f"{row['design']:<22} {row['sampler']:>8} {row['sample_size']:>5} "
            f"{row['n_sims']:>8} {row['wall_seconds']:>8.2f} "
            f"{row['patients_per_second']:>12,} {row['ratio_to_raw_normal_rate']:>11.2%} "
            f"{_mib(row['peak_memory_mib']):>9} {row['main_peak_mib']:>9.0f} {row['power']:>6.3f} "
            f"{rpact_s:>8} {ratio:>8}"
        )
    lines.append("")
    rounds = max((row.get("rounds", 1) for row in rows), default=1)
    if rounds > 1:
        lines.append(f"wall s, rpact s: medians of {rounds} interleaved rounds (JSON: each round)")
    lines.append(
        f"raw normal draws: {draws_per_second:,.0f}/s (Generator(PCG64).standard_normal, one core); "
        f"jobs = {rows[0].get('jobs', '-')}"
    )
    lines.append(
        "sampler: counts or events (outcomes from the arms' exact laws), patients (virtual "
        "patients with covariates); the patient-level design runs a tenth of the replicates"
    )
    lines.append(
        "peak MiB: largest total PSS of main process + workers (/proc, every 200 ms); "
        "main MiB: ru_maxrss of the main process (resource.getrusage)"
    )
    if not use_rpact:
        lines.append(
            "rpact: skipped (--no-rpact)"
            if skipped
            else "rpact: not installed (Rscript with library(rpact)); no comparison"
        )
    else:
        lines.append(
            "x rpact: cstrial's whole-process time over rpact's "
            "(getSimulationRates; getSimulationSurvival for time-to-event)"
        )
    return "\n".join(lines)


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


if __name__ == "__main__":
    sys.exit(main())
