"""Resume: a killed run picks up from its finished chunks and ends with the bytes of a straight run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cstrial.engine import parallel as engine
from cstrial.engine import run, simulate
from cstrial.errors import CstrialError

OUTPUTS = ("trials.parquet", "summary.parquet", "patients.parquet")


def _same_bytes(a: Path, b: Path, names=OUTPUTS) -> None:
    for name in names:
        if (a / name).exists() or (b / name).exists():
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _fail_after(monkeypatch, k: int, error: type[BaseException] = RuntimeError) -> dict:
    """Make the engine's simulate_chunk die on its (k+1)-th call, as a killed worker would."""
    calls = {"n": 0}
    original = simulate.simulate_chunk

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > k:
            raise error("killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "simulate_chunk", dying)
    return calls


def _count_calls(monkeypatch) -> dict:
    calls = {"n": 0}
    original = simulate.simulate_chunk

    def counting(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "simulate_chunk", counting)
    return calls


@pytest.fixture(params=["auto", "patients"], ids=["laws", "patients"])
def protocol(write_protocol, request):
    # 2 scenarios x 4 chunks of 50: small enough to run in a second; with outcomes from the
    # arms' laws and from virtual patients (simulation.sampler)
    return write_protocol(
        {
            "simulation.chunk_size": 50,
            "design.sample_size": 200,
            "simulation.sampler": request.param,
        }
    )


def test_a_resumed_run_has_the_bytes_of_a_run_straight_through(protocol, tmp_path, monkeypatch):
    straight = run(protocol, n_sims=200, jobs=1, out=tmp_path / "straight", save_patients=60)
    _fail_after(monkeypatch, 3, KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        run(protocol, n_sims=200, jobs=1, out=tmp_path / "resumed", save_patients=60)
    assert not (tmp_path / "resumed" / "trials.parquet").exists()
    finished = sorted(p.name for p in (tmp_path / "resumed" / ".chunks").glob("*.json"))
    # chunks run in order: the files' columns are declared from the plans, not learned
    assert finished == ["s0-c0.json", "s0-c1.json", "s0-c2.json"]

    calls = _count_calls(monkeypatch)
    resumed = run(
        protocol, n_sims=200, jobs=1, out=tmp_path / "resumed", save_patients=60, resume=True
    )
    assert calls["n"] == 8 - 3  # only the chunks not finished are simulated
    _same_bytes(straight.out, resumed.out)
    assert not (resumed.out / ".chunks").exists()
    assert resumed.manifest["resumed"] is True


def test_resume_with_parallel_workers_gives_the_same_bytes(protocol, tmp_path, monkeypatch):
    straight = run(protocol, n_sims=200, jobs=1, out=tmp_path / "straight")
    _fail_after(monkeypatch, 5)
    with pytest.raises(RuntimeError):
        run(protocol, n_sims=200, jobs=1, out=tmp_path / "resumed")
    monkeypatch.undo()
    resumed = run(protocol, n_sims=200, jobs=2, out=tmp_path / "resumed", resume=True)
    _same_bytes(straight.out, resumed.out)


def test_resume_of_a_finished_or_absent_run_simply_runs(protocol, tmp_path):
    straight = run(protocol, n_sims=100, jobs=1, out=tmp_path / "straight")
    fresh = run(protocol, n_sims=100, jobs=1, out=tmp_path / "fresh", resume=True)
    _same_bytes(straight.out, fresh.out)


def test_resume_refuses_chunks_of_a_different_run(protocol, tmp_path, monkeypatch):
    _fail_after(monkeypatch, 2)
    with pytest.raises(RuntimeError):
        run(protocol, n_sims=200, seed=1, jobs=1, out=tmp_path / "run")
    monkeypatch.undo()
    with pytest.raises(CstrialError, match=r"seed 1 there, 2 now.*Drop --resume"):
        run(protocol, n_sims=200, seed=2, jobs=1, out=tmp_path / "run", resume=True)
    with pytest.raises(CstrialError, match=r"n_sims 200 there, 150 now"):
        run(protocol, n_sims=150, seed=1, jobs=1, out=tmp_path / "run", resume=True)


def test_without_resume_old_chunks_are_dropped(protocol, tmp_path, monkeypatch):
    _fail_after(monkeypatch, 2)
    with pytest.raises(RuntimeError):
        run(protocol, n_sims=200, seed=1, jobs=1, out=tmp_path / "run")
    monkeypatch.undo()
    other = run(protocol, n_sims=200, seed=2, jobs=1, out=tmp_path / "run")
    straight = run(protocol, n_sims=200, seed=2, jobs=1, out=tmp_path / "straight")
    _same_bytes(straight.out, other.out)


def test_a_damaged_chunk_is_simulated_again(protocol, tmp_path, monkeypatch):
    straight = run(protocol, n_sims=200, jobs=1, out=tmp_path / "straight")
    _fail_after(monkeypatch, 3)
    with pytest.raises(RuntimeError):
        run(protocol, n_sims=200, jobs=1, out=tmp_path / "run")
    chunk = tmp_path / "run" / ".chunks" / "s0-c1.parquet"
    chunk.write_bytes(chunk.read_bytes()[:100])  # cut short, as by a full disk
    calls = _count_calls(monkeypatch)
    resumed = run(protocol, n_sims=200, jobs=1, out=tmp_path / "run", resume=True)
    assert calls["n"] == 8 - 2
    _same_bytes(straight.out, resumed.out)


def test_a_run_killed_by_sigkill_resumes_through_the_cli(protocol, tmp_path):
    """A real kill -9 of `cstrial run` part-way, then `cstrial run --resume`: the bytes of a straight run."""
    out = tmp_path / "run"
    command = [sys.executable, "-c", "from cstrial.cli import app; app()", "run", str(protocol)]
    options = ["--n-sims", "2000", "--jobs", "1", "--out", str(out)]
    env = {**os.environ, "CI": "true"}
    victim = subprocess.Popen([*command, *options], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(list((out / ".chunks").glob("*.json"))) < 3:
            assert victim.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no chunk finished within 60 s"
            time.sleep(0.02)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert not (out / "trials.parquet").exists()

    resumed = subprocess.run(
        [*command, *options, "--resume"], env=env, capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    straight = run(protocol, n_sims=2000, jobs=2, out=tmp_path / "straight")
    _same_bytes(straight.out, out)
