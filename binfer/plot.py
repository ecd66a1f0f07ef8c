"""Figures for binfer's results: forest plots, PMF comparisons and funnel plots (matplotlib).

``import binfer`` does not import this module (nor matplotlib): it loads on first use of
``binfer.plot``. Every function takes ``ax=None`` (a new figure, sized to its content, when None)
and returns the matplotlib Axes it drew on. Numbers come from binfer's own results and core:
the forest plot draws what :func:`~binfer.meta_proportion`, :func:`~binfer.meta_two_arm` and
:func:`~binfer.pooled_proportion` computed, and the funnel plot's control limits are exact
binomial quantiles from :class:`~binfer.Binomial`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib import ticker
from matplotlib.collections import LineCollection
from matplotlib.patches import Polygon
from scipy import stats

from ._data import one_arm
from ._results import fmt
from .core import Binomial, PoissonBinomial
from .core._checks import check_count, plain
from .pooling._meta import _SCALE_NAME, MetaProportionResult, _to_proportion
from .pooling._meta_two_arm import MetaTwoArmResult
from .pooling._proportion import PooledProportionResult, proportion_interval

__all__ = ["forest", "pmf", "funnel"]


def _new_axes(width: float, height: float):
    import matplotlib.pyplot as plt  # pyplot only when we make the figure

    _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return ax


def _choice(value, options, what: str):
    if value not in options:
        raise ValueError(
            f"{what} must be one of {', '.join(map(repr, options))}; got {plain(value)}"
        )
    return value


# ---------------------------------------------------------------------------------------------
# forest plot


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


def _prediction_on_model_scale(result) -> tuple[float, float]:
    # metafor's predict.rma with test = "z": estimate +- z sqrt(se^2 + tau^2), as the results do
    z = stats.norm.isf((1 - result.conf_level) / 2)
    half = z * math.sqrt(result.se**2 + result.tau2)
    return result.estimate - half, result.estimate + half


_MODEL_HEADER = {
    "logit": "Logit",
    "log": "Log proportion",
    "arcsine": "Arcsine",
    "freeman-tukey": "Freeman-Tukey",
    "raw": "Proportion",
}


def _rows_meta_proportion(result: MetaProportionResult, scale: str) -> _ForestRows:
    g = result.groups
    est = g["estimate"].to_numpy(float)
    low, high = g["ci_low"].to_numpy(float), g["ci_high"].to_numpy(float)
    has_pi = result.tau2 > 0
    if scale == "proportion":
        n = g["trials"].to_numpy(float)
        est, low, high = (_to_proportion(v, result.scale, n) for v in (est, low, high))
        pooled = (result.proportion, *result.proportion_ci)
        prediction = tuple(result.prediction_interval) if has_pi else None
        xlabel = "Proportion"
        if result.scale != "raw":
            xlabel += f" (pooled on the {_SCALE_NAME[result.scale]} scale)"
        measure, digits = "Proportion", 3
    else:
        pooled = (result.estimate, *result.confidence_interval)
        prediction = _prediction_on_model_scale(result) if has_pi else None
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
    s = result.studies
    est = s["yi"].to_numpy(float)
    low, high = s["ci_low"].to_numpy(float), s["ci_high"].to_numpy(float)
    pooled = (result.estimate, *result.confidence_interval)
    prediction = tuple(result.prediction_interval) if result.tau2 > 0 else None
    measure = _MEASURE_TITLE[result.measure]
    if result.method == "Peto":
        measure += " (Peto)"
    ratio = result.measure != "RD"
    log_axis = ratio and scale == "natural"
    if log_axis:
        est, low, high = np.exp(est), np.exp(low), np.exp(high)
        pooled = tuple(math.exp(v) for v in pooled)
        prediction = tuple(math.exp(v) for v in prediction) if prediction else None
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
    labels, est, low, high, weight = [], np.empty(0), np.empty(0), np.empty(0), np.empty(0)
    if data is not None:
        counts = one_arm(data, events=events, trials=trials, group=group)
        x, n = counts.events, counts.trials
        if int(x.sum()) != result.n_events or int(n.sum()) != result.n_trials:
            raise ValueError(
                f"data has {int(x.sum())} events in {int(n.sum())} trials, but the result pooled "
                f"{result.n_events} events in {result.n_trials} trials: pass the data the result "
                "was computed from"
            )
        cis = [
            proportion_interval(
                int(xi), int(ni), method=result.method, conf_level=result.conf_level
            )
            for xi, ni in zip(x, n, strict=True)
        ]
        labels = [str(v) for v in counts.labels]
        est = x / n
        low = np.array([c.low for c in cis])
        high = np.array([c.high for c in cis])
        weight = 100.0 * n / n.sum()  # X / N = sum (n_i / N) (x_i / n_i)
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
        Only for a ``pooled_proportion`` result: the per-group counts it was computed from, drawn
        as one row per group with that group's own interval (the result's ``method``, Wilson by
        default) and weight n_i / N. ``events``, ``trials``, ``group`` name its columns.
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
    under the estimate column. Groups' intervals are the result's own (metafor's ``escalc`` Wald
    intervals on the model scale, back-transformed as the result back-transforms its pooled
    estimate, i.e. as metafor's ``forest(..., transf=)``); a group without an estimate (a
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
            "table (result.groups / result.studies)"
        )
    _choice(scale, (None, "proportion", "model"), "scale")
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
        _choice(ref, ("auto",), "ref (a string)")
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
        ax = _new_axes(9.0 if show_estimates else 7.0, height)
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


# ---------------------------------------------------------------------------------------------
# PMF against the matching binomial


# More bars than this are drawn as one filled step area (the same picture, drawn in milliseconds).
_MAX_BARS = 400


def pmf(
    dist,
    *,
    ax=None,
    log: bool = False,
    kind: str = "bar",
    compare_binomial: bool = True,
    xlim: tuple[float, float] | None = None,
):
    """PMF of a Poisson-binomial against the binomial with the same N and mean.

    Parameters
    ----------
    dist : PoissonBinomial
        The distribution (a :class:`~binfer.Binomial` too: its deficit is 0).
    ax : matplotlib Axes, optional
        Where to draw; by default a new figure.
    log : bool
        Plot log10 P(X = k) instead of P(X = k), over the whole support, so the far tails show.
        The values come from the core's log-PMF (finite far below 1e-308) and are plotted as
        numbers on a linear axis, not through matplotlib's log scale, which would underflow.
    kind : {"bar", "step"}
        The Poisson-binomial as bars (from the bottom of the axis in log mode; beyond 400 of
        them, one filled step area that looks the same) or as a step line. The binomial is
        always a step line.
    compare_binomial : bool
        Also draw Bin(N, mean / N) (:meth:`~binfer.PoissonBinomial.matching_binomial`) and
        report the variance deficit.
    xlim : (float, float), optional
        The range of k to draw. Default: the whole support when N <= 50 or ``log=True``,
        otherwise the k where either PMF exceeds 1e-12.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    X = sum_g Bin(n_g, p_g) has mean N pbar (pbar = sum n_g p_g / N) and variance
    sum n_g p_g (1 - p_g) = N pbar (1 - pbar) - sum n_g (p_g - pbar)^2: below the binomial's by
    the spread of the p_g (:meth:`~binfer.PoissonBinomial.variance_deficit`). The legend gives
    both variances and the deficit (absolute and as a percentage of the binomial variance); the
    Poisson-binomial is the narrower of the two curves.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import binfer, binfer.plot
    >>> X = binfer.PoissonBinomial([0.04, 0.10], counts=[12, 18])
    >>> ax = binfer.plot.pmf(X)
    >>> len(ax.patches)  # one bar per k = 0..30
    31
    >>> ax = binfer.plot.pmf(X, log=True, kind="step")
    >>> ax.get_ylabel()
    'log10 P(X = k)'
    """
    if not isinstance(dist, PoissonBinomial):
        raise ValueError(f"dist must be a binfer PoissonBinomial, got {type(dist).__name__}")
    _choice(kind, ("bar", "step"), "kind")
    big_n = dist.n_trials
    ks = np.arange(big_n + 1)
    ln10 = math.log(10.0)
    lp = dist.pmf_all(log=True) / ln10
    binom = dist.matching_binomial() if compare_binomial else None
    lb = binom.pmf_all(log=True) / ln10 if binom is not None else np.full(ks.size, -np.inf)

    if xlim is not None:
        k_lo, k_hi = math.ceil(xlim[0]), math.floor(xlim[1])
    elif log or big_n <= 50:
        finite = np.isfinite(lp) | np.isfinite(lb)
        k_lo, k_hi = int(ks[finite].min()), int(ks[finite].max())
    else:
        above = np.maximum(lp, lb) > -12.0
        k_lo, k_hi = int(ks[above].min()), int(ks[above].max())
    sel = (ks >= k_lo) & (ks <= k_hi)
    k, yp, yb = ks[sel], lp[sel], lb[sel]
    if not log:
        yp, yb = 10.0**yp, 10.0**yb

    if ax is None:
        ax = _new_axes(7.5, 4.5)
    mean, var = dist.mean(), dist.var()
    if isinstance(dist, Binomial):  # its p is a float, not one per group
        pb_label = f"Bin({dist.n}, {dist.p:.4g}): Var = {var:.4g}"
    else:
        groups = dist.counts.size
        pb_label = (f"Poisson-binomial ({groups} group{'s' if groups != 1 else ''}): "
                    f"Var = {var:.4g}")
    okp = np.isfinite(yp)
    if log:
        finite_all = np.concatenate([yp[okp], yb[np.isfinite(yb)]])
        span = finite_all.max() - finite_all.min()
        floor = finite_all.min() - 0.04 * (span or 1.0)
    else:
        floor = 0.0
    if kind == "bar" and okp.sum() <= _MAX_BARS:
        ax.bar(
            k[okp],
            yp[okp] - floor,
            bottom=floor,
            width=1.0 if k.size > 60 else 0.8,
            color="C0",
            alpha=0.55,
            linewidth=0,
            label=pb_label,
            gid="pmf-poisson-binomial",
        )
    elif kind == "bar":  # adjacent unit-width bars as one patch: thousands take seconds to draw
        kk = k[okp]
        ax.stairs(
            yp[okp],
            np.append(kk - 0.5, kk[-1] + 0.5),
            baseline=floor,
            fill=True,
            color="C0",
            alpha=0.55,
            linewidth=0,
            label=pb_label,
            gid="pmf-poisson-binomial",
        )
    else:
        ax.step(
            k[okp],
            yp[okp],
            where="mid",
            color="C0",
            lw=1.6,
            label=pb_label,
            gid="pmf-poisson-binomial",
        )
    if binom is not None:
        okb = np.isfinite(yb)
        ax.step(
            k[okb],
            yb[okb],
            where="mid",
            color="C3",
            lw=1.2,
            label=f"Bin({big_n}, {binom.p:.4g}): Var = {binom.var():.4g}",
            gid="pmf-binomial",
        )
        deficit = dist.variance_deficit()
        rel = f" ({100 * deficit / binom.var():.1f}%)" if binom.var() > 0 else ""
        legend_title = f"mean {mean:.4g}; variance deficit {deficit:.4g}{rel}"
    else:
        legend_title = f"mean {mean:.4g}"
    ax.set_xlim(k_lo - 0.6, k_hi + 0.6)
    if log:
        top = max(yp[okp].max(), yb[np.isfinite(yb)].max() if binom is not None else -np.inf)
        ax.set_ylim(floor, top + 0.04 * (top - floor))
        ax.set_ylabel("log10 P(X = k)")
    else:
        ax.set_ylim(0.0, None)
        ax.set_ylabel("P(X = k)")
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel("k (number of events)")
    # the legend goes on the side away from the mode (log mode: the top corner, which is empty)
    mode = int(np.argmax(yp[okp])) if okp.any() else 0
    right = k[okp][mode] - k_lo < k_hi - k[okp][mode] if okp.any() else True
    handles, names = ax.get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda i: not names[i].startswith("Poisson"))
    ax.legend(
        [handles[i] for i in order],
        [names[i] for i in order],
        title=legend_title,
        loc="upper right" if right else "upper left",
        fontsize="small",
        title_fontsize="small",
        frameon=False,
    )
    for side in ("right", "top"):
        ax.spines[side].set_visible(False)
    return ax


# ---------------------------------------------------------------------------------------------
# funnel plot


def _interpolated_quantiles(dist: PoissonBinomial, probs: np.ndarray) -> np.ndarray:
    """Spiegelhalter's (2005, appendix A.1.1) continuous version of the p-quantiles of a discrete
    distribution: r_p - alpha, with r_p the smallest r with F(r) >= p and
    alpha = (F(r_p) - p) / (F(r_p) - F(r_p - 1)), i.e. the probability P(X = r_p) spread evenly
    over (r_p - 1, r_p]."""
    r = np.asarray(dist.ppf(probs), dtype=float)
    f_r = np.asarray(dist.cdf(r), dtype=float)
    f_before = np.asarray(dist.cdf(r - 1), dtype=float)
    alpha = (f_r - probs) / (f_r - f_before)
    return r - alpha


def _control_limits(dists, levels, divisors) -> np.ndarray:
    """Funnel limits at each x: for x's distribution of the count under the target (any discrete
    binfer distribution: Bin(n, theta) for proportions, a Poisson-binomial of expected risks for
    observed / expected ratios) the two-sided interpolated quantiles, divided by x's divisor
    (n for a proportion, E for an O/E ratio). Shape (len(dists), len(levels), 2): lower, upper."""
    levels = np.asarray(levels, dtype=float)
    probs = np.concatenate([(1 - levels) / 2, (1 + levels) / 2])
    out = np.empty((len(dists), levels.size, 2))
    for i, (dist, div) in enumerate(zip(dists, divisors, strict=True)):
        q = _interpolated_quantiles(dist, probs) / div
        out[i, :, 0], out[i, :, 1] = q[: levels.size], q[levels.size :]
    return out


def _funnel_grid(n: np.ndarray, n_grid: int) -> np.ndarray:
    """Integer group sizes from half the smallest to a bit past the largest: half linear (the
    axis), half geometric (the limits change fastest at small n)."""
    lo = max(1, int(n.min()) // 2)
    hi = max(lo + 1, int(math.ceil(1.05 * n.max())))
    half = max(n_grid // 2, 2)
    grid = np.concatenate([np.linspace(lo, hi, half), np.geomspace(lo, hi, half), n])
    return np.unique(np.round(grid).astype(np.int64))


def _check_levels(levels) -> np.ndarray:
    lv = np.atleast_1d(np.asarray(levels, dtype=float))
    if lv.ndim != 1 or lv.size == 0 or not np.all((lv > 0) & (lv < 1)):
        raise ValueError(
            f"levels must be numbers in (0, 1), e.g. (0.95, 0.998); got {plain(levels)}"
        )
    return np.sort(lv)


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
    data : DataFrame or mapping of columns
        One row per group (hospital, surgeon, batch).
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
    For a group of size n, the count under the target is R ~ Bin(n, target). The limit at
    probability p (p = (1 - level)/2 and (1 + level)/2) is Spiegelhalter's (2005, appendix
    A.1.1) interpolated quantile: with r_p the smallest r such that F(r) = P(R <= r) >= p
    (``Binomial(n, target).ppf``) and alpha = (F(r_p) - p) / (F(r_p) - F(r_p - 1)) (from
    ``Binomial.cdf``), the limit is (r_p - alpha) / n. This makes the limits continuous in n
    instead of a staircase of plain quantiles r_p / n. A limit below 0 (small n, where P(R = 0)
    already exceeds p) is drawn at 0. The limits are drawn on a grid of n and evaluated exactly at
    each group's own n; a group is marked as outside when its proportion x / n is strictly
    beyond the outermost limit at its n, so the marks agree with what the picture shows.

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
    counts = one_arm(data, events=events, trials=trials, group=group)
    _choice(annotate, ("outliers", "all", "none"), "annotate")
    lv = _check_levels(levels)
    x, n = counts.events, counts.trials
    if target is None:
        target = float(x.sum() / n.sum())
        target_label = f"pooled proportion {target:.3g}"
    else:
        if (
            isinstance(target, bool)
            or not isinstance(target, int | float | np.floating)
            or not (0 < target < 1)
        ):
            raise ValueError(f"target must be a proportion in (0, 1), got {plain(target)}")
        target = float(target)
        target_label = f"target {target:.3g}"
    if not 0 < target < 1:
        raise ValueError(
            f"the pooled proportion is {target:g}: with no events (or only events) there is no "
            "spread to draw limits for; pass target="
        )
    grid = _funnel_grid(n, check_count(n_grid, "n_grid", minimum=4))
    limits = np.clip(_control_limits([Binomial(int(m), target) for m in grid], lv, grid), 0, 1)
    at_n = limits[np.searchsorted(grid, n)]  # the grid holds every group's own n
    prop = x / n
    outside = (prop < at_n[:, -1, 0]) | (prop > at_n[:, -1, 1])

    if ax is None:
        ax = _new_axes(7.5, 5.0)
    ax.axhline(target, color="0.2", lw=1.0, label=target_label, gid="funnel-target")
    inner_styles = ("--", ":", "-.")
    for j, level in enumerate(lv):
        style = "-" if j == lv.size - 1 else inner_styles[(lv.size - 2 - j) % 3]
        pct = f"{100 * level:g}% limits"
        for side, name in ((0, "lower"), (1, "upper")):
            ax.plot(
                grid,
                limits[:, j, side],
                color="C0",
                lw=1.2,
                ls=style,
                label=pct if side == 1 else None,
                gid=f"funnel-limit-{level:g}-{name}",
            )
    inside = ax.scatter(n[~outside], prop[~outside], s=30, color="0.25", zorder=3, label="group")
    inside.set_gid("funnel-points")
    marked = ax.scatter(
        n[outside],
        prop[outside],
        s=42,
        color="C3",
        zorder=4,
        label=f"outside {100 * lv[-1]:g}% limits",
    )
    marked.set_gid("funnel-outliers")
    if annotate != "none":
        labels = counts.labels
        for i in np.flatnonzero(outside if annotate == "outliers" else np.ones(n.size, bool)):
            ax.annotate(
                str(labels[i]),
                (n[i], prop[i]),
                xytext=(5, 4),
                textcoords="offset points",
                fontsize="small",
                color="C3" if outside[i] else "0.25",
            )
    ax.set_xlim(0, grid.max() * 1.02)
    top = max(float(prop.max()), float(limits[:, -1, 1].max()))
    ax.set_ylim(max(0.0, float(min(prop.min(), limits[:, -1, 0].min())) - 0.03 * top), top * 1.05)
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
