"""Regenerate the golden outputs of the shipped protocols: a deliberate, explained act.

    python tests/golden/regenerate.py

Run it only when a change is meant to move the seeded outputs, and say why in the
commit message (and in tests/golden/README.md's log).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cstrial.engine import run  # noqa: E402
from cstrial.errors import MonteCarloPrecisionWarning  # noqa: E402

N_SIMS = 100
PROTOCOLS = sorted((ROOT / "protocols").glob("*.yaml"))


def golden_run(protocol: Path, out: Path):
    """The seeded run whose outputs are held in tests/golden/<protocol stem>/."""
    with warnings.catch_warnings():  # 100 replicates is coarse on purpose
        warnings.simplefilter("ignore", MonteCarloPrecisionWarning)
        return run(protocol, n_sims=N_SIMS, jobs=1, out=out)


def main() -> None:
    for protocol in PROTOCOLS:
        target = HERE / protocol.stem
        with tempfile.TemporaryDirectory() as tmp:
            result = golden_run(protocol, Path(tmp) / "run")
            target.mkdir(exist_ok=True)
            for name in ("trials.parquet", "summary.parquet"):
                shutil.copyfile(result.out / name, target / name)
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
