"""What an arm does to a patient: effect models on the hazard of death, drug PK/PD."""

from cstrial.treatment.effects import TREATMENT, HazardCourse, hazard_course, regimen_profile
from cstrial.treatment.pkpd import (
    PKPD,
    BlockadeProfile,
    anakinra_profile,
    tocilizumab_concentration,
    tocilizumab_profile,
)

__all__ = [
    "PKPD",
    "TREATMENT",
    "BlockadeProfile",
    "HazardCourse",
    "anakinra_profile",
    "hazard_course",
    "regimen_profile",
    "tocilizumab_concentration",
    "tocilizumab_profile",
]
