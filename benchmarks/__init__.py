"""Benchmarks of cstrial: `python -m benchmarks.run` (see benchmarks/README.md)."""
