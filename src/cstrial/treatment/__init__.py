"""What an arm does to a patient: effect models on the hazard of death."""

from cstrial.treatment.effects import TREATMENT, HazardCourse, hazard_course

__all__ = ["TREATMENT", "HazardCourse", "hazard_course"]
