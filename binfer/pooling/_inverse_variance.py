"""The inverse-variance engine of the meta-analyses, as metafor's ``rma``: tau^2 by the
DerSimonian-Laird, REML, Paule-Mandel or ML estimating equation (or 0, equal effects), the pooled
estimate with its Wald CI and prediction interval, the Q-profile interval for tau^2, Cochran's Q,
I^2 and H^2; and the report lines shared by the two meta-analysis results.

Used by ``_meta.py`` (one arm) and ``_meta_two_arm.py`` (two arms) through the names in
``__all__`` only. The tau^2 equations and the Q-profile are hand-written because no Python library
solves them the way metafor does; every tau^2 root comes from ``scipy.optimize.brentq``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._results import ConfidenceInterval, Result, fmt

__all__ = [
    "TAU2_METHODS",
    "Fit",
    "MetaResult",
    "effects_table",
    "heterogeneity",
    "inverse_variance",
    "model_line",
    "q_statistic",
    "wald",
]

TAU2_METHODS = ("EE", "DL", "REML", "PM", "ML")

# Relative tolerance of every tau^2 root: far below the 1e-6 agreement the tests ask of metafor
# (run there with threshold = tol = 1e-12), and above the ~1e-15 noise of the estimating equations.
_RTOL = 1e-13


@dataclass(frozen=True)
class Fit:
    """The pooled summary of effect sizes ``y`` with sampling variances ``v``: everything a meta
    result reports, on the scale of ``y`` (``pi`` is the prediction interval there)."""

    estimate: float
    se: float
    zval: float
    pvalue: float
    ci: ConfidenceInterval
    pi: ConfidenceInterval
    tau2: float
    tau2_ci: ConfidenceInterval | None
    q: float
    q_df: int
    q_pvalue: float
    i2: float
    h2: float
    weights: np.ndarray  # percent


def model_line(method: str, k: int) -> str:
    """The model as print.rma names it: 'random effects (k = 14; tau^2 estimator: REML), ...'."""
    if method == "GLMM":
        return f"random effects (k = {k}; binomial-normal GLMM by ML, 7-point adaptive quadrature)"
    if method in ("EE", "MH", "Peto"):
        how = {"EE": "inverse variance", "MH": "Mantel-Haenszel", "Peto": "Peto one-step"}[method]
        return f"equal effects (k = {k}), {how}"
    return f"random effects (k = {k}; tau^2 estimator: {method}), inverse variance"


def q_statistic(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    """Generalised Q: sum w (y - ybar_w)^2 with w = 1/(v + tau2); decreasing in tau2 (Cochran's
    Q at tau2 = 0)."""
    w = 1.0 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    return float(np.sum(w * (y - mu) ** 2))


def _root_above_zero(f, hi: float) -> float:
    """The root of f on (0, inf), given f(0) > 0 and f < 0 somewhere above: double ``hi`` until
    the sign changes, then brentq."""
    while f(hi) > 0:
        hi *= 2.0
        if hi > 1e300:
            raise ArithmeticError("no sign change of the tau^2 estimating equation")
    return optimize.brentq(f, 0.0, hi, xtol=1e-300, rtol=_RTOL, maxiter=1000)


def _tau2(y: np.ndarray, v: np.ndarray, method: str) -> float:
    """tau^2 by ``method`` (metafor's rma), truncated at 0."""
    k = y.size
    if method == "EE" or k == 1:  # metafor sets tau^2 = 0 when k = 1 ("k1" method)
        return 0.0
    w = 1.0 / v
    hi = max(1.0, 10.0 * float(np.var(y)), 10.0 * float(np.max(v)))
    if method == "DL":
        # DerSimonian & Laird (1986): moment estimator from Q at tau^2 = 0.
        q0 = q_statistic(0.0, y, v)
        c = np.sum(w) - np.sum(w**2) / np.sum(w)
        return max(0.0, (q0 - (k - 1)) / c)
    if method == "PM":
        # Paule & Mandel (1982): generalised Q(tau^2) = k - 1.
        def f(t):
            return q_statistic(t, y, v) - (k - 1)

        return 0.0 if f(0.0) <= 0 else _root_above_zero(f, hi)

    # REML / ML (Viechtbauer 2005): zero of the (restricted) score; metafor's Fisher scoring
    # converges to the same root, or to 0 when the score is negative there.
    def score(t):
        wt = 1.0 / (v + t)
        sw = np.sum(wt)
        r = y - np.sum(wt * y) / sw
        rpp = np.sum(wt**2 * r**2)  # y'PPy
        if method == "ML":
            return rpp - sw
        return rpp - (sw - np.sum(wt**2) / sw)  # y'PPy - tr(P)

    return 0.0 if score(0.0) <= 0 else _root_above_zero(score, hi)


def _q_root(crit: float, y: np.ndarray, v: np.ndarray, start: float) -> float:
    """tau^2 > 0 with Q(tau^2) = crit, given Q(0) > crit: safeguarded Newton on the decreasing Q
    (Q'(t) = -sum w^2 (y - mu)^2) from ``start`` (the tau^2 estimate: the bounds are near it
    when k is large), bisecting the bracket whenever a step would leave it; 2-5 passes."""
    lo, hi = 0.0, math.inf
    t = max(start, 0.0)
    for _ in range(500):
        # elementwise sums, not np.dot: BLAS threads spin badly when the cores are shared
        w = 1.0 / (v + t)
        r = y - (w * y).sum() / w.sum()
        wr = w * r
        f = float((wr * r).sum()) - crit
        if abs(f) <= 1e-13 * crit:  # Q is only known to about this (rounding over k terms)
            return t
        if f > 0:
            lo = t
        else:
            hi = t
        slope = -float((wr * wr).sum())
        step = t - f / slope if slope < 0 else math.nan
        if lo < step < hi:
            t_new = step
        elif math.isinf(hi):
            t_new = 2.0 * t + 1.0
        else:
            t_new = 0.5 * (lo + hi)
        if abs(t_new - t) <= _RTOL * max(t_new, 1e-300) or (hi - lo <= _RTOL * hi < math.inf):
            return t_new
        t = t_new
        if t > 1e300:
            raise ArithmeticError("no sign change of the Q-profile equation")
    return t


def _tau2_qprofile(
    y: np.ndarray, v: np.ndarray, conf_level: float, tau2: float = 0.0
) -> ConfidenceInterval:
    """Q-profile interval (Viechtbauer 2007): {tau^2 : chi2_lo <= Q(tau^2) <= chi2_hi}, as
    metafor's confint.rma.uni; a bound is 0 when Q(0) is already below its critical value."""
    k = y.size
    alpha = 1.0 - conf_level
    crit_u = stats.chi2.isf(alpha / 2, k - 1)
    crit_l = stats.chi2.ppf(alpha / 2, k - 1)
    q0 = q_statistic(0.0, y, v)

    def bound(crit):
        if q0 < crit:
            return 0.0
        return _q_root(crit, y, v, tau2)

    return ConfidenceInterval(bound(crit_u), bound(crit_l))


def heterogeneity(y: np.ndarray, v: np.ndarray, tau2: float, *, fixed: bool):
    """Cochran's Q (at tau^2 = 0), its df and p-value, I^2 (fraction) and H^2 as metafor's rma:
    for an equal-effects model I^2 = (Q - df)/Q and H^2 = Q/df, otherwise I^2 = tau^2/(tau^2 + s^2)
    and H^2 = 1 + tau^2/s^2 with the typical within-study variance s^2 = df / tr(P)."""
    k = y.size
    if k == 1:
        return 0.0, 0, 1.0, 0.0, 1.0
    df = k - 1
    q = max(0.0, q_statistic(0.0, y, v))
    p = float(stats.chi2.sf(q, df))
    if fixed:
        i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
        return q, df, p, i2, q / df
    w = 1.0 / v
    s2 = df / (np.sum(w) - np.sum(w**2) / np.sum(w))
    return q, df, p, float(tau2 / (s2 + tau2)), float(tau2 / s2 + 1.0)


def wald(estimate: float, se: float, conf_level: float):
    """z, two-sided p-value, normal-quantile CI and the quantile z_{1 - alpha/2}."""
    z = stats.norm.isf((1.0 - conf_level) / 2)
    zval = estimate / se
    pvalue = float(2.0 * stats.norm.sf(abs(zval)))
    return zval, pvalue, ConfidenceInterval(estimate - z * se, estimate + z * se), z


def inverse_variance(y: np.ndarray, v: np.ndarray, method: str, conf_level: float) -> Fit:
    """Pool effect sizes ``y`` with variances ``v`` by inverse variance, tau^2 by ``method``
    (one of ``TAU2_METHODS``)."""
    tau2 = _tau2(y, v, method)
    w = 1.0 / (v + tau2)
    estimate = float(np.sum(w * y) / np.sum(w))
    se = float(1.0 / math.sqrt(np.sum(w)))
    zval, pvalue, ci, z = wald(estimate, se, conf_level)
    # Prediction interval as metafor's predict.rma with test = "z": normal quantile, se^2 + tau^2.
    half = z * math.sqrt(se**2 + tau2)
    fixed = method == "EE"
    q, q_df, q_p, i2, h2 = heterogeneity(y, v, tau2, fixed=fixed)
    tau2_ci = None if fixed or y.size < 2 else _tau2_qprofile(y, v, conf_level, tau2)
    return Fit(
        estimate=estimate,
        se=se,
        zval=zval,
        pvalue=pvalue,
        ci=ci,
        pi=ConfidenceInterval(estimate - half, estimate + half),
        tau2=float(tau2),
        tau2_ci=tau2_ci,
        q=q,
        q_df=q_df,
        q_pvalue=q_p,
        i2=i2,
        h2=h2,
        weights=100.0 * w / np.sum(w),
    )


def effects_table(labels, counts: dict, yi, vi, weights, conf_level: float) -> pd.DataFrame:
    """The per-row table of a meta result, in the column names every pooled result's ``table``
    shares: ``label``, the counts, ``estimate`` (the effect size yi), ``se`` = sqrt(vi), ``vi``,
    the Wald ``ci_low``/``ci_high`` (metafor's ``escalc`` + ``summary``) and ``weight`` (percent).
    """
    yi = np.asarray(yi, dtype=float)
    se = np.sqrt(np.asarray(vi, dtype=float))
    half = stats.norm.isf((1 - conf_level) / 2) * se
    return pd.DataFrame(
        {
            "label": labels,
            **counts,
            "estimate": yi,
            "se": se,
            "vi": vi,
            "ci_low": yi - half,
            "ci_high": yi + half,
            "weight": weights,
        }
    )


class MetaResult(Result):
    """Base of the meta-analysis results: shared report lines and a ``to_frame`` whose columns do
    not depend on the method."""

    # interval fields that are None for some methods: to_frame keeps their _low/_high columns
    _optional_intervals: ClassVar[tuple[str, ...]] = ("tau2_ci",)

    def to_frame(self) -> pd.DataFrame:
        """One tidy row; the columns are the same whatever the method."""
        frame = super().to_frame()
        for name in self._optional_intervals:
            if getattr(self, name) is None:
                pos = frame.columns.get_loc(name)
                frame = frame.drop(columns=name)
                frame.insert(pos, f"{name}_high", None)
                frame.insert(pos, f"{name}_low", None)
        return frame

    def _heterogeneity_lines(self, q_label: str = "Q") -> list[str]:
        pct = f"{100 * self.conf_level:g}%"
        lines = []
        if self.tau2_ci is not None:
            lines.append(f"tau^2: {fmt(self.tau2)}, {pct} CI {fmt(self.tau2_ci)} (Q-profile)")
        else:
            lines.append(f"tau^2: {fmt(self.tau2)}")
        lines += [
            f"tau: {fmt(math.sqrt(self.tau2))}",
            f"I^2: {100 * self.i2:.2f}%",
            f"H^2: {fmt(self.h2)}",
            f"heterogeneity: {q_label}(df = {self.q_df}) = {fmt(self.q)}, p = {fmt(self.q_pvalue)}",
        ]
        return lines
