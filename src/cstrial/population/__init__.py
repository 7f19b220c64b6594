"""The virtual cardiogenic-shock population: covariates, their joint law, inclusion filters."""

from cstrial.population.eligibility import Criteria, eligible, enroll
from cstrial.population.parameters import POPULATION
from cstrial.population.sample import Patients, sample_population

__all__ = ["POPULATION", "Criteria", "Patients", "eligible", "enroll", "sample_population"]
