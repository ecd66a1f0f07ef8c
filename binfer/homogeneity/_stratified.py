"""2 x 2 x K tables (two-arm studies or strata): the Cochran-Mantel-Haenszel test of a common odds
ratio of 1, its exact conditional version, and the Breslow-Day test of equal odds ratios.

The asymptotic statistics are statsmodels' ``StratifiedTable`` (checked against R in the tests);
the exact conditional distribution of the treated events is built here: given every margin, a
stratum's count is Fisher's noncentral hypergeometric, and their sum's law is the convolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from .._data import TwoArm, check_alternative, describe_rows, two_arm
from .._results import ConfidenceInterval, TestResult, fmt
from ..core._checks import check_unit_interval
from ..core._logbinom import log_choose

__all__ = ["CMHTestResult", "cmh_test", "breslow_day_test"]


@dataclass(frozen=True, repr=False)
class CMHTestResult(TestResult):
    """A CMH test with the common odds ratio ``estimate`` and its ``confidence_interval``."""

    estimate: float = float("nan")
    confidence_interval: ConfidenceInterval = ConfidenceInterval(float("nan"), float("nan"))
    conf_level: float = 0.95

    def _lines(self) -> list[str]:
        pct = f"{100 * self.conf_level:g}%"
        return [
            *super()._lines(),
            f"common odds ratio: {fmt(self.estimate)}",
            f"{pct} CI: {fmt(self.confidence_interval)}",
        ]


def _stratified_table(counts: TwoArm):
    """statsmodels' StratifiedTable of the 2 x 2 x K array (rows treated/control, columns
    events/non-events: R's layout). Imported here, not at module level: statsmodels adds about
    0.25 s to ``import binfer``."""
    from statsmodels.stats.contingency_tables import StratifiedTable

    a, n1 = counts.events_treat, counts.trials_treat
    c, n2 = counts.events_ctrl, counts.trials_ctrl
    return StratifiedTable(np.array([[a, n1 - a], [c, n2 - c]], dtype=float))


class _ConditionalSum:
    """Law of S = sum of treated events given all margins, as a function of the common OR psi.

    Stratum k: x in [max(0, m - n2), min(n1, m)] with weight C(n1, x) C(n2, m - x) psi^x
    (Fisher's noncentral hypergeometric); S's law at psi = 1 is their convolution, and at any
    psi it is that times psi^S, renormalised.
    """

    def __init__(self, counts: TwoArm):
        n1, n2 = counts.trials_treat, counts.trials_ctrl
        m = counts.events_treat + counts.events_ctrl
        self.lo = int(np.maximum(0, m - n2).sum())
        log_base = np.zeros(1)
        for a, b, mm in zip(n1, n2, m, strict=True):
            x = np.arange(max(0, mm - b), min(a, mm) + 1)
            lw = log_choose(a, x) + log_choose(b, mm - x)
            # Convolve in the linear domain, each factor scaled to max 1 (R's dn2x2xk does the
            # same); terms below 1e-300 of the peak are lost, which is far below any use here.
            shift_a, shift_b = log_base.max(), lw.max()
            conv = np.convolve(np.exp(log_base - shift_a), np.exp(lw - shift_b))
            with np.errstate(divide="ignore"):
                log_base = np.log(np.maximum(conv, 0.0)) + shift_a + shift_b
        self.log_base = log_base - special.logsumexp(log_base)
        self.support = np.arange(self.lo, self.lo + log_base.size)
        self.hi = int(self.support[-1])

    def logpmf(self, log_psi: float) -> np.ndarray:
        lp = self.log_base + self.support * log_psi
        return lp - special.logsumexp(lp)

    def mean(self, log_psi: float) -> float:
        return float(np.exp(self.logpmf(log_psi)) @ self.support)

    def upper(self, s: int, log_psi: float) -> float:  # P(S >= s)
        return float(np.exp(special.logsumexp(self.logpmf(log_psi)[self.support >= s])))

    def lower(self, s: int, log_psi: float) -> float:  # P(S <= s)
        return float(np.exp(special.logsumexp(self.logpmf(log_psi)[self.support <= s])))


def _solve_log_psi(f, target: float) -> float:
    """Root in log psi of a function increasing from 0 to its maximum; brackets grown outward."""
    lo, hi = -1.0, 1.0
    while f(lo) > target:
        lo *= 2
    while f(hi) < target:
        hi *= 2
    return optimize.brentq(lambda t: f(t) - target, lo, hi, xtol=1e-13, rtol=1e-15)


def _exact_cmh(counts: TwoArm, conf_level: float, alternative: str = "two-sided"):
    law = _ConditionalSum(counts)
    s = int(counts.events_treat.sum())
    d = law.logpmf(0.0)
    d_obs = d[s - law.lo]
    if alternative == "less":  # P(S <= s), as R's pn2x2xk(upper = FALSE)
        pvalue = law.lower(s, 0.0)
    elif alternative == "greater":
        pvalue = law.upper(s, 0.0)
    else:
        from ._exact import _REL_TOL  # R's relative tolerance on ties (_exact imports numba)

        pvalue = float(np.exp(special.logsumexp(d[d <= d_obs + math.log1p(_REL_TOL)])))
    # Conditional MLE: E_psi[S] = s (Birch 1964), solved in log psi to 1e-13.
    if s == law.lo:
        est = 0.0
    elif s == law.hi:
        est = math.inf
    else:
        est = math.exp(_solve_log_psi(law.mean, s))
    # One-sided intervals put all of 1 - conf_level in one tail (R's ncp.L / ncp.U).
    alpha = (1 - conf_level) / (2 if alternative == "two-sided" else 1)
    low = (0.0 if s == law.lo or alternative == "less"
           else math.exp(_solve_log_psi(lambda t: law.upper(s, t), alpha)))
    high = (math.inf if s == law.hi or alternative == "greater"
            else math.exp(_solve_log_psi(lambda t: -law.lower(s, t), -alpha)))
    return s, min(pvalue, 1.0), est, ConfidenceInterval(low, high)


def cmh_test(
    data,
    *,
    events_treat="events_treat",
    trials_treat="trials_treat",
    events_ctrl="events_ctrl",
    trials_ctrl="trials_ctrl",
    study=None,
    correction: bool = True,
    exact: bool = False,
    alternative: str = "two-sided",
    conf_level: float = 0.95,
) -> CMHTestResult:
    """Cochran-Mantel-Haenszel test that the common odds ratio of K 2 x 2 tables is 1.

    Parameters
    ----------
    data : DataFrame or mapping of columns
        One row per stratum (study, centre) with the two arms' events and trials.
    correction : bool
        Continuity correction of the asymptotic statistic (as R's ``mantelhaen.test``).
    exact : bool
        The exact conditional test instead: two-sided p-value summing the conditional
        probabilities of sums S no more probable than the observed one (R's convention), the
        conditional MLE of the common odds ratio (solved to 1e-13 in log OR; R's default
        ``uniroot`` tolerance is about 1e-4) and the exact conditional interval.
    alternative : {"two-sided", "less", "greater"}
        ``"less"``: the common odds ratio is below 1 (treated events fewer than expected);
        ``"greater"``: above 1. One-sided p-values as R's ``mantelhaen.test``: asymptotic, the
        normal tail of z = sign(sum(a_k - E a_k)) sqrt(statistic); exact, P(S <= s) or
        P(S >= s). The confidence interval is then one-sided too, (0, high] or [low, inf).
    conf_level : float
        Level of the odds ratio's confidence interval.

    Returns
    -------
    CMHTestResult
        ``statistic`` (the CMH chi-square on 1 df; for ``exact=True`` the observed S),
        ``pvalue``, ``df``, ``method``, ``estimate`` (Mantel-Haenszel common odds ratio, or the
        conditional MLE), ``confidence_interval`` (Robins-Breslow-Greenland for the MH
        estimate, or exact), ``conf_level``.

    References
    ----------
    Mantel, N. & Haenszel, W. (1959). Statistical aspects of the analysis of data from
    retrospective studies of disease. JNCI 22, 719-748. Robins, J., Breslow, N. & Greenland, S.
    (1986). Estimators of the Mantel-Haenszel variance consistent in both sparse data and
    large-strata limiting models. Biometrics 42, 311-323. Mehta, C. R., Patel, N. R. &
    Gray, R. (1985). Computing an exact confidence interval for the common odds ratio in
    several 2 x 2 contingency tables. JASA 80, 969-973.

    Examples
    --------
    >>> from binfer import cmh_test
    >>> strata = {"events_treat": [0, 0, 1, 5], "trials_treat": [6, 5, 3, 6],
    ...           "events_ctrl": [2, 6, 4, 6], "trials_ctrl": [5, 6, 6, 6]}
    >>> r = cmh_test(strata, exact=True)
    >>> round(r.pvalue, 5), round(r.estimate, 5)
    (0.00061, 0.03494)
    """
    counts = two_arm(data, events_treat=events_treat, trials_treat=trials_treat,
                     events_ctrl=events_ctrl, trials_ctrl=trials_ctrl, study=study)
    conf_level = check_unit_interval(conf_level, "conf_level")
    alternative = check_alternative(alternative)
    if exact:
        s, p, est, ci = _exact_cmh(counts, conf_level, alternative)
        return CMHTestResult(float(s), p, None, "exact conditional test of a common odds ratio 1",
                             estimate=est, confidence_interval=ci, conf_level=conf_level,
                             note="statistic is S, the treated events; estimate is the "
                                  "conditional MLE")
    table = _stratified_table(counts)
    test = table.test_null_odds(correction=correction)
    est = float(table.oddsratio_pooled)
    low, high = table.oddsratio_pooled_confint(alpha=1 - conf_level)
    method = "Mantel-Haenszel chi-square" + (" with continuity correction" if correction else "")
    stat = float(test.statistic)
    # chi2.sf, not statsmodels' 1 - cdf, which is 0 below 1e-16
    pvalue = float(stats.chi2.sf(stat, 1))
    if alternative != "two-sided":
        # R: z = sign(DELTA) sqrt(STATISTIC), DELTA = sum(a - n1 m1 / N) over strata
        n = counts.trials_treat + counts.trials_ctrl
        delta = float((counts.events_treat - counts.trials_treat
                       * (counts.events_treat + counts.events_ctrl) / n).sum())
        z = math.copysign(math.sqrt(stat), delta) if delta != 0 else 0.0
        pvalue = float(stats.norm.cdf(z) if alternative == "less" else stats.norm.sf(z))
        # one-sided Robins-Breslow-Greenland limit, all of 1 - conf_level in one tail
        half = float(stats.norm.isf(1 - conf_level)) * float(table.logodds_pooled_se)
        low, high = ((0.0, est * math.exp(half)) if alternative == "less"
                     else (est * math.exp(-half), math.inf))
    return CMHTestResult(stat, pvalue, 1, method, estimate=est,
                         confidence_interval=ConfidenceInterval(float(low), float(high)),
                         conf_level=conf_level)


def breslow_day_test(
    data,
    *,
    events_treat="events_treat",
    trials_treat="trials_treat",
    events_ctrl="events_ctrl",
    trials_ctrl="trials_ctrl",
    study=None,
    tarone_correction: bool = True,
) -> TestResult:
    """Breslow-Day test that K 2 x 2 tables share one odds ratio (chi-square on K - 1 df).

    Each stratum's expected treated events under the Mantel-Haenszel common odds ratio solve a
    quadratic; the statistic sums (observed - expected)^2 / variance. With
    ``tarone_correction`` (default) Tarone's (1985) term (sum of observed - sum of expected)^2 /
    sum of variances, which makes the statistic a proper chi-square when the MH estimate is
    used, is subtracted. Strata with no events or only events carry no information on their odds
    ratio; they are left out (and out of the df) and ``note`` names them.

    Returns
    -------
    TestResult
        ``statistic``, ``pvalue``, ``df`` = K - 1, ``method``.

    References
    ----------
    Breslow, N. E. & Day, N. E. (1980). Statistical Methods in Cancer Research, Vol. 1.
    IARC, Lyon. Tarone, R. E. (1985). On heterogeneity tests based on efficient scores.
    Biometrika 72, 91-95.

    Examples
    --------
    >>> from binfer import breslow_day_test
    >>> strata = {"events_treat": [4, 6, 3, 62], "trials_treat": [123, 306, 231, 13598],
    ...           "events_ctrl": [11, 29, 11, 248], "trials_ctrl": [139, 303, 220, 12867]}
    >>> r = breslow_day_test(strata)
    >>> r.df
    3
    """
    counts = two_arm(data, events_treat=events_treat, trials_treat=trials_treat,
                     events_ctrl=events_ctrl, trials_ctrl=trials_ctrl, study=study, min_studies=2)
    odds_ratio = float(_stratified_table(counts).oddsratio_pooled)
    a = counts.events_treat.astype(float)
    n1, n2 = counts.trials_treat.astype(float), counts.trials_ctrl.astype(float)
    m1 = a + counts.events_ctrl
    # Strata with no events (or only events) in both arms have one possible table: no
    # information on their odds ratio. They are left out of the sum and of the df, with a note.
    informative = (m1 > 0) & (m1 < n1 + n2)
    if informative.sum() < 2:
        raise ValueError("the Breslow-Day test needs two strata with events and non-events; "
                         f"the data has {int(informative.sum())}")
    a, n1, n2, m1 = a[informative], n1[informative], n2[informative], m1[informative]
    expected = _expected_cell(odds_ratio, n1, n2, m1)
    var = 1 / (1 / expected + 1 / (n1 - expected) + 1 / (m1 - expected)
               + 1 / (n2 - m1 + expected))
    stat = float(((a - expected) ** 2 / var).sum())
    if tarone_correction:
        stat -= float((a.sum() - expected.sum()) ** 2 / var.sum())
    df = int(informative.sum()) - 1
    note = None
    if not informative.all():
        verb = "has" if (~informative).sum() == 1 else "have"
        note = (f"{describe_rows(counts.label_index, ~informative, 'study')} {verb} no events "
                "or only events: left out (no information)")
    method = "Breslow-Day test" + (" with Tarone's correction" if tarone_correction else "")
    return TestResult(stat, float(stats.chi2.sf(stat, df)), df, method, note=note)


def _expected_cell(odds_ratio, n1, n2, m1):
    """Treated events a with a (n2 - m1 + a) = OR (n1 - a)(m1 - a), inside the margins' range.

    The quadratic (1 - OR) a^2 + (n2 - m1 + OR (n1 + m1)) a - OR n1 m1 = 0, solved without
    cancellation (and linearly when OR = 1).
    """
    qa = 1 - odds_ratio
    qb = n2 - m1 + odds_ratio * (n1 + m1)
    qc = -odds_ratio * n1 * m1
    if qa == 0:
        return -qc / qb
    q = -(qb + np.sign(qb) * np.sqrt(qb * qb - 4 * qa * qc)) / 2
    r1, r2 = q / qa, qc / q
    lo, hi = np.maximum(0, m1 - n2), np.minimum(n1, m1)
    return np.where((r1 >= lo) & (r1 <= hi), r1, r2)
