"""`cstrial boundaries`: the JSON contract of DESIGN.md, published values, the table, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import norm
from typer.testing import CliRunner

from cstrial.cli import app
from cstrial.design import group_sequential_boundaries

runner = CliRunner()

# The keys DESIGN.md fixes for `cstrial boundaries --json` (more may be added, none renamed).
CONTRACT_KEYS = {
    "information",
    "efficacy_z",
    "futility_z",
    "nominal_p",
    "alpha_spent",
    "cumulative_alpha",
    "inflation_factor",
}
TABLE_HEADINGS = [
    "look",
    "information",
    "efficacy z",
    "nominal p",
    "alpha spent",
    "cumulative alpha",
    "futility z",
]

GSD2_NPE = (
    "gsDesign2 reference page for gs_design_npe()/gs_power_npe(), Examples section "
    "(https://merck.github.io/gsDesign2/reference/gs_design_npe.html)"
)

# Published values as data: one dict per case, the R call kept as a comment.
PUBLISHED = [
    {
        "source": GSD2_NPE + ", 'Same fixed efficacy bounds, no futility bound (i.e., "
        "non-binding bound), null hypothesis'",
        # gs_power_npe(theta = rep(0, 3), info = (1:3) * 40,
        #     upar = gsDesign::gsDesign(k = 3, sfu = gsDesign::sfLDOF)$upper$bound,
        #     lpar = rep(-Inf, 3))
        # i.e. gsDesign's LD-OBF bounds (alpha = 0.025 one-sided, equal spacing), printed
        # to 6 decimals, and their cumulative crossing probabilities under H0.
        "args": ["--looks", "0.3333333333333333,0.6666666666666666,1"],
        "efficacy_z": [3.710303, 2.511427, 1.993048],
        # gsDesign: grid r = 18 and a 1e-6 root tolerance; gsDesign2's own
        # gs_spending_bound() on the same page gives 3.7103029, 2.5114338, 1.9930511,
        # 6e-6 away, so the two R packages agree to 1e-5 and so must we.
        "z_tolerance": 1e-5,
        "cumulative_alpha": [0.0001035057, 0.0060485045, 0.0250002354],
        "alpha_tolerance": 1e-6,
    },
]


def invoke(*args: str):
    return runner.invoke(app, ["boundaries", *args])


def boundaries_json(*args: str) -> dict:
    result = invoke(*args, "--alpha", "0.025", "--beta", "0.2", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_holds_the_documented_keys():
    payload = boundaries_json("--looks", "0.33,0.67,1", "--efficacy", "lan-demets-obrien-fleming")
    assert payload.keys() >= CONTRACT_KEYS
    assert payload["information"] == [0.33, 0.67, 1.0]
    assert payload["futility_z"] is None  # no futility asked for: JSON null
    for key in CONTRACT_KEYS - {"futility_z", "inflation_factor"}:
        assert len(payload[key]) == 3 and all(isinstance(v, float) for v in payload[key]), key
    assert isinstance(payload["inflation_factor"], float) and payload["inflation_factor"] > 1


@pytest.mark.parametrize("case", PUBLISHED, ids=["ldobf-3-equal-looks"])
def test_lan_demets_obrien_fleming_bounds_equal_published_values(case):
    payload = boundaries_json(*case["args"], "--efficacy", "lan-demets-obrien-fleming")
    np.testing.assert_allclose(
        payload["efficacy_z"], case["efficacy_z"], rtol=0, atol=case["z_tolerance"]
    )
    np.testing.assert_allclose(
        payload["cumulative_alpha"], case["cumulative_alpha"], rtol=0, atol=case["alpha_tolerance"]
    )


def test_looks_at_a_third_spend_the_lan_demets_obrien_fleming_function():
    """--looks 0.33,0.67,1: alpha spent by look k is 2 - 2 Phi(z_{1-alpha/2} / sqrt(t_k))
    (Lan & DeMets 1983), the first bound is its normal quantile, nominal p = 1 - Phi(z)."""
    payload = boundaries_json("--looks", "0.33,0.67,1", "--efficacy", "lan-demets-obrien-fleming")
    t = np.array([0.33, 0.67, 1.0])
    spending = 2 - 2 * norm.cdf(norm.ppf(1 - 0.025 / 2) / np.sqrt(t))
    np.testing.assert_allclose(payload["cumulative_alpha"], spending, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.cumsum(payload["alpha_spent"]), spending, rtol=0, atol=1e-9)
    assert payload["efficacy_z"][0] == pytest.approx(norm.isf(spending[0]), abs=1e-9)
    np.testing.assert_allclose(payload["nominal_p"], norm.sf(payload["efficacy_z"]), rtol=1e-12)
    # the CLI only renders what the library computes
    library = group_sequential_boundaries(looks=t, alpha=0.025, beta=0.2).to_dict()
    assert library["futility_z"] is None
    for key in CONTRACT_KEYS - {"futility_z"}:
        assert payload[key] == pytest.approx(library[key], rel=1e-12), key


def test_futility_option_gives_one_futility_bound_per_look():
    plain = boundaries_json("--looks", "0.33,0.67,1")
    payload = boundaries_json(
        "--looks", "0.33,0.67,1", "--futility", "hwang-shih-decani", "--futility-parameter", "-2"
    )
    futility = payload["futility_z"]
    assert isinstance(futility, list) and len(futility) == 3
    assert all(isinstance(z, float) for z in futility)
    assert futility[0] < futility[1] < futility[2]
    # the final look decides: its futility bound is the efficacy bound (gsDesign convention)
    assert futility[-1] == pytest.approx(payload["efficacy_z"][-1], abs=1e-12)
    # non-binding by default: efficacy bounds as without futility
    assert payload["efficacy_z"] == pytest.approx(plain["efficacy_z"], abs=1e-12)


def test_binding_lowers_the_efficacy_bounds_after_the_first_look():
    futility = ["--futility", "hwang-shih-decani", "--futility-parameter", "-2"]
    non_binding = boundaries_json("--looks", "0.33,0.67,1", *futility)
    binding = boundaries_json("--looks", "0.33,0.67,1", *futility, "--binding")
    assert binding["efficacy_z"][0] == pytest.approx(non_binding["efficacy_z"][0], abs=1e-9)
    assert all(
        b < nb - 1e-5
        for b, nb in zip(binding["efficacy_z"][1:], non_binding["efficacy_z"][1:], strict=True)
    )
    # binding: alpha is spent with the futility bounds obeyed, and still totals alpha
    assert binding["cumulative_alpha"][-1] == pytest.approx(0.025, abs=1e-9)


def test_table_output_has_the_column_headings_and_one_row_per_look():
    result = invoke(
        "--looks",
        "0.33,0.67,1",
        "--efficacy",
        "lan-demets-obrien-fleming",
        "--futility",
        "hwang-shih-decani",
        "--futility-parameter",
        "-2",
    )
    assert result.exit_code == 0, result.output
    for heading in TABLE_HEADINGS:
        assert heading in result.stdout, heading
    assert "3.7307" in result.stdout and "1.9937" in result.stdout  # efficacy z, 4 decimals
    assert "inflation factor" in result.stdout
    assert "non-binding" in result.stdout


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["--looks", "0.5,0.4,1"], "[0.5, 0.4, 1.0]"),
        (["--efficacy", "nonsense"], "'nonsense'"),
        (["--alpha", "0.7"], "0.7"),
        (["--looks", "a,b"], "'a,b'"),
        (["--looks", "0.5,1.2"], "ending at 1.0"),
        (["--futility", "hwang-shih-decani"], "needs a parameter"),
    ],
    ids=["looks-decreasing", "unknown-family", "alpha-too-large", "looks-not-numbers",
         "looks-beyond-1", "futility-without-parameter"],
)  # fmt: skip
def test_bad_input_exits_non_zero_with_one_line_and_no_traceback(args, phrase):
    result = invoke(*args)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)  # exited on purpose, nothing raised
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert phrase in lines[0]
    assert result.stdout == ""
