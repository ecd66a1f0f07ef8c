"""Forest plots of pooled and meta-analytic results, drawn from the results' public fields: the
per-row ``table`` (estimate, ci_low, ci_high, weight; a one-arm meta result's groups also on the
proportion scale), the pooled estimate, its interval and the prediction interval."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib import ticker
from matplotlib.collections import LineCollection
from matplotlib.patches import Polygon

from .._results import fmt
from ..core._checks import check_choice, check_count
from ..pooling import (
    MetaProportionResult,
    MetaTwoArmResult,
    PooledProportionResult,
    pooled_proportion,
)
from ._common import new_axes

__all__ = ["forest"]


@dataclass
class _ForestRows:
    """What a forest plot shows, already on the plotting scale."""

    labels: list[str]
    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    weight: np.ndarray  # percent; NaN where the method has no weights
    pooled_label: str
    pooled: tuple[float, float, float]  # estimate, low, high
    prediction: tuple[float, float] | None
    xlabel: str
    measure: str  # column header: "Proportion", "Odds ratio", ...
    row_name: str  # "Group" or "Study"
    log_axis: bool
    ref: float | None  # the null value when there is one
    conf_level: float
    digits: int
    heterogeneity: str | None


def _heterogeneity_text(result) -> str:
    """Two short lines (the label column stays narrow): Q test, then I^2 and tau^2."""
    q = "Wald Q" if result.method == "GLMM" else "Q"
    text = f"{q} = {fmt(result.q)}, df = {result.q_df}, p = {fmt(result.q_pvalue, 2)}\n"
    text += f"I\u00b2 = {100 * result.i2:.1f}%"
    if result.method not in ("EE", "MH", "Peto"):
        text += f", \u03c4\u00b2 = {fmt(result.tau2, 3)}"
    return text


def _num(value: float, digits: int) -> str:
    """Fixed decimals with a true minus sign (as the axis ticks) and no "-0.000"."""
    text = f"{value:.{digits}f}"
    if text.startswith("-"):
        text = text[1:] if float(text) == 0 else "\u2212" + text[1:]
    return text


def _model_label(method: str) -> str:
    return {
        "EE": "Equal-effects model",
        "MH": "Mantel-Haenszel model",
        "Peto": "Peto model",
        "GLMM": "Random-effects GLMM",
    }.get(method, f"Random-effects model ({method})")



# the model scales of meta_proportion as the axis label names them
_SCALE_NAME = {
    "logit": "logit",
    "log": "log",
    "arcsine": "arcsine square root",
    "freeman-tukey": "Freeman-Tukey double arcsine",
    "raw": "raw proportion",
}

_MODEL_HEADER = {
    "logit": "Logit",
    "log": "Log proportion",
    "arcsine": "Arcsine",
    "freeman-tukey": "Freeman-Tukey",
    "raw": "Proportion",
}


def _rows_meta_proportion(result: MetaProportionResult, scale: str) -> _ForestRows:
    g = result.table
    has_pi = result.tau2 > 0
    if scale == "proportion":
        est, low, high = (g[c].to_numpy(float) for c in
                          ("proportion", "proportion_ci_low", "proportion_ci_high"))
        pooled = (result.proportion, *result.proportion_ci)
        prediction = tuple(result.prediction_interval_outcome) if has_pi else None
        xlabel = "Proportion"
        if result.scale != "raw":
            xlabel += f" (pooled on the {_SCALE_NAME[result.scale]} scale)"
        measure, digits = "Proportion", 3
    else:
        est, low, high = (g[c].to_numpy(float) for c in ("estimate", "ci_low", "ci_high"))
        pooled = (result.estimate, *result.confidence_interval)
        prediction = tuple(result.prediction_interval_model) if has_pi else None
        name = _SCALE_NAME[result.scale]
        xlabel = f"{name[0].upper()}{name[1:]} of the proportion"
        if result.scale == "raw":
            xlabel = "Proportion"
        measure = _MODEL_HEADER[result.scale]
        digits = 3 if result.scale in ("raw", "arcsine", "freeman-tukey") else 2
    return _ForestRows(
        labels=[str(v) for v in g["label"]],
        estimate=est,
        low=low,
        high=high,
        weight=g["weight"].to_numpy(float),
        pooled_label=_model_label(result.method),
        pooled=tuple(float(v) for v in pooled),
        prediction=prediction,
        xlabel=xlabel,
        measure=measure,
        row_name="Group",
        log_axis=False,
        ref=None,
        conf_level=result.conf_level,
        digits=digits,
        heterogeneity=_heterogeneity_text(result) if result.k > 1 else None,
    )


_MEASURE_TITLE = {"OR": "Odds ratio", "RR": "Risk ratio", "RD": "Risk difference"}


def _rows_meta_two_arm(result: MetaTwoArmResult, scale: str) -> _ForestRows:
    s = result.table
    est, low, high = (s[c].to_numpy(float) for c in ("estimate", "ci_low", "ci_high"))
    pooled = (result.estimate, *result.confidence_interval)
    prediction = tuple(result.prediction_interval_model) if result.tau2 > 0 else None
    measure = _MEASURE_TITLE[result.measure]
    if result.method == "Peto":
        measure += " (Peto)"
    ratio = result.measure != "RD"
    log_axis = ratio and scale == "natural"
    if log_axis:
        est, low, high = np.exp(est), np.exp(low), np.exp(high)  # a log axis: ratios
        pooled = (result.estimate_exp, *result.confidence_interval_exp)
        prediction = tuple(result.prediction_interval_outcome) if prediction else None
        xlabel, ref = f"{measure} (log scale)", 1.0
    else:
        xlabel = f"Log {measure[0].lower()}{measure[1:]}" if ratio else measure
        measure = xlabel
        ref = 0.0
    return _ForestRows(
        labels=[str(v) for v in s["label"]],
        estimate=est,
        low=low,
        high=high,
        weight=s["weight"].to_numpy(float),
        pooled_label=_model_label(result.method),
        pooled=tuple(float(v) for v in pooled),
        prediction=prediction,
        xlabel=xlabel,
        measure=measure,
        row_name="Study",
        log_axis=log_axis,
        ref=ref,
        conf_level=result.conf_level,
        digits=2 if ratio else 3,
        heterogeneity=_heterogeneity_text(result) if result.k > 1 else None,
    )


def _rows_pooled(result: PooledProportionResult, data, events, trials, group) -> _ForestRows:
    table = getattr(result, "table", None)  # None: a result made without its per-group counts
    if data is not None:
        # the groups as given (an earlier API: the result now carries them): the same table
        again = pooled_proportion(data, events=events, trials=trials, group=group,
                                  method=result.method, conf_level=result.conf_level)
        if (again.n_events, again.n_trials) != (result.n_events, result.n_trials):
            raise ValueError(
                f"data has {again.n_events} events in {again.n_trials} trials, but the result "
                f"pooled {result.n_events} events in {result.n_trials} trials: pass the data the "
                "result was computed from"
            )
        table = again.table
    if table is None:
        labels, est, low, high, weight = [], np.empty(0), np.empty(0), np.empty(0), np.empty(0)
    else:
        labels = [str(v) for v in table["label"]]
        est, low, high, weight = (table[c].to_numpy(float) for c in
                                  ("estimate", "ci_low", "ci_high", "weight"))
    return _ForestRows(
        labels=labels,
        estimate=est,
        low=low,
        high=high,
        weight=weight,
        pooled_label=f"Pooled ({result.method})",
        pooled=(result.estimate, *result.confidence_interval),
        prediction=None,
        xlabel="Proportion",
        measure="Proportion",
        row_name="Group",
        log_axis=False,
        ref=None,
        conf_level=result.conf_level,
        digits=3,
        heterogeneity=None,
    )


def forest(
    result,
    *,
    ax=None,
    scale: str | None = None,
    ref="auto",
    data=None,
    events: str = "events",
    trials: str = "trials",
    group: str | None = None,
    weights: bool = True,
    estimates: bool = True,
    heterogeneity: bool = True,
    digits: int | None = None,
    title: str | None = None,
):
    """Forest plot of a pooled or meta-analytic result: one row per group, then the pooled diamond.

    Parameters
    ----------
    result : MetaProportionResult, MetaTwoArmResult or PooledProportionResult
        What :func:`~binfer.meta_proportion`, :func:`~binfer.meta_two_arm` or
        :func:`~binfer.pooled_proportion` returned.
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure whose height grows with the number of rows.
    scale : {None, "proportion", "model"}
        None (default) is the natural scale: proportions for one-arm results (back-transformed
        from the result's ``scale``), odds and risk ratios exponentiated on a log axis, risk
        differences as they are. ``"model"`` draws the scale the pooling was done on (logit, log
        odds ratio, ...); ``"proportion"`` is the default for one-arm results and an error for
        two-arm ones.
    ref : "auto", float or None
        Vertical reference line: ``"auto"`` draws the null (1 for OR and RR, 0 for RD and log
        ratios, none for proportions); a number draws it there; None draws none.
    data : DataFrame or mapping, optional
        Not needed: every result carries its per-group ``table``. Still accepted for a
        ``pooled_proportion`` result (the counts it was computed from, checked against its
        totals; ``events``, ``trials``, ``group`` name its columns), whose groups are then
        labelled from ``data``.
    weights, estimates : bool
        Right-hand text columns: weight (percent) and estimate [CI].
    heterogeneity : bool
        Print Q, I^2 and tau^2 (meta results) under the pooled row.
    digits : int, optional
        Decimals of the estimate column (default 3 for proportions and RD, 2 for ratios).
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    The layout is Lewis & Clarke's (2001): each group's point estimate is a square whose area is
    proportional to its weight in the pooled estimate, with its confidence interval as a
    horizontal line; the pooled estimate is a diamond spanning its confidence interval. A random-
    effects result with tau^2 > 0 also shows its prediction interval (metafor's ``predict``:
    estimate +- z sqrt(se^2 + tau^2)) as a line with end ticks through the diamond, and prints it
    under the estimate column. Every number drawn is a public field of the result: the rows are
    its ``table`` (for a meta result metafor's ``escalc`` Wald intervals on the model scale, and
    for a one-arm one their back-transformation, as metafor's ``forest(..., transf=)``; for a
    pooled proportion each group's own interval by the result's ``method`` with weight n_i / N),
    the diamond its estimate and confidence interval, the prediction line its
    ``prediction_interval_outcome`` (``prediction_interval_model`` with ``scale="model"``).
    A group without an estimate (a
    double-zero study under MH or Peto) keeps its row, marked "not estimable". GLMM results have
    no weights, so every square has the same size and the weight column is left out.

    References
    ----------
    Lewis, S. & Clarke, M. (2001). Forest plots: trying to see the wood and the trees. BMJ 322,
    1479-1480.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pandas as pd
    >>> import binfer, binfer.plot
    >>> df = pd.DataFrame({"hospital": ["A", "B", "C", "D"],
    ...                    "events": [0, 18, 8, 46], "trials": [47, 148, 119, 810]})
    >>> r = binfer.meta_proportion(df, group="hospital")
    >>> ax = binfer.plot.forest(r)
    >>> [t.get_text() for t in ax.get_yticklabels()][:2]
    ['A', 'B']
    >>> ax.get_xlabel()
    'Proportion (pooled on the logit scale)'
    """
    if isinstance(result, MetaProportionResult | MetaTwoArmResult) and data is not None:
        raise ValueError(
            "data= is only for pooled_proportion results; meta results carry their own per-group "
            "table (result.table)"
        )
    check_choice(scale, "scale", (None, "proportion", "model"))
    if isinstance(result, MetaProportionResult):
        rows = _rows_meta_proportion(result, "model" if scale == "model" else "proportion")
    elif isinstance(result, MetaTwoArmResult):
        if scale == "proportion":
            raise ValueError(
                'scale="proportion" is for one-arm results; a two-arm result takes scale=None '
                '(ratios on a log axis) or scale="model" (log ratios)'
            )
        rows = _rows_meta_two_arm(result, "model" if scale == "model" else "natural")
    elif isinstance(result, PooledProportionResult):
        rows = _rows_pooled(result, data, events, trials, group)
    else:
        raise ValueError(
            "result must be what meta_proportion, meta_two_arm or pooled_proportion returned, "
            f"got {type(result).__name__}"
        )
    if isinstance(ref, str):
        check_choice(ref, "ref (a string)", ("auto",))
    else:
        rows.ref = None if ref is None else float(ref)
    if digits is not None:
        rows.digits = check_count(digits, "digits", minimum=0)
    if not heterogeneity:
        rows.heterogeneity = None
    return _draw_forest(rows, ax=ax, show_weights=weights, show_estimates=estimates, title=title)


def _draw_forest(rows: _ForestRows, *, ax, show_weights: bool, show_estimates: bool, title):
    k = len(rows.labels)
    has_text_row = rows.heterogeneity is not None or rows.prediction is not None
    if ax is None:
        height = 0.3 * (k + 3 + 1.5 * has_text_row) + 1.1
        ax = new_axes(9.0 if show_estimates else 7.0, height)
        # bold glyphs overhang their measured extent by a pixel or two: pad the layout
        ax.figure.get_layout_engine().set(w_pad=0.1, h_pad=0.06)
    ys = np.arange(k, 0, -1, dtype=float)  # first group on top
    y_pooled = -0.6 if k else 0.0
    y_text = y_pooled - 1.15
    y_head = (k + 1.0) if k else 1.0
    ok = np.isfinite(rows.estimate)
    # Group intervals, one segment each; squares with area proportional to weight.
    segments = [
        ((lo, y), (hi, y)) for lo, hi, y in zip(rows.low[ok], rows.high[ok], ys[ok], strict=True)
    ]
    lines = LineCollection(segments, colors="0.2", linewidths=1.0, zorder=2)
    lines.set_gid("forest-ci")
    ax.add_collection(lines)
    w = rows.weight[ok]
    if w.size and np.isfinite(w).all() and w.max() > 0:
        sizes = np.maximum(140.0 * w / w.max(), 6.0)
    else:
        sizes = np.full(w.size, 40.0)
    squares = ax.scatter(rows.estimate[ok], ys[ok], s=sizes, marker="s", color="0.15", zorder=3)
    squares.set_gid("forest-estimates")

    est, low, high = rows.pooled
    if rows.prediction is not None:
        pl, ph = rows.prediction
        tick = 0.18
        ax.plot(
            [pl, ph],
            [y_pooled, y_pooled],
            color="C0",
            lw=1.4,
            zorder=3,
            solid_capstyle="butt",
            gid="forest-prediction",
        )
        ax.plot([pl, pl], [y_pooled - tick, y_pooled + tick], color="C0", lw=1.4, zorder=3)
        ax.plot([ph, ph], [y_pooled - tick, y_pooled + tick], color="C0", lw=1.4, zorder=3)
    h = 0.32
    diamond = Polygon(
        [(low, y_pooled), (est, y_pooled + h), (high, y_pooled), (est, y_pooled - h)],
        closed=True,
        facecolor="0.15",
        edgecolor="0.15",
        zorder=4,
    )
    diamond.set_gid("forest-diamond")
    ax.add_patch(diamond)
    if k:
        ax.axhline(0.2, color="0.6", lw=0.8, zorder=1)

    if rows.ref is not None:
        # from the pooled row to the top group, not through the header
        ax.plot(
            [rows.ref, rows.ref],
            [y_pooled - 0.5, max(k, 0) + 0.5],
            color="0.45",
            lw=0.9,
            ls="--",
            zorder=1,
            gid="forest-ref",
        )

    # x range: every drawn interval, with a margin (the axis does not autoscale to patches).
    xs = np.concatenate(
        [
            rows.low[ok],
            rows.high[ok],
            [low, high],
            rows.prediction or [],
            [] if rows.ref is None else [rows.ref],
        ]
    )
    xs = xs[np.isfinite(xs)]
    if rows.log_axis:
        ax.set_xscale("log")
        lo_x, hi_x = np.log(xs.min()), np.log(xs.max())
        pad = 0.05 * (hi_x - lo_x or 1.0)
        ax.set_xlim(math.exp(lo_x - pad), math.exp(hi_x + pad))
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    else:
        pad = 0.05 * (xs.max() - xs.min() or 1.0)
        ax.set_xlim(xs.min() - pad, xs.max() + pad)
        # a narrow panel: at most about 6 ticks, so labels like 0.125 do not touch
        ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.set_ylim((y_text - 0.75) if has_text_row else (y_pooled - 0.6), y_head + 0.6)

    ticks = [*ys, y_pooled]
    ax.set_yticks(ticks, [*rows.labels, rows.pooled_label])
    ax.get_yticklabels()[-1].set_fontweight("bold")
    ax.tick_params(axis="y", length=0, pad=6)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(rows.xlabel)
    if title is not None:
        ax.set_title(title, pad=14)

    ytrans = ax.get_yaxis_transform()  # x in axes fraction, y in data

    def column(text, y, dx, ha, **kw):
        ax.annotate(
            text,
            xy=(1.0 if dx > 0 else 0.0, y),
            xycoords=ytrans,
            xytext=(dx, 0),
            textcoords="offset points",
            ha=ha,
            va="center",
            annotation_clip=False,
            **kw,
        )

    head = {"fontweight": "bold"}
    column(rows.row_name, y_head, -6, "right", **head)
    pct = f"{100 * rows.conf_level:g}%"
    d = rows.digits
    show_weights = show_weights and k > 0 and np.isfinite(rows.weight).any()
    x_est = 12
    if show_weights:
        column("Weight", y_head, 50, "right", **head)
        for y, wt, good in zip(ys, rows.weight, ok, strict=True):
            column(f"{wt:.1f}%" if good and np.isfinite(wt) else "-", y, 50, "right")
        column("100%", y_pooled, 50, "right", fontweight="bold")
        x_est = 62
    if show_estimates:
        column(f"{rows.measure} [{pct} CI]", y_head, x_est, "left", **head)
        for y, e, lo_i, hi_i, good in zip(ys, rows.estimate, rows.low, rows.high, ok, strict=True):
            text = f"{_num(e, d)} [{_num(lo_i, d)}, {_num(hi_i, d)}]" if good else "not estimable"
            column(text, y, x_est, "left")
        column(
            f"{_num(est, d)} [{_num(low, d)}, {_num(high, d)}]",
            y_pooled,
            x_est,
            "left",
            fontweight="bold",
        )
        if rows.prediction is not None:
            pl, ph = rows.prediction
            column(
                f"{pct} PI [{_num(pl, d)}, {_num(ph, d)}]",
                y_text,
                x_est,
                "left",
                color="C0",
                fontsize="small",
            )
    if rows.heterogeneity is not None:
        column(rows.heterogeneity, y_text, -6, "right", fontsize="small", color="0.3")
    elif rows.prediction is not None and not show_estimates:
        column(f"{pct} prediction interval", y_text, -6, "right", fontsize="small", color="C0")
    return ax
