"""Seeded outputs of the shipped protocols equal the held golden outputs (tests/golden/).

A failure means a change moved the numbers users get: either a bug, or a deliberate
change that must regenerate the files (tests/golden/regenerate.py) with its reason.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

GOLDEN = Path(__file__).parent / "golden"
_spec = importlib.util.spec_from_file_location("regenerate", GOLDEN / "regenerate.py")
regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regenerate)


@pytest.mark.parametrize(
    "protocol", regenerate.PROTOCOLS, ids=[p.stem for p in regenerate.PROTOCOLS]
)
def test_seeded_outputs_equal_the_golden_files(protocol, tmp_path):
    held = GOLDEN / protocol.stem
    assert held.is_dir(), f"no golden outputs for {protocol.name}: run tests/golden/regenerate.py"
    result = regenerate.golden_run(protocol, tmp_path / "run")
    for name in ("trials.parquet", "summary.parquet"):
        expected = pd.read_parquet(held / name)
        actual = pd.read_parquet(result.out / name)
        # integers and labels exactly; floats to 1e-12 (last-bit BLAS differences across machines)
        pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-12, atol=0)
