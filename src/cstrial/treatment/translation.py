"""What an IL-6 blockade setting means as a marginal 30-day effect, beside the trials that measured one.

`effect_translation` computes, for each `il6-mediated` blockade fraction and each
`pkpd` regimen, the marginal 30-day risk ratio (mean risk under the arm over mean
risk under control) and hazard ratio (ln S_arm / ln S_control, the hazard ratio a
log-rank or Cox analysis estimates when hazards are proportional) in all comers of
the default population, in IL-6 >= 200 pg/mL and in CRP >= 75 mg/L, from the
model's exact risks on a fixed-seed sample. `docs/model.md` shows the table
(`python -m cstrial.model_docs docs/model.md`), so a trialist can pick a
`blockade` whose effect can be defended against RECOVERY and REMAP-CAP.

The IL-6 >= 200 vs all-comers contrast is a consequence of the mechanism's
assumptions (only IL-6 above `il6_blockade_floor` is attributable, and a fixed
share `blockade` of it is removable), not an observation: the rows with other
floors show how much of it goes with that assumption.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cstrial.disease import late_log_ratio, linear_predictor
from cstrial.disease.model import il6_log_hazard
from cstrial.population import sample_population
from cstrial.protocol.effects import Il6Mediated, Pkpd
from cstrial.treatment.effects import HazardCourse, hazard_course

TRANSLATION_SEED = 20_261_124
TRANSLATION_SAMPLE = 100_000
HORIZON_DAYS = 30.0
DELAY_HOURS = 6.0  # as the shipped protocols

SUBGROUPS = {
    "all comers": lambda p: np.ones(p["age"].size, dtype=bool),
    "IL-6 >= 200 pg/mL": lambda p: p["il6_pg_ml"] >= 200.0,
    "CRP >= 75 mg/L": lambda p: p["crp_mg_l"] >= 75.0,
}


def _il6(blockade: float) -> Il6Mediated:
    return Il6Mediated(model="il6-mediated", blockade=blockade, delay_hours=DELAY_HOURS)


def _toci(dose_mg_per_kg: float, doses: int = 1, blockade: float = 0.7) -> Pkpd:
    return Pkpd(
        model="pkpd",
        drug="tocilizumab",
        blockade=blockade,
        delay_hours=DELAY_HOURS,
        dose_mg_per_kg=dose_mg_per_kg,
        doses=doses,
        dose_interval_hours=24.0,
    )


def _anakinra(per_day: int, blockade: float = 0.7) -> Pkpd:
    return Pkpd(
        model="pkpd",
        drug="anakinra",
        blockade=blockade,
        delay_hours=DELAY_HOURS,
        dose_mg=100.0,
        doses_per_day=per_day,
        days=14,
    )


# label, effect, IL-6 floor (pg/mL) for the sensitivity rows (None: the shipped floor)
EFFECTS: tuple[tuple[str, Il6Mediated | Pkpd, float | None], ...] = (
    ("il6-mediated, blockade 0.3", _il6(0.3), None),
    ("il6-mediated, blockade 0.5", _il6(0.5), None),
    ("il6-mediated, blockade 0.7", _il6(0.7), None),
    ("il6-mediated, blockade 1.0", _il6(1.0), None),
    ("pkpd tocilizumab 8 mg/kg x1, blockade 0.7", _toci(8.0), None),
    ("pkpd tocilizumab 8 mg/kg x2 (24 h), blockade 0.7", _toci(8.0, 2), None),
    ("pkpd tocilizumab 4 mg/kg x1, blockade 0.7", _toci(4.0), None),
    ("pkpd tocilizumab 280 mg x1 (3.5 mg/kg at 80 kg), blockade 0.7", _toci(3.5), None),
    ("pkpd anakinra 100 mg daily x14 d, blockade 0.7", _anakinra(1), None),
    ("pkpd anakinra 100 mg twice daily x14 d, blockade 0.7", _anakinra(2), None),
    ("il6-mediated, blockade 0.7, floor 35 pg/mL", _il6(0.7), 35.0),
    ("il6-mediated, blockade 0.7, floor 400 pg/mL", _il6(0.7), 400.0),
)

# Observed effects of IL-6 receptor blockade on mortality (none in cardiogenic shock).
OBSERVED = (
    (
        "RECOVERY tocilizumab (COVID-19, hypoxia and CRP >= 75 mg/L; 82% on steroids)",
        "28-day rate ratio 0.85 (0.76-0.94); 31% vs 35%",
    ),
    (
        "REMAP-CAP IL-6RA (critically ill COVID-19, organ support)",
        "in-hospital mortality 28.0% (tocilizumab) vs 35.8%: risk ratio 0.78 [derived]",
    ),
    (
        "WHO REACT meta-analysis, 27 RCTs (Shankar-Hari 2021)",
        "28-day OR 0.86 (0.79-0.95); with corticosteroids 0.78, without 1.09",
    ),
    (
        "IL-6 inhibitor RCT meta-analysis, 15 RCTs (Belletti 2021)",
        "mortality RR 0.90 (0.84-0.96)",
    ),
    (
        "ASSAIL-MI (STEMI without shock, 280 mg once)",
        "myocardial salvage +5.6 points (0.2-11.3); no mortality endpoint",
    ),
)


@dataclass(frozen=True)
class Translation:
    """One effect's marginal 30-day risk ratio and hazard ratio in each subgroup."""

    label: str
    risk_ratio: dict[str, float]
    hazard_ratio: dict[str, float]


def effect_translation(n: int = TRANSLATION_SAMPLE) -> list[Translation]:
    """Marginal 30-day risk and hazard ratios of every entry of `EFFECTS`, by subgroup."""
    patients = sample_population(np.random.default_rng(TRANSLATION_SEED), n)
    eta = linear_predictor(patients)
    h30, late = np.exp(eta), late_log_ratio(patients, eta)
    il6 = patients["il6_pg_ml"]
    masks = {name: where(patients) for name, where in SUBGROUPS.items()}
    control = hazard_course(None, h30, il6, HORIZON_DAYS, late=late).risk(HORIZON_DAYS)
    out = []
    for label, effect, floor in EFFECTS:
        course = hazard_course(effect, h30, il6, HORIZON_DAYS, late=late)
        if floor is not None:
            excess = np.maximum(
                il6_log_hazard(il6) - il6_log_hazard(np.asarray(floor, dtype=float)), 0.0
            )
            course = HazardCourse(course.h30, course.edges, course.slopes, excess, course.late)
        risk = course.risk(HORIZON_DAYS)
        rr, hr = {}, {}
        for name, mask in masks.items():
            p_arm, p_control = risk[mask].mean(), control[mask].mean()
            rr[name] = float(p_arm / p_control)
            hr[name] = float(np.log1p(-p_arm) / np.log1p(-p_control))
        out.append(Translation(label, rr, hr))
    return out


def translation_markdown(rows: list[Translation] | None = None) -> str:
    """The translation table and the observed effects, as Markdown."""
    rows = effect_translation() if rows is None else rows
    names = list(SUBGROUPS)
    head = " | ".join(f"{name}: RR / HR" for name in names)
    lines = [
        f"| effect (from {DELAY_HOURS:g} h) | {head} |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for row in rows:
        cells = " | ".join(
            f"{row.risk_ratio[name]:.3f} / {row.hazard_ratio[name]:.3f}" for name in names
        )
        lines.append(f"| {row.label} | {cells} |")
    lines += [
        "",
        "| observed (no trial in cardiogenic shock) | effect on mortality |",
        "| --- | --- |",
    ]
    lines += [f"| {trial} | {effect} |" for trial, effect in OBSERVED]
    return "\n".join(lines) + "\n"
