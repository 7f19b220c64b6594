"""Tests and estimators, vectorised over replicate trials."""

from cstrial.analysis.two_proportion import two_proportion_z

__all__ = ["two_proportion_z"]
