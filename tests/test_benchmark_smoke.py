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
    by_name = {(row["design"], row["patient_reuse"]): row for row in report["designs"]}
    for key in (
        (name, reuse)
        for name in ("binary fixed", "binary 3-look", "time-to-event 3-look")
        for reuse in benchmark.REUSE
    ):
        row = by_name[key]
        assert row["status"] == "ok"
        assert row["wall_seconds"] > 0 and row["patients_per_second"] > 0
        assert 0 < row["ratio_to_raw_normal_rate"] < 1
        assert row["main_peak_mib"] > 0
        assert 0 <= row["power"] <= 1
        assert row["design_effect"] >= 1.0


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
