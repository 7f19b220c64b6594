"""Every name of cstrial's public surface (`__all__`) resolves from the package."""

import cstrial


def test_every_public_name_resolves():
    for name in cstrial.__all__:
        assert getattr(cstrial, name) is not None, name


def test_the_library_runs_without_the_cli(tmp_path):
    from pathlib import Path

    small = Path(__file__).parent / "assets" / "small.yaml"
    result = cstrial.run(small, n_sims=20, jobs=1, out=tmp_path / "run", scenario="base")
    assert cstrial.read_run(result.out).summary["n_sims"].iloc[0] == 20
