"""Regenerate rpact_grid.json: rpact's boundaries for a grid of group-sequential designs.

    python tests/design/rpact/generate.py    # needs Rscript with rpact (apt: r-cran-rpact)

A regular sample (every 16th) of 4,120 designs: K = 2-5 looks, equal and unequal
information rates, one-sided alpha 0.025 and 0.05, beta 0.1 and 0.2, efficacy by
the Lan-DeMets O'Brien-Fleming and Pocock types, Kim-DeMets, Hwang-Shih-DeCani,
Wang-Tsiatis or none before the last look, and futility by beta spending of four
families, binding and not. rpact's getDesignGroupSequential and
getDesignCharacteristics give the reference values (tests/design/test_rpact_grid.py).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
EVERY = 16

RATES = {
    2: [[0.5, 1.0], [0.3, 1.0], [0.75, 1.0]],
    3: [[1 / 3, 2 / 3, 1.0], [0.2, 0.5, 1.0], [0.5, 0.8, 1.0]],
    4: [[0.25, 0.5, 0.75, 1.0], [0.1, 0.35, 0.6, 1.0]],
    5: [[0.2, 0.4, 0.6, 0.8, 1.0], [0.15, 0.3, 0.5, 0.85, 1.0]],
}
EFFICACY = [
    ("asOF", None), ("asP", None), ("asKD", 1.0), ("asKD", 2.0), ("asKD", 3.0),
    ("asHSD", -4.0), ("asHSD", -2.0), ("asHSD", 1.0), ("asHSD", 0.5),
    ("WT", 0.0), ("WT", 0.25), ("WT", 0.5), ("noEarlyEfficacy", None),
]  # fmt: skip
FUTILITY = [
    (None, None, False), ("bsOF", None, False), ("bsOF", None, True), ("bsP", None, False),
    ("bsP", None, True), ("bsKD", 2.0, False), ("bsKD", 2.0, True), ("bsHSD", -2.0, False),
    ("bsHSD", -2.0, True), ("bsHSD", 1.0, False), ("bsKD", 3.0, True),
]  # fmt: skip


def designs() -> list[dict]:
    grid = []
    for k, all_rates in RATES.items():
        for rates in all_rates:
            for alpha in (0.025, 0.05):
                for beta in (0.1, 0.2):
                    for eff, eff_par in EFFICACY:
                        for fut, fut_par, binding in FUTILITY:
                            if fut is not None and eff in ("WT", "noEarlyEfficacy"):
                                continue  # rpact has no futility for these
                            grid.append(
                                dict(k=k, rates=rates, alpha=alpha, beta=beta, efficacy=eff,
                                     efficacy_parameter=eff_par, futility=fut,
                                     futility_parameter=fut_par, binding=binding)
                            )  # fmt: skip
    return grid[::EVERY]


def _line(i: int, d: dict) -> str:
    def na(x):
        return "NA" if x is None else repr(x)

    rates = ",".join(repr(r) for r in d["rates"])
    return "|".join(
        [str(i), str(d["k"]), rates, repr(d["alpha"]), repr(d["beta"]), d["efficacy"],
         na(d["efficacy_parameter"]), d["futility"] or "NA", na(d["futility_parameter"]),
         "TRUE" if d["binding"] else "FALSE"]
    )  # fmt: skip


def main() -> None:
    grid = designs()
    with tempfile.TemporaryDirectory() as tmp:
        given, answer = Path(tmp) / "in.txt", Path(tmp) / "out.txt"
        given.write_text("\n".join(_line(i, d) for i, d in enumerate(grid)) + "\n")
        subprocess.run(["Rscript", str(HERE / "designs.R"), str(given), str(answer)], check=True)
        version = subprocess.run(
            ["Rscript", "-e", "cat(as.character(packageVersion('rpact')))"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        for line in answer.read_text().splitlines():
            i, name, values = line.split("|", 2)
            if name in ("error", "warning"):
                raise SystemExit(f"rpact: design {grid[int(i)]}: {values}")
            grid[int(i)][name] = (
                None if values in ("NULL", "") else
                [None if v == "NA" else float(v) for v in values.split(",")]
            )  # fmt: skip
    source = f"rpact {version}: getDesignGroupSequential, getDesignCharacteristics"
    _write(source, grid)
    print(f"wrote {len(grid)} designs to {HERE / 'rpact_grid.json'}")


def _write(source: str, grid: list[dict]) -> None:
    """One design a line: small, and diffs name the designs that moved."""
    lines = ",\n".join(json.dumps(d) for d in grid)
    text = f'{{"source": {json.dumps(source)},\n"designs": [\n{lines}\n]}}\n'
    (HERE / "rpact_grid.json").write_text(text)


if __name__ == "__main__":
    main()
