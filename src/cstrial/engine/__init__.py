"""The engine: plan each scenario, simulate its chunks of replicate trials, summarise, write.

runner.py    the run: options, planning, chunks in parallel, streaming, resume
plan.py      a scenario resolved into the constants the hot path needs
laws.py      each arm's exact outcome law (quasi-Monte Carlo over the population)
stages.py    a stage's plan: patients, arms open and allocation, population
samplers.py  what a stage enrols and a look sees: counts, events or patients
decide.py    what a look decides (Design / Rule / Verdict); designs.py picks one
simulate.py  one chunk of trials, look by look, as whole arrays
"""

from cstrial.engine.runner import run

__all__ = ["run"]
