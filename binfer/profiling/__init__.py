"""Does each institution match its target? Drawing-free control limits for funnel plots
(:func:`funnel_limits`); :func:`binfer.plot.funnel` draws what they return. Exact tests of
institutions' totals against subjects' predicted risks (:func:`observed_vs_expected`)."""

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from ._funnel import FunnelLimitsResult, funnel_limits
    from ._oe import ObservedExpectedResult, observed_vs_expected

__all__ = ["FunnelLimitsResult", "ObservedExpectedResult", "funnel_limits",
           "observed_vs_expected"]

__getattr__, __dir__ = attach(
    __name__, {"FunnelLimitsResult": "_funnel", "funnel_limits": "_funnel",
               "ObservedExpectedResult": "_oe", "observed_vs_expected": "_oe"}
)
