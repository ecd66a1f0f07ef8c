"""The PMF of a Poisson-binomial against its matching binomial (the core's exact log-PMF)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib import ticker

from ..core import Binomial, PoissonBinomial
from ..core._checks import check_choice
from ._common import new_axes

__all__ = ["pmf"]


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
    check_choice(kind, "kind", ("bar", "step"))
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
        ax = new_axes(7.5, 4.5)
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
