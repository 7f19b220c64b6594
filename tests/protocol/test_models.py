"""The schema's rules, checked on mappings: each test breaks one rule of the contract."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cstrial.protocol import (
    SPENDING_FUNCTIONS,
    Arm,
    HazardRatio,
    OddsRatio,
    Protocol,
    RiskRatio,
    parse_protocol,
)


def only(problems: list) -> tuple[str, str]:
    """The (path, message) of the single problem expected."""
    assert len(problems) == 1, problems
    return problems[0].path, problems[0].message


# --- numbers -----------------------------------------------------------------


@pytest.mark.parametrize("value", [True, "600", 600.5, None, [600]])
def test_sample_size_must_be_a_whole_number(data, problems, value: Any) -> None:
    data["design"]["sample_size"] = value
    path, message = only(problems(data))
    assert path == "design.sample_size"
    assert message.startswith("must be a whole number ≥ 2")


def test_a_whole_number_may_be_written_with_a_decimal_point(data) -> None:
    data["design"]["sample_size"] = 600.0
    assert parse_protocol(data).design.sample_size == 600


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_numbers_must_be_finite(data, problems, value: float) -> None:
    data["population"]["control_mortality_30d"] = value
    assert only(problems(data)) == (
        "population.control_mortality_30d",
        f"must be a finite number, found {value}",
    )


def test_a_boolean_is_not_a_number(data, problems) -> None:
    data["design"]["alpha"] = False
    assert only(problems(data))[1].endswith("found false")


def test_yaml_exponent_without_a_point_is_explained(data, problems) -> None:
    data["design"]["alpha"] = "1e-2"  # how PyYAML reads an unquoted 1e-2
    assert "YAML reads 1e-2 as text" in only(problems(data))[1]


@pytest.mark.parametrize(
    ("section", "key", "value", "phrase"),
    [
        ("design", "power", 1.0, "between 0.5 and 0.9999"),
        ("design", "alpha", 0.0, "≥ 1e-06 and < 0.5"),
        ("simulation", "n_sims", 0, "whole number ≥ 1"),
        ("simulation", "seed", -1, "whole number ≥ 0"),
        ("simulation", "chunk_size", 0, "whole number ≥ 1"),
        ("simulation", "save_patients", -5, "whole number ≥ 0"),
        ("population", "control_mortality_30d", 1.0, "between 0.01 and 0.99"),
    ],
)
def test_values_outside_their_range_are_refused(data, problems, section, key, value, phrase):
    data.setdefault(section, {})[key] = value
    path, message = only(problems(data))
    assert path == f"{section}.{key}"
    assert phrase in message


def test_accrual_and_dropout_take_positive_rates(data, problems) -> None:
    data["design"]["accrual"] = {"patients_per_month": 0, "ramp_up_months": -1}
    data["design"]["dropout"] = {"rate_per_year": -0.1}
    assert [p.path for p in problems(data)] == [
        "design.accrual.patients_per_month",
        "design.accrual.ramp_up_months",
        "design.dropout.rate_per_year",
    ]


# --- names and text -------------------------------------------------------------


@pytest.mark.parametrize("name", ["toci amics", "-toci", "", 7])
def test_protocol_name_is_a_slug(data, problems, name: Any) -> None:
    data["name"] = name
    assert only(problems(data))[0] == "name"


@pytest.mark.parametrize("name", ["toci.8mg", "8mg", "toci 8mg"])
def test_arm_names_can_be_addressed_by_scenario_paths(data, problems, name: str) -> None:
    data["arms"][1]["name"] = name
    data["scenarios"] = []
    path, message = only(problems(data))
    assert path == "arms[1].name"
    assert "scenario paths" in message


def test_arm_names_are_unique(data, problems) -> None:
    data["arms"][1]["name"] = "placebo"
    data["scenarios"] = []
    assert only(problems(data)) == ("arms[1].name", "duplicate arm name 'placebo' (also arms[0])")


# --- arms and effects -----------------------------------------------------------


def test_a_trial_needs_two_arms(data, problems) -> None:
    data["arms"] = data["arms"][:1]
    data["scenarios"] = []
    assert only(problems(data)) == (
        "arms",
        "needs at least 2 arms (a control and an active arm), found 1",
    )


@pytest.mark.parametrize("allocation", [0, -1, 1.5, True])
def test_allocation_is_a_positive_whole_number(data, problems, allocation: Any) -> None:
    data["arms"][1]["allocation"] = allocation
    path, message = only(problems(data))
    assert path == "arms[1].allocation"
    assert message.startswith("must be a whole number ≥ 1 and ≤ 100")


def test_control_count_is_checked_even_when_an_arm_is_invalid(data, problems) -> None:
    data["arms"][0]["control"] = False
    data["arms"][1]["allocation"] = 0
    assert [p.path for p in problems(data)] == ["arms[1].allocation", "arms"]


@pytest.mark.parametrize(
    ("effect", "expected"),
    [
        ({"model": "risk-ratio", "value": 0.85}, RiskRatio(value=0.85)),
        ({"model": "odds-ratio", "value": 0.75}, OddsRatio(value=0.75)),
        ({"model": "hazard-ratio", "value": 0.8}, HazardRatio(value=0.8)),
    ],
)
def test_constant_effect_models_take_a_ratio(data, effect, expected) -> None:
    data["arms"][1]["effect"] = effect
    data["scenarios"] = []
    assert parse_protocol(data).arm("tocilizumab").effect == expected


def test_a_ratio_must_be_positive(data, problems) -> None:
    data["arms"][1]["effect"] = {"model": "odds-ratio", "value": 0}
    data["scenarios"] = []
    assert only(problems(data)) == (
        "arms[1].effect.value",
        "must be a number between 0.01 and 100 (1 means no effect; beyond 1/100 or 100 no trial is needed), found 0",
    )


def test_il6_mediated_delay_defaults_to_zero(data) -> None:
    data["arms"][1]["effect"] = {"model": "il6-mediated", "blockade": 0.5}
    assert parse_protocol(data).arm("tocilizumab").effect.delay_hours == 0


def test_an_effect_field_of_another_model_is_unknown(data, problems) -> None:
    data["arms"][1]["effect"]["value"] = 0.8
    assert only(problems(data)) == (
        "arms[1].effect.value",
        "unknown field 'value' (allowed: model, blockade, delay_hours, infection_hazard_ratio)",
    )


def test_pkpd_tocilizumab_needs_its_dose(data, problems) -> None:
    data["arms"][1]["effect"] = {"model": "pkpd", "drug": "tocilizumab"}
    path, message = only(problems(data))
    assert path == "arms[1].effect.dose_mg_per_kg"
    assert message == "tocilizumab needs dose_mg_per_kg, e.g. 8"


def test_pkpd_dose_fields_belong_to_their_drug(data, problems) -> None:
    data["arms"][1]["effect"] = {"model": "pkpd", "drug": "anakinra", "dose_mg_per_kg": 8}
    path, message = only(problems(data))
    assert path == "arms[1].effect.dose_mg_per_kg"
    assert "is for tocilizumab" in message


def test_pkpd_defaults(data, problems) -> None:
    data["arms"][1]["effect"] = {"model": "pkpd", "drug": "tocilizumab", "dose_mg_per_kg": 8}
    assert problems(data) == []
    data["arms"][1]["effect"] = {"model": "pkpd", "drug": "anakinra"}
    assert problems(data) == []


# --- population criteria --------------------------------------------------------


def test_boolean_covariates_take_true_or_false(data, problems) -> None:
    data["population"]["exclusion"]["comatose_after_arrest"] = ["yes", 1]
    assert [(p.path, p.message) for p in problems(data)] == [
        (
            "population.exclusion.comatose_after_arrest[0]",
            "'yes' is not a value of comatose_after_arrest (values: true, false)",
        ),
        (
            "population.exclusion.comatose_after_arrest[1]",
            "1 is not a value of comatose_after_arrest (values: true, false)",
        ),
    ]


def test_a_list_of_values_is_not_empty(data, problems) -> None:
    data["population"]["inclusion"]["sex"] = []
    assert only(problems(data)) == (
        "population.inclusion.sex",
        "needs at least one allowed value (values: female, male)",
    )


@pytest.mark.parametrize(
    ("criterion", "message"),
    [
        ({}, "needs min, max or both, e.g. {min: 18, max: 90}"),
        ({"min": 90, "max": 18}, "min (90) must not exceed max (18)"),
        (
            {"min": "18"},
            "must be a number between -1000000 and 1000000 (beyond any value of any covariate, in its unit), found '18' (this is text: remove the quotes)",
        ),
        ({"low": 18}, "unknown field 'low' (allowed: min, max)"),
    ],
)
def test_a_range_has_a_bound_and_min_below_max(data, problems, criterion, message) -> None:
    data["population"]["inclusion"]["age"] = criterion
    assert only(problems(data))[1] == message


def test_a_covariate_key_with_nothing_after_it_means_no_criteria(data) -> None:
    data["population"]["exclusion"] = None
    assert parse_protocol(data).population.exclusion == {}


# --- endpoints ------------------------------------------------------------------


def test_secondary_endpoints_are_binary_too(data, problems) -> None:
    secondary = {"name": "death_14d", "type": "binary", "horizon_days": 14,
                 "analysis": "two-proportion", "covariates": ["age", "il6"]}  # fmt: skip
    data["endpoints"]["secondary"] = [secondary]
    assert only(problems(data)) == (
        "endpoints.secondary[0].covariates[1]",
        "unknown covariate 'il6'; did you mean 'il6_pg_ml'? (valid: age, sex, etiology, "
        "scai_stage, phenotype, lactate_mmol_l, il6_pg_ml, crp_mg_l, egfr_ml_min, lvef_pct, "
        "cardiac_arrest, comatose_after_arrest, mcs_at_baseline)",
    )


def test_endpoint_covariates_are_names(data, problems) -> None:
    data["endpoints"]["primary"]["covariates"] = [["age"]]
    path, message = only(problems(data))
    assert path == "endpoints.primary.covariates[0]"
    assert message.startswith("unknown covariate ['age'] (valid: age, sex,")


def test_endpoint_names_are_unique(data, problems) -> None:
    data["endpoints"]["secondary"] = [dict(data["endpoints"]["primary"])]
    assert only(problems(data)) == (
        "endpoints.secondary[0].name",
        "duplicate endpoint name 'death_30d' (also primary)",
    )


# endpoint type -> (analysis, extra fields) that fit it
FITTING = [
    ("binary", "logistic-adjusted", {"covariates": ["scai_stage", "il6_pg_ml"]}),
    ("binary", "cmh", {"strata": "scai_stage"}),
    ("time-to-event", "log-rank", {}),
    ("time-to-event", "stratified-log-rank", {"strata": "etiology"}),
    ("time-to-event", "cox", {}),
    ("days-alive-out-of-hospital", "mann-whitney", {}),
    ("hierarchical", "win-ratio", {"components": ["death", "days_alive_out_of_hospital"]}),
]


@pytest.mark.parametrize(("kind", "analysis", "extra"), FITTING)
def test_each_endpoint_type_takes_its_analyses(data, problems, kind, analysis, extra) -> None:
    data["endpoints"]["primary"].update({"type": kind, "analysis": analysis, **extra})
    assert problems(data) == []


@pytest.mark.parametrize(
    ("change", "path", "phrase"),
    [
        ({"analysis": "logistic-adjusted"}, "covariates", "logistic-adjusted needs covariates"),
        ({"analysis": "cmh"}, "strata", "cmh needs strata"),
        ({"analysis": "cmh", "strata": "age"}, "strata", "age is numeric"),
        ({"type": "hierarchical", "analysis": "win-ratio"}, "components", "needs components"),
        (
            {"type": "days-alive-out-of-hospital", "analysis": "mann-whitney", "horizon_days": 60},
            "horizon_days",
            "must be at most 30",
        ),
        ({"analysis": "log-rank"}, "analysis", "log-rank does not analyse a binary endpoint"),
        # an unknown analysis is one problem, not also "does not analyse a binary endpoint"
        ({"analysis": "chi-square"}, "analysis", "unknown analysis 'chi-square' (valid: two-"),
    ],
)
def test_endpoint_options_must_fit_the_analysis(data, problems, change, path, phrase) -> None:
    data["endpoints"]["primary"].update(change)
    found_path, message = only(problems(data))
    assert found_path == f"endpoints.primary.{path}"
    assert phrase in message


# --- design ---------------------------------------------------------------------


def test_sample_size_is_at_least_two_per_arm(data, problems) -> None:
    data["design"]["sample_size"] = 3
    data["scenarios"] = []
    assert only(problems(data)) == (
        "design.sample_size",
        "must be at least 2 per arm, so ≥ 4 with 2 arms, found 3",
    )


@pytest.mark.parametrize(
    ("looks", "path", "phrase"),
    [
        ([0.5, 0.9], "design.looks", "must increase and end at 1.0, found [0.5, 0.9]"),
        ([0.5, 0.5, 1.0], "design.looks", "must increase and end at 1.0"),
        ([], "design.looks", "needs at least one look; [1.0] is a fixed design"),
        ([0.0, 1.0], "design.looks[0]", "must be a number > 0 and ≤ 1 (an information fraction)"),
        ([i / 21 for i in range(1, 22)], "design.looks", "allows at most 20 looks, found 21"),
        (1.0, "design.looks", "must be a list"),
    ],
)
def test_looks_are_increasing_information_fractions_ending_at_one(
    data, problems, looks, path, phrase
) -> None:
    data["design"]["looks"] = looks
    found_path, message = only(problems(data))
    assert (found_path, phrase in message) == (path, True)


# (spending, parameter, problem or None): the parameter each family takes (DESIGN.md)
SPENDING_PARAMETERS = [
    ("lan-demets-obrien-fleming", None, None),
    ("lan-demets-pocock", None, None),
    ("none", None, None),
    ("hwang-shih-decani", -4, None),
    ("hwang-shih-decani", 0, None),
    ("kim-demets", 3, None),
    ("wang-tsiatis", 0.5, None),
    ("wang-tsiatis", -0.5, None),
    ("lan-demets-obrien-fleming", 2, "lan-demets-obrien-fleming takes no parameter, found 2"),
    ("none", 1, "none takes no parameter, found 1"),
    ("hwang-shih-decani", None, "hwang-shih-decani needs a parameter: gamma"),
    ("kim-demets", None, "kim-demets needs a parameter: rho"),
    ("kim-demets", 0, "kim-demets needs rho between 0.4 and 8, found 0"),
    ("hwang-shih-decani", -1000, "hwang-shih-decani needs gamma between -10 and 5, found -1000"),
    ("wang-tsiatis", None, "wang-tsiatis needs a parameter: delta"),
    ("wang-tsiatis", 1.5, "wang-tsiatis needs delta between -0.5 and 1, found 1.5"),
    # the range the boundaries compute (D2: validate once accepted -0.8, run refused it)
    ("wang-tsiatis", -0.8, "wang-tsiatis needs delta between -0.5 and 1, found -0.8"),
]


@pytest.mark.parametrize(("spending", "parameter", "expected"), SPENDING_PARAMETERS)
def test_each_spending_family_takes_its_parameter(data, problems, spending, parameter, expected):
    data["design"]["efficacy"] = {"spending": spending, "parameter": parameter}
    found = problems(data)
    if expected is None:
        assert found == []
    else:
        path, message = only(found)
        assert path == "design.efficacy.parameter"
        assert message.startswith(expected)


def test_spending_family_names_are_the_contract() -> None:
    assert SPENDING_FUNCTIONS == (
        "lan-demets-obrien-fleming",
        "lan-demets-pocock",
        "hwang-shih-decani",
        "kim-demets",
        "wang-tsiatis",
        "none",
    )


def test_futility_needs_spending_or_conditional_power(data, problems) -> None:
    data["design"]["futility"] = {"binding": True}
    path, message = only(problems(data))
    assert path == "design.futility"
    assert message.startswith("needs a rule: a spending function other than none")


def test_futility_by_conditional_power_alone(data) -> None:
    data["design"]["futility"] = {"conditional_power_below": 0.1}
    futility = parse_protocol(data).design.futility
    assert (futility.spending, futility.binding, futility.conditional_power_below) == (
        "none",
        False,
        0.1,
    )


# --- models built directly ------------------------------------------------------


def test_models_built_in_python_are_checked_too() -> None:
    with pytest.raises(ValueError, match="the control arm must not have an effect"):
        Arm(name="placebo", control=True, effect=RiskRatio(value=0.8))


def test_protocol_built_in_python_checks_its_cross_field_rules(data) -> None:
    data["arms"][0]["control"] = False
    with pytest.raises(ValueError, match="needs exactly one arm with control: true"):
        Protocol(**data)


def test_pkpd_protocols_resolve_to_yaml_that_loads_back(data, problems) -> None:
    import yaml

    from cstrial.protocol import parse_protocol

    for effect in (
        {"model": "pkpd", "drug": "tocilizumab", "dose_mg_per_kg": 8},
        {"model": "pkpd", "drug": "anakinra", "dose_mg": 100},
    ):
        data["arms"][1]["effect"] = effect
        protocol = parse_protocol(data)
        assert parse_protocol(yaml.safe_load(protocol.resolved_yaml())) == protocol


# --- time to event: final analysis and planned deaths --------------------------------


def _time_to_event(data: dict[str, Any]) -> dict[str, Any]:
    data["endpoints"]["primary"] = {
        "name": "death_180d",
        "type": "time-to-event",
        "horizon_days": 180,
        "analysis": "log-rank",
    }
    return data


def test_final_analysis_is_horizon_unless_events_is_asked_for(data) -> None:
    assert parse_protocol(_time_to_event(data)).design.final_analysis == "horizon"
    data["design"]["final_analysis"] = "events"
    data["design"]["planned_events"] = 200
    design = parse_protocol(data).design
    assert (design.final_analysis, design.planned_events) == ("events", 200)


def test_final_analysis_names_its_choices(data, problems) -> None:
    data["design"]["final_analysis"] = "event"
    path, message = only(problems(_time_to_event(data)))
    assert path == "design.final_analysis"
    assert "did you mean 'events'" in message and "horizon" in message


def test_an_event_driven_end_needs_a_time_to_event_primary(data, problems) -> None:
    data["design"]["final_analysis"] = "events"
    data["design"]["planned_events"] = 100
    found = {p.path: p.message for p in problems(data)}
    assert set(found) == {"design.final_analysis", "design.planned_events"}
    assert "needs a time-to-event primary endpoint" in found["design.final_analysis"]
    assert "'binary'" in found["design.planned_events"]


def test_no_more_planned_deaths_than_patients(data, problems) -> None:
    data["design"]["planned_events"] = data["design"]["sample_size"] + 1
    path, message = only(problems(_time_to_event(data)))
    assert path == "design.planned_events"
    assert "at most the sample size" in message
