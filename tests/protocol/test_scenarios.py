"""Scenarios: `base` first, then each named variant, set by dotted paths into the protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cstrial.errors import ProtocolError
from cstrial.protocol import (
    Range,
    RiskRatio,
    Scenario,
    expand_scenarios,
    load_protocol,
    parse_protocol,
)

VALID = Path(__file__).parents[1] / "assets" / "valid.yaml"


def one_scenario(data: dict[str, Any], overrides: dict[str, Any]) -> Scenario:
    """The protocol in `data` with one scenario of these overrides, expanded."""
    data["scenarios"] = [{"name": "variant", "set": overrides}]
    return expand_scenarios(parse_protocol(data))[1]


def test_base_comes_first_then_each_scenario_in_order() -> None:
    protocol = load_protocol(VALID)
    scenarios = expand_scenarios(protocol)
    assert [(s.index, s.name) for s in scenarios] == [(0, "base"), (1, "null-effect"), (2, "n800")]
    assert scenarios[0].protocol is protocol
    assert scenarios[1].protocol.arm("tocilizumab").effect.blockade == 0.0
    assert scenarios[2].protocol.design.sample_size == 800


def test_a_scenario_changes_only_what_it_sets() -> None:
    base, null_effect, n800 = expand_scenarios(load_protocol(VALID))
    assert null_effect.protocol.design == base.protocol.design
    assert n800.protocol.arms == base.protocol.arms
    assert base.protocol.arm("tocilizumab").effect.blockade == 0.7


def test_scenario_protocols_have_no_scenarios_but_keep_their_source() -> None:
    variant = expand_scenarios(load_protocol(VALID))[1].protocol
    assert variant.scenarios == []
    assert variant.source_path == VALID
    assert variant.source_text == VALID.read_text(encoding="utf-8")


def test_an_arm_is_addressed_by_name(data) -> None:
    variant = one_scenario(data, {"arms.tocilizumab.allocation": 2})
    assert variant.protocol.arm("tocilizumab").allocation == 2


def test_an_arm_is_addressed_by_index(data) -> None:
    variant = one_scenario(data, {"arms.1.effect.delay_hours": 12})
    assert variant.protocol.arm("tocilizumab").effect.delay_hours == 12


def test_a_list_value_is_addressed_by_index(data) -> None:
    variant = one_scenario(data, {"design.looks.0": 0.5})
    assert variant.protocol.design.looks == [0.5, 0.67, 1.0]


def test_setting_a_missing_inclusion_key_creates_it(data) -> None:
    del data["population"]["inclusion"]["il6_pg_ml"]
    variant = one_scenario(data, {"population.inclusion.il6_pg_ml": {"min": 100}})
    assert variant.protocol.population.inclusion["il6_pg_ml"] == Range(min=100)


def test_setting_into_a_missing_mapping_creates_it(data) -> None:
    del data["simulation"]
    variant = one_scenario(data, {"simulation.n_sims": 500, "population.exclusion.age.min": 85})
    assert variant.protocol.simulation.n_sims == 500
    assert variant.protocol.population.exclusion["age"] == Range(min=85)


def test_a_mapping_value_replaces_the_effect(data) -> None:
    effect = {"model": "risk-ratio", "value": 0.8}
    variant = one_scenario(data, {"arms.tocilizumab.effect": effect})
    assert variant.protocol.arm("tocilizumab").effect == RiskRatio(value=0.8)


def test_an_active_arm_without_effect_gains_one(data) -> None:
    del data["arms"][1]["effect"]
    variant = one_scenario(data, {"arms.tocilizumab.effect.model": "odds-ratio",
                                  "arms.tocilizumab.effect.value": 0.7})  # fmt: skip
    assert variant.protocol.arm("tocilizumab").effect.value == 0.7


# Bad overrides: (overrides, path reported, message). The path is under scenarios[0].set.
BAD_OVERRIDES = [
    ({"design.sampel_size": 800}, "design.sampel_size",
     "unknown field 'sampel_size' in design; did you mean 'sample_size'? (allowed: sample_size,"),
    ({"arms.toci.allocation": 2}, "arms.toci.allocation",
     "no item named 'toci' in arms; did you mean 'tocilizumab'? (names: placebo, tocilizumab;"),
    ({"arms.5.allocation": 2}, "arms.5.allocation",
     "arms has 2 item(s), so an index must be below 2, found 5"),
    ({"design.looks.last": 1.0}, "design.looks.last",
     "design.looks is a list: use a 0-based index, found 'last'"),
    ({"design.alpha.value": 0.05}, "design.alpha.value",
     "design.alpha is 0.025, which has no field 'value'"),
    ({"arms.tocilizumab.effect.blokade": 0.5}, "arms.tocilizumab.effect.blokade",
     "unknown field 'blokade' in arms.tocilizumab.effect; did you mean 'blockade'?"),
    ({"scenarios.0.name": "again"}, "scenarios.0.name", "a scenario cannot set scenarios"),
    ({"design..alpha": 0.05}, "design..alpha", "must be names joined by dots"),
    # the value is checked where it lands, and reported at the override
    ({"design.alpha": 0.6}, "design.alpha",
     "must be a number ≥ 1e-06 and < 0.5 (one-sided; below 1e-6 the bounds pass z = 4.75), found 0.6"),
    ({"arms.tocilizumab.effect": {"model": "risk-ratio", "value": -1}},
     "arms.tocilizumab.effect.value", "must be a number between 0.01 and 100 (1 means no effect; beyond 1/100 or 100 no trial is needed), found -1"),
    ({"population.inclusion.etiology": ["ami"]}, "population.inclusion.etiology[0]",
     "'ami' is not a value of etiology; did you mean 'AMI'?"),
    # a problem outside the value set is reported at the override that caused it
    ({"arms.placebo.control": False}, "arms.placebo.control",
     "makes arms invalid: needs exactly one arm with control: true, found none"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "path", "phrase"), BAD_OVERRIDES)
def test_a_bad_override_is_reported_at_its_path(data, problems, overrides, path, phrase) -> None:
    data["scenarios"] = [{"name": "ok", "set": {"design.sample_size": 800}},
                         {"name": "bad", "set": overrides}]  # fmt: skip
    found = problems(data)
    assert [p.path for p in found] == [f"scenarios[1].set.{path}"]
    assert phrase in found[0].message


def test_a_bad_scenario_fails_the_load_at_its_line(tmp_path: Path) -> None:
    text = VALID.read_text(encoding="utf-8").replace(
        "{design.sample_size: 800}", "{design.sample_size: 800, design.alpha: 0.7}"
    )
    path = tmp_path / "toci.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as raised:
        load_protocol(path)
    assert raised.value.render().splitlines()[1:] == [
        "  • line 44, scenarios[1].set.design.alpha: must be a number ≥ 1e-06 and < 0.5 "
        "(one-sided; below 1e-6 the bounds pass z = 4.75), found 0.7"
    ]


@pytest.mark.parametrize(
    ("scenarios", "path", "message"),
    [
        ([{"name": "base", "set": {"design.alpha": 0.01}}], "scenarios[0].name",
         "'base' is reserved for the protocol as written; choose another name"),
        ([{"name": "a", "set": {"design.alpha": 0.01}}, {"name": "a", "set": {"design.power": 0.9}}],
         "scenarios[1].name", "duplicate scenario name 'a' (also scenarios[0])"),
        ([{"name": "low alpha", "set": {"design.alpha": 0.01}}], "scenarios[0].name",
         "must be a name of letters, digits, '_', '.' or '-' that starts with a letter or digit, "
         "found 'low alpha'"),
        ([{"name": "a", "set": {}}], "scenarios[0].set",
         "needs at least one override, such as {design.sample_size: 800}"),
        ([{"name": "a"}], "scenarios[0].set", "required field missing"),
        ([{"name": "a", "set": {"design.alpha": 0.01}, "sets": {}}], "scenarios[0].sets",
         "unknown field 'sets'; did you mean 'set'? (allowed: name, set)"),
    ],
)  # fmt: skip
def test_scenarios_are_named_uniquely_and_set_something(data, problems, scenarios, path, message):
    data["scenarios"] = scenarios
    found = problems(data)
    assert [(p.path, p.message) for p in found] == [(path, message)]


def test_no_scenarios_means_base_alone(data) -> None:
    data["scenarios"] = None
    assert [s.name for s in expand_scenarios(parse_protocol(data))] == ["base"]


def test_a_protocol_built_in_python_expands_too(data) -> None:
    from cstrial.protocol import Protocol

    protocol = Protocol(**data)
    assert [s.name for s in expand_scenarios(protocol)] == ["base", "null-effect", "n800"]


def test_a_protocol_built_in_python_with_a_bad_scenario_fails_to_expand(data) -> None:
    from cstrial.protocol import Protocol

    data["scenarios"] = [{"name": "bad", "set": {"design.alpha": 0.9}}]
    with pytest.raises(ProtocolError, match=r"scenarios\[0\]\.set\.design\.alpha: must be"):
        expand_scenarios(Protocol(**data))


def test_scenarios_follow_a_protocol_updated_in_python() -> None:
    protocol = load_protocol(VALID)
    simulation = protocol.simulation.model_copy(update={"n_sims": 200})
    updated = protocol.model_copy(update={"simulation": simulation})
    assert [s.protocol.simulation.n_sims for s in expand_scenarios(updated)] == [200, 200, 200]
