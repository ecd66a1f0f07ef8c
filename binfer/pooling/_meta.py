"""Meta-analytic pooling of one-arm proportions, as metafor's ``rma`` and ``rma.glmm``.

Effect sizes are metafor's ``escalc`` measures PLO, PLN, PAS, PFT and PR; the pooled estimate is
the inverse-variance weighted mean with tau^2 from the DerSimonian-Laird, REML, Paule-Mandel or ML
estimating equation (or 0, equal effects), or the binomial-normal GLMM. The tau^2 equations, the
Q-profile interval and the GLMM likelihood (``_glmm.py``) are hand-written because no Python
library solves them the way metafor does; every tau^2 root comes from ``scipy.optimize.brentq``,
and the two-arm measures (``_meta_two_arm.py``) share the inverse-variance machinery below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .._data import describe_rows, one_arm
from .._results import ConfidenceInterval, Result, fmt
from ..core._checks import check_unit_interval, plain
from ._glmm import fit_binomial_normal

__all__ = ["MetaProportionResult", "meta_proportion"]

TAU2_METHODS = ("EE", "DL", "REML", "PM", "ML")
SCALES = ("logit", "log", "arcsine", "freeman-tukey", "raw")
_SCALE_NAME = {
    "logit": "logit",
    "log": "log",
    "arcsine": "arcsine square root",
    "freeman-tukey": "Freeman-Tukey double arcsine",
    "raw": "raw proportion",
}


def _model_line(method: str, k: int) -> str:
    """The model as print.rma names it: 'random effects (k = 14; tau^2 estimator: REML), ...'."""
    if method == "GLMM":
        return f"random effects (k = {k}; binomial-normal GLMM by ML, 7-point adaptive quadrature)"
    if method in ("EE", "MH", "Peto"):
        how = {"EE": "inverse variance", "MH": "Mantel-Haenszel", "Peto": "Peto one-step"}[method]
        return f"equal effects (k = {k}), {how}"
    return f"random effects (k = {k}; tau^2 estimator: {method}), inverse variance"


# Relative tolerance of every tau^2 root: far below the 1e-6 agreement the tests ask of metafor
# (run there with threshold = tol = 1e-12), and above the ~1e-15 noise of the estimating equations.
_RTOL = 1e-13


# ---------------------------------------------------------------------------------------------
# inverse-variance pooling, shared with the two-arm measures


@dataclass(frozen=True)
class _Fit:
    """The pooled summary of effect sizes ``y`` with sampling variances ``v``."""

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


def _choice(value, options, what: str) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(
            f"{what} must be one of {', '.join(map(repr, options))}; got {plain(value)}"
        )
    return value


def _q_gen(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    """Generalised Q: sum w (y - ybar_w)^2 with w = 1/(v + tau2); decreasing in tau2."""
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
        q0 = _q_gen(0.0, y, v)
        c = np.sum(w) - np.sum(w**2) / np.sum(w)
        return max(0.0, (q0 - (k - 1)) / c)
    if method == "PM":
        # Paule & Mandel (1982): generalised Q(tau^2) = k - 1.
        def f(t):
            return _q_gen(t, y, v) - (k - 1)

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


def _q_gen_root(crit: float, y: np.ndarray, v: np.ndarray, start: float) -> float:
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
    q0 = _q_gen(0.0, y, v)

    def bound(crit):
        if q0 < crit:
            return 0.0
        return _q_gen_root(crit, y, v, tau2)

    return ConfidenceInterval(bound(crit_u), bound(crit_l))


def _heterogeneity(y: np.ndarray, v: np.ndarray, tau2: float, *, fixed: bool):
    """Cochran's Q (at tau^2 = 0), its df and p-value, I^2 (fraction) and H^2 as metafor's rma:
    for an equal-effects model I^2 = (Q - df)/Q and H^2 = Q/df, otherwise I^2 = tau^2/(tau^2 + s^2)
    and H^2 = 1 + tau^2/s^2 with the typical within-study variance s^2 = df / tr(P)."""
    k = y.size
    if k == 1:
        return 0.0, 0, 1.0, 0.0, 1.0
    df = k - 1
    q = max(0.0, _q_gen(0.0, y, v))
    p = float(stats.chi2.sf(q, df))
    if fixed:
        i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
        return q, df, p, i2, q / df
    w = 1.0 / v
    s2 = df / (np.sum(w) - np.sum(w**2) / np.sum(w))
    return q, df, p, float(tau2 / (s2 + tau2)), float(tau2 / s2 + 1.0)


def _wald(estimate: float, se: float, conf_level: float):
    z = stats.norm.isf((1.0 - conf_level) / 2)
    zval = estimate / se
    pvalue = float(2.0 * stats.norm.sf(abs(zval)))
    return zval, pvalue, ConfidenceInterval(estimate - z * se, estimate + z * se), z


def _inverse_variance(y: np.ndarray, v: np.ndarray, method: str, conf_level: float) -> _Fit:
    tau2 = _tau2(y, v, method)
    w = 1.0 / (v + tau2)
    estimate = float(np.sum(w * y) / np.sum(w))
    se = float(1.0 / math.sqrt(np.sum(w)))
    zval, pvalue, ci, z = _wald(estimate, se, conf_level)
    # Prediction interval as metafor's predict.rma with test = "z": normal quantile, se^2 + tau^2.
    half = z * math.sqrt(se**2 + tau2)
    fixed = method == "EE"
    q, q_df, q_p, i2, h2 = _heterogeneity(y, v, tau2, fixed=fixed)
    tau2_ci = None if fixed or y.size < 2 else _tau2_qprofile(y, v, conf_level, tau2)
    return _Fit(
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


class _MetaResult(Result):
    """Shared report lines and a ``to_frame`` whose columns do not depend on the method."""

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


# ---------------------------------------------------------------------------------------------
# one arm


def _one_arm_effects(x: np.ndarray, n: np.ndarray, scale: str):
    """yi, vi and the continuity-corrected rows, as metafor's escalc (add = 1/2, to = "only0"):
    PLO, PLN and PR add 1/2 to the events and non-events of groups with 0 events or all events;
    PAS and PFT need no correction."""
    x = x.astype(float)
    n = n.astype(float)
    if scale in ("arcsine", "freeman-tukey"):
        corrected = np.zeros(x.size, dtype=bool)
        if scale == "arcsine":
            return np.arcsin(np.sqrt(x / n)), 1.0 / (4.0 * n), corrected
        # metafor's PFT: half the Freeman & Tukey (1950) double arcsine, variance 1/(4n + 2).
        yi = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
        return yi, 1.0 / (4.0 * n + 2.0), corrected
    corrected = (x == 0) | (x == n)
    xc = x + 0.5 * corrected
    nc = n + 1.0 * corrected
    p = xc / nc
    if scale == "logit":
        return np.log(p / (1 - p)), 1.0 / xc + 1.0 / (nc - xc), corrected
    if scale == "log":
        return np.log(p), 1.0 / xc - 1.0 / nc, corrected
    return p, p * (1 - p) / nc, corrected


def _to_proportion(values, scale: str, n: np.ndarray) -> np.ndarray:
    """Back-transform from ``scale`` to a proportion, clipped to [0, 1] (metafor's transf.ilogit,
    exp, transf.iarcsin, transf.ipft.hm with the harmonic mean of the trials, identity)."""
    t = np.asarray(values, dtype=float)
    if scale == "logit":
        p = special.expit(t)
    elif scale == "log":
        p = np.exp(t)
    elif scale == "arcsine":
        p = np.sin(np.clip(t, 0.0, np.pi / 2)) ** 2
    elif scale == "freeman-tukey":
        # Miller (1978) inversion at the harmonic mean of the n_i, as metafor's transf.ipft.hm.
        nhm = 1.0 / np.mean(1.0 / n)
        s = np.sin(2 * t)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = 0.5 * (1 - np.sign(np.cos(2 * t)) * np.sqrt(1 - (s + (s - 1 / s) / nhm) ** 2))

        def pft(prop):
            xx = prop * nhm
            return 0.5 * (
                np.arcsin(np.sqrt(xx / (nhm + 1))) + np.arcsin(np.sqrt((xx + 1) / (nhm + 1)))
            )

        p = np.where(t > pft(1.0), 1.0, np.where(t < pft(0.0), 0.0, p))
    else:
        p = t
    return np.clip(p, 0.0, 1.0)


@dataclass(frozen=True, repr=False)
class MetaProportionResult(_MetaResult):
    """A pooled proportion from a meta-analysis of groups; see :func:`meta_proportion`."""

    estimate: float
    se: float
    confidence_interval: ConfidenceInterval
    zval: float
    pvalue: float
    proportion: float
    proportion_ci: ConfidenceInterval
    prediction_interval: ConfidenceInterval
    tau2: float
    tau2_ci: ConfidenceInterval | None
    q: float
    q_df: int
    q_pvalue: float
    i2: float
    h2: float
    conf_level: float
    method: str
    scale: str
    k: int
    groups: pd.DataFrame
    note: str | None = None
    _title: ClassVar[str] = "Meta-analysis of proportions"

    def _lines(self) -> list[str]:
        pct = f"{100 * self.conf_level:g}%"
        lines = [f"model: {_model_line(self.method, self.k)}, {_SCALE_NAME[self.scale]} scale"]
        if self.method != "EE":
            lines += self._heterogeneity_lines("Wald Q" if self.method == "GLMM" else "Q")
        else:
            lines += self._heterogeneity_lines()[2:]
        lines += [
            f"estimate: {fmt(self.estimate)} (se {fmt(self.se)}), z = {fmt(self.zval)}, "
            f"p = {fmt(self.pvalue)}",
            f"{pct} CI: {fmt(self.confidence_interval)}",
            f"proportion: {fmt(self.proportion)}, {pct} CI {fmt(self.proportion_ci)}",
            f"{pct} prediction interval (proportion): {fmt(self.prediction_interval)}",
        ]
        if self.note:
            lines.append(f"note: {self.note}")
        return lines


def meta_proportion(
    data,
    *,
    events: str = "events",
    trials: str = "trials",
    group: str | None = None,
    method: str = "REML",
    scale: str = "logit",
    conf_level: float = 0.95,
    outcome: str | None = None,
) -> MetaProportionResult:
    """Meta-analytic pooled proportion of grouped binomial counts, as metafor's ``rma``.

    Parameters
    ----------
    data : DataFrame or mapping of columns
        One row per group (study, hospital, batch), or, with ``outcome``, one row per subject.
    events, trials : str
        Column names of the event and trial counts.
    group : str, optional
        Column with the group labels (default: the column ``group`` if the data has one, else
        the row index).
    method : str
        ``"EE"`` (equal / fixed effects), ``"DL"``, ``"REML"`` (default), ``"PM"``, ``"ML"``:
        inverse-variance pooling with that tau^2 estimator, as ``metafor::rma``; or ``"GLMM"``:
        the binomial-normal random-intercept model by maximum likelihood, as
        ``metafor::rma.glmm(measure = "PLO")`` (only with ``scale="logit"``).
    scale : str
        Scale of the per-group effect sizes (metafor's ``escalc`` measure): ``"logit"`` (PLO),
        ``"log"`` (PLN), ``"arcsine"`` (PAS, arcsin sqrt p), ``"freeman-tukey"`` (PFT) or
        ``"raw"`` (PR).
    conf_level : float
        Level of the confidence, prediction and tau^2 intervals.
    outcome : str, optional
        A 0/1 column of one row per subject: the subjects are counted per ``group`` (groups in
        sorted label order, or the categories' order for a pandas Categorical).

    Returns
    -------
    MetaProportionResult
        ``estimate``, ``se``, ``confidence_interval``, ``zval`` and ``pvalue`` (the Wald test of
        estimate = 0 that metafor prints) on ``scale``; ``proportion`` and ``proportion_ci``
        back-transformed to a proportion; ``prediction_interval`` for the proportion of a new
        group, **on the proportion scale**; ``tau2`` and its Q-profile ``tau2_ci`` (None for EE
        and GLMM, where metafor has no such interval); Cochran's ``q`` with ``q_df`` and
        ``q_pvalue`` (for GLMM the Wald-type test of rma.glmm); ``i2`` as a fraction in [0, 1]
        (metafor prints percent); ``h2``; ``k``; ``groups``, one row per group with ``label``,
        ``events``, ``trials``, ``estimate`` (metafor's yi), ``vi``, ``ci_low``, ``ci_high`` (on
        ``scale``) and ``weight`` (percent, metafor's ``weights()``; NaN for GLMM, which has none);
        ``note`` says which groups were continuity-corrected.

    Notes
    -----
    Effect sizes are metafor's ``escalc`` with its defaults (add = 1/2, to = "only0"): for logit,
    log and raw, a group with 0 events or with all events gets 1/2 added to its events and its
    non-events (x + 1/2 of n + 1); arcsine and Freeman-Tukey need no correction. With
    y_i, v_i the effect sizes and variances and w_i = 1 / (v_i + tau^2), the estimate is
    sum(w y) / sum(w) with se = 1 / sqrt(sum(w)), a normal-quantile CI and the prediction interval
    estimate +- z sqrt(se^2 + tau^2) (metafor's ``predict``).

    tau^2 is truncated at 0. DL: max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w)) with w = 1/v.
    PM: the root of sum w (y - ybar_w)^2 = k - 1. REML and ML: the root of the (restricted) score
    equation y'PPy = tr(P) (REML) or y'PPy = sum w (ML). Roots by ``scipy.optimize.brentq`` to
    1e-13 relative. The Q-profile interval solves Q(tau^2) = chi2 quantiles of k - 1 df.
    I^2 and H^2 are metafor's: tau^2 / (tau^2 + s^2) and 1 + tau^2 / s^2, s^2 = (k - 1) / tr(P),
    for random effects (GLMM too, with the corrected v_i), and (Q - (k - 1)) / Q and Q / (k - 1)
    for EE.

    Back-transformation: logit -> expit, log -> exp, arcsine -> sin(x)^2, raw -> identity,
    Freeman-Tukey -> Miller's (1978) inversion at the harmonic mean of the trials (metafor's
    ``transf.ipft.hm``); results are clipped to [0, 1] (metafor leaves exp and identity unclipped).

    GLMM: logit(p_i) = mu + u_i, u_i ~ N(0, tau^2), x_i ~ Bin(n_i, p_i), no continuity correction;
    the likelihood is integrated by 7-point adaptive Gauss-Hermite quadrature as
    ``lme4::glmer(nAGQ = 7)`` (rma.glmm's default) and maximised by Nelder-Mead; se is from the
    inverse numerical Hessian of (mu, tau). ``q`` is rma.glmm's Wald test of the saturated
    logistic model, i.e. Q of the uncorrected logits in which groups with 0 or all events (infinite
    logits) have weight 0.

    With a single group: tau^2 = 0, Q = 0 and I^2 = 0 as in metafor (GLMM needs two groups).

    References
    ----------
    DerSimonian, R. & Laird, N. (1986). Meta-analysis in clinical trials. Controlled Clinical
    Trials 7, 177-188.
    Viechtbauer, W. (2005). Bias and efficiency of meta-analytic variance estimators in the
    random-effects model. Journal of Educational and Behavioral Statistics 30, 261-293.
    Paule, R. C. & Mandel, J. (1982). Consensus values and weighting factors. Journal of Research
    of the National Bureau of Standards 87, 377-385.
    Viechtbauer, W. (2007). Confidence intervals for the amount of heterogeneity in meta-analysis.
    Statistics in Medicine 26, 37-52.
    Stijnen, T., Hamza, T. H. & Ozdemir, P. (2010). Random effects meta-analysis of event outcome
    in the framework of the generalized linear mixed model with applications in sparse data.
    Statistics in Medicine 29, 3046-3067.
    Freeman, M. F. & Tukey, J. W. (1950). Transformations related to the angular and the square
    root. Annals of Mathematical Statistics 21, 607-611.
    Miller, J. J. (1978). The inverse of the Freeman-Tukey double arcsine transformation. The
    American Statistician 32, 138.

    Examples
    --------
    >>> import pandas as pd
    >>> from binfer.pooling import meta_proportion
    >>> df = pd.DataFrame({"hospital": ["A", "B", "C", "D", "E"],
    ...                    "events": [0, 5, 12, 20, 9], "trials": [15, 30, 12, 40, 25]})
    >>> r = meta_proportion(df, group="hospital")  # REML, logit scale; metafor's values
    >>> round(r.proportion, 4), [round(v, 4) for v in r.proportion_ci]
    (0.3675, [0.103, 0.7462])
    >>> round(r.tau2, 4), round(r.i2, 4)
    (2.7071, 0.9024)
    >>> print(r.note)
    1/2 added to the events and non-events of 2 groups ('A', 'C') with 0 or all events,
    for their logit effect sizes
    >>> g = meta_proportion(df, method="GLMM")
    >>> round(g.proportion, 4), round(g.tau2, 4)
    (0.366, 7.5646)
    """
    counts = one_arm(data, events=events, trials=trials, group=group, outcome=outcome,
                     min_groups=1)
    method = _choice(method, TAU2_METHODS + ("GLMM",), "method")
    scale = _choice(scale, SCALES, "scale")
    conf_level = check_unit_interval(conf_level, "conf_level")
    x, n = counts.events, counts.trials
    yi, vi, corrected = _one_arm_effects(x, n, scale)

    note = None
    if corrected.any():
        note = (
            "1/2 added to the events and non-events of "
            f"{describe_rows(counts.label_index, corrected, 'group')} "
            f"with 0 or all events, for their {scale} effect sizes"
        )
    if method == "GLMM":
        if scale != "logit":
            raise ValueError(f'method="GLMM" is a logistic model: use scale="logit", got {scale!r}')
        if counts.k < 2:
            raise ValueError("method='GLMM' needs at least 2 groups to estimate tau^2")
        if np.all(x == 0) or np.all(x == n):
            raise ValueError(
                "method='GLMM': every group has "
                + ("0 events" if np.all(x == 0) else "all events")
                + ", so the ML estimate of the logit is infinite; use a continuity-corrected "
                "inverse-variance method"
            )
        fit = _glmm_fit(x, n, yi, vi, conf_level)
        weights = np.full(counts.k, np.nan)
        if note is not None:
            note += " (per-group estimates and I^2 only; the GLMM uses the uncorrected counts)"
    else:
        fit = _inverse_variance(yi, vi, method, conf_level)
        weights = fit.weights

    z = stats.norm.isf((1 - conf_level) / 2)
    half = z * np.sqrt(vi)
    groups = pd.DataFrame(
        {
            "label": counts.label_index.to_numpy(),
            "events": x,
            "trials": n,
            "estimate": yi,
            "vi": vi,
            "ci_low": yi - half,
            "ci_high": yi + half,
            "weight": weights,
        }
    )
    back = _to_proportion([fit.estimate, *fit.ci, *fit.pi], scale, n)
    return MetaProportionResult(
        estimate=fit.estimate,
        se=fit.se,
        confidence_interval=fit.ci,
        zval=fit.zval,
        pvalue=fit.pvalue,
        proportion=float(back[0]),
        proportion_ci=ConfidenceInterval(float(back[1]), float(back[2])),
        prediction_interval=ConfidenceInterval(float(back[3]), float(back[4])),
        tau2=fit.tau2,
        tau2_ci=fit.tau2_ci,
        q=fit.q,
        q_df=fit.q_df,
        q_pvalue=fit.q_pvalue,
        i2=fit.i2,
        h2=fit.h2,
        conf_level=conf_level,
        method=method,
        scale=scale,
        k=counts.k,
        groups=groups,
        note=note,
    )


def _glmm_fit(x, n, yi, vi, conf_level: float) -> _Fit:
    """rma.glmm(measure = "PLO", method = "ML"): the GLMM fit plus metafor's Wald Q and I^2."""
    glmm = fit_binomial_normal(x, n)
    zval, pvalue, ci, z = _wald(glmm.mu, glmm.se, conf_level)
    tau2 = glmm.sigma**2
    half = z * math.sqrt(glmm.se**2 + tau2)
    # Wald test of the saturated logistic model = Q of the uncorrected logits; a group with 0 or
    # all events has an infinite logit with infinite variance, i.e. weight 0 in the limit.
    k = x.size
    inner = (x > 0) & (x < n)
    if inner.sum() >= 2:
        xi, ni = x[inner].astype(float), n[inner].astype(float)
        q = max(0.0, _q_gen(0.0, np.log(xi / (ni - xi)), 1 / xi + 1 / (ni - xi)))
    else:
        q = 0.0
    _, _, _, i2, h2 = _heterogeneity(yi, vi, tau2, fixed=False)
    return _Fit(
        estimate=glmm.mu,
        se=glmm.se,
        zval=zval,
        pvalue=pvalue,
        ci=ci,
        pi=ConfidenceInterval(glmm.mu - half, glmm.mu + half),
        tau2=tau2,
        tau2_ci=None,
        q=q,
        q_df=k - 1,
        q_pvalue=float(stats.chi2.sf(q, k - 1)),
        i2=i2,
        h2=h2,
        weights=np.full(k, np.nan),
    )
