"""The benchmark runs end to end at a tiny size (the CI smoke run of benchmarks/run.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))  # benchmarks/ sits beside src/, not in it
from benchmarks import run as benchmark


def test_the_benchmark_smoke_run_writes_its_table_and_json(tmp_path, capsys):
    out = tmp_path / "results.json"
    assert benchmark.main(["--smoke", "--jobs", "1", "--no-rpact", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "patients/s" in printed and "binary 3-look" in printed
    assert "time-to-event 3-look" in printed
    assert "rpact: skipped" in printed

    report = json.loads(out.read_text())
    assert report["smoke"] is True
    by_name = {row["design"]: row for row in report["designs"]}
    samplers = {
        "binary fixed": "counts",
        "binary 3-look": "counts",
        "time-to-event 3-look": "events",
        "patient-level 3-look": "patients",
    }
    for name, sampler in samplers.items():
        row = by_name[name]
        assert row["status"] == "ok"
        assert row["wall_seconds"] > 0 and row["patients_per_second"] > 0
        assert 0 < row["ratio_to_raw_normal_rate"] < 1
        assert row["main_peak_mib"] > 0
        assert 0 <= row["power"] <= 1
        assert row["sampler"] == sampler


def test_the_benchmark_protocols_are_valid():
    from cstrial.protocol import parse_protocol

    for design in benchmark.DESIGNS:
        if design.available:
            protocol = parse_protocol(benchmark.protocol(design, 600, 100, 50))
            assert protocol.design.looks == list(design.looks)


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_n_sims(write_protocol, tmp_path):
    """20,000 and 100,000 replicates peak alike: the main process flat, the process tree within 15%."""
    protocol = write_protocol(
        {"scenarios": [], "design.sample_size": 200, "simulation.chunk_size": 1000}
    )
    small = benchmark.time_cstrial(protocol, 20_000, 2, tmp_path / "small")
    large = benchmark.time_cstrial(protocol, 100_000, 2, tmp_path / "large")
    assert large["main_peak_mib"] <= small["main_peak_mib"] * 1.05 + 5
    if small["tree_peak_mib"] is not None:
        assert large["tree_peak_mib"] <= small["tree_peak_mib"] * 1.15


def test_repeated_rounds_report_medians_and_every_round():
    """--repeat N: the table gives the median wall time of the rounds, cstrial's and
    rpact's, and their ratio; the JSON keeps each round."""
    design = benchmark.DESIGNS[1]
    rounds = [
        {
            "wall_seconds": wall,
            "engine_seconds": wall - 1,
            "tree_peak_mib": peak,
            "main_peak_mib": 300.0,
            "power": 0.8,
            "sampler": "counts",
            "control_rate": 0.4,
            "treatment_rate": 0.3,
        }
        for wall, peak in ((12.0, 480.0), (10.0, 500.0), (30.0, 490.0))
    ]
    rpact = [{"wall_seconds": w, "power": 0.8} for w in (6.0, 5.0, 9.0)]
    row = benchmark._row(design, rounds, rpact, 1000, 2)
    assert row["wall_seconds"] == 12.0 and row["wall_seconds_each"] == [12.0, 10.0, 30.0]
    assert row["rpact"]["wall_seconds"] == 6.0
    assert row["cstrial_over_rpact_time"] == 2.0
    assert row["patients_per_second"] == round(1000 * benchmark.SAMPLE_SIZE / 12.0)
    assert row["peak_memory_mib"] == 500.0 and row["rounds"] == 3
    table = benchmark._table([row | {"ratio_to_raw_normal_rate": 0.05}], 7e7, True, False)
    assert "medians of 3 interleaved rounds" in table
