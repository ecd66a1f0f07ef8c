"""Meta-analysis of two-arm studies (odds ratio, risk ratio, risk difference), as metafor's
``rma`` (inverse variance), ``rma.mh`` (Mantel-Haenszel) and ``rma.peto`` (Peto one-step OR).

The inverse-variance engine (tau^2, Q-profile, I^2) is ``_inverse_variance.py``, shared with
``_meta.py``; the Mantel-Haenszel and Peto estimators are closed-form sums written out here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from .._data import describe_rows, two_arm
from .._results import ConfidenceInterval, fmt
from ..core._checks import check_choice, check_unit_interval
from ._inverse_variance import (
    TAU2_METHODS,
    Fit,
    MetaResult,
    effects_table,
    inverse_variance,
    model_line,
    wald,
)

__all__ = ["MetaTwoArmResult", "meta_two_arm"]

MEASURES = ("OR", "RR", "RD")
METHODS = TAU2_METHODS + ("MH", "Peto")
_MEASURE_NAME = {"OR": "odds ratio", "RR": "risk ratio", "RD": "risk difference"}
# the scale of ``estimate`` and ``prediction_interval`` (log ratios; the difference as it is)
_MODEL_SCALE = {"OR": "log odds ratio", "RR": "log risk ratio", "RD": "risk difference"}


def _effects(a, b, c, d, measure: str):
    """yi, vi as metafor's escalc from 2x2 cells (a, b treated events/non-events; c, d control),
    already continuity-corrected by the caller. Peto's log OR is measure "PETO"."""
    n1, n2 = a + b, c + d
    big_n = n1 + n2
    p1, p2 = a / n1, c / n2
    # double-zero tables (drop00) give 0/0 here and are set to NaN by the caller
    with np.errstate(invalid="ignore", divide="ignore"):
        if measure == "PETO":
            e = (a + c) * n1 / big_n
            v = (a + c) * (b + d) * (n1 / big_n) * (n2 / big_n) / (big_n - 1)
            return (a - e) / v, 1.0 / v
        if measure == "OR":
            return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
        if measure == "RR":
            return np.log(p1) - np.log(p2), 1 / a - 1 / n1 + 1 / c - 1 / n2
    return p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2


def _corrected_effects(a, b, c, d, measure: str, *, drop00: bool):
    """escalc with add = 1/2, to = "only0": 1/2 added to all four cells of a table with a zero
    cell. With drop00 (rma.mh / rma.peto), double-zero tables (no events in either arm, or only
    events) get yi = vi = NaN. Returns yi, vi, the corrected rows and the double-zero rows."""
    a, b, c, d = (np.asarray(t, dtype=float) for t in (a, b, c, d))
    double_zero = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    corrected = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    if drop00:
        corrected &= ~double_zero
    add = 0.5 * corrected
    yi, vi = _effects(a + add, b + add, c + add, d + add, measure)
    if drop00:
        yi = np.where(double_zero, np.nan, yi)
        vi = np.where(double_zero, np.nan, vi)
    return yi, vi, corrected, double_zero


def _fixed_q(yi, vi, beta):
    """Q of the defined yi around beta, df, p, I^2 and H^2 as rma.mh reports them."""
    ok = ~np.isnan(yi)
    k_yi = int(ok.sum())
    if k_yi <= 1:
        return 0.0, max(k_yi - 1, 0), 1.0, 0.0, 1.0
    q = max(0.0, float(np.sum((yi[ok] - beta) ** 2 / vi[ok])))
    df = k_yi - 1
    i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
    return q, df, float(stats.chi2.sf(q, df)), i2, q / df


def _mantel_haenszel(a, b, c, d, measure: str, conf_level: float, yi, vi) -> Fit:
    """rma.mh on the uncorrected counts (double-zero tables included): the MH OR with the Robins,
    Breslow & Greenland (1986) variance, the MH RR with Greenland & Robins' (1985) variance and the
    MH RD with the variance of Sato, Greenland & Robins (1989), as metafor."""
    a, b, c, d = (np.asarray(t, dtype=float) for t in (a, b, c, d))
    n1, n2 = a + b, c + d
    big_n = n1 + n2
    if measure == "OR":
        p_, q_ = (a + d) / big_n, (b + c) / big_n
        r, s = a * d / big_n, b * c / big_n
        rs, ss = r.sum(), s.sum()
        if rs == 0 or ss == 0:
            raise ValueError(
                "the Mantel-Haenszel odds ratio is undefined: "
                + ("no study has a*d > 0" if rs == 0 else "no study has b*c > 0")
                + " (a, b: treated events/non-events; c, d: control)"
            )
        beta = math.log(rs / ss)
        var = 0.5 * (
            np.sum(p_ * r) / rs**2 + np.sum(p_ * s + q_ * r) / (rs * ss) + np.sum(q_ * s) / ss**2
        )
        weights = b * c / big_n
    elif measure == "RR":
        r, s = np.sum(a * n2 / big_n), np.sum(c * n1 / big_n)
        if a.sum() == 0 or c.sum() == 0:
            arm = "treated" if a.sum() == 0 else "control"
            raise ValueError(
                f"the Mantel-Haenszel risk ratio is undefined: no events in the {arm} arms"
            )
        beta = math.log(r / s)
        var = np.sum(n1 * n2 * (a + c) / big_n**2 - a * c / big_n) / (r * s)
        weights = c * n1 / big_n
    else:
        wsum = np.sum(n1 * n2 / big_n)
        beta = float(np.sum(a * n2 / big_n - c * n1 / big_n) / wsum)
        var = (
            beta
            * np.sum(
                c * (n1 / big_n) ** 2
                - a * (n2 / big_n) ** 2
                + (n1 / big_n) * (n2 / big_n) * (n2 - n1) / 2
            )
            + np.sum(a * (n2 - c) / big_n + c * (n1 - a) / big_n) / 2
        ) / wsum**2
        weights = n1 * n2 / big_n
    return _fixed_fit(beta, math.sqrt(var), conf_level, yi, vi, weights)


def _peto(a, b, c, d, conf_level: float, yi, vi) -> Fit:
    """rma.peto: the one-step log OR sum(O - E) / sum(V) of Yusuf et al. (1985), uncorrected
    counts; Q = sum (O - E)^2 / V - (sum(O - E))^2 / sum(V) over the tables with V > 0."""
    a, b, c, d = (np.asarray(t, dtype=float) for t in (a, b, c, d))
    n1, n2 = a + b, c + d
    big_n = n1 + n2
    e = (a + c) * n1 / big_n
    v = (a + c) * (b + d) * (n1 / big_n) * (n2 / big_n) / (big_n - 1)
    if v.sum() == 0:
        raise ValueError(
            "Peto's odds ratio is undefined: "
            "the events (or the non-events) never occur in any study"
        )
    beta = float(np.sum(a - e) / v.sum())
    fit = _fixed_fit(beta, 1.0 / math.sqrt(v.sum()), conf_level, yi, vi, v)
    pos = v > 0
    q = max(0.0, float(np.sum((a - e)[pos] ** 2 / v[pos]) - np.sum(a - e) ** 2 / v.sum()))
    df = int((~np.isnan(yi)).sum()) - 1
    if pos.sum() > 1:
        p, i2, h2 = float(stats.chi2.sf(q, df)), (max(0.0, (q - df) / q) if q > 0 else 0.0), q / df
    else:
        p, i2, h2 = 1.0, 0.0, 1.0
    return dataclasses.replace(fit, q=q, q_df=max(df, 0), q_pvalue=p, i2=i2, h2=h2)


def _fixed_fit(beta, se, conf_level, yi, vi, weights) -> Fit:
    zval, pvalue, ci, _ = wald(beta, se, conf_level)
    q, df, p, i2, h2 = _fixed_q(yi, vi, beta)
    return Fit(
        estimate=float(beta),
        se=float(se),
        zval=zval,
        pvalue=pvalue,
        ci=ci,
        pi=ci,  # tau^2 = 0: metafor's predict gives the prediction interval as the CI
        tau2=0.0,
        tau2_ci=None,
        q=q,
        q_df=df,
        q_pvalue=p,
        i2=i2,
        h2=h2,
        weights=100.0 * weights / np.sum(weights),
    )


def _exp(ci: ConfidenceInterval) -> ConfidenceInterval:
    return ConfidenceInterval(math.exp(ci.low), math.exp(ci.high))


@dataclass(frozen=True, repr=False)
class MetaTwoArmResult(MetaResult):
    """A pooled treatment effect from two-arm studies; see :func:`meta_two_arm`.

    ``table`` has one row per study; ``studies`` is the same table under its earlier column names
    (``yi`` for ``estimate``, without ``se``).
    """

    estimate: float
    se: float
    confidence_interval: ConfidenceInterval
    zval: float
    pvalue: float
    estimate_exp: float | None
    confidence_interval_exp: ConfidenceInterval | None
    prediction_interval: ConfidenceInterval
    prediction_interval_exp: ConfidenceInterval | None
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
    measure: str
    k: int
    table: pd.DataFrame
    note: str | None = None
    _title: ClassVar[str] = "Meta-analysis of two-arm studies"
    _optional_intervals: ClassVar[tuple[str, ...]] = (
        "tau2_ci",
        "confidence_interval_exp",
        "prediction_interval_exp",
    )

    @property
    def studies(self) -> pd.DataFrame:
        """The per-study ``table`` under its earlier column names (``yi`` for ``estimate``;
        no ``se``), kept as an alias."""
        return self.table.drop(columns="se").rename(columns={"estimate": "yi"})

    @property
    def prediction_interval_model(self) -> ConfidenceInterval:
        """The prediction interval on the scale of ``estimate`` (``prediction_interval``)."""
        return self.prediction_interval

    @property
    def prediction_interval_outcome(self) -> ConfidenceInterval:
        """The prediction interval on the outcome scale: the odds or risk ratio
        (``prediction_interval_exp``), or the risk difference."""
        if self.prediction_interval_exp is not None:
            return self.prediction_interval_exp
        return self.prediction_interval

    def _lines(self) -> list[str]:
        pct = f"{100 * self.conf_level:g}%"
        scale = "log " + self.measure if self.measure != "RD" else "RD"
        lines = [f"model: {model_line(self.method, self.k)}, {_MEASURE_NAME[self.measure]}"]
        het = self._heterogeneity_lines()
        lines += het if self.method in ("DL", "REML", "PM", "ML") else het[2:]
        lines += [
            f"estimate ({scale}): {fmt(self.estimate)} (se {fmt(self.se)}), z = {fmt(self.zval)}, "
            f"p = {fmt(self.pvalue)}",
            f"{pct} CI: {fmt(self.confidence_interval)}",
        ]
        if self.estimate_exp is not None:
            ci_exp = fmt(self.confidence_interval_exp)
            lines.append(f"{self.measure}: {fmt(self.estimate_exp)}, {pct} CI {ci_exp}")
            lines.append(
                f"{pct} prediction interval ({self.measure}): {fmt(self.prediction_interval_exp)}"
            )
        else:
            lines.append(f"{pct} prediction interval: {fmt(self.prediction_interval)}")
        if self.note:
            lines.append(f"note: {self.note}")
        return lines


def meta_two_arm(
    data,
    *,
    events_treat: str = "events_treat",
    trials_treat: str = "trials_treat",
    events_ctrl: str = "events_ctrl",
    trials_ctrl: str = "trials_ctrl",
    study: str | None = None,
    measure: str = "OR",
    method: str = "REML",
    conf_level: float = 0.95,
) -> MetaTwoArmResult:
    """Meta-analysis of two-arm studies: pooled odds ratio, risk ratio or risk difference.

    Parameters
    ----------
    data : DataFrame or mapping of columns
        One row per study.
    events_treat, trials_treat, events_ctrl, trials_ctrl : str
        Column names of the event and trial counts of the treated and the control arm.
    study : str, optional
        Column with the study labels (default: the column ``study`` if the data has one, else
        the row index).
    measure : str
        ``"OR"`` (log odds ratio), ``"RR"`` (log risk ratio) or ``"RD"`` (risk difference).
    method : str
        ``"EE"``, ``"DL"``, ``"REML"`` (default), ``"PM"``, ``"ML"``: inverse variance with that
        tau^2 estimator (``metafor::rma``); ``"MH"``: Mantel-Haenszel (``metafor::rma.mh``);
        ``"Peto"``: Peto's one-step odds ratio (``metafor::rma.peto``, only with ``measure="OR"``).
    conf_level : float
        Level of the confidence, prediction and tau^2 intervals.

    Returns
    -------
    MetaTwoArmResult
        ``estimate``, ``se``, ``confidence_interval``, ``prediction_interval`` on the log scale for
        OR and RR (the raw difference for RD), as ``prediction_scale`` says (``"log odds
        ratio"``, ``"log risk ratio"``, ``"risk difference"``); ``estimate_exp``,
        ``confidence_interval_exp`` and ``prediction_interval_exp`` exponentiated (None for RD);
        ``prediction_interval_outcome`` is the interval on the ratio (or difference) scale in
        every case, ``prediction_interval_model`` on the scale of ``estimate``; ``zval`` and
        ``pvalue`` of the test of no effect; ``tau2`` (0 for EE, MH, Peto) and its Q-profile
        ``tau2_ci`` (None for EE, MH, Peto); ``q``, ``q_df``, ``q_pvalue``; ``i2`` (a fraction in
        [0, 1]); ``h2``; ``k``; ``table``, one row per study with ``label``, the counts,
        ``estimate`` (metafor's yi), ``se``, ``vi``, ``ci_low``, ``ci_high`` and ``weight``
        (percent, metafor's ``weights()``), the columns of every pooled result's table
        (``studies`` is the same table with ``yi`` for ``estimate``); ``note`` says which
        studies were continuity-corrected or left out of Q.

    Notes
    -----
    Effect sizes are metafor's ``escalc`` with add = 1/2, to = "only0": a study with a zero cell
    gets 1/2 added to all four cells. OR: log(a d / (b c)), v = 1/a + 1/b + 1/c + 1/d; RR:
    log((a / n1) / (c / n2)), v = 1/a - 1/n1 + 1/c - 1/n2; RD: p1 - p2,
    v = p1 (1 - p1) / n1 + p2 (1 - p2) / n2. The inverse-variance methods keep double-zero studies
    (drop00 = FALSE, as ``rma``) and pool as :func:`~binfer.meta_proportion` does
    (same tau^2 estimators, Q-profile interval, I^2, H^2 and prediction interval).

    MH and Peto (as ``rma.mh`` and ``rma.peto``) pool the uncorrected counts, double-zero studies
    included (they add nothing to the MH OR and RR nor to Peto, but do weigh in the MH RD). Their
    per-study yi, vi and Q use the corrected effect sizes with double-zero studies dropped
    (yi = NaN, drop00 = TRUE), and Q is taken around the pooled estimate with df = (number of
    studies with a yi) - 1; I^2 = (Q - df) / Q and H^2 = Q / df. MH OR: R / S with
    R = sum a d / N, S = sum b c / N and the Robins-Breslow-Greenland variance. MH RR:
    sum(a n2 / N) / sum(c n1 / N); MH RD: sum(a n2 - c n1) / N / sum(n1 n2 / N), with metafor's
    variances. Peto: log OR = sum(O - E) / sum(V), se = 1 / sqrt(sum V), with O = a,
    E = (a + c) n1 / N, V = (a + c)(b + d) n1 n2 / (N^2 (N - 1)); its per-study yi is the Peto
    log OR (escalc's PETO) and Q = sum (O - E)^2 / V - (sum(O - E))^2 / sum V.

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
    Robins, J., Breslow, N. & Greenland, S. (1986). Estimators of the Mantel-Haenszel variance
    consistent in both sparse data and large-strata limiting models. Biometrics 42, 311-323.
    Yusuf, S., Peto, R., Lewis, J., Collins, R. & Sleight, P. (1985). Beta blockade during and
    after myocardial infarction: an overview of the randomized trials. Progress in Cardiovascular
    Diseases 27, 335-371.

    Examples
    --------
    >>> import pandas as pd
    >>> from binfer.pooling import meta_two_arm
    >>> bcg = pd.DataFrame({
    ...     "events_treat": [4, 6, 3, 62, 33, 180, 8],
    ...     "trials_treat": [123, 306, 231, 13598, 5069, 1541, 2545],
    ...     "events_ctrl": [11, 29, 11, 248, 47, 372, 10],
    ...     "trials_ctrl": [139, 303, 220, 12867, 5808, 1451, 629]})
    >>> r = meta_two_arm(bcg, measure="RR", method="DL")
    >>> round(r.estimate_exp, 4), [round(v, 4) for v in r.confidence_interval_exp]
    (0.3489, [0.2297, 0.53])
    >>> round(meta_two_arm(bcg, method="MH").estimate_exp, 4)
    0.341
    """
    counts = two_arm(
        data,
        events_treat=events_treat,
        trials_treat=trials_treat,
        events_ctrl=events_ctrl,
        trials_ctrl=trials_ctrl,
        study=study,
        min_studies=1,
    )
    measure = check_choice(measure, "measure", MEASURES)
    method = check_choice(method, "method", METHODS)
    if method == "Peto" and measure != "OR":
        raise ValueError(f'method="Peto" pools odds ratios: use measure="OR", got {measure!r}')
    conf_level = check_unit_interval(conf_level, "conf_level")
    a, c = counts.events_treat, counts.events_ctrl
    b, d = counts.trials_treat - a, counts.trials_ctrl - c
    labels = counts.label_index.to_numpy()

    fixed_effect = method in ("MH", "Peto")
    yi, vi, corrected, double_zero = _corrected_effects(
        a, b, c, d, "PETO" if method == "Peto" else measure, drop00=fixed_effect
    )
    if method == "MH":
        fit = _mantel_haenszel(a, b, c, d, measure, conf_level, yi, vi)
    elif method == "Peto":
        fit = _peto(a, b, c, d, conf_level, yi, vi)
    else:
        fit = inverse_variance(yi, vi, method, conf_level)

    notes = []
    if corrected.any():
        where = "for their yi, vi and Q only" if fixed_effect else "before pooling"
        notes.append(
            f"1/2 added to every cell of {describe_rows(labels, corrected, 'study')} "
            f"with a zero cell, {where}"
        )
    if fixed_effect and double_zero.any():
        notes.append(
            f"{describe_rows(labels, double_zero, 'study')} with no events (or only events) "
            "in both arms have no yi and are left out of Q"
        )
    if fixed_effect:
        notes.append(f"the {method} estimate uses the uncorrected counts")
        if not (corrected.any() or double_zero.any()):
            notes = []

    arms = {
        "events_treat": counts.events_treat,
        "trials_treat": counts.trials_treat,
        "events_ctrl": counts.events_ctrl,
        "trials_ctrl": counts.trials_ctrl,
    }
    table = effects_table(labels, arms, yi, vi, fit.weights, conf_level)
    ratio = measure != "RD"
    return MetaTwoArmResult(
        estimate=fit.estimate,
        se=fit.se,
        confidence_interval=fit.ci,
        zval=fit.zval,
        pvalue=fit.pvalue,
        estimate_exp=math.exp(fit.estimate) if ratio else None,
        confidence_interval_exp=_exp(fit.ci) if ratio else None,
        prediction_interval=fit.pi,
        prediction_interval_exp=_exp(fit.pi) if ratio else None,
        prediction_scale=_MODEL_SCALE[measure],
        tau2=fit.tau2,
        tau2_ci=fit.tau2_ci,
        q=fit.q,
        q_df=fit.q_df,
        q_pvalue=fit.q_pvalue,
        i2=fit.i2,
        h2=fit.h2,
        conf_level=conf_level,
        method=method,
        measure=measure,
        k=counts.k,
        table=table,
        note="; ".join(notes) or None,
    )
