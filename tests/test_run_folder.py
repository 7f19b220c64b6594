"""A run folder never loses, mixes or misreports data (issue 21).

Ownership (a foreign file survives), one writer (a second run refuses naming the
holder), whole-run commits (a kill at every stage of the final write leaves the old
run or the new one, each verifying), a verify that checks every hash and the
manifest's content, safe reading, and signals that leave no process behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cstrial.cli import app
from cstrial.engine import run
from cstrial.folder import (
    JOURNAL,
    KILL_AT,
    LOCK,
    MARKER,
    STAGES,
    STAGING,
    FolderLock,
    RunFolderError,
)
from cstrial.results import RunResult, read_run, run_protocol
from cstrial.verify import verify_run

OUTPUTS = ("trials.parquet", "summary.parquet", "patients.parquet", "manifest.json")
SRC = str(Path(__file__).resolve().parents[1] / "src")


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def protocol(write_protocol):
    return write_protocol({"simulation.chunk_size": 50, "design.sample_size": 120})


def _cli(*args: object, env: dict | None = None) -> list[str]:
    return [sys.executable, "-c", "from cstrial.cli import app; app()", *map(str, args)]


def _env(**extra: str) -> dict:
    return {**os.environ, "CI": "true", "PYTHONPATH": SRC, **extra}


def _seed(out: Path) -> int:
    return json.loads((out / "manifest.json").read_text())["seed"]


# --------------------------------------------------------------------------- ownership


def test_a_foreign_file_in_out_is_refused_and_survives_force(protocol, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    result = invoke("run", protocol, "--n-sims", 50, "--jobs", 1, "--out", out)
    assert result.exit_code == 2
    assert "notes.txt" in result.output and "--force" in result.output
    assert sorted(os.listdir(out)) == ["notes.txt"]  # nothing written into it

    first = run(protocol, n_sims=50, seed=1, jobs=1, out=out, save_patients=2, force=True)
    assert (out / "notes.txt").read_text() == "my notes"
    assert (first.out / "patients.parquet").is_file()
    # a second run over it: cstrial's old files replaced or removed, the foreign one kept
    run(protocol, n_sims=50, seed=2, jobs=1, out=out, force=True)
    assert (out / "notes.txt").read_text() == "my notes"
    assert not (out / "patients.parquet").exists()  # the old run's, not vouched any more
    assert _seed(out) == 2
    assert verify_run(out, jobs=1).ok


def test_a_run_folder_of_cstrial_is_run_again_without_force(protocol, tmp_path):
    out = tmp_path / "run"
    run(protocol, n_sims=50, seed=1, jobs=1, out=out)
    run(protocol, n_sims=50, seed=2, jobs=1, out=out)
    assert _seed(out) == 2
    assert json.loads((out / MARKER).read_text())["written"] == [
        "manifest.json",
        "summary.parquet",
        "trials.parquet",
    ]


@pytest.mark.parametrize("out", ["", ".", ".."])
def test_the_current_folder_is_never_a_run_folder(protocol, tmp_path, monkeypatch, out):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = invoke("run", protocol, "--n-sims", 20, "--jobs", 1, "--out", out)
    assert result.exit_code == 2, result.output
    assert "--out" in result.output and "current folder" in result.output
    assert os.listdir(here) == []


# --------------------------------------------------------------------------- one writer


def test_a_folder_being_written_refuses_a_run_a_resume_and_a_report(protocol, tmp_path):
    out = run(protocol, n_sims=50, jobs=1, out=tmp_path / "run").out
    with FolderLock(out, exclusive=True, command="run"):
        for resume in (False, True):
            with pytest.raises(RunFolderError, match=rf"pid {os.getpid()}, on .*, since"):
                run(protocol, n_sims=50, jobs=1, out=out, resume=resume)
        result = invoke("report", out)
        assert result.exit_code == 2 and "being written by `cstrial run`" in result.output
        result = invoke("verify", out, "--hashes-only")
        assert result.exit_code == 2 and f"pid {os.getpid()}" in result.output
    assert verify_run(out, hashes_only=True).ok


def test_a_stale_lock_of_a_dead_process_is_taken_over(protocol, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"cstrial_run_folder": 1, "written": []}))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / LOCK).write_text(json.dumps({"pid": dead.pid, "host": "x", "command": "run"}))
    assert run(protocol, n_sims=50, jobs=1, out=out).out == out
    assert verify_run(out, hashes_only=True).ok


def test_two_concurrent_runs_never_mix(protocol, tmp_path):
    """A real second process: while one run writes the folder, another is refused."""
    out = tmp_path / "run"
    first = subprocess.Popen(
        _cli("run", protocol, "--n-sims", 2000, "--jobs", 1, "--seed", 1, "--out", out),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list((out / ".chunks").glob("s*.json")):
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with pytest.raises(RunFolderError, match=rf"pid {first.pid}"):
            run(protocol, n_sims=100, seed=2, jobs=1, out=out)
    finally:
        assert first.wait(timeout=300) == 0
    assert _seed(out) == 1
    assert verify_run(out, hashes_only=True).ok


# --------------------------------------------------------------------------- atomicity


@pytest.fixture(scope="module")
def references(tmp_path_factory, request):
    """The old run (seed 1, saved patients) and the new one (seed 2), each run straight."""
    from helpers import SMALL

    root = tmp_path_factory.mktemp("references")
    text = SMALL.read_text().replace("chunk_size: 250", "chunk_size: 50")
    text = text.replace("sample_size: 400", "sample_size: 120")
    protocol = root / "protocol.yaml"
    protocol.write_text(text)
    old = run(protocol, n_sims=100, seed=1, jobs=1, out=root / "old", save_patients=2).out
    new = run(protocol, n_sims=100, seed=2, jobs=1, out=root / "new", save_patients=3).out
    return protocol, old, new


def _same_run(a: Path, b: Path) -> None:
    for name in OUTPUTS[:-1]:
        assert (a / name).exists() == (b / name).exists(), name
        if (a / name).exists():
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


# three stages in the default run (before the commit point, at it, part-way through);
# every stage with -m slow
QUICK_STAGES = ("staged", "journal", "install:trials.parquet")


@pytest.mark.parametrize(
    "stage",
    [s if s in QUICK_STAGES else pytest.param(s, marks=pytest.mark.slow) for s in STAGES],
)
def test_a_kill_at_each_stage_of_the_commit_leaves_the_old_run_or_the_new(
    references, tmp_path, stage
):
    protocol, old, new = references
    out = tmp_path / "run"
    run(protocol, n_sims=100, seed=1, jobs=1, out=out, save_patients=2)
    (out / "notes.txt").write_text("kept")
    killed = subprocess.run(
        _cli(
            "run",
            protocol,
            "--n-sims",
            100,
            "--seed",
            2,
            "--jobs",
            1,
            "--out",
            out,
            "--save-patients",
            3,
            "--force",
        ),
        env=_env(**{KILL_AT: stage}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    committed = stage != "staged"  # the journal is the commit point
    assert (out / JOURNAL).exists() == committed
    report = verify_run(out, jobs=1)  # finishes an interrupted commit first
    assert report.ok, report.render()
    assert not (out / JOURNAL).exists() and not (out / STAGING).exists()
    _same_run(out, new if committed else old)
    assert (out / "notes.txt").read_text() == "kept"


def test_a_real_kill_during_a_run_over_an_earlier_run_keeps_the_earlier_run(references, tmp_path):
    protocol, old, new = references
    out = tmp_path / "run"
    run(protocol, n_sims=100, seed=1, jobs=1, out=out, save_patients=2)
    victim = subprocess.Popen(
        _cli("run", protocol, "--n-sims", 3000, "--seed", 2, "--jobs", 1, "--out", out),
        env=_env(),
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(list((out / ".chunks").glob("s*.json"))) < 3:
            assert victim.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    _same_run(out, old)
    assert verify_run(out, hashes_only=True).ok
    resumed = run(protocol, n_sims=100, seed=2, jobs=1, out=out, save_patients=3)
    _same_run(resumed.out, new)


# --------------------------------------------------------------------------- verify


@pytest.fixture
def finished(protocol, tmp_path) -> Path:
    return run(protocol, n_sims=50, jobs=1, out=tmp_path / "run", save_patients=2).out


def _edit_manifest(out: Path, change) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    change(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


def test_verify_hashes_only_passes_a_fresh_run_without_re_running(finished):
    result = invoke("verify", finished, "--hashes-only")
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "not re-run" in result.output


def test_an_edited_bound_in_the_manifest_is_detected(finished):
    def change(manifest):
        manifest["scenarios"][0]["comparisons"][0]["efficacy_z"][0] += 0.01

    _edit_manifest(finished, change)
    assert not verify_run(finished, hashes_only=True).ok  # the commit recorded its hash
    report = verify_run(finished, jobs=1)
    fields = [d.column for d in report.differences if d.kind == "manifest"]
    assert fields == ["scenarios[0].comparisons[0].efficacy_z[0]"]
    assert "efficacy_z[0] is" in report.render()


def test_an_edited_protocol_text_or_seed_is_detected(finished):
    def change(manifest):
        manifest["protocol"]["resolved_yaml"] += "# edited\n"
        manifest["protocol"]["sha256"] = "0" * 64

    _edit_manifest(finished, change)
    report = verify_run(finished, jobs=1)
    fields = {d.column for d in report.differences if d.kind == "manifest"}
    assert {"protocol.resolved_yaml", "protocol.sha256"} <= fields


def test_a_file_dropped_from_the_manifest_is_detected(finished):
    _edit_manifest(finished, lambda m: m["files"].pop("patients.parquet"))
    report = verify_run(finished, hashes_only=True)
    assert not report.ok
    assert "patients.parquet: in the folder; expected in manifest.json's file list" in (
        report.render()
    )


def test_a_tampered_file_is_named_by_its_hash(finished):
    table = pq.read_table(finished / "patients.parquet")
    pq.write_table(table.slice(1), finished / "patients.parquet")
    result = invoke("verify", finished, "--hashes-only")
    assert result.exit_code == 1
    assert "patients.parquet: SHA-256" in result.output


@pytest.mark.parametrize("name", ["manifest.json", "summary.parquet"])
@pytest.mark.parametrize("command", ["verify", "report"])
def test_a_damaged_file_is_a_clear_error_never_a_traceback(finished, name, command):
    path = finished / name
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    result = invoke(command, finished, *(["--jobs", 1] if command == "verify" else []))
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert name in result.output


# --------------------------------------------------------------------------- chunk records


def _interrupted(protocol, out: Path, monkeypatch, after: int = 4) -> None:
    from cstrial.engine import parallel
    from cstrial.engine import simulate as sim

    calls = {"n": 0}
    original = sim.simulate_chunk

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise RuntimeError("killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(parallel, "simulate_chunk", dying)
    with pytest.raises(RuntimeError):
        run(protocol, n_sims=200, jobs=1, out=out)
    monkeypatch.undo()


def test_a_swapped_chunk_record_is_rejected_on_resume(protocol, tmp_path, monkeypatch):
    from cstrial.engine.chunks import ChunkRecordWarning

    straight = run(protocol, n_sims=200, jobs=1, out=tmp_path / "straight")
    out = tmp_path / "run"
    _interrupted(protocol, out, monkeypatch)
    chunks = out / ".chunks"
    for suffix in (".json", ".parquet"):  # chunk 1's record and trials copied over chunk 0's
        (chunks / f"s0-c0{suffix}").write_bytes((chunks / f"s0-c1{suffix}").read_bytes())
    with pytest.warns(ChunkRecordWarning, match="record is that of chunk 1 of scenario 0"):
        resumed = run(protocol, n_sims=200, jobs=1, out=out, resume=True)
    _same_run(resumed.out, straight.out)


def test_an_edited_chunk_record_is_rejected_on_resume(protocol, tmp_path, monkeypatch):
    from cstrial.engine.chunks import ChunkRecordWarning

    straight = run(protocol, n_sims=200, jobs=1, out=tmp_path / "straight")
    out = tmp_path / "run"
    _interrupted(protocol, out, monkeypatch)
    record = out / ".chunks" / "s0-c1.json"
    meta = json.loads(record.read_text())
    meta["tallies"][0]["trials"] = 1  # a tally changed, its record's hash not
    record.write_text(json.dumps(meta))
    with pytest.warns(ChunkRecordWarning, match="does not match its own hash"):
        resumed = run(protocol, n_sims=200, jobs=1, out=out, resume=True)
    _same_run(resumed.out, straight.out)


def test_chunk_records_of_another_run_are_rejected_on_resume(protocol, tmp_path, monkeypatch):
    from cstrial.engine.chunks import ChunkRecordWarning

    a, b = tmp_path / "a", tmp_path / "b"
    _interrupted(protocol, a, monkeypatch)
    _interrupted(protocol, b, monkeypatch, after=2)
    for path in (a / ".chunks").glob("s*"):  # same protocol and seed, another run
        (b / ".chunks" / path.name).write_bytes(path.read_bytes())
    with pytest.warns(ChunkRecordWarning, match="written by another run"):
        run(protocol, n_sims=200, jobs=1, out=b, resume=True)


# --------------------------------------------------------------------------- safe reading


def test_a_yaml_bomb_in_a_manifest_goes_through_the_protected_loader(finished):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    manifest = json.loads((finished / "manifest.json").read_text())
    manifest["protocol"]["source_text"] = manifest["protocol"]["resolved_yaml"] = bomb
    started = time.monotonic()
    assert run_protocol(RunResult(finished, None, manifest)) is None  # type: ignore[arg-type]
    assert time.monotonic() - started < 5


def test_report_never_writes_through_a_figures_symlink(finished, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (finished / "figures").symlink_to(outside)
    result = invoke("report", finished)
    assert result.exit_code == 2 and "symlink" in result.output
    assert os.listdir(outside) == []


def test_report_never_reads_an_output_the_manifest_does_not_vouch_for(protocol, tmp_path):
    out = run(protocol, n_sims=50, jobs=1, out=tmp_path / "run").out
    stale = run(protocol, n_sims=50, jobs=1, out=tmp_path / "other", save_patients=2).out
    (out / "patients.parquet").write_bytes((stale / "patients.parquet").read_bytes())
    from cstrial.report import write_report

    report = write_report(out)
    assert "kaplan_meier" not in report.figures
    assert any("not one of this run's files" in note for note in report.notes)
    # a symlinked trials.parquet is not followed
    (out / "trials.parquet").unlink()
    (out / "trials.parquet").symlink_to(stale / "trials.parquet")
    result = invoke("report", out)
    assert result.exit_code != 0 and "symlink" in result.output
    with pytest.raises(Exception, match="symlink"):
        from cstrial.results import iter_trials

        next(iter_trials(out))
    assert read_run(out).summary is not None  # the summary is still the run's


# --------------------------------------------------------------------------- signals


def _children(pid: int) -> set[int]:
    """Every live descendant of `pid` (Linux /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = {int(k) for k in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += list(kids - found)
            found |= kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: set[int], seconds: float = 15.0) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = {p for p in pids if _alive(p)}
        if not left:
            return left
        time.sleep(0.1)
    return {p for p in pids if _alive(p)}


@pytest.fixture
def slow_protocol(write_protocol):
    # patients sampler, so the run is estimated long enough to start workers
    return write_protocol(
        {
            "simulation.chunk_size": 20,
            "design.sample_size": 200,
            "simulation.sampler": "patients",
        }
    )


def _started_with_workers(command: list[str], out: Path) -> tuple[subprocess.Popen, set[int]]:
    process = subprocess.Popen(
        command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while len(list((out / ".chunks").glob("s*.json"))) < 2 or len(workers) < 2:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "no workers within 120 s"
        workers = _children(process.pid)
        time.sleep(0.05)
    return process, workers


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)]
)
def test_a_signal_stops_the_workers_and_leaves_a_resumable_folder(slow_protocol, tmp_path, signum):
    out = tmp_path / "run"
    command = _cli("run", slow_protocol, "--n-sims", 4000, "--jobs", 2, "--out", out)
    process, workers = _started_with_workers(command, out)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    assert "--resume" in stderr.decode()
    assert _wait_gone(workers) == set()
    assert list((out / ".chunks").glob("s*.json"))
    assert not (out / "trials.parquet").exists() and not (out / STAGING).exists()


@pytest.mark.slow
def test_kill_9_of_the_run_does_not_leave_its_workers_alive(slow_protocol, tmp_path):
    out = tmp_path / "run"
    command = _cli("run", slow_protocol, "--n-sims", 4000, "--jobs", 2, "--out", out)
    process, workers = _started_with_workers(command, out)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _wait_gone(workers) == set()


def test_a_killed_worker_is_a_clear_error_naming_memory(slow_protocol, tmp_path, monkeypatch):
    from cstrial.engine import parallel
    from cstrial.engine.parallel import WorkerDiedError

    here = os.getpid()

    def killed(*args, **kwargs):
        if os.getpid() == here:  # never this test process
            raise RuntimeError("ran in the test process, not in a worker")
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer does

    monkeypatch.setattr(parallel, "simulate_chunk", killed)
    # 2000 trials of 200 virtual patients: estimated long enough to start workers
    with pytest.raises(WorkerDiedError, match=r"memory.*--jobs.*chunk_size.*--resume"):
        run(slow_protocol, n_sims=2000, jobs=2, out=tmp_path / "run")


def test_every_yaml_text_goes_through_the_protected_loader():
    """No module but the protected loader parses YAML (a manifest's protocol text included)."""
    import cstrial

    package = Path(cstrial.__file__).parent
    for source in package.rglob("*.py"):
        if source.name == "yaml_nodes.py":
            continue
        text = source.read_text()
        for call in ("yaml.safe_load", "yaml.load", "yaml.full_load", "yaml.compose"):
            assert call not in text, f"{source.relative_to(package)} calls {call}"


# --------------------------------------------------------------------------- memory


def test_a_chunk_of_more_patients_than_fit_in_a_worker_is_refused(write_protocol, tmp_path):
    """Samplers that hold every patient of a chunk: at most 4 million (about 1 GiB)."""
    protocol = write_protocol(
        {
            "design.sample_size": 5000,
            "simulation.sampler": "patients",
            "simulation.chunk_size": 1000,
        }
    )
    result = invoke("run", protocol, "--n-sims", 1000, "--jobs", 1, "--out", tmp_path / "run")
    assert result.exit_code == 2  # a design the machine cannot hold: the user changes it
    assert "5,000,000 patients" in result.output
    assert "Lower simulation.chunk_size (to 800 or less)" in result.output
    assert not (tmp_path / "run").exists()


def test_row_groups_are_bounded_not_one_per_chunk(write_protocol, tmp_path):
    from cstrial.engine import runner

    protocol = write_protocol({"simulation.chunk_size": 10, "design.sample_size": 60})
    out = run(protocol, n_sims=200, jobs=1, out=tmp_path / "run").out
    # 2 scenarios x 20 chunks of 10 trials: one row group per scenario
    assert pq.ParquetFile(out / "trials.parquet").num_row_groups == 2
    assert runner.ROW_GROUP_ROWS >= 10_000


def test_a_sample_size_search_beside_the_run_is_cstrial_s(protocol, tmp_path):
    """`cstrial sample-size` writes OUT/sample_size/: a run into OUT is not refused for it."""
    out = tmp_path / "run"
    (out / "sample_size").mkdir(parents=True)
    (out / "sample_size" / "sample_size.json").write_text("{}")
    run(protocol, n_sims=20, jobs=1, out=out)
    assert (out / "sample_size" / "sample_size.json").exists()
    (out / "sample_size" / "mine.csv").write_text("x")
    with pytest.raises(RunFolderError, match=r"sample_size/mine\.csv"):
        run(protocol, n_sims=20, jobs=1, out=out)


def test_reading_a_run_leaves_its_folder_as_it_was(finished):
    (finished / LOCK).unlink()
    before = sorted(os.listdir(finished))
    assert verify_run(finished, hashes_only=True).ok
    read_run(finished)
    assert sorted(os.listdir(finished)) == before


def test_a_writer_blocked_by_a_reader_says_so(finished):
    (finished / LOCK).write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname()[1]}))
    reading = pytest.raises(RunFolderError, match="being read by another cstrial process")
    with FolderLock(finished, exclusive=False, command="verify"), reading:
        FolderLock(finished, exclusive=True, command="run").acquire()


def test_a_new_run_takes_away_the_report_of_the_old_one(protocol, finished):
    from cstrial.report import write_report

    write_report(finished)
    (finished / "figures" / "mine.txt").write_text("kept")
    run(protocol, n_sims=50, seed=9, jobs=1, out=finished, force=True)
    assert not (finished / "report.html").exists()  # it described the old run
    assert sorted(os.listdir(finished / "figures")) == ["mine.txt"]
    assert verify_run(finished, hashes_only=True).ok


def test_an_out_that_is_a_file_is_named_as_such(protocol, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    result = invoke("run", protocol, "--n-sims", 5, "--jobs", 1, "--out", blocker)
    assert result.exit_code == 1 and "it is a file, not a folder" in result.output
    assert blocker.read_text() == "mine"
