"""What many tests share: the project's paths, and the one Monte Carlo tolerance check.

Importable from any test module (`from helpers import ...`): pytest puts tests/ on the
path for its root conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[1]
ASSETS = ROOT / "tests" / "assets"
SMALL = ASSETS / "small.yaml"
PROTOCOLS = sorted((ROOT / "protocols").glob("*.yaml"))


def assert_within_se(
    observed: float | np.ndarray,
    expected: float | np.ndarray,
    n: int | float,
    k: float = 4.0,
    what: str = "",
) -> None:
    """|observed - expected| < k binomial Monte Carlo SEs of a proportion at `expected` over n.

    The STYLE rule for Monte Carlo tests: the tolerance comes from the Monte Carlo SE,
    never from tuning. `n` is the number of trials (or patients) behind `observed`.
    """
    observed, expected = np.atleast_1d(observed), np.atleast_1d(expected)
    se = np.sqrt(expected * (1 - expected) / n)
    deviation = np.abs(observed - expected)
    assert np.all(deviation < k * se), (
        f"{what}: observed {observed.round(5).tolist()}, expected "
        f"{expected.round(5).tolist()}, deviation in SE {(deviation / se).round(2).tolist()}"
    )
