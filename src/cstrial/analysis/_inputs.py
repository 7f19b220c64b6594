"""Checks shared by the per-patient analyses: arrays shaped (replicates, patients)."""

from __future__ import annotations

import numpy as np

from cstrial.errors import CstrialError


def patient_array(name: str, array: object, dtype: type = float) -> np.ndarray:
    """`array` as a 2-d (replicates, patients) array of `dtype`, or a CstrialError."""
    out = np.asarray(array)
    if out.ndim != 2:
        raise CstrialError(
            f"{name} must be 2-d (replicates, patients), found shape {out.shape}; "
            f"for a single trial pass {name}[None, :]"
        )
    if dtype is bool and out.dtype != bool and not np.isin(out, (0, 1)).all():
        raise CstrialError(f"{name} must be boolean (or 0/1), found other values")
    return out.astype(dtype, copy=False)


def arms(
    treated: object, include: object | None, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """`treated` and `include` (default: everyone) as bool arrays of `shape`."""
    treated = patient_array("treated", treated, bool)
    include = np.ones(shape, bool) if include is None else patient_array("include", include, bool)
    for name, array in (("treated", treated), ("include", include)):
        if array.shape != shape:
            raise CstrialError(
                f"{name} must have the shape of the outcome, {shape}, found {array.shape}"
            )
    return treated, include


def same_shape(name: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
    """Raise unless `array` has `shape`."""
    if array.shape != shape:
        raise CstrialError(f"{name} must have the shape of treated, {shape}, found {array.shape}")
