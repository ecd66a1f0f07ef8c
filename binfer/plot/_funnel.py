"""Funnel plots: each group's proportion against its size, inside the control limits that
:func:`binfer.funnel_limits` computes (this module only draws them)."""

from __future__ import annotations

import numpy as np

from ..core._checks import check_choice
from ..profiling import FunnelLimitsResult, funnel_limits
from ._common import new_axes

__all__ = ["funnel"]


def funnel(
    data,
    *,
    events: str = "events",
    trials: str = "trials",
    group: str | None = None,
    target: float | None = None,
    levels=(0.95, 0.998),
    ax=None,
    annotate: str = "outliers",
    n_grid: int = 200,
):
    """Funnel plot: each group's proportion against its size, with exact binomial control limits.

    Parameters
    ----------
    data : DataFrame, mapping of columns or FunnelLimitsResult
        One row per group (hospital, surgeon, batch), or what :func:`binfer.funnel_limits`
        returned (then ``events`` to ``n_grid`` are not used).
    events, trials : str
        Column names of the event and trial counts.
    group : str, optional
        Column with the group labels (default: the column ``group`` if the data has one, else
        the row index).
    target : float, optional
        The proportion the limits are drawn around, in (0, 1); default the pooled proportion
        sum(events) / sum(trials).
    levels : sequence of float
        Two-sided levels of the control limits (default 95% and 99.8%, Spiegelhalter's "2 and 3
        standard deviations"). Groups outside the outermost limits are marked.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.
    annotate : {"outliers", "all", "none"}
        Which groups get their label written next to the point.
    n_grid : int
        About how many group sizes the limits are computed at.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    Draws what :func:`binfer.funnel_limits` returns (its Notes give the limits: Spiegelhalter's
    interpolated exact binomial quantiles, clipped to [0, 1]): the ``limits`` as lines over
    the grid of group sizes, the groups from ``outliers``, marked when outside the outermost
    level's limits at their own size, so the marks agree with what the picture shows.

    References
    ----------
    Spiegelhalter, D. J. (2005). Funnel plots for comparing institutional performance.
    Statistics in Medicine 24, 1185-1202.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import binfer.plot
    >>> df = pd.DataFrame({"hospital": ["A", "B", "C", "D", "E"],
    ...                    "events": [0, 18, 8, 46, 31], "trials": [47, 148, 119, 810, 215]})
    >>> ax = binfer.plot.funnel(df, group="hospital")
    >>> sorted(t.get_text() for t in ax.texts)  # the groups outside the 99.8% limits
    ['E']
    """
    check_choice(annotate, "annotate", ("outliers", "all", "none"))
    if isinstance(data, FunnelLimitsResult):
        result = data
    else:
        result = funnel_limits(data, events=events, trials=trials, group=group, target=target,
                               levels=levels, n_grid=n_grid)
    target = result.target
    if result.target_source == "pooled":
        target_label = f"pooled proportion {target:.3g}"
    else:
        target_label = f"target {target:.3g}"
    groups = result.outliers
    n = groups["trials"].to_numpy()
    prop = groups["proportion"].to_numpy(float)
    outermost = result.levels[-1]
    outside = groups[f"outside_{outermost:g}"].to_numpy(bool)

    if ax is None:
        ax = new_axes(7.5, 5.0)
    ax.axhline(target, color="0.2", lw=1.0, label=target_label, gid="funnel-target")
    inner_styles = ("--", ":", "-.")
    n_levels = len(result.levels)
    top_limit, low_limit = -np.inf, np.inf
    for j, level in enumerate(result.levels):
        style = "-" if j == n_levels - 1 else inner_styles[(n_levels - 2 - j) % 3]
        pct = f"{100 * level:g}% limits"
        at_level = result.limits[result.limits["level"] == level]
        grid = at_level["trials"].to_numpy()
        for side, name in (("lower", "lower"), ("upper", "upper")):
            ax.plot(
                grid,
                at_level[side].to_numpy(float),
                color="C0",
                lw=1.2,
                ls=style,
                label=pct if side == "upper" else None,
                gid=f"funnel-limit-{level:g}-{name}",
            )
        if j == n_levels - 1:
            top_limit = float(at_level["upper"].max())
            low_limit = float(at_level["lower"].min())
    inside = ax.scatter(n[~outside], prop[~outside], s=30, color="0.25", zorder=3, label="group")
    inside.set_gid("funnel-points")
    marked = ax.scatter(
        n[outside],
        prop[outside],
        s=42,
        color="C3",
        zorder=4,
        label=f"outside {100 * outermost:g}% limits",
    )
    marked.set_gid("funnel-outliers")
    if annotate != "none":
        labels = groups["label"].to_numpy()
        for i in np.flatnonzero(outside if annotate == "outliers" else np.ones(n.size, bool)):
            ax.annotate(
                str(labels[i]),
                (n[i], prop[i]),
                xytext=(5, 4),
                textcoords="offset points",
                fontsize="small",
                color="C3" if outside[i] else "0.25",
            )
    ax.set_xlim(0, result.limits["trials"].max() * 1.02)
    top = max(float(prop.max()), top_limit)
    ax.set_ylim(max(0.0, min(float(prop.min()), low_limit) - 0.03 * top), top * 1.05)
    ax.set_xlabel("Group size (trials)")
    ax.set_ylabel("Proportion (events / trials)")
    handles, names = ax.get_legend_handles_labels()
    if not outside.any():  # no empty "outside" entry
        keep = [i for i, h in enumerate(handles) if h is not marked]
        handles, names = [handles[i] for i in keep], [names[i] for i in keep]
    ax.legend(handles, names, fontsize="small", frameon=False, loc="upper right")
    for side in ("right", "top"):
        ax.spines[side].set_visible(False)
    return ax

