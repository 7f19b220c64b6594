"""The virtual cardiogenic-shock population: covariates, their joint law, inclusion filters."""

from cstrial.population.eligibility import Criteria, eligible, enroll
from cstrial.population.parameters import POPULATION
from cstrial.population.sample import DRAWS, Patients, population_from_normals, sample_population

__all__ = [
    "DRAWS",
    "POPULATION",
    "Criteria",
    "Patients",
    "eligible",
    "enroll",
    "population_from_normals",
    "sample_population",
]
