"""Error-spending functions: how much of alpha (or beta) is used by information fraction t.

Every function here is cumulative: f(0) = 0, f(1) = total, non-decreasing in t. The
definitions are those of rpact (``typeOfDesign = "asOF"``, ``"asP"``, ``"asHSD"``,
``"asKD"``) and gsDesign (``sfLDOF``, ``sfLDPocock``, ``sfHSD``, ``sfPower``), so a design
built here reproduces theirs.

``wang-tsiatis`` is listed as a family because the protocol names it, but it is not a
spending function: its boundaries are c·t^(Δ−0.5) with c solved for the total alpha
(see `cstrial.design.boundaries`). ``none`` means no boundary before the final look.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from cstrial.errors import CstrialError, UsageError
from cstrial.protocol.vocabulary import SPENDING_FAMILIES as _FAMILIES

# The family names are the protocol's contract (DESIGN.md): one table, kept there.
SPENDING_FAMILIES: tuple[str, ...] = tuple(_FAMILIES)


def check_family(family: str, parameter: float | None, role: str = "efficacy") -> float | None:
    """Validate a family name and its parameter; return the parameter as a float (or None).

    Raises `UsageError` (parameter `role`, or `role`_parameter) saying what was expected
    and what was found.
    The parameter ranges are those of the protocol (`cstrial.protocol.vocabulary`).
    """
    if family not in _FAMILIES:
        raise UsageError(
            role,
            f"names an unknown spending family {family!r}; expected one of "
            + ", ".join(SPENDING_FAMILIES),
        )
    value = None if parameter is None else float(parameter)
    if value is not None and not math.isfinite(value):
        raise UsageError(f"{role}_parameter", f"must be finite, found {value}")
    problem = _FAMILIES[family].parameter_problem(value)
    if problem is not None:
        raise UsageError(f"{role}_parameter", problem)
    return value


def spending_function(
    family: str, t: ArrayLike, total: float, parameter: float | None = None
) -> np.ndarray:
    """Cumulative error spent at information fractions ``t`` (clipped to [0, 1]).

    Families (``total`` is the one-sided alpha, or beta for futility):

    - ``lan-demets-obrien-fleming``: 2 − 2Φ(Φ⁻¹(1 − total/2)/√t)  (rpact ``asOF``, gsDesign ``sfLDOF``)
    - ``lan-demets-pocock``: total·ln(1 + (e − 1)t)  (rpact ``asP``, gsDesign ``sfLDPocock``)
    - ``hwang-shih-decani`` (γ): total·(1 − e^(−γt))/(1 − e^(−γ)), total·t at γ = 0
      (rpact ``asHSD``, gsDesign ``sfHSD``)
    - ``kim-demets`` (ρ > 0): total·t^ρ  (rpact ``asKD``, gsDesign ``sfPower``)
    - ``none``: 0 before t = 1, total at t = 1 (nothing spent at interim looks)

    ``wang-tsiatis`` is not a spending function and raises `CstrialError`.

    References: Lan & DeMets 1983; Hwang, Shih & DeCani 1990; Kim & DeMets 1987.
    """
    value = check_family(family, parameter)
    if family == "wang-tsiatis":
        raise CstrialError(
            "wang-tsiatis boundaries are c·t^(delta-0.5), not a spending function; "
            "use group_sequential_boundaries(..., efficacy='wang-tsiatis') instead"
        )
    if not 0.0 < total < 1.0:
        raise CstrialError(f"total error to spend must lie in (0, 1), found {total}")
    tt = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    out = np.empty_like(tt)
    positive = tt > 0
    if family == "lan-demets-obrien-fleming":
        z = ndtri(1.0 - total / 2.0)
        with np.errstate(divide="ignore"):
            out = np.where(positive, 2.0 * ndtr(-z / np.sqrt(np.where(positive, tt, 1.0))), 0.0)
    elif family == "lan-demets-pocock":
        out = total * np.log1p((math.e - 1.0) * tt)
    elif family == "hwang-shih-decani":
        assert value is not None
        # gamma = 0 is the limit total·t (linear spending)
        out = total * (tt if value == 0.0 else np.expm1(-value * tt) / math.expm1(-value))
    elif family == "kim-demets":
        assert value is not None
        out = total * tt**value
    else:  # "none"
        out = np.where(tt >= 1.0, total, 0.0)
    out = np.asarray(out, dtype=float)
    # f(1) is exactly `total` and f(0) exactly 0 whatever the rounding of the formula
    out[tt >= 1.0] = total
    out[tt <= 0.0] = 0.0
    return out
