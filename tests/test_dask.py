"""The Dask backend: chunks run on a dask.distributed cluster give the bytes of a local run."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from cstrial.cli import app
from cstrial.engine import parallel as engine
from cstrial.engine import run
from cstrial.errors import CstrialError, UsageError

distributed = pytest.importorskip("distributed")
runner = CliRunner()


@pytest.fixture(scope="module")
def cluster():
    # two worker processes on the loopback interface only; no dashboard
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    ) as local:
        yield local


def test_a_dask_run_has_the_bytes_of_a_local_run(cluster, write_protocol, tmp_path):
    protocol = write_protocol({"simulation.chunk_size": 60, "design.sample_size": 200})
    local = run(protocol, n_sims=300, jobs=1, out=tmp_path / "local", save_patients=2)
    transitions = cluster.scheduler.transition_counter
    remote = run(
        protocol,
        n_sims=300,
        out=tmp_path / "dask",
        save_patients=2,
        backend="dask",
        scheduler=cluster.scheduler_address,
    )
    for name in ("trials.parquet", "summary.parquet", "patients.parquet"):
        assert (local.out / name).read_bytes() == (remote.out / name).read_bytes(), name
    assert remote.manifest["backend"] == "dask"
    assert cluster.scheduler.transition_counter > transitions  # the chunks went through the cluster


def test_the_cli_runs_on_a_scheduler_address(cluster, write_protocol, tmp_path):
    protocol = write_protocol({"simulation.chunk_size": 60, "design.sample_size": 200})
    address = cluster.scheduler_address
    result = runner.invoke(
        app,
        [
            "run",
            str(protocol),
            "--n-sims",
            "120",
            "--out",
            str(tmp_path / "run"),
            "--backend",
            "dask",
            "--scheduler",
            address,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    local = run(protocol, n_sims=120, jobs=1, out=tmp_path / "local")
    assert (tmp_path / "run" / "trials.parquet").read_bytes() == (
        local.out / "trials.parquet"
    ).read_bytes()


def test_dask_without_a_scheduler_is_a_clear_error(write_protocol, tmp_path):
    with pytest.raises(UsageError, match="scheduler is needed with the dask backend"):
        run(write_protocol(), n_sims=10, out=tmp_path / "run", backend="dask")
    result = CliRunner().invoke(
        app, ["run", str(write_protocol()), "--backend", "dask", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2
    assert "--scheduler is needed with the dask backend" in result.output


def test_an_unreachable_scheduler_is_a_clear_error(write_protocol, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "DASK_CONNECT_TIMEOUT", 1.0)
    result = runner.invoke(
        app,
        [
            "run",
            str(write_protocol()),
            "--n-sims",
            "10",
            "--out",
            str(tmp_path / "run"),
            "--backend",
            "dask",
            "--scheduler",
            "tcp://127.0.0.1:9",  # the discard port: nothing listens there
        ],
    )
    assert result.exit_code == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output
    assert "Traceback" not in result.output


def test_without_the_extra_the_error_says_how_to_install_it(write_protocol, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(CstrialError, match=r"pip install 'cstrial\[dask\]'"):
        run(
            write_protocol(),
            n_sims=10,
            out=tmp_path / "run",
            backend="dask",
            scheduler="tcp://127.0.0.1:8786",
        )


def test_an_unknown_backend_is_a_clear_error(write_protocol, tmp_path):
    with pytest.raises(CstrialError, match="loky, dask"):
        run(write_protocol(), n_sims=10, out=tmp_path / "run", backend="spark")
