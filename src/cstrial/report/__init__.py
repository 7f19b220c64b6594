"""`cstrial report`: a run's self-contained HTML report and its figures."""

from cstrial.report.html import write_report

__all__ = ["write_report"]
