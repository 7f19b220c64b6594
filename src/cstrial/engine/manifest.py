"""manifest.json: what a run was (protocol, seed, versions, bounds, model parameters) and its files' hashes."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import sys
from pathlib import Path

from cstrial import __version__
from cstrial.engine.plan import ScenarioPlan
from cstrial.model_parameters import TABLES
from cstrial.protocol import Protocol
from cstrial.results import sha256_file

DEPENDENCIES = ("numpy", "scipy", "pandas", "pyarrow", "joblib", "pydantic", "PyYAML")


def run_manifest(
    protocol: Protocol,
    plans: list[ScenarioPlan],
    seed: int,
    n_sims: int,
    jobs: int | None,
    save_patients: int,
    wall_time: float,
    out: Path,
    *,
    scenario: str | list[str] | None = None,
    backend: str = "loky",
    resumed: bool = False,
) -> dict:
    files = ["trials.parquet", "summary.parquet"] + (["patients.parquet"] if save_patients else [])
    return {
        "cstrial_version": __version__,
        "protocol": {
            "name": protocol.name,
            "path": str(protocol.source_path) if protocol.source_path else None,
            "sha256": sha256_text(protocol.source_text or protocol.resolved_yaml()),
            "resolved_yaml": protocol.resolved_yaml(),
            "source_text": protocol.source_text,
        },
        "seed": seed,
        "n_sims": n_sims,
        "scenario": scenario,
        "chunk_size": protocol.simulation.chunk_size,
        "save_patients": save_patients,
        "scenarios": [
            {
                "index": p.index,
                "name": p.name,
                "eligible_fraction": p.eligible_fraction,
                "baseline_shift": p.baseline_shift,
                "look_patients": list(p.look_patients),
                "look_months": list(p.look_months),
                # time-to-event primary: deaths at full information and at each look
                "planned_events": p.planned_events,
                "look_events": list(p.look_events) if p.planned_events is not None else None,
                # how the trials' outcomes were drawn, and why (cstrial.engine.samplers)
                "sampler": p.sampler,
                "sampler_reason": p.sampler_reason,
                "law_error": None if p.laws is None else p.laws.error,
                "comparisons": [
                    {
                        "comparison": c.label,
                        "alpha": c.alpha,
                        "efficacy_z": list(c.efficacy_z),
                        "futility_z": None if c.futility_z is None else list(c.futility_z),
                        "true_effect": c.true_effect,
                    }
                    for c in p.comparisons
                ],
            }
            for p in plans
        ],
        "jobs": jobs,
        "backend": backend,
        "resumed": resumed,
        "wall_time_seconds": round(wall_time, 3),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "dependencies": {name: _version(name) for name in DEPENDENCIES},
        # every parameter with its source and, if uncertain, its plausible range and the
        # range's source; then the values a what-if run overrode (none: the documented model)
        "parameters": {t.title: t.to_records() for t in TABLES.values()},
        "model_overrides": {
            p.name: dict(p.model.overrides) for p in plans if not p.model.is_default
        },
        "files": {name: sha256_file(out / name) for name in files},
    }


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
