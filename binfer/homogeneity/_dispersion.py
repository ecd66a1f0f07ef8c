"""Is the spread of grouped counts binomial? The variance ratio (Pearson's dispersion index), its
chi-square interval, and a verdict among under-dispersed, binomial and over-dispersed, from the
lower tail of Pearson's X^2 and from Tarone's test and the beta-binomial LRT (called, not
re-derived)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .._data import _counts, _row, as_frame, check_alternative, design_array, one_arm
from .._results import ConfidenceInterval, TestResult, fmt
from ..core._checks import check_unit_interval
from ._tests import homogeneity_test, tarone_test

__all__ = ["DispersionTestResult", "dispersion_test"]

VERDICTS = ("under-dispersed", "binomial", "over-dispersed")
# Pearson's X^2 is referred to chi2(k - 1) only where each unit's count is roughly normal:
# Cochran's (1954) rule of thumb, at least 5 expected events and non-events.
_MIN_EXPECTED = 5.0
# Below this many units Tarone's Z (a sum over units referred to N(0, 1)) and the LRT's
# boundary mixture are rough large-k approximations.
_FEW_UNITS = 10


@dataclass(frozen=True, repr=False)
class DispersionTestResult(TestResult):
    """The dispersion test; see :func:`dispersion_test`.

    ``statistic`` is Pearson's X^2 on ``df`` = k - 1; ``pvalue`` the p-value of the verdict's
    decision (``verdict != "binomial"`` exactly when ``pvalue <= 1 - conf_level``).
    """

    variance_ratio: float = float("nan")
    confidence_interval: ConfidenceInterval | None = None
    conf_level: float = 0.95
    alternative: str = "two-sided"
    verdict: str = "binomial"
    proportion: float = float("nan")
    n_units: int = 0
    pvalue_under: float = float("nan")
    statistic_tarone: float = float("nan")
    pvalue_over: float = float("nan")
    statistic_beta_binomial: float | None = None  # None if beta_binomial could not fit
    pvalue_beta_binomial: float | None = None
    pvalue_over_pearson: float = float("nan")

    def _lines(self) -> list[str]:
        alpha = 1 - self.conf_level
        sd = math.sqrt(2 / self.df) if self.df else float("nan")
        ci = f"{100 * self.conf_level:g}% CI"
        lines = [
            f"units: {self.n_units}; pooled proportion {fmt(self.proportion)}",
            f"variance ratio: {fmt(self.variance_ratio)} (X^2 = {fmt(self.statistic)} on "
            f"{fmt(self.df)} df), {ci} {fmt(self.confidence_interval)}",
            f"under the binomial: X^2 ~ chi2({fmt(self.df)}), the ratio has mean 1 and sd "
            f"{fmt(sd)}",
            f"verdict: {self.verdict} ({self.alternative}, alpha = {fmt(alpha)})",
            f"pvalue: {fmt(self.pvalue)}",
            f"under-dispersion, X^2 lower tail: p = {fmt(self.pvalue_under)}",
            f"over-dispersion, Tarone's Z = {fmt(self.statistic_tarone)}: "
            f"p = {fmt(self.pvalue_over)}",
            "over-dispersion, beta-binomial LRT: not available (see note)"
            if self.pvalue_beta_binomial is None else
            f"over-dispersion, beta-binomial LRT = {fmt(self.statistic_beta_binomial)}: "
            f"p = {fmt(self.pvalue_beta_binomial)}",
            f"over-dispersion, X^2 upper tail: p = {fmt(self.pvalue_over_pearson)}",
        ]
        if self.note:
            lines.append(f"note: {self.note}")
        return lines


# --------------------------------------------------------------------------- input
def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _design_totals(frame: pd.DataFrame | None, design, n_rows: int) -> np.ndarray:
    """N_t = sum_g n_tg: each replicate's trials from its design (arrays or columns)."""
    if frame is not None and isinstance(design, list | tuple) and all(
            isinstance(c, str | int) for c in design) and len(design) > 0:
        return np.column_stack([_counts(frame, c, "design") for c in design]).sum(axis=1)
    if isinstance(design, str):
        raise ValueError(f"design={design!r}: give the list of the groups' trials columns "
                         "(wide data), or the trials per group as an array")
    return design_array(design, "design", n_rows).sum(axis=1)


def _units(data, events, trials, group, outcome, totals, design):
    """(OneArm counts, the name the events are reported under)."""
    name = "events"
    if totals is not None:
        if events is not None:
            raise ValueError("give the counts as events= or as totals=, not both (totals= is "
                             "events= for replicate totals)")
        events, name = totals, "totals"
    if design is not None:
        if trials is not None:
            raise ValueError("give trials= (each unit's trials) or design= (each replicate's "
                             "trials per group, summed to its N_t), not both")
        if outcome is not None:
            raise ValueError("outcome= aggregates 0/1 rows per group; it cannot be combined "
                             "with design=")
    if outcome is not None and totals is not None:
        raise ValueError("outcome= aggregates 0/1 rows per group; it cannot be combined with "
                         "totals=")
    if data is None:
        if outcome is not None:
            raise ValueError("outcome= names a column of data: give data")
        if events is None or (trials is None and design is None):
            raise ValueError(f"give data (a DataFrame or mapping of columns), or the counts as "
                             f"{name}= and trials= (or design=) arrays")
        if isinstance(events, str) or isinstance(trials, str):
            raise ValueError(f"{name}= and trials= name columns of data; without data give the "
                             "counts themselves")
        y = np.atleast_1d(events)
        if y.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional (one count per unit), got shape "
                             f"{y.shape}")
        if design is not None:
            n = _design_totals(None, design, y.size)
        elif np.ndim(trials) == 0 and _is_number(np.asarray(trials).item()):
            n = np.full(y.size, trials)  # one N for every unit
        else:
            n = np.atleast_1d(trials)
        columns = {name: y, "trials": n}
        if group is not None:
            if isinstance(group, str):
                raise ValueError("group= names a column of data; without data give the labels "
                                 "themselves")
            columns["group"] = np.atleast_1d(np.asarray(group, dtype=object))
        return one_arm(columns, events=name, trials="trials", min_groups=2), name
    if outcome is not None:
        return one_arm(data, outcome=outcome, group=group, min_groups=2), "events"
    events = "events" if events is None else events
    name = events if isinstance(events, str) else name
    if design is None:
        return one_arm(data, events=events, trials="trials" if trials is None else trials,
                       group=group, min_groups=2), name
    frame = as_frame(data)
    y = _counts(frame, events, name)
    n = _design_totals(frame, design, len(frame))
    over = np.flatnonzero(y > n)
    if over.size:
        pos = int(over[0])
        raise ValueError(f"column {events!r}, {_row(frame, pos)}: total {y[pos]} > {n[pos]} "
                         "trials in that replicate's design")
    frame = frame.assign(**{"trials (design)": n})
    return one_arm(frame, events=events, trials="trials (design)", group=group,
                   min_groups=2), name


# --------------------------------------------------------------------------- the test
def dispersion_test(
    data=None,
    *,
    events=None,
    trials=None,
    group=None,
    outcome=None,
    totals=None,
    design=None,
    alternative: str = "two-sided",
    conf_level: float = 0.95,
) -> DispersionTestResult:
    """Test binomial variation of grouped counts against under- and over-dispersion.

    Units i = 1..k (groups, or replicates t reporting a total Y_t of N_t trials) have y_i events
    in n_i trials. Under the binomial, y_i ~ Bin(n_i, p): the variance ratio X^2 / (k - 1) is
    about 1. Below 1 the counts are under-dispersed, as sums of binomials with different p
    are (Poisson-binomial: a unit pooling sub-groups with p_g has the binomial's mean but a
    variance smaller by sum_g n_g (p_g - pbar)^2); above 1 over-dispersed, as when p varies
    from unit to unit (beta-binomial).

    Parameters
    ----------
    data : DataFrame or mapping of columns, optional
        One row per unit. Without it, the counts are given as arrays (``events``/``totals``
        and ``trials``/``design``).
    events, trials : str or array-like
        With ``data``: column names (default ``"events"`` and ``"trials"``); without: the counts,
        one per unit (``trials`` may be one number, the same n for every unit).
    group : str or array-like, optional
        The unit labels: a column of ``data`` (default: the column ``group`` if present, else
        the row index), or without data the labels themselves.
    outcome : str, optional
        A 0/1 column of one row per subject, aggregated by ``group`` into units.
    totals : str or array-like, optional
        Replicate totals Y_t: another spelling of ``events`` (give one or the other). A
        replicate is a unit, so replicated totals and grouped counts take the same path.
    design : array-like or list of str, optional
        Instead of ``trials``: each replicate's trials per group, n_tg, as
        :func:`binomial_vs_poisson_binomial` takes them (shape (G,) for a design common to every
        replicate, (T, G) otherwise, or with ``data`` the list of the G trials columns); each
        replicate's N_t is its row sum. Only N_t enters the test.
    alternative : {"two-sided", "less", "greater"}
        ``"less"``: against under-dispersion only (variance ratio < 1); ``"greater"``: against
        over-dispersion only; ``"two-sided"``: both, each at level alpha / 2.
    conf_level : float
        Level of the interval for the variance ratio; the verdict is taken at
        alpha = 1 - conf_level (default 0.05).

    Returns
    -------
    DispersionTestResult
        ``variance_ratio`` X^2 / (k - 1); ``confidence_interval`` for it (two-sided, or one-sided
        for ``"less"``/``"greater"``) and ``conf_level``; ``verdict`` (``"under-dispersed"``,
        ``"binomial"`` or ``"over-dispersed"``); ``statistic`` X^2 and ``df`` = k - 1;
        ``pvalue``, the p-value of the verdict: ``pvalue_under`` for ``"less"``,
        ``pvalue_over`` for ``"greater"``, min(1, 2 min(pvalue_under, pvalue_over)) for
        ``"two-sided"``, so that the verdict is not ``"binomial"`` exactly when
        ``pvalue <= alpha``. Per alternative: ``pvalue_under`` = P(chi2_{k-1} <= X^2);
        ``statistic_tarone`` and ``pvalue_over`` (:func:`tarone_test`); ``statistic_beta_binomial``
        and ``pvalue_beta_binomial`` (the likelihood-ratio test of :func:`beta_binomial` against
        the binomial, boundary 50:50 mixture; None, with a note, if the fit fails);
        ``pvalue_over_pearson`` = P(chi2_{k-1} >= X^2)
        (the Pearson p-value of :func:`homogeneity_test`). Also ``proportion`` (pooled p),
        ``n_units``, ``alternative``, ``method`` and ``note`` (where an approximation is rough).

    Notes
    -----
    **Statistic.** With pbar = sum y_i / sum n_i, X^2 = sum_i (y_i - n_i pbar)^2 /
    (n_i pbar (1 - pbar)), the binomial index of dispersion (Cochran 1954). Under the binomial
    X^2 ~ chi2(k - 1) approximately (one df spent on pbar), so the variance ratio X^2 / (k - 1)
    has mean 1 and sd sqrt(2 / (k - 1)). Under the multiplicative model Var(y_i) =
    phi n_i p (1 - p) (quasi-binomial), X^2 / phi ~ chi2(k - 1), which gives the interval for
    phi: [X^2 / chi2_{k-1}(1 - alpha/2), X^2 / chi2_{k-1}(alpha/2)] (one-sided alternatives
    use one quantile at alpha and leave the other end at 0 or infinity).

    **Which score statistic for which alternative.** For a unit of N trials whose variance moves
    by v from N p (1 - p) with its mean fixed, the probabilities move, to first order in v,
    along the same direction whether v < 0 (Poisson-binomial: the probability generating
    function prod_g (1 - p_g + p_g s)^n_g expanded about pbar) or v > 0 (a mixing distribution
    of p: beta-binomial): P(y) ~ b(y) [1 + v K_2(y) / (2 N (N - 1) p^2 (1 - p)^2)] with K_2(y) =
    (y - Np)^2 - (1 - 2p)(y - Np) - Np(1 - p), the second Krawtchouk polynomial. If v_i = theta
    c_i, the score for theta at 0 is sum c_i K_2(y_i) / (N_i (N_i - 1)). The beta-binomial has
    c_i = N_i (N_i - 1), whence (the linear terms summing to 0 at the pooled p) sum (y_i - n_i
    p)^2 - N p (1 - p), the numerator of Tarone's (1979) Z, used here against over-dispersion.
    Units that pool sub-groups in stable shares (n_ig = N_i w_g) have a deficit v_i = -N_i sum_g
    w_g (p_g - pbar)^2, c_i = N_i: the score weights squared residuals by 1 / (N_i - 1), which
    is Pearson's X^2 up to O(1 / N_i) (exactly, up to an affine map, when every N_i is equal;
    Dean 1992 derives score tests for several such variance forms, Pearson's among them). So the
    test against under-dispersion is the lower tail of X^2; the lower tail of Tarone's Z (1 -
    ``pvalue_over``) is the score test for a negative intra-class correlation instead.
    Under-dispersion also arises from negative correlation within a unit (competition, quotas,
    sampling without replacement), not only from pooling sub-groups: the verdict says the
    variance is small, not why.

    **Decision.** ``"two-sided"``: under-dispersed if ``pvalue_under <= alpha / 2``,
    over-dispersed if ``pvalue_over <= alpha / 2`` (the smaller p-value decides if both do,
    possible only with unequal n_i, and ``note`` says so); ``"less"`` and ``"greater"`` test one
    side at alpha. Tarone's Z, a score test with no fitting, decides against over-dispersion;
    the beta-binomial LRT and the X^2 upper tail are reported beside it.

    **Assumptions.** The units are independent with a common p under H0. X^2's chi-square law
    needs each unit's count roughly normal: ``note`` names how many units expect fewer than 5
    events or non-events (there the lower tail in particular is approximate; units of one trial
    carry no information on the variance). Tarone's Z and the LRT's boundary law need many
    units; ``note`` warns below 10.
    Size (simulated in ``tests/test_homogeneity_dispersion.py``, run by ``make validate``: 1000
    binomial data sets of 30 units of 20-60 trials, p = 0.3): the two-sided test at alpha =
    0.05 rejected 4.1% (Monte Carlo SE 0.7%): 1.4% as under-dispersed and 2.7% as
    over-dispersed, against a nominal 2.5% each, the chi-square and normal approximations at
    that size.

    References
    ----------
    Cochran, W. G. (1954). Some methods for strengthening the common chi-square tests.
    Biometrics 10, 417-451.
    Tarone, R. E. (1979). Testing the goodness of fit of the binomial distribution. Biometrika
    66, 585-590.
    Dean, C. B. (1992). Testing for overdispersion in Poisson and binomial regression models.
    JASA 87, 451-457.
    Self, S. G. & Liang, K.-Y. (1987). Asymptotic properties of maximum likelihood estimators
    and likelihood ratio tests under nonstandard conditions. JASA 82, 605-610.
    Wang, Y. H. (1993). On the number of successes in independent trials. Statistica Sinica 3,
    295-312.

    Examples
    --------
    Daily defect totals of 40 items, 20 from each of two lines with very different defect
    rates: the days vary less than binomial counts would.

    >>> from binfer.homogeneity._dispersion import dispersion_test
    >>> y = [20, 19, 21, 22, 20, 18, 20, 21, 19, 20, 23, 20, 17, 21, 20]
    >>> r = dispersion_test(totals=y, design=[20, 20])   # N_t = 40 every day
    >>> round(r.variance_ratio, 3), r.df, r.verdict
    (0.221, 14, 'under-dispersed')
    >>> round(r.pvalue_under, 4), round(r.pvalue_over, 3), round(r.pvalue, 4)
    (0.0011, 0.986, 0.0022)
    >>> [round(v, 3) for v in r.confidence_interval]
    [0.118, 0.55]

    Hospitals with spread-out rates are over-dispersed:

    >>> r = dispersion_test({"events": [0, 2, 5, 9, 1, 14, 3, 7, 4, 11],
    ...                      "trials": [20, 21, 19, 22, 18, 25, 20, 21, 19, 23]})
    >>> r.verdict, round(r.variance_ratio, 2), r.pvalue_beta_binomial < 0.001
    ('over-dispersed', 3.89, True)
    """
    alternative = check_alternative(alternative)
    conf_level = check_unit_interval(conf_level, "conf_level")
    counts, name = _units(data, events, trials, group, outcome, totals, design)
    x, n = counts.events.astype(float), counts.trials.astype(float)
    k = counts.k
    pbar = float(x.sum() / n.sum())
    if pbar in (0.0, 1.0):
        raise ValueError(f"column {name!r}: every unit has {'no' if pbar == 0 else 'only'} "
                         "events; the binomial variance is 0 and the dispersion is undefined")
    if (n < 2).all():
        raise ValueError("trials: every unit has one trial; the dispersion of counts needs units "
                         "of two or more trials")
    frame = pd.DataFrame({"events": counts.events, "trials": counts.trials},
                         index=counts.label_index)
    # The three existing tests, called: X^2 (homogeneity), Tarone's Z, the beta-binomial LRT.
    from ..pooling import beta_binomial

    notes: list[str] = []
    pearson = homogeneity_test(frame, method="pearson")
    tarone = tarone_test(frame)
    # Wald intervals: the profile intervals are not used and cost most of the fit's time.
    try:
        bb = beta_binomial(frame, ci_method="wald")
    except (ValueError, np.linalg.LinAlgError) as exc:
        # Its input errors are ruled out above; what is left is a fit it could not finish
        # (seen: a + b ~ 1e8 just off the rho = 0 boundary, where its standard errors fail).
        bb = None
        notes.append(f"beta_binomial could not fit ({exc}): no likelihood-ratio test")
    x2, df = float(pearson.statistic), k - 1
    p_under = float(stats.chi2.cdf(x2, df))
    p_over = float(tarone.pvalue)
    alpha = 1 - conf_level
    if alternative == "less":
        ci = ConfidenceInterval(0.0, x2 / float(stats.chi2.ppf(alpha, df)))
        pvalue = p_under
        verdict = "under-dispersed" if p_under <= alpha else "binomial"
        method = "Dispersion test against under-dispersion: Pearson X^2, lower tail"
    elif alternative == "greater":
        ci = ConfidenceInterval(x2 / float(stats.chi2.isf(alpha, df)), math.inf)
        pvalue = p_over
        verdict = "over-dispersed" if p_over <= alpha else "binomial"
        method = "Dispersion test against over-dispersion: Tarone's Z"
    else:
        ci = ConfidenceInterval(x2 / float(stats.chi2.isf(alpha / 2, df)),
                                x2 / float(stats.chi2.ppf(alpha / 2, df)))
        pvalue = min(1.0, 2 * min(p_under, p_over))
        if pvalue > alpha:
            verdict = "binomial"
        else:
            verdict = "under-dispersed" if p_under < p_over else "over-dispersed"
        if max(p_under, p_over) <= alpha / 2:
            notes.append(f"both sides reject (X^2 lower tail p = {fmt(p_under)}, Tarone p = "
                         f"{fmt(p_over)}: Tarone weights the large units, X^2 all alike); "
                         "the smaller p-value decides")
        method = ("Dispersion test: Pearson X^2 lower tail (under) and Tarone's Z (over), "
                  "two-sided")
    small = int((np.minimum(n * pbar, n * (1 - pbar)) < _MIN_EXPECTED).sum())
    if small:
        notes.append(f"{small} of {k} units expect fewer than {_MIN_EXPECTED:g} events or "
                     "non-events: the chi-square law of X^2 (pvalue_under, the interval) is "
                     "approximate")
    if k < _FEW_UNITS:
        notes.append(f"only {k} units: Tarone's N(0, 1) reference and the LRT's boundary "
                     "chi-square are rough")
    return DispersionTestResult(
        x2, float(pvalue), df, method, note="; ".join(notes) or None,
        variance_ratio=x2 / df, confidence_interval=ci, conf_level=conf_level,
        alternative=alternative, verdict=verdict, proportion=pbar, n_units=k,
        pvalue_under=p_under, statistic_tarone=float(tarone.statistic), pvalue_over=p_over,
        statistic_beta_binomial=None if bb is None else float(bb.lrt_statistic),
        pvalue_beta_binomial=None if bb is None else float(bb.lrt_pvalue),
        pvalue_over_pearson=float(pearson.pvalue))
