"""The engine: plan each scenario, simulate its chunks of replicate trials, summarise, write.

runner.py    the run: options, planning, chunks in parallel, streaming, resume
plan.py      a scenario resolved into the constants the hot path needs
pool.py      pooled enrolment (patient reuse)
simulate.py  the hot path: one chunk of trials as whole arrays
"""

from cstrial.engine.runner import run

__all__ = ["run"]
