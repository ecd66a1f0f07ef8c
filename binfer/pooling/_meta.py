"""Meta-analytic pooling of one-arm proportions, as metafor's ``rma`` and ``rma.glmm``.

Effect sizes are metafor's ``escalc`` measures PLO, PLN, PAS, PFT and PR; the pooled estimate is
the inverse-variance weighted mean with tau^2 from the DerSimonian-Laird, REML, Paule-Mandel or ML
estimating equation (or 0, equal effects; ``_inverse_variance.py``, shared with the two-arm
measures), or the binomial-normal GLMM (``_glmm.py``). Both are hand-written because no Python
library solves them the way metafor does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import special, stats

from .._data import describe_rows, one_arm
from .._results import ConfidenceInterval, fmt
from ..core._checks import check_choice, check_unit_interval
from ._glmm import fit_binomial_normal
from ._inverse_variance import (
    TAU2_METHODS,
    Fit,
    MetaResult,
    effects_table,
    heterogeneity,
    inverse_variance,
    model_line,
    q_statistic,
    wald,
)

__all__ = ["MetaProportionResult", "meta_proportion"]

SCALES = ("logit", "log", "arcsine", "freeman-tukey", "raw")
_SCALE_NAME = {
    "logit": "logit",
    "log": "log",
    "arcsine": "arcsine square root",
    "freeman-tukey": "Freeman-Tukey double arcsine",
    "raw": "raw proportion",
}


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
class MetaProportionResult(MetaResult):
    """A pooled proportion from a meta-analysis of groups; see :func:`meta_proportion`.

    ``table`` has one row per group; ``groups`` is the same table under its earlier name.
    """

    estimate: float
    se: float
    confidence_interval: ConfidenceInterval
    zval: float
    pvalue: float
    proportion: float
    proportion_ci: ConfidenceInterval
    prediction_interval: ConfidenceInterval
    prediction_interval_model: ConfidenceInterval
    prediction_scale: str
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
    table: pd.DataFrame
    note: str | None = None
    _title: ClassVar[str] = "Meta-analysis of proportions"

    @property
    def groups(self) -> pd.DataFrame:
        """The per-group ``table`` (its earlier name, kept as an alias)."""
        return self.table

    @property
    def prediction_interval_outcome(self) -> ConfidenceInterval:
        """The prediction interval on the outcome scale (the proportion): ``prediction_interval``
        (named so that both meta results have it)."""
        return self.prediction_interval

    def _lines(self) -> list[str]:
        pct = f"{100 * self.conf_level:g}%"
        lines = [f"model: {model_line(self.method, self.k)}, {_SCALE_NAME[self.scale]} scale"]
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
        group, **on the proportion scale** (``prediction_scale`` says so: ``"proportion"``; it is
        also ``prediction_interval_outcome``), and ``prediction_interval_model`` the same
        interval on ``scale``; ``tau2`` and its Q-profile ``tau2_ci`` (None for EE and GLMM,
        where metafor has no such interval); Cochran's ``q`` with ``q_df`` and ``q_pvalue`` (for
        GLMM the Wald-type test of rma.glmm); ``i2`` as a fraction in [0, 1] (metafor prints
        percent); ``h2``; ``k``; ``table`` (alias ``groups``), one row per group with ``label``,
        ``events``, ``trials``, ``estimate`` (metafor's yi), ``se``, ``vi``, ``ci_low``,
        ``ci_high`` (on ``scale``), ``weight`` (percent, metafor's ``weights()``; NaN for GLMM,
        which has none) and ``proportion``, ``proportion_ci_low``, ``proportion_ci_high`` (the
        group's estimate and interval back-transformed as the pooled ones); ``note`` says which
        groups were continuity-corrected.

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
    method = check_choice(method, "method", TAU2_METHODS + ("GLMM",))
    scale = check_choice(scale, "scale", SCALES)
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
        fit = inverse_variance(yi, vi, method, conf_level)
        weights = fit.weights

    table = effects_table(counts.label_index.to_numpy(), {"events": x, "trials": n}, yi, vi,
                          weights, conf_level)
    # each group back-transformed as the pooled estimate is (metafor's forest(..., transf=))
    for column, name in (("estimate", "proportion"), ("ci_low", "proportion_ci_low"),
                         ("ci_high", "proportion_ci_high")):
        table[name] = _to_proportion(table[column].to_numpy(), scale, n)
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
        prediction_interval_model=fit.pi,
        prediction_scale="proportion",
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
        table=table,
        note=note,
    )


def _glmm_fit(x, n, yi, vi, conf_level: float) -> Fit:
    """rma.glmm(measure = "PLO", method = "ML"): the GLMM fit plus metafor's Wald Q and I^2."""
    glmm = fit_binomial_normal(x, n)
    zval, pvalue, ci, z = wald(glmm.mu, glmm.se, conf_level)
    tau2 = glmm.sigma**2
    half = z * math.sqrt(glmm.se**2 + tau2)
    # Wald test of the saturated logistic model = Q of the uncorrected logits; a group with 0 or
    # all events has an infinite logit with infinite variance, i.e. weight 0 in the limit.
    k = x.size
    inner = (x > 0) & (x < n)
    if inner.sum() >= 2:
        xi, ni = x[inner].astype(float), n[inner].astype(float)
        q = max(0.0, q_statistic(0.0, np.log(xi / (ni - xi)), 1 / xi + 1 / (ni - xi)))
    else:
        q = 0.0
    _, _, _, i2, h2 = heterogeneity(yi, vi, tau2, fixed=False)
    return Fit(
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
