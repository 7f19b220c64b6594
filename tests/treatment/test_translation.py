"""The effect translation table: what a blockade setting means as a marginal effect.

docs/model.md shows it beside the trials that measured IL-6 blockade; these tests hold
the claims the docs and the `blockade` parameter's range make about it.
"""

import pytest

from cstrial.protocol.effects import Pkpd
from cstrial.treatment import TREATMENT
from cstrial.treatment.translation import effect_translation, translation_markdown


@pytest.fixture(scope="module")
def rows():
    return {row.label: row for row in effect_translation(n=40_000)}


def test_reference_blockade_gives_recoverys_rate_ratio_in_crp_above_75(rows):
    # RECOVERY (COVID-19, CRP >= 75 mg/L): 28-day rate ratio 0.85 (0.76-0.94)
    row = rows["il6-mediated, blockade 0.7"]
    assert row.hazard_ratio["CRP >= 75 mg/L"] == pytest.approx(0.85, abs=0.03)


def test_full_blockade_stays_inside_recoverys_confidence_interval(rows):
    hr = rows["il6-mediated, blockade 1.0"].hazard_ratio["CRP >= 75 mg/L"]
    assert 0.76 <= hr <= 0.94


def test_effects_are_larger_in_il6_enriched_patients_by_the_mechanisms_assumption(rows):
    for blockade in ("0.3", "0.5", "0.7", "1.0"):
        row = rows[f"il6-mediated, blockade {blockade}"]
        assert row.risk_ratio["IL-6 >= 200 pg/mL"] < row.risk_ratio["all comers"] < 1.0
    # a higher floor (less IL-6 attributable) shrinks every effect
    shipped = rows["il6-mediated, blockade 0.7"].risk_ratio["all comers"]
    assert rows["il6-mediated, blockade 0.7, floor 400 pg/mL"].risk_ratio["all comers"] > shipped
    assert rows["il6-mediated, blockade 0.7, floor 35 pg/mL"].risk_ratio["all comers"] < shipped


def test_tocilizumab_regimens_saturate_and_anakinra_removes_less(rows):
    toci = rows["pkpd tocilizumab 8 mg/kg x1, blockade 0.7"].risk_ratio["all comers"]
    assert toci == pytest.approx(
        rows["il6-mediated, blockade 0.7"].risk_ratio["all comers"], abs=0.005
    )
    anakinra = rows["pkpd anakinra 100 mg daily x14 d, blockade 0.7"].risk_ratio["all comers"]
    assert toci < anakinra < 1.0


def test_reference_blockade_is_the_pkpd_default():
    assert Pkpd.model_fields["blockade"].default == TREATMENT["blockade"]


def test_markdown_lists_every_effect_and_the_observed_trials(rows):
    text = translation_markdown(list(rows.values()))
    assert all(label in text for label in rows)
    assert "RECOVERY" in text and "REMAP-CAP" in text and "1.09" in text
