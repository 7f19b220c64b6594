"""The protocol: pydantic models of the YAML, loading with line-aware errors, scenarios."""
