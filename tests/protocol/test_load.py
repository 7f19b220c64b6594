"""Loading protocols: values, defaults, provenance, the resolved text, and how problems read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cstrial.errors import ProtocolError, UsageError
from cstrial.protocol import (
    Bound,
    Il6Mediated,
    Protocol,
    Range,
    load_protocol,
    parse_protocol,
)

VALID = Path(__file__).parents[1] / "assets" / "valid.yaml"

MINIMAL = {
    "name": "minimal",
    "population": {},
    "arms": [{"name": "placebo", "control": True}, {"name": "active"}],
    "endpoints": {
        "primary": {
            "name": "death_30d",
            "type": "binary",
            "horizon_days": 30,
            "analysis": "two-proportion",
        }
    },
    "design": {"sample_size": 100, "alpha": 0.025},
}


def test_valid_protocol_loads_with_the_values_written() -> None:
    protocol = load_protocol(VALID)
    assert protocol.name == "toci-amics"
    assert protocol.population.control_mortality_30d == 0.45
    assert protocol.population.inclusion["etiology"] == ["AMI"]
    assert protocol.population.inclusion["il6_pg_ml"] == Range(min=50)
    assert protocol.population.exclusion["comatose_after_arrest"] == [True]
    assert protocol.arm("tocilizumab").effect == Il6Mediated(blockade=0.7, delay_hours=6)
    assert protocol.design.looks == [0.33, 0.67, 1.0]
    assert protocol.design.futility.spending == "hwang-shih-decani"
    assert protocol.design.futility.parameter == -2
    assert [s.name for s in protocol.scenarios] == ["null-effect", "n800"]


def test_defaults_fill_in_what_the_protocol_leaves_out() -> None:
    protocol = parse_protocol(MINIMAL)
    assert protocol.title == ""
    assert protocol.population.model == "default"
    assert protocol.population.control_mortality_30d is None
    assert protocol.population.inclusion == {}
    assert protocol.arm("active").allocation == 1
    assert protocol.arm("active").effect is None  # an active arm without effect: null effect
    assert protocol.endpoints.secondary == []
    design = protocol.design
    assert (design.power, design.looks, design.futility) == (0.8, [1.0], None)
    assert design.efficacy == Bound(spending="lan-demets-obrien-fleming")
    assert (design.accrual.patients_per_month, design.accrual.ramp_up_months) == (25, 0)
    assert design.dropout.rate_per_year == 0
    simulation = protocol.simulation
    assert (simulation.n_sims, simulation.seed, simulation.chunk_size) == (10000, 20261121, 1000)
    assert simulation.save_patients == 0
    assert protocol.scenarios == []


def test_control_arm_and_active_arms_follow_the_yaml() -> None:
    protocol = load_protocol(VALID)
    assert protocol.control_arm.name == "placebo"
    assert [arm.name for arm in protocol.active_arms] == ["tocilizumab"]
    with pytest.raises(UsageError, match="'toci' is not an arm; arms: placebo, tocilizumab"):
        protocol.arm("toci")


def test_protocol_is_immutable() -> None:
    protocol = load_protocol(VALID)
    with pytest.raises(ValueError, match="frozen"):
        protocol.design.alpha = 0.05


def test_resolved_yaml_is_the_same_bytes_every_time() -> None:
    first = load_protocol(VALID).resolved_yaml()
    assert first == load_protocol(VALID).resolved_yaml()
    assert "power: 0.8" in first  # defaults are written out


def test_resolved_yaml_reloads_to_an_equal_protocol(tmp_path: Path) -> None:
    protocol = load_protocol(VALID)
    resolved = tmp_path / "resolved.yaml"
    resolved.write_text(protocol.resolved_yaml(), encoding="utf-8")
    again = load_protocol(resolved)
    assert again == protocol
    assert again.resolved_yaml() == protocol.resolved_yaml()


def test_source_text_and_path_are_kept_for_the_manifest() -> None:
    protocol = load_protocol(str(VALID))
    assert protocol.source_text == VALID.read_text(encoding="utf-8")
    assert protocol.source_path == VALID


def test_protocol_from_a_mapping_has_no_source() -> None:
    protocol = parse_protocol(MINIMAL)
    assert protocol.source_text is None
    assert protocol.source_path is None


def test_loading_is_yaml_safe_load(tmp_path: Path) -> None:
    path = tmp_path / "unsafe.yaml"
    path.write_text("name: !!python/object/apply:os.system [echo hi]\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match="line 1, invalid YAML: could not determine"):
        load_protocol(path)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = VALID.read_text(encoding="utf-8")
    for old, new in [
        ("    control: true\n", "    control: false\n"),
        ("    allocation: 1\n    effect:", "    allocation: 0\n    effect:"),
        ("il6_pg_ml: {min: 50}", "il6: {min: 50}"),
        ("looks: [0.33, 0.67, 1.0]", "looks: [0.5, 0.4, 1.0]"),
    ]:
        text = text.replace(old, new, 1)
    path = tmp_path / "toci.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as raised:
        load_protocol(path)
    assert raised.value.render() == "\n".join(
        [
            f"{path} is invalid:",
            "  • line 10, population.inclusion.il6: unknown covariate 'il6'; did you mean "
            "'il6_pg_ml'? (valid: age, sex, etiology, scai_stage, phenotype, lactate_mmol_l, "
            "il6_pg_ml, crp_mg_l, egfr_ml_min, lvef_pct, cardiac_arrest, "
            "comatose_after_arrest, mcs_at_baseline)",
            "  • line 14, arms: needs exactly one arm with control: true, found none",
            "  • line 19, arms[1].allocation: must be a whole number ≥ 1 and ≤ 100 (a fixed share of the randomisation ratio, e.g. 2 for 2:1; response-adaptive allocation is not available), found 0",
            "  • line 33, design.looks: must increase and end at 1.0, found [0.5, 0.4, 1.0]",
        ]
    )


def test_a_missing_file_is_a_protocol_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ProtocolError) as raised:
        load_protocol(path)
    assert raised.value.render() == f"{path} is invalid:\n  • file not found"


def test_an_empty_file_is_a_protocol_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match="the file is empty: a protocol is a mapping"):
        load_protocol(path)


def test_a_directory_is_not_a_protocol(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="is a directory"):
        load_protocol(tmp_path)


def test_parse_protocol_places_problems_with_the_lines_given() -> None:
    data = yaml.safe_load(VALID.read_text(encoding="utf-8"))
    data["design"]["alpha"] = 0.5
    with pytest.raises(ProtocolError) as raised:
        parse_protocol(data, source="from-cli", lines={("design",): 29, ("design", "alpha"): 31})
    assert raised.value.render() == (
        "from-cli is invalid:\n  • line 31, design.alpha: must be a number ≥ 1e-06 and "
        "< 0.5 (one-sided; below 1e-6 the bounds pass z = 4.75), found 0.5"
    )


def test_a_protocol_error_exits_with_the_invalid_input_code() -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_protocol({"name": "x"})
    assert raised.value.exit_code == 2


def test_protocols_are_equal_whatever_their_source() -> None:
    assert load_protocol(VALID) == parse_protocol(yaml.safe_load(VALID.read_text("utf-8")))
    assert isinstance(load_protocol(VALID), Protocol)
