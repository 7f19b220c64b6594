"""The covariate vocabulary: names, kinds and levels shared by YAML, Python and Parquet.

This is the contract of DESIGN.md ("Covariate names"); `population/` generates
exactly these columns and `protocol/` validates inclusion/exclusion against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["numeric", "categorical", "boolean"]


@dataclass(frozen=True)
class Covariate:
    """One baseline covariate of a virtual patient."""

    name: str
    kind: Kind
    unit: str = ""
    levels: tuple[str, ...] = ()
    description: str = ""


COVARIATES: dict[str, Covariate] = {
    c.name: c
    for c in (
        Covariate("age", "numeric", "years", description="age at randomisation"),
        Covariate("sex", "categorical", levels=("female", "male")),
        Covariate("etiology", "categorical", levels=("AMI", "HF", "other")),
        Covariate("scai_stage", "categorical", levels=("C", "D", "E")),
        Covariate(
            "phenotype",
            "categorical",
            levels=("non-congested", "cardiorenal", "cardiometabolic"),
            description="Zweck 2021 cardiogenic-shock phenotype",
        ),
        Covariate("lactate_mmol_l", "numeric", "mmol/L", description="admission lactate"),
        Covariate("il6_pg_ml", "numeric", "pg/mL", description="admission plasma IL-6"),
        Covariate("crp_mg_l", "numeric", "mg/L", description="admission CRP"),
        Covariate("egfr_ml_min", "numeric", "mL/min/1.73m2", description="admission eGFR"),
        Covariate("lvef_pct", "numeric", "%", description="left-ventricular ejection fraction"),
        Covariate("cardiac_arrest", "boolean", description="cardiac arrest before admission"),
        Covariate("comatose_after_arrest", "boolean", description="comatose after arrest"),
        Covariate("mcs_at_baseline", "boolean", description="mechanical circulatory support"),
    )
}

COVARIATE_NAMES: tuple[str, ...] = tuple(COVARIATES)
