"""`cstrial calibrate`: the efficacy threshold of a Bayesian design that gives a type I error.

The scenario (normally a null one) is simulated once with efficacy stopping switched
off, so every trial runs to its futility stop or its end, and each trial's posterior
probability of the efficacy statement is kept at every look it reaches. A design with
efficacy threshold c would stop trial r for efficacy exactly when one of those
posteriors exceeds c (stopping only cuts a trial's path short: the looks before are the
same), so its type I error on these trials is #{M_r > c} / R, M_r the trial's largest
posterior before its futility stop: every candidate threshold is judged on the same
trials (common random numbers), and the smallest c with an error <= target is found
exactly by one sort (`cstrial.design.bayesian.calibrate_threshold`). With several active
arms the error is family-wise: a trial errs when any comparison stops for efficacy.

Like adaptr's `calibrate_trial` (Granholm et al. 2023), but exact on the simulated
trials instead of a search over re-simulated ones.
References: Berry et al. 2010, §2.5.4; FDA 2019, Adaptive Designs, §VI.C.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from cstrial.design.bayesian import calibrate_threshold
from cstrial.engine.bayes import BayesianDesign
from cstrial.engine.parallel import chunk_tasks, execute, workers_for
from cstrial.engine.plan import plan_scenario
from cstrial.engine.runner import Progress
from cstrial.errors import UsageError
from cstrial.protocol import Protocol, expand_scenarios, load_protocol, select_scenarios

DECIMALS = 6  # the threshold as reported and written into a protocol


@dataclass(frozen=True)
class Calibration:
    """The calibrated efficacy threshold and what it achieves on the simulated trials.

    `threshold`: stop for efficacy when P(efficacy) > it; `achieved` its type I error on
    the `n_sims` trials, with Monte Carlo SE `se`; `protocol_threshold` and
    `protocol_error`: the protocol's own efficacy probability and its error on the same
    trials.
    """

    scenario: str
    target: float
    threshold: float
    achieved: float
    se: float
    protocol_threshold: float
    protocol_error: float
    n_sims: int
    seed: int
    looks: int
    comparisons: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["comparisons"] = list(self.comparisons)
        return data


def calibrate_efficacy(
    protocol: Protocol | str | Path,
    *,
    type_i_error: float,
    scenario: str,
    n_sims: int | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> Calibration:
    """The smallest efficacy probability threshold whose type I error in `scenario` is at
    most `type_i_error` (see the module). Raises `UsageError` for a protocol without a
    Bayesian decision, an unknown scenario or a target outside (0, 1)."""
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    if not 0.0 < type_i_error < 1.0:
        raise UsageError("type_i_error", f"must lie strictly between 0 and 1, found {type_i_error}")
    if protocol.design.decision is None:
        raise UsageError(
            "protocol",
            "has no Bayesian decision to calibrate: add design.decision: {type: bayesian, "
            "prior: ..., efficacy: {probability: 0.99}} (docs/bayesian.md)",
        )
    (chosen,) = select_scenarios(expand_scenarios(protocol), scenario)
    sims = n_sims if n_sims is not None else protocol.simulation.n_sims
    if sims < 1:
        raise UsageError("n_sims", f"must be at least 1, found {sims}")
    run_seed = seed if seed is not None else protocol.simulation.seed
    plan = plan_scenario(chosen, run_seed)
    design = plan.design
    if not isinstance(design, BayesianDesign):
        raise UsageError(
            "scenario", f"{scenario!r} has no Bayesian decision (a scenario removed it)"
        )
    plan = replace(plan, design=design.without_efficacy_stops())
    tasks = chunk_tasks(plan, sims, chosen.protocol.simulation.chunk_size)
    labels = tuple(c.label for c in plan.comparisons)
    decisive = np.full((len(labels), sims), -np.inf)
    looks = [f"posterior_look_{k + 1}" for k in range(plan.n_looks)]
    done = 0
    workers = workers_for(tasks, jobs, "loky")
    for result in execute(tasks, plan.n_looks, jobs=workers):
        trials = result.trials.to_pandas()
        for c, label in enumerate(labels):
            rows = trials[trials.comparison == label]
            posteriors = rows[looks].to_numpy(dtype=float)  # NaN after the trial's stop
            sim = rows.sim.to_numpy()
            # a futility stop's own look is reached (efficacy is checked first there)
            decisive[c, sim] = np.where(np.isnan(posteriors), -np.inf, posteriors).max(axis=1)
        done += len(trials) // len(labels)
        if progress is not None:
            progress(done, sims)
    worst = decisive.max(axis=0)  # family-wise: any comparison's efficacy stop is an error
    found = calibrate_threshold(np.where(np.isfinite(worst), worst, np.nan)[:, None], type_i_error)
    # written with 6 decimals, rounded up: the error is then that of the written threshold
    threshold = min(math.ceil(found.threshold * 10**DECIMALS) / 10**DECIMALS, 1.0)
    achieved = float(np.count_nonzero(worst > threshold)) / sims
    own = design.efficacy_probability
    own_error = float(np.count_nonzero(worst > own)) / sims
    return Calibration(
        scenario=chosen.name,
        target=type_i_error,
        threshold=threshold,
        achieved=achieved,
        se=math.sqrt(achieved * (1.0 - achieved) / sims),
        protocol_threshold=own,
        protocol_error=own_error,
        n_sims=sims,
        seed=run_seed,
        looks=plan.n_looks,
        comparisons=labels,
    )
