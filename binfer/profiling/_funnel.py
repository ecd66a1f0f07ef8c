"""Funnel-plot control limits (Spiegelhalter 2005): exact binomial limits for each group's
proportion against its size, and which groups fall outside them. No drawing here:
:func:`binfer.plot.funnel` draws what :func:`funnel_limits` returns.

The limits are Spiegelhalter's interpolated quantiles of the count under the target, from the
core's exact distributions (``Binomial.ppf`` and ``cdf``); nothing here is hand-written beyond
that interpolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from .._data import describe_rows, one_arm
from .._results import Result, fmt
from ..core import Binomial
from ..core._checks import check_count, plain

__all__ = ["FunnelLimitsResult", "funnel_limits"]


def _level_name(level: float) -> str:
    """How a level appears in column names: ``0.95``, ``0.998``."""
    return f"{level:g}"


@dataclass(frozen=True, repr=False)
class FunnelLimitsResult(Result):
    """Control limits of a funnel plot and the groups outside them; see :func:`funnel_limits`."""

    target: float
    target_source: str
    levels: tuple[float, ...]
    limits: pd.DataFrame
    outliers: pd.DataFrame
    n_groups: int
    method: str
    _title: ClassVar[str] = "Funnel-plot control limits"

    def _lines(self) -> list[str]:
        what = "pooled proportion" if self.target_source == "pooled" else "target"
        lines = [f"{what}: {fmt(self.target)}", f"method: {self.method}"]
        labels = self.outliers["label"].to_numpy()
        for level in self.levels:
            outside = self.outliers[f"outside_{_level_name(level)}"].to_numpy(bool)
            shown = describe_rows(labels, outside, "group") if outside.any() else "none"
            lines.append(f"outside {100 * level:g}% limits: {shown}")
        lines.append(f"groups: {self.n_groups}")
        return lines


def _interpolated_quantiles(dist, probs: np.ndarray) -> np.ndarray:
    """Spiegelhalter's (2005, appendix A.1.1) continuous version of the p-quantiles of a discrete
    distribution: r_p - alpha, with r_p the smallest r with F(r) >= p and
    alpha = (F(r_p) - p) / (F(r_p) - F(r_p - 1)), i.e. the probability P(X = r_p) spread evenly
    over (r_p - 1, r_p]."""
    r = np.asarray(dist.ppf(probs), dtype=float)
    f_r = np.asarray(dist.cdf(r), dtype=float)
    f_before = np.asarray(dist.cdf(r - 1), dtype=float)
    alpha = (f_r - probs) / (f_r - f_before)
    out = r - alpha
    # At the top of the support the interpolation puts an upper quantile below the largest
    # count even when that count is not improbable (r_p = max means P(X = max) > 1 - p: 10 of
    # 10 against a target of 0.999999 would sit above its own limit, (10 - 0.025) / 10); the
    # mirror image of a lower limit below 0, which is clipped so that 0 events are never
    # flagged low. So an upper quantile whose r_p is the support's maximum is the maximum.
    top = dist.support()[1]
    out[(probs > 0.5) & (r >= top)] = top
    return out


def _control_limits(dists, levels: np.ndarray, divisors) -> np.ndarray:
    """Funnel limits at each x: for x's distribution of the count under the target (any discrete
    binfer distribution: Bin(n, theta) for proportions, a Poisson-binomial of expected risks for
    observed / expected ratios) the two-sided interpolated quantiles, divided by x's divisor
    (n for a proportion, E for an O/E ratio). Shape (len(dists), len(levels), 2): lower, upper."""
    probs = np.concatenate([(1 - levels) / 2, (1 + levels) / 2])
    out = np.empty((len(dists), levels.size, 2))
    for i, (dist, div) in enumerate(zip(dists, divisors, strict=True)):
        q = _interpolated_quantiles(dist, probs) / div
        out[i, :, 0], out[i, :, 1] = q[: levels.size], q[levels.size :]
    return out


def _funnel_grid(n: np.ndarray, n_grid: int) -> np.ndarray:
    """Integer group sizes from half the smallest to a bit past the largest: half linear (the
    axis), half geometric (the limits change fastest at small n), and every group's own n."""
    lo = max(1, int(n.min()) // 2)
    hi = max(lo + 1, int(math.ceil(1.05 * n.max())))
    half = max(n_grid // 2, 2)
    grid = np.concatenate([np.linspace(lo, hi, half), np.geomspace(lo, hi, half), n])
    return np.unique(np.round(grid).astype(np.int64))


def _check_levels(levels) -> np.ndarray:
    try:
        lv = np.atleast_1d(np.asarray(levels, dtype=float))
    except (TypeError, ValueError):
        lv = np.empty(0)
    if lv.ndim != 1 or lv.size == 0 or not np.all((lv > 0) & (lv < 1)):
        raise ValueError(
            f"levels must be numbers in (0, 1), e.g. (0.95, 0.998); got {plain(levels)}"
        )
    return np.unique(lv)  # sorted: the last is the outermost


def _check_target(target) -> float:
    if (
        isinstance(target, bool)
        or not isinstance(target, int | float | np.integer | np.floating)
        or not (0 < target < 1)
    ):
        raise ValueError(f"target must be a proportion in (0, 1), got {plain(target)}")
    return float(target)


def funnel_limits(
    data=None,
    *,
    risks=None,
    events=None,
    trials=None,
    group=None,
    target: float | None = None,
    levels=(0.95, 0.998),
    n_grid: int = 200,
) -> FunnelLimitsResult:
    """Exact binomial control limits for a funnel plot of proportions, and the groups outside.

    Parameters
    ----------
    data : DataFrame or mapping of columns, optional
        One row per group (hospital, surgeon, batch). Without it, ``events`` and ``trials`` are
        the counts themselves (arrays, one entry per group).
    risks : None
        Reserved for risk-adjusted limits (observed / expected ratios from each subject's
        predicted risk); not available yet.
    events, trials : str or array-like
        With ``data``: column names (default ``"events"`` and ``"trials"``); without: the counts.
    group : str or array-like, optional
        With ``data``: the column with the group labels (default: the column ``group`` if the
        data has one, else the row index); without: the labels themselves.
    target : float, optional
        The proportion the limits are around, in (0, 1); default the pooled proportion
        sum(events) / sum(trials).
    levels : sequence of float
        Two-sided levels of the limits (default 95% and 99.8%, Spiegelhalter's "2 and 3
        standard deviations").
    n_grid : int
        About how many group sizes the limits are computed at (for drawing the funnel).

    Returns
    -------
    FunnelLimitsResult
        ``target`` and ``target_source`` (``"pooled"`` or ``"given"``); ``levels`` (sorted);
        ``limits``, a DataFrame with one row per group size on the grid and level: ``trials``,
        ``level``, ``lower``, ``upper`` (proportions); ``outliers``, one row per group: ``label``,
        ``events``, ``trials``, ``proportion`` and, for each level (e.g. ``0.95``),
        ``lower_0.95``, ``upper_0.95`` (the limits at the group's own size) and ``outside_0.95``
        (True when the group's proportion is strictly beyond them); ``n_groups``; ``method``.

    Notes
    -----
    For a group of size n, the count under the target is R ~ Bin(n, target). The limit at
    probability p (p = (1 - level)/2 and (1 + level)/2) is Spiegelhalter's (2005, appendix
    A.1.1) interpolated quantile: with r_p the smallest r such that F(r) = P(R <= r) >= p
    (``Binomial(n, target).ppf``) and alpha = (F(r_p) - p) / (F(r_p) - F(r_p - 1)) (from
    ``Binomial.cdf``), the limit is (r_p - alpha) / n. This makes the limits continuous in n
    instead of a staircase of plain quantiles r_p / n. Limits are clipped to [0, 1] (below 0 at
    small n, where P(R = 0) already exceeds p). The grid runs from half the smallest group to
    5% past the largest, and holds every group's own n, so the flags agree with the drawn
    funnel.

    References
    ----------
    Spiegelhalter, D. J. (2005). Funnel plots for comparing institutional performance.
    Statistics in Medicine 24, 1185-1202.

    Examples
    --------
    >>> import pandas as pd
    >>> import binfer
    >>> df = pd.DataFrame({"hospital": ["A", "B", "C", "D", "E"],
    ...                    "events": [0, 18, 8, 46, 31], "trials": [47, 148, 119, 810, 215]})
    >>> f = binfer.funnel_limits(df, group="hospital")
    >>> round(f.target, 4)
    0.0769
    >>> f.outliers.loc[f.outliers["outside_0.998"], "label"].tolist()
    ['E']
    >>> f.limits.columns.tolist()
    ['trials', 'level', 'lower', 'upper']
    """
    if risks is not None:
        raise NotImplementedError(
            "risks= (risk-adjusted limits for observed / expected ratios) is not available yet; "
            "give events and trials"
        )
    if data is None:
        if events is None or trials is None:
            raise ValueError("give data (a DataFrame or mapping of columns), or the counts as "
                             "events= and trials= arrays")
        if isinstance(events, str) or isinstance(trials, str):
            raise ValueError("events= and trials= name columns of data; without data give the "
                             "counts themselves")
        columns = {"events": np.atleast_1d(events), "trials": np.atleast_1d(trials)}
        if group is not None:
            if isinstance(group, str):
                raise ValueError("group= names a column of data; without data give the labels "
                                 "themselves")
            columns["group"] = np.atleast_1d(np.asarray(group, dtype=object))
        data, events, trials, group = columns, "events", "trials", None
    counts = one_arm(data, events="events" if events is None else events,
                     trials="trials" if trials is None else trials, group=group)
    lv = _check_levels(levels)
    n_grid = check_count(n_grid, "n_grid", minimum=4)
    x, n = counts.events, counts.trials
    if target is None:
        theta = float(x.sum() / n.sum())
        if not 0 < theta < 1:
            raise ValueError(
                f"the pooled proportion is {theta:g}: with no events (or only events) there is "
                "no spread to draw limits for; pass target="
            )
        source = "pooled"
    else:
        theta, source = _check_target(target), "given"

    grid = _funnel_grid(n, n_grid)
    lim = np.clip(_control_limits([Binomial(int(m), theta) for m in grid], lv, grid), 0.0, 1.0)
    limits = pd.DataFrame(
        {
            "trials": np.repeat(grid, lv.size),
            "level": np.tile(lv, grid.size),
            "lower": lim[:, :, 0].ravel(),
            "upper": lim[:, :, 1].ravel(),
        }
    )
    at_n = lim[np.searchsorted(grid, n)]  # the grid holds every group's own n
    prop = x / n
    outliers = pd.DataFrame(
        {"label": counts.label_index.to_numpy(), "events": x, "trials": n, "proportion": prop}
    )
    for j, level in enumerate(lv):
        name = _level_name(level)
        outliers[f"lower_{name}"] = at_n[:, j, 0]
        outliers[f"upper_{name}"] = at_n[:, j, 1]
        outliers[f"outside_{name}"] = (prop < at_n[:, j, 0]) | (prop > at_n[:, j, 1])
    return FunnelLimitsResult(
        target=theta,
        target_source=source,
        levels=tuple(float(v) for v in lv),
        limits=limits,
        outliers=outliers,
        n_groups=counts.k,
        method="exact binomial limits, interpolated (Spiegelhalter 2005)",
    )
