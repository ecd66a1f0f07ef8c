"""Does each institution match its target? Drawing-free control limits for funnel plots
(:func:`funnel_limits`); :func:`binfer.plot.funnel` draws what they return."""

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from ._funnel import FunnelLimitsResult, funnel_limits

__all__ = ["FunnelLimitsResult", "funnel_limits"]

__getattr__, __dir__ = attach(
    __name__, {"FunnelLimitsResult": "_funnel", "funnel_limits": "_funnel"}
)
