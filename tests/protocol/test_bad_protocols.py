"""Each malformed protocol in tests/assets/bad/ gives exactly one problem, placed and explained.

The table is the specification: the file, the field path reported, its line in
the file, and a phrase the message must contain. Adding a case adds a row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cstrial.errors import ProtocolError
from cstrial.protocol import load_protocol

BAD = Path(__file__).parents[1] / "assets" / "bad"

CASES = [
    # wrong types: YAML has typed the value already, so nothing is coerced
    {"file": "wrong_type", "path": "design.sample_size", "line": 16,
     "phrase": "must be a whole number ≥ 2 and ≤ 1,000,000 (total over all arms, at least 2 per arm), found true"},
    {"file": "number_as_text", "path": "design.alpha", "line": 17,
     "phrase": "found '0.025' (this is text: remove the quotes)"},
    {"file": "nan_value", "path": "design.alpha", "line": 17,
     "phrase": "must be a finite number, found nan"},
    # keys
    {"file": "unknown_key", "path": "design.powr", "line": 18,
     "phrase": "unknown field 'powr'; did you mean 'power'?"},
    {"file": "missing_field", "path": "design.alpha", "line": 15,
     "phrase": "required field missing"},
    {"file": "duplicate_key", "path": "design.alpha", "line": 19,
     "phrase": "duplicate key (first at line 17)"},
    # values out of range
    {"file": "alpha_too_large", "path": "design.alpha", "line": 17,
     "phrase": "≥ 1e-06 and < 0.5 (one-sided; below 1e-6 the bounds pass z = 4.75), found 0.6"},
    {"file": "negative_sample_size", "path": "design.sample_size", "line": 16,
     "phrase": "found -600"},
    {"file": "allocation_zero", "path": "arms[1].allocation", "line": 11,
     "phrase": "must be a whole number ≥ 1 and ≤ 100 (a fixed share of the randomisation ratio, e.g. 2 for 2:1; response-adaptive allocation is not available), found 0"},
    {"file": "looks_not_increasing", "path": "design.looks", "line": 18,
     "phrase": "must increase and end at 1.0, found [0.5, 0.4, 1.0]"},
    {"file": "horizon_beyond_365_days", "path": "endpoints.primary.horizon_days", "line": 14,
     "phrase": "the disease model simulates 365 days"},
    # arms
    {"file": "no_control_arm", "path": "arms", "line": 7,
     "phrase": "needs exactly one arm with control: true, found none"},
    {"file": "two_control_arms", "path": "arms", "line": 7,
     "phrase": "needs exactly one arm with control: true, found 2 (placebo, usual-care)"},
    {"file": "control_arm_with_effect", "path": "arms[0].effect", "line": 10,
     "phrase": "the control arm must not have an effect"},
    {"file": "unknown_effect_model", "path": "arms[1].effect.model", "line": 12,
     "phrase": "unknown effect model 'il6_mediated'; did you mean 'il6-mediated'?"},
    # population criteria
    {"file": "unknown_covariate", "path": "population.inclusion.il6", "line": 6,
     "phrase": "unknown covariate 'il6'; did you mean 'il6_pg_ml'? (valid: age, sex,"},
    {"file": "categorical_level", "path": "population.inclusion.etiology[0]", "line": 5,
     "phrase": "'ami' is not a value of etiology; did you mean 'AMI'? (values: AMI, HF, other)"},
    {"file": "range_on_categorical", "path": "population.inclusion.etiology", "line": 5,
     "phrase": "etiology is categorical: give a list of allowed values"},
    {"file": "list_on_numeric", "path": "population.inclusion.il6_pg_ml", "line": 6,
     "phrase": "il6_pg_ml is numeric: use a range such as {min: .., max: ..}"},
    # endpoints and design choices
    {"file": "analysis_not_fitting_type", "path": "endpoints.primary.analysis", "line": 14,
     "phrase": "two-proportion does not analyse a time-to-event endpoint; use one of log-rank"},
    {"file": "spending_without_parameter", "path": "design.efficacy.parameter", "line": 19,
     "phrase": "hwang-shih-decani needs a parameter: gamma"},
    {"file": "unknown_spending", "path": "design.efficacy.spending", "line": 19,
     "phrase": "did you mean 'lan-demets-obrien-fleming'?"},
    # multi-arm designs (docs/multiarm.md)
    {"file": "selection_two_arms", "path": "design.selection", "line": 16,
     "phrase": "selects among several active arms at interims; this protocol has 1 active arm"},
    {"file": "dunnett_one_arm", "path": "design.multiplicity", "line": 16,
     "phrase": "dunnett adjusts for several active arms against one control"},
    {"file": "graph_weights_over_one", "path": "endpoints.testing.graph.weights", "line": 13,
     "phrase": "must sum to at most 1, found 1.2"},
    {"file": "graph_transitions_over_one", "path": "endpoints.testing.graph.transitions[0]",
     "line": 17, "phrase": "the edges leaving hypothesis 0 must sum to at most 1, found 1.2"},
    {"file": "hochberg_with_looks", "path": "design.multiplicity", "line": 16,
     "phrase": "hochberg is a step-up test of one final analysis; with interim looks"},
    {"file": "holm_as_testing", "path": "endpoints.testing", "line": 12,
     "phrase": "holm is a multiplicity method across arms: write design.multiplicity: holm"},
    # scenarios
    {"file": "bad_scenario_path", "path": "scenarios[0].set.arms.toci.effect.blockade",
     "line": 21, "phrase": "no item named 'toci' in arms; did you mean 'tocilizumab'?"},
    {"file": "bad_scenario_value", "path": "scenarios[0].set.arms.tocilizumab.effect.blockade",
     "line": 21, "phrase": "must be a number between 0 and 1"},
    # the file as a whole
    {"file": "yaml_syntax_error", "path": "", "line": 19,
     "phrase": "invalid YAML: expected ',' or ']'"},
    {"file": "top_level_list", "path": "", "line": 2,
     "phrase": "the top level is not a mapping"},
    # a feature under the wrong field: the message says where it lives
    {"file": "posterior_under_efficacy", "path": "design.efficacy.posterior_probability_above",
     "line": 15, "phrase": "posterior-probability rules are written under design.decision"},
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case["file"] for case in CASES])
def test_malformed_protocol_names_its_one_problem(case: dict) -> None:
    path = BAD / f"{case['file']}.yaml"
    with pytest.raises(ProtocolError) as raised:
        load_protocol(path)
    error = raised.value
    assert error.source == str(path)
    assert len(error.problems) == 1, error.render()
    problem = error.problems[0]
    assert (problem.path, problem.line) == (case["path"], case["line"]), error.render()
    assert case["phrase"] in problem.message


def test_every_bad_fixture_is_in_the_table() -> None:
    assert {p.stem for p in BAD.glob("*.yaml")} == {case["file"] for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[case["file"] for case in CASES])
def test_messages_are_plain_words_not_pydantic_output(case: dict) -> None:
    with pytest.raises(ProtocolError) as raised:
        load_protocol(BAD / f"{case['file']}.yaml")
    rendered = raised.value.render()
    for leak in ("Input should", "pydantic", "errors.pydantic.dev", "Traceback", "type="):
        assert leak not in rendered
