"""Does each institution match its target? Drawing-free control limits for funnel plots
(:func:`funnel_limits`); :func:`binfer.plot.funnel` draws what they return."""

from ._funnel import FunnelLimitsResult, funnel_limits

__all__ = ["FunnelLimitsResult", "funnel_limits"]
