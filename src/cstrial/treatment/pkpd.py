"""Time course of IL-6 signalling blockade under a dosing regimen (tocilizumab, anakinra).

A drug arm acts on the hazard of death through the fraction of IL-6 signalling
it blocks (`effects.py`: multiplier exp(-blockade * excess_i)). This module turns
a regimen into that fraction over time, for a typical patient, as a
piecewise-constant `BlockadeProfile` the simulator can apply cheaply.

Tocilizumab. PK is the Frey 2010 population model (1793 RA patients): two
compartments, 1-h IV infusion, parallel linear and Michaelis-Menten
(target-mediated, IL-6R) elimination from the central compartment; body size
enters through BSA on the linear clearance. PD: receptor occupancy, an Emax
function of the serum concentration whose EC50 puts occupancy at 0.95 at
1 ug/mL, the concentration above which IL-6R blockade is taken as complete
(CRP normalises in RA). Measured plasma IL-6 *rises* after tocilizumab
(less receptor-mediated clearance; Nishimoto 2008): the model drives risk by
IL-6 *signalling*, not by measured IL-6, so blockade is occupancy and the
patient's baseline IL-6 stays the marker of how much risk is IL-6-attributable.

Anakinra (IL-1 receptor antagonist). PK: one compartment with first-order SC
absorption, from the Kineret label (t1/2 4-6 h, Tmax 3-7 h) and CL/F in normal
renal function (Yang 2003). Its effect on IL-6 signalling is a
**mechanism-level assumption, not a finding**: IL-1 acts upstream of IL-6, and
VCUART3 showed an hsCRP reduction, so anakinra is taken to remove a fraction
`anakinra_upstream_fraction` of IL-6 signalling, scaled by an occupancy-type
function of its concentration.

References: Frey N, Grange S, Woodworth T. J Clin Pharmacol 2010;50:754-766;
Actemra (tocilizumab) US label, section 12.3; Nishimoto N et al. Blood
2008;112:3959; Kineret (anakinra) US label, section 12.3; Yang BB et al.
Clin Pharmacol Ther 2003;74:85-94; Abbate A et al. Eur Heart J Cardiovasc
Pharmacother 2022;8:503 (VCUART pooled).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cstrial.errors import CstrialError
from cstrial.parameters import Parameter, ParameterTable

_FREY = (
    "Frey 2010 (J Clin Pharmacol 50:754) Table II final model, typical male, BSA 1.8 m^2, "
    "as transcribed in nlmixr2lib Frey_2010_tocilizumab "
    "(https://github.com/nlmixr2/nlmixr2lib/blob/main/inst/modeldb/specificDrugs/"
    "Frey_2010_tocilizumab.R; https://nlmixr2.github.io/nlmixr2lib/articles/"
    "Frey_2010_tocilizumab.html); reproduces the Actemra label exposures (tests)"
)
_KINERET = (
    "Kineret (anakinra) label, clinical pharmacology (http://www.drugs.com/mmx/kineret.html; "
    "https://clustermed.info/drugs/a/anakinra.html)"
)

PKPD = ParameterTable(
    "Tocilizumab and anakinra PK/PD (IL-6 signalling blockade)",
    [
        # Tocilizumab PK (Frey 2010), time unit day
        Parameter("toci_cl_linear", 0.3, "L/day", f"{_FREY}: CL"),
        Parameter("toci_v_central", 3.5, "L", f"{_FREY}: V1"),
        Parameter("toci_q", 0.2, "L/day", f"{_FREY}: Q"),
        Parameter("toci_v_peripheral", 2.9, "L", f"{_FREY}: V2"),
        Parameter("toci_vmax", 7.5, "mg/day", f"{_FREY}: VM"),
        Parameter("toci_km", 2.7, "mg/L", f"{_FREY}: KM (ug/mL = mg/L)"),
        Parameter(
            "toci_bsa_exponent_cl",
            0.7,
            "power",
            f"{_FREY}: CL = 0.3 * (BSA / 1.8)^0.7 (Table III)",
        ),
        Parameter("toci_bsa_reference", 1.8, "m^2", f"{_FREY}: reference BSA"),
        Parameter(
            "toci_infusion_hours",
            1.0,
            "h",
            "Frey 2010: 1-hour IV infusions; Actemra label: IV infusion over 60 minutes",
        ),
        Parameter(
            "height_cm",
            172.0,
            "cm",
            "[assumption] typical adult height of a 72%-male European CS population, used only to "
            "turn weight into BSA (Mosteller RD, N Engl J Med 1987;317:1098: "
            "BSA = sqrt(height_cm * weight_kg / 3600); http://globalrph.com/bsa2.htm). "
            "At 172 cm, BSA 1.8 m^2 is 68 kg, near the Frey cohort median weight (67-73 kg)",
            160.0,
            185.0,
            "[assumption] adult heights; only BSA, hence linear clearance, moves",
        ),
        # Tocilizumab PD
        Parameter(
            "toci_ec50",
            0.05,
            "mg/L",
            "[assumption] Emax (Hill 1) receptor occupancy set to 1/(1 + 0.05) = 0.95 at 1 ug/mL, "
            "the serum tocilizumab level above which CRP normalises in RA (calibration.md §6: "
            "figshare cohort N=66; sIL-6R saturated while free TCZ is detectable, Nishimoto 2008)",
            0.01,
            0.2,
            "[assumption] occupancy 0.83-0.99 at 1 ug/mL",
        ),
        Parameter(
            "toci_hill",
            1.0,
            "power",
            "[assumption] mass-action (one-site) receptor occupancy",
            0.5,
            2.0,
            "[assumption]",
        ),
        # Anakinra PK (SC), time unit hour
        Parameter(
            "anakinra_cl_f",
            10.2,
            "L/h",
            "Yang BB, Clin Pharmacol Ther 2003;74:85: CL/F 170 +/- 37 mL/min after 100 mg SC, normal "
            "renal function (https://scilit.com/publications/e49f677e2ac6e34106564d14173b1184). "
            "Apparent (SC) clearance, so the 95% SC bioavailability (Kineret label) is included",
            8.0,
            12.4,
            "[derived] Yang 2003: CL/F 170 +/- 37 mL/min (mean +- 1 SD)",
        ),
        Parameter(
            "anakinra_half_life",
            5.0,
            "h",
            f"[derived: midpoint] terminal t1/2 4 to 6 h after SC dosing in RA; {_KINERET}",
            4.0,
            6.0,
            "Kineret label: terminal t1/2 4 to 6 h",
        ),
        Parameter(
            "anakinra_ka",
            0.2773,
            "1/h",
            "[derived: solved for Tmax = ln(ka/ke)/(ka - ke) = 5 h, the midpoint of the label's "
            f"3 to 7 h, with ke = ln 2 / 5 h; gives ka = 2 ke] {_KINERET}. With CL/F fixed the "
            "curve is the same whichever of ka, ke is the absorption rate (flip-flop)",
            0.147,
            0.658,
            "[derived] Tmax 7 h and 3 h (Kineret label range) with ke = ln 2 / 5 h",
        ),
        # Anakinra PD on IL-6 signalling
        Parameter(
            "anakinra_upstream_fraction",
            0.5,
            "fraction",
            "[assumption, not a finding] maximal share of IL-6 signalling removed by full IL-1 "
            "blockade (IL-1 acts upstream of IL-6; VCUART3 showed an hsCRP reduction, AUC values "
            "not retrieved; calibration.md §5)",
            0.0,
            1.0,
            "[assumption, not a finding] from no effect on IL-6 signalling to full removal; no trial measured it in CS",
        ),
        Parameter(
            "anakinra_ec50",
            0.075,
            "mg/L",
            "[assumption] occupancy-type (Hill 1) function of anakinra concentration, EC50 set so "
            "100 mg SC daily gives ~0.91 of the maximal effect at the steady-state peak "
            "(0.73 mg/L) and a dip to ~0.57 at the trough (0.10 mg/L)",
            0.02,
            0.3,
            "[assumption]",
        ),
        Parameter(
            "anakinra_hill",
            1.0,
            "power",
            "[assumption] one-site occupancy",
            0.5,
            2.0,
            "[assumption]",
        ),
    ],
)

_RTOL = 1e-8
_ATOL = 1e-9
# Edges of the profile (days): fine where blockade changes (onset, anakinra's daily
# cycle and end of course, tocilizumab's fall below ~1 ug/mL in weeks 3-8).
_GRID = ((3.0, 0.25), (30.0, 1.0), (86.0, 7.0), (np.inf, 28.0))
_MIN_PIECE_DAYS = 1e-6


@dataclass(frozen=True)
class ConcentrationCourse:
    """Serum drug concentration (mg/L = ug/mL) on a time grid (days since randomisation)."""

    time_days: np.ndarray
    mg_per_l: np.ndarray


@dataclass(frozen=True)
class BlockadeProfile:
    """Fraction of IL-6 signalling blocked, constant on each piece [edges[k], edges[k+1]).

    `blockade[k]` is the time-average of the blockade over piece k; pieces
    before the dosing delay are exactly 0. `concentration` is for docs and plots.
    """

    edges_days: np.ndarray
    blockade: np.ndarray
    concentration: ConcentrationCourse | None = None
    regimen: str = ""

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges_days, dtype=float)
        blockade = np.asarray(self.blockade, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or edges[0] != 0.0 or np.any(np.diff(edges) <= 0):
            raise CstrialError(
                f"edges_days must start at 0 and increase strictly, found {edges.tolist()}"
            )
        if blockade.shape != (edges.size - 1,):
            raise CstrialError(
                f"blockade needs one value per piece ({edges.size - 1}), found {blockade.shape}"
            )
        if np.any(~np.isfinite(blockade)) or np.any((blockade < 0) | (blockade > 1)):
            raise CstrialError("blockade must lie in [0, 1] on every piece")
        object.__setattr__(self, "edges_days", edges)
        object.__setattr__(self, "blockade", blockade)

    @property
    def horizon_days(self) -> float:
        return float(self.edges_days[-1])

    def blockade_at(self, days: np.ndarray | float) -> np.ndarray:
        """Blockade at day(s) `days` (0 before randomisation, the last piece beyond the horizon)."""
        days = np.asarray(days, dtype=float)
        k = np.clip(
            np.searchsorted(self.edges_days, days, side="right") - 1, 0, self.blockade.size - 1
        )
        return np.where(days < 0, 0.0, self.blockade[k])

    def mean_blockade(self, start_days: float = 0.0, end_days: float | None = None) -> float:
        """Time-average of the blockade over [start_days, end_days] (default: to the horizon)."""
        end = self.horizon_days if end_days is None else end_days
        if not 0.0 <= start_days < end <= self.horizon_days:
            raise CstrialError(
                f"window [{start_days}, {end}] must lie inside [0, {self.horizon_days}] days "
                "and be non-empty"
            )
        lo = np.clip(self.edges_days[:-1], start_days, end)
        hi = np.clip(self.edges_days[1:], start_days, end)
        return float(np.sum(self.blockade * (hi - lo)) / (end - start_days))


# ---------------------------------------------------------------------------
# Tocilizumab


def tocilizumab_concentration(
    times_hours: np.ndarray | Sequence[float],
    dose_mg: float,
    weight_kg: float = 80.0,
    table: ParameterTable = PKPD,
    doses: int = 1,
    dose_interval_hours: float = 24.0,
) -> np.ndarray:
    """Serum tocilizumab (mg/L = ug/mL) at `times_hours` after the start of the first infusion.

    `dose_mg` is given by 1-h IV infusion `doses` times, every `dose_interval_hours`.
    `weight_kg` sets the body surface area, hence the linear clearance (Frey 2010).

    References: Frey N et al., J Clin Pharmacol 2010;50:754.
    """
    times = np.asarray(times_hours, dtype=float)
    _check_tocilizumab(dose_mg, weight_kg, doses, dose_interval_hours, table)
    states = _tocilizumab_states(
        times / 24.0, dose_mg, weight_kg, doses, dose_interval_hours, table
    )
    return np.maximum(states[0], 0.0) / table["toci_v_central"]


def tocilizumab_profile(
    dose_mg_per_kg: float,
    delay_hours: float = 0.0,
    horizon_days: float = 180.0,
    weight_kg: float = 80.0,
    max_dose_mg: float = 800.0,
    doses: int = 1,
    dose_interval_hours: float = 24.0,
    table: ParameterTable = PKPD,
) -> BlockadeProfile:
    """IL-6 signalling blockade over time for a typical patient given IV tocilizumab.

    Each infusion is min(dose_mg_per_kg * weight_kg, max_dose_mg) over 1 h; the first
    starts `delay_hours` after randomisation. `weight_kg` sets the dose and, through
    BSA, the linear clearance; every other PK parameter is Frey's typical value (male,
    reference albumin, creatinine clearance, ...). Blockade is IL-6 receptor
    occupancy, an Emax function of the concentration (see the module docstring).
    """
    if not (np.isfinite(dose_mg_per_kg) and dose_mg_per_kg > 0):
        raise CstrialError(f"dose_mg_per_kg must be positive, found {dose_mg_per_kg} (e.g. 8)")
    if not (np.isfinite(max_dose_mg) and max_dose_mg > 0):
        raise CstrialError(f"max_dose_mg must be positive, found {max_dose_mg} (label: 800)")
    dose_mg = min(dose_mg_per_kg * weight_kg, max_dose_mg)
    _check_tocilizumab(dose_mg, weight_kg, doses, dose_interval_hours, table)
    _check_timing(delay_hours, horizon_days)
    ec50, hill = table["toci_ec50"], table["toci_hill"]

    def states(t_days: np.ndarray) -> np.ndarray:
        return _tocilizumab_states(
            t_days, dose_mg, weight_kg, doses, dose_interval_hours, table, (ec50, hill)
        )

    regimen = (
        f"tocilizumab {dose_mg:.0f} mg IV (1 h) x{doses}"
        + (f" every {dose_interval_hours:g} h" if doses > 1 else "")
        + f", from {delay_hours:g} h"
    )
    return _profile(states, table["toci_v_central"], delay_hours, horizon_days, regimen)


def _check_tocilizumab(
    dose_mg: float, weight_kg: float, doses: int, interval_hours: float, table: ParameterTable
) -> None:
    if not (np.isfinite(dose_mg) and dose_mg > 0):
        raise CstrialError(f"tocilizumab dose must be positive, found {dose_mg} mg")
    if not (np.isfinite(weight_kg) and 20 <= weight_kg <= 300):
        raise CstrialError(f"weight_kg must lie in [20, 300], found {weight_kg}")
    _check_doses(doses, interval_hours, table["toci_infusion_hours"])


def _tocilizumab_states(
    t_days: np.ndarray,
    dose_mg: float,
    weight_kg: float,
    doses: int,
    interval_hours: float,
    table: ParameterTable,
    occupancy: tuple[float, float] | None = None,
) -> np.ndarray:
    """States (central mg, peripheral mg[, integral of occupancy in days]) at `t_days`."""
    bsa = np.sqrt(table["height_cm"] * weight_kg / 3600.0)  # Mosteller 1987
    cl = (
        table["toci_cl_linear"]
        * (bsa / table["toci_bsa_reference"]) ** table["toci_bsa_exponent_cl"]
    )
    v1, v2, q = table["toci_v_central"], table["toci_v_peripheral"], table["toci_q"]
    vmax, km = table["toci_vmax"], table["toci_km"]

    def rhs(_t: float, y: np.ndarray, rate: float) -> list[float]:
        c = max(y[0], 0.0) / v1
        c2 = y[1] / v2
        out = [rate - cl * c - vmax * c / (km + c) - q * (c - c2), q * (c - c2)]
        if occupancy is not None:
            out.append(_emax(c, *occupancy))
        return out

    infusion_days = table["toci_infusion_hours"] / 24.0
    starts = [k * interval_hours / 24.0 for k in range(doses)]
    infusions = [(s, s + infusion_days, dose_mg / infusion_days) for s in starts]
    n_states = 2 if occupancy is None else 3
    return _solve(rhs, n_states, infusions, [], t_days)


# ---------------------------------------------------------------------------
# Anakinra


def anakinra_concentration(
    times_hours: np.ndarray | Sequence[float],
    dose_mg: float = 100.0,
    doses_per_day: int = 1,
    days: int = 14,
    table: ParameterTable = PKPD,
) -> np.ndarray:
    """Plasma anakinra (mg/L) at `times_hours` after the first SC injection.

    `dose_mg` is injected `doses_per_day` times a day (evenly spaced) for `days` days.

    References: Kineret label 12.3; Yang BB et al., Clin Pharmacol Ther 2003;74:85.
    """
    times = np.asarray(times_hours, dtype=float)
    _check_anakinra(dose_mg, doses_per_day, days, "sc")
    states = _anakinra_states(times / 24.0, dose_mg, doses_per_day, days, table)
    return np.maximum(states[1], 0.0) / _anakinra_v_f(table)


def anakinra_profile(
    dose_mg: float = 100.0,
    doses_per_day: int = 1,
    days: int = 14,
    route: str = "sc",
    delay_hours: float = 0.0,
    horizon_days: float = 180.0,
    table: ParameterTable = PKPD,
) -> BlockadeProfile:
    """Reduction of IL-6 signalling over time for a typical patient given SC anakinra.

    Blockade = `anakinra_upstream_fraction` x an occupancy-type function of the
    anakinra concentration: an **assumption** that IL-1 blockade removes part of
    IL-6 signalling (IL-1 is upstream of IL-6; VCUART3 lowered hsCRP), not a
    measured effect. Default regimen as in VCUART: 100 mg SC daily for 14 days.
    """
    _check_anakinra(dose_mg, doses_per_day, days, route)
    _check_timing(delay_hours, horizon_days)
    fraction = table["anakinra_upstream_fraction"]
    if not 0.0 <= fraction <= 1.0:
        raise CstrialError(f"anakinra_upstream_fraction must lie in [0, 1], found {fraction}")
    ec50, hill = table["anakinra_ec50"], table["anakinra_hill"]

    def states(t_days: np.ndarray) -> np.ndarray:
        return _anakinra_states(t_days, dose_mg, doses_per_day, days, table, (ec50, hill), fraction)

    regimen = (
        f"anakinra {dose_mg:g} mg SC {doses_per_day}x daily for {days} days, from {delay_hours:g} h"
    )
    # state index 1 is the central amount; _profile divides by the volume
    return _profile(states, _anakinra_v_f(table), delay_hours, horizon_days, regimen, central=1)


def _check_anakinra(dose_mg: float, doses_per_day: int, days: int, route: str) -> None:
    if route != "sc":
        raise CstrialError(
            f"anakinra route {route!r} is not modelled: only 'sc' (the Kineret label and VCUART "
            "regimens). For IV anakinra, add its IV disposition parameters to the PKPD table first."
        )
    if not (np.isfinite(dose_mg) and dose_mg > 0):
        raise CstrialError(f"anakinra dose_mg must be positive, found {dose_mg} (e.g. 100)")
    if not (isinstance(doses_per_day, int | np.integer) and 1 <= doses_per_day <= 24):
        raise CstrialError(f"doses_per_day must be an integer in 1..24, found {doses_per_day}")
    if not (isinstance(days, int | np.integer) and days >= 1):
        raise CstrialError(f"days must be a positive integer, found {days} (VCUART: 14)")


def _anakinra_v_f(table: ParameterTable) -> float:
    ke = np.log(2.0) / table["anakinra_half_life"]
    return table["anakinra_cl_f"] / ke  # apparent volume V/F (L)


def _anakinra_states(
    t_days: np.ndarray,
    dose_mg: float,
    doses_per_day: int,
    days: int,
    table: ParameterTable,
    occupancy: tuple[float, float] | None = None,
    fraction: float = 1.0,
) -> np.ndarray:
    """States (depot mg, central mg[, integral of blockade in days]) at `t_days`."""
    ka = table["anakinra_ka"] * 24.0  # 1/day
    ke = np.log(2.0) / table["anakinra_half_life"] * 24.0
    v = _anakinra_v_f(table)

    def rhs(_t: float, y: np.ndarray, _rate: float) -> list[float]:
        out = [-ka * y[0], ka * y[0] - ke * y[1]]
        if occupancy is not None:
            out.append(fraction * _emax(max(y[1], 0.0) / v, *occupancy))
        return out

    boluses = [(d + k / doses_per_day, dose_mg) for d in range(days) for k in range(doses_per_day)]
    n_states = 2 if occupancy is None else 3
    return _solve(rhs, n_states, [], boluses, t_days)


# ---------------------------------------------------------------------------
# Shared machinery


def _emax(c: float, ec50: float, hill: float) -> float:
    if c <= 0.0:
        return 0.0
    r = (c / ec50) ** hill
    return r / (1.0 + r)


def _check_doses(doses: int, interval_hours: float, infusion_hours: float) -> None:
    if not (isinstance(doses, int | np.integer) and doses >= 1):
        raise CstrialError(f"doses must be a positive integer, found {doses}")
    if doses > 1 and not (np.isfinite(interval_hours) and interval_hours >= infusion_hours):
        raise CstrialError(
            f"dose_interval_hours must be at least the {infusion_hours:g}-h infusion, "
            f"found {interval_hours}"
        )


def _check_timing(delay_hours: float, horizon_days: float) -> None:
    if not (np.isfinite(horizon_days) and horizon_days > 0):
        raise CstrialError(f"horizon_days must be positive, found {horizon_days} (e.g. 30 or 180)")
    if not (np.isfinite(delay_hours) and delay_hours >= 0):
        raise CstrialError(f"delay_hours must be >= 0, found {delay_hours}")


def _solve(
    rhs: Callable[[float, np.ndarray, float], list[float]],
    n_states: int,
    infusions: list[tuple[float, float, float]],
    boluses: list[tuple[float, float]],
    t_out: np.ndarray,
) -> np.ndarray:
    """States at times `t_out` (days, from the first dose; 0 before it).

    `infusions` are (start, end, rate into state 0); `boluses` are (time, amount
    into state 0). The ODE is solved by `solve_ivp` between consecutive input
    changes, so no step straddles a discontinuity; values are right-continuous.
    """
    from scipy.integrate import solve_ivp  # here: only pkpd arms need it

    t_out = np.asarray(t_out, dtype=float)
    flat = t_out.ravel()
    result = np.zeros((n_states, flat.size))
    t_end = float(flat.max(initial=0.0))
    if t_end <= 0.0:
        return result.reshape((n_states, *t_out.shape))
    breaks = {0.0, t_end}
    breaks.update(t for t, _ in boluses)
    breaks.update(t for s, e, _ in infusions for t in (s, e))
    breaks_sorted = sorted(b for b in breaks if 0.0 <= b <= t_end)
    y = np.zeros(n_states)
    for a, b in itertools.pairwise(breaks_sorted):
        for t, amount in boluses:
            if t == a:
                y[0] += amount
        rate = sum(r for s, e, r in infusions if s <= a < e)
        last = b == t_end
        inside = (flat >= a) & ((flat <= b) if last else (flat < b))
        t_eval = np.unique(np.append(flat[inside], b))
        sol = solve_ivp(
            rhs, (a, b), y, method="DOP853", args=(rate,), t_eval=t_eval, rtol=_RTOL, atol=_ATOL
        )
        if not sol.success:  # pragma: no cover - smooth, bounded inputs
            raise CstrialError(f"PK integration failed on [{a:g}, {b:g}] days: {sol.message}")
        if inside.any():
            result[:, inside] = sol.y[:, np.searchsorted(sol.t, flat[inside])]
        y = sol.y[:, -1].copy()
    return result.reshape((n_states, *t_out.shape))


def _profile_edges(horizon_days: float, delay_days: float) -> np.ndarray:
    """Piece edges: 6-h pieces to day 3, daily to day 30, weekly to day 86, 4-weekly after."""
    edges = [0.0]
    for until, step in _GRID:
        while edges[-1] + step <= min(until, horizon_days) + 1e-12:
            edges.append(edges[-1] + step)
        if edges[-1] >= horizon_days - 1e-12:
            break
    grid = np.array([e for e in edges if e < horizon_days - _MIN_PIECE_DAYS])
    if 0.0 < delay_days < horizon_days:
        grid = grid[np.abs(grid - delay_days) >= _MIN_PIECE_DAYS]
        grid = np.append(grid, delay_days)
    out = np.unique(np.append(grid, [0.0, horizon_days]))
    return out


def _profile(
    states: Callable[[np.ndarray], np.ndarray],
    volume: float,
    delay_hours: float,
    horizon_days: float,
    regimen: str,
    central: int = 0,
) -> BlockadeProfile:
    """Average the blockade over the pieces, from the accumulated-effect state (last state)."""
    delay_days = delay_hours / 24.0
    edges = _profile_edges(horizon_days, delay_days)
    # concentration grid for plots: a few points per piece
    plot = np.unique(np.concatenate([np.linspace(a, b, 5) for a, b in itertools.pairwise(edges)]))
    since_dose = np.concatenate([edges, plot]) - delay_days
    y = states(np.maximum(since_dose, 0.0))
    y[:, since_dose < 0] = 0.0
    effect = y[-1, : edges.size]
    blockade = np.clip(np.diff(effect) / np.diff(edges), 0.0, 1.0)
    blockade[edges[1:] <= delay_days] = 0.0  # exactly zero before the first dose
    conc = np.maximum(y[central, edges.size :], 0.0) / volume
    return BlockadeProfile(edges, blockade, ConcentrationCourse(plot, conc), regimen)
