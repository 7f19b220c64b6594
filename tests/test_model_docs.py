"""docs/model.md shows exactly the parameters the model uses (regenerate: python -m cstrial.model_docs)."""

from pathlib import Path

from cstrial.model_docs import TABLES, updated

DOC = Path(__file__).parents[1] / "docs" / "model.md"


def test_model_docs_parameter_tables_are_current():
    text = DOC.read_text()
    assert updated(text) == text, "run: python -m cstrial.model_docs docs/model.md"


def test_every_parameter_names_its_source():
    for table in TABLES:
        for row in table.rows:
            assert row.source.strip(), f"{table.title}: {row.name} has no source"
