"""The one result type of every analysis, and how "no evidence" is coded.

Every test returns a `TestResult` (or a subclass with more fields): per replicate,
`z` (> 0 favours treatment), `estimate` on the analysis's scale, and whether the fit
`converged`. Where a replicate carries no evidence (an arm with no patients, no
events in either arm, a fit that failed) z is 0, so the replicate neither rejects
nor leans either way, and the estimate is NaN where none exists. `converged` is
False only where a fit failed (separation, a singular information matrix): those
are counted and reported, never silently taken for evidence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TestResult:
    """Per-replicate z, estimate and convergence (arrays of shape (R,)), and extra estimates.

    It unpacks as (z, estimate), as these functions' tuples did.
    """

    __test__ = False  # not a pytest test class

    z: np.ndarray
    estimate: np.ndarray
    converged: np.ndarray = field(default=None)  # type: ignore[arg-type]  # None: all True
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.converged is None:
            object.__setattr__(self, "converged", np.ones(np.shape(self.z), dtype=bool))

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.z, self.estimate))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> np.ndarray:
        return (self.z, self.estimate)[index]


def no_evidence_is_zero(z: np.ndarray, evidence: np.ndarray | bool = True) -> np.ndarray:
    """`z` with 0 where it is not finite or where there is no `evidence`."""
    return np.where(np.isfinite(z) & evidence, z, 0.0)
