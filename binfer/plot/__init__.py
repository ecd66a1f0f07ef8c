"""Figures for binfer's results: forest plots, PMF comparisons and funnel plots (matplotlib).

``import binfer`` does not import this package (nor matplotlib): it loads on first use of
``binfer.plot``. Every function takes ``ax=None`` (a new figure, sized to its content, when None)
and returns the matplotlib Axes it drew on. The figures compute no statistics: the forest plot
draws the public fields of what :func:`~binfer.meta_proportion`, :func:`~binfer.meta_two_arm` and
:func:`~binfer.pooled_proportion` return (their per-row ``table``, estimate, intervals), the funnel
plot what :func:`~binfer.funnel_limits` returns, the PMF plot the core's exact PMFs.
"""

from ._forest import forest
from ._funnel import funnel
from ._pmf import pmf

__all__ = ["forest", "pmf", "funnel"]
