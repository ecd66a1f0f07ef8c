"""The pooled proportion sum(events) / sum(trials) and its confidence intervals.

Under a common p the groups' totals add: Bin(n_1, p) + ... + Bin(n_k, p) = Bin(N, p), so the
pooled count is sufficient and X / N is the MLE; every interval here is an interval for a binomial
proportion from X of N. Clopper-Pearson uses the beta quantile (the exact inversion of the binomial
tails, Boost's incomplete beta through scipy); mid-p and likelihood-ratio limits are solved with
brentq to 1e-15 relative, the mid-p point mass from the core's saddle-point binomial PMF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .._data import OneArm, check_alternative, one_arm
from .._results import ConfidenceInterval, Result, fmt
from ..core._checks import check_choice, check_unit_interval, plain
from ..core._logbinom import binom_logpmf

__all__ = ["PooledProportionResult", "pooled_proportion", "proportion_interval"]

METHODS = (
    "wald",
    "wilson",
    "wilson-cc",
    "clopper-pearson",
    "jeffreys",
    "agresti-coull",
    "likelihood-ratio",
    "mid-p",
)


@dataclass(frozen=True, repr=False)
class PooledProportionResult(Result):
    """The pooled proportion ``estimate`` = n_events / n_trials, its Wald ``se``, an interval."""

    estimate: float
    se: float
    confidence_interval: ConfidenceInterval
    conf_level: float
    method: str
    n_events: int
    n_trials: int
    n_groups: int
    # The test of p = p0 (all None without p0): exact binomial and score (prop.test) p-values,
    # with their natural logs, finite where the p-value underflows to 0.
    p0: float | None = None
    alternative: str | None = None
    pvalue_exact: float | None = None
    log_pvalue_exact: float | None = None
    statistic_score: float | None = None
    pvalue_score: float | None = None
    log_pvalue_score: float | None = None
    correction: bool | None = None
    # the per-group counts, for ``table`` (built on first use: mid-p limits are solved one by one)
    _groups: OneArm | None = field(default=None, repr=False, compare=False)
    _title: ClassVar[str] = "Pooled proportion"

    @cached_property
    def table(self) -> pd.DataFrame:
        """One row per group, in the columns every pooled result's ``table`` has: ``label``,
        ``events``, ``trials``, ``estimate`` (x / n), ``se`` = sqrt(p (1 - p) / n), ``ci_low``,
        ``ci_high`` (the result's ``method`` and ``conf_level``) and ``weight``, the percent
        100 n / N that the group weighs in the pooled estimate (X / N = sum (n / N) (x / n))."""
        if self._groups is None:
            raise AttributeError("this result was made without its per-group counts")
        x, n = self._groups.events, self._groups.trials
        low, high = proportion_interval(x, n, method=self.method, conf_level=self.conf_level)
        phat = x / n
        return pd.DataFrame(
            {
                "label": self._groups.label_index.to_numpy(),
                "events": x,
                "trials": n,
                "estimate": phat,
                "se": np.sqrt(phat * (1 - phat) / n),
                "ci_low": low,
                "ci_high": high,
                "weight": 100.0 * n / n.sum(),
            }
        )

    def _lines(self) -> list[str]:
        pct = f"{100 * self.conf_level:g}%"
        lines = [
            f"events / trials: {self.n_events} / {self.n_trials} in {self.n_groups} group"
            + ("s" if self.n_groups != 1 else ""),
            f"estimate: {fmt(self.estimate)} (se {fmt(self.se)})",
            f"{pct} CI ({self.method}): {fmt(self.confidence_interval)}",
        ]
        if self.p0 is not None:
            cc = "with" if self.correction else "no"
            lines += [
                f"H0: p = {fmt(self.p0)} ({self.alternative})",
                f"exact binomial test: p-value {_fmt_p(self.pvalue_exact, self.log_pvalue_exact)}",
                f"score test ({cc} continuity correction): X^2 {fmt(self.statistic_score)}, "
                f"p-value {_fmt_p(self.pvalue_score, self.log_pvalue_score)}",
            ]
        return lines

    def to_frame(self) -> pd.DataFrame:
        """One tidy row; the test's columns only when a ``p0`` was tested."""
        frame = super().to_frame()
        if self.p0 is None:
            frame = frame.drop(columns=[c for c in _TEST_FIELDS if c in frame.columns])
        return frame


_TEST_FIELDS = ("p0", "alternative", "pvalue_exact", "log_pvalue_exact", "statistic_score",
                "pvalue_score", "log_pvalue_score", "correction")


def _fmt_p(p: float, log_p: float) -> str:
    """A p-value for a report; below double range its log says how small it is."""
    return fmt(p) if p > 0 else f"0 (log p = {fmt(log_p)})"


def _binomial_test(x: int, n: int, p0: float, alternative: str) -> tuple[float, float]:
    """(p-value, log p-value) of the exact binomial test of p = p0, as R's ``binom.test``.

    Two-sided: the probability of the outcomes no more likely than the observed one, with R's
    relative tolerance 1 + 1e-7 on ties. The pmf is non-decreasing on [0, floor(n p0)] and
    non-increasing on [ceil(n p0), n], so the outcomes on the far side that count form one
    block, found by bisection (about log2(n) pmf evaluations instead of R's n); every
    probability comes from the core's closed-form binomial in log space.
    """
    from ..core import Binomial  # the core's numba kernels load only for a test against p0

    dist = Binomial(n, p0)

    # scalar logs; the distribution's own tails already give -inf / 0 outside 0..n - 1
    def logpmf(k: int) -> float:
        return float(dist.logpmf(k))

    def logcdf(k: int) -> float:  # log P(X <= k)
        return float(dist.logcdf(k))

    def logsf(k: int) -> float:  # log P(X > k)
        return float(dist.logsf(k))

    if alternative == "less":
        log_p = logcdf(x)
    elif alternative == "greater":
        log_p = logsf(x - 1)
    else:
        m = n * p0
        if x == m:
            return 1.0, 0.0
        limit = logpmf(x) + math.log1p(1e-7)
        if x < m:
            # the first j in [ceil(m), n + 1) with pmf(j) <= limit (n + 1: none)
            lo, hi = math.ceil(m), n + 1
            while lo < hi:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if logpmf(mid) <= limit else (mid + 1, hi)
            log_p = np.logaddexp(logcdf(x), logsf(lo - 1))
        else:
            # the last j in [0, floor(m)] with pmf(j) <= limit (-1: none)
            lo, hi = -1, math.floor(m)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if logpmf(mid) <= limit else (lo, mid - 1)
            log_p = np.logaddexp(logcdf(lo), logsf(x - 1))
    log_p = min(float(log_p), 0.0)
    return math.exp(log_p), log_p


def _score_test(x: int, n: int, p0: float, alternative: str,
                correction: bool) -> tuple[float, float, float]:
    """(X^2, p-value, log p-value) of the score test of p = p0, as R's ``prop.test(x, n, p0)``.

    X^2 = (|x - n p0| - c)^2 / (n p0 (1 - p0)) with c = min(1/2, |x - n p0|) under the
    continuity correction (else 0); one-sided p-values from z = sign(x/n - p0) sqrt(X^2). The
    log p-value uses scipy's log_ndtr, accurate far below 1e-308.
    """
    delta = x - n * p0
    yates = min(0.5, abs(delta)) if correction else 0.0
    stat = (abs(delta) - yates) ** 2 / (n * p0 * (1 - p0))
    z = math.copysign(math.sqrt(stat), delta)
    if alternative == "two-sided":
        log_p = math.log(2) + float(special.log_ndtr(-math.sqrt(stat)))
        return stat, float(stats.chi2.sf(stat, 1)), min(log_p, 0.0)
    log_p = float(special.log_ndtr(z if alternative == "less" else -z))
    return stat, math.exp(log_p), log_p


def _solve(f, lo: float, hi: float) -> float:
    """Root of a monotone f on [lo, hi]; tolerances fine enough for limits near 0 or 1."""
    return optimize.brentq(f, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)


def _midp_limits(x: int, n: int, alpha: float) -> tuple[float, float]:
    # Lower limit: P(X > x) + P(X = x)/2 = alpha/2, upper: P(X < x) + P(X = x)/2 = alpha/2
    # (Lancaster 1961; Berry & Armitage 1995). Tails by the incomplete beta, point mass by Loader.
    target = math.log(alpha / 2)

    def log_upper_tail(p):  # log[P(X > x) + P(X = x)/2], increasing in p
        mass = float(binom_logpmf(np.array([x]), n, p)[0]) - math.log(2)
        tail = special.betainc(x + 1, n - x, p) if x < n else 0.0
        return np.logaddexp(mass, math.log(tail) if tail > 0 else -np.inf) - target

    def log_lower_tail(p):  # log[P(X < x) + P(X = x)/2], decreasing in p
        mass = float(binom_logpmf(np.array([x]), n, p)[0]) - math.log(2)
        tail = special.betaincc(x, n - x + 1, p) if x > 0 else 0.0
        return np.logaddexp(mass, math.log(tail) if tail > 0 else -np.inf) - target

    phat = x / n
    low = 0.0 if x == 0 else _solve(log_upper_tail, 1e-300, phat)
    high = 1.0 if x == n else _solve(log_lower_tail, phat, 1 - 1e-16)
    return low, high


def _lr_limits(x: int, n: int, crit: float) -> tuple[float, float]:
    # {p : 2 [l(phat) - l(p)] <= chi2_1(conf)}, the likelihood-ratio (Wilks) interval.
    phat = x / n
    lmax = special.xlogy(x, phat) + special.xlog1py(n - x, -phat)

    def dev(p):
        return 2 * (lmax - special.xlogy(x, p) - special.xlog1py(n - x, -p)) - crit

    low = 0.0 if x == 0 else _solve(dev, 1e-300, phat)
    high = 1.0 if x == n else _solve(dev, phat, 1 - 1e-16)
    return low, high


def _where(name: str, pos: int, shape: tuple, index) -> str:
    """How an error names one entry: ``x``, ``x[2]``, ``x[1, 2]`` or ``x[2] (label 'C')``."""
    if not shape:
        return name
    if len(shape) == 1:
        label = f" (label {plain(index[pos])})" if index is not None else ""
        return f"{name}[{pos}]{label}"
    return f"{name}[{', '.join(str(int(i)) for i in np.unravel_index(pos, shape))}]"


def _count_array(value, name: str) -> np.ndarray:
    """``value`` (scalar, array or Series) as a float array of whole numbers >= 0."""
    raw = value.to_numpy() if isinstance(value, pd.Series) else value
    try:
        arr = np.asarray(raw, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be whole numbers >= 0, got {plain(raw)}") from exc
    index = value.index if isinstance(value, pd.Series) else None
    flat = arr.ravel()
    for bad, what in ((~np.isfinite(flat), "is not a finite number"),
                      (flat < 0, "is negative; counts are >= 0"),
                      (flat != np.floor(flat), "is not a whole number")):
        with np.errstate(invalid="ignore"):
            hit = np.flatnonzero(bad)
        if hit.size:
            i = int(hit[0])
            raise ValueError(f"{_where(name, i, arr.shape, index)} = {_show(flat[i])} {what}")
    return arr


def _show(value: float) -> str:
    """A count as the user wrote it: 3, not 3.0."""
    return str(int(value)) if np.isfinite(value) and value == int(value) else repr(float(value))


def _limits(x: np.ndarray, n: np.ndarray, method: str, alpha: float):
    """Interval limits for 1-D float arrays of validated counts (0 <= x <= n, n >= 1)."""
    z = stats.norm.isf(alpha / 2)
    phat = x / n
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "wald":
            half = z * np.sqrt(phat * (1 - phat) / n)
            low, high = phat - half, phat + half
        elif method in ("wilson", "wilson-cc"):
            low, high = _wilson(x, n, z, cc=method == "wilson-cc")
        elif method == "clopper-pearson":
            low = special.betaincinv(x, n - x + 1, alpha / 2)
            high = special.betainccinv(x + 1, n - x, alpha / 2)
        elif method == "jeffreys":
            low = special.betaincinv(x + 0.5, n - x + 0.5, alpha / 2)
            high = special.betainccinv(x + 0.5, n - x + 0.5, alpha / 2)
        elif method == "agresti-coull":
            n_t = n + z * z
            p_t = (x + z * z / 2) / n_t
            half = z * np.sqrt(p_t * (1 - p_t) / n_t)
            low, high = p_t - half, p_t + half
        else:  # solved one by one (brentq)
            solve = _lr_limits if method == "likelihood-ratio" else _midp_limits
            arg = z * z if method == "likelihood-ratio" else alpha
            pairs = [solve(int(xi), int(ni), arg) for xi, ni in zip(x, n, strict=True)]
            low = np.array([pair[0] for pair in pairs], dtype=float)
            high = np.array([pair[1] for pair in pairs], dtype=float)
    low = np.where(x == 0, 0.0, low)
    high = np.where(x == n, 1.0, high)
    return np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)


def proportion_interval(
    x, n, *, method: str = "wilson", conf_level: float = 0.95
) -> ConfidenceInterval:
    """Two-sided confidence interval for a binomial proportion from ``x`` successes in ``n`` trials.

    Vectorised as statsmodels' ``proportion_confint(count, nobs, alpha, method)``: ``x`` and
    ``n`` may be scalars, arrays (broadcast against each other) or pandas Series.

    Parameters
    ----------
    x, n : int, array-like or Series
        Successes and trials: whole numbers with 0 <= x <= n and n >= 1.
    method : str
        One of the methods of :func:`pooled_proportion`.
    conf_level : float
        Confidence level.

    Returns
    -------
    ConfidenceInterval
        ``(low, high)``: floats for scalar input, arrays of the broadcast shape for arrays, and
        Series with the input's index when ``x`` (or else ``n``) is a Series.

    Raises
    ------
    ValueError
        Naming the argument and position: negative, fractional or non-finite counts,
        ``x > n``, ``n = 0``, shapes that do not broadcast.

    Notes
    -----
    See :func:`pooled_proportion` for the methods and their sources. Intervals are clipped to
    [0, 1]; at ``x = 0`` every lower limit is 0 and at ``x = n`` every upper limit is 1 (the
    convention of Brown, Cai & DasGupta 2001, also for Jeffreys).

    Examples
    --------
    >>> from binfer.pooling import proportion_interval
    >>> low, high = proportion_interval(3, 17, method="clopper-pearson")
    >>> round(low, 4), round(high, 4)
    (0.038, 0.4343)
    >>> low, high = proportion_interval([0, 3, 17], 17, method="clopper-pearson")
    >>> low.round(4).tolist(), high.round(4).tolist()
    ([0.0, 0.038, 0.8049], [0.1951, 0.4343, 1.0])
    """
    method = check_choice(method, "method", METHODS)
    alpha = 1 - check_unit_interval(conf_level, "conf_level")
    series = x if isinstance(x, pd.Series) else n if isinstance(n, pd.Series) else None
    xa, na = _count_array(x, "x"), _count_array(n, "n")
    try:
        xb, nb = np.broadcast_arrays(xa, na)
    except ValueError as exc:
        raise ValueError(f"x and n have shapes {xa.shape} and {na.shape}, which do not "
                         "broadcast together") from exc
    index = series.index if series is not None and xb.shape == (len(series),) else None
    xf, nf = xb.ravel(), nb.ravel()
    for bad, what in ((nf == 0, lambda i: f"{_where('n', i, xb.shape, index)} = 0: a "
                                          "proportion needs at least one trial"),
                      (xf > nf, lambda i: f"{_where('x', i, xb.shape, index)} = "
                                          f"{_show(xf[i])} > n = {_show(nf[i])}")):
        if bad.any():
            raise ValueError(what(int(np.flatnonzero(bad)[0])))
    low, high = _limits(xf, nf, method, alpha)
    if not xb.shape:
        return ConfidenceInterval(float(low[0]), float(high[0]))
    low, high = low.reshape(xb.shape), high.reshape(xb.shape)
    if index is not None:
        return ConfidenceInterval(pd.Series(low, index=index, name="low"),
                                  pd.Series(high, index=index, name="high"))
    return ConfidenceInterval(low, high)


def _wilson(x, n, z: float, *, cc: bool):
    # Wilson (1927) score interval; with cc, Newcombe (1998) method 4, which is R's
    # prop.test(correct=TRUE) interval (R drops the correction when |x - n/2| < 1/2; we don't).
    phat = x / n
    z2n = z * z / (2 * n)
    shift = 0.5 / n if cc else 0.0

    def limit(pc, sign):
        return (pc + z2n + sign * z * np.sqrt(pc * (1 - pc) / n + z2n / (2 * n))) / (1 + 2 * z2n)

    pc_low, pc_high = phat - shift, phat + shift
    low = np.where(pc_low <= 0, 0.0, limit(pc_low, -1))
    high = np.where(pc_high >= 1, 1.0, limit(pc_high, +1))
    return low, high


def pooled_proportion(
    data,
    *,
    events="events",
    trials="trials",
    method: str = "wilson",
    conf_level: float = 0.95,
    p0: float | None = None,
    alternative: str = "two-sided",
    correction: bool = False,
    group=None,
    outcome=None,
) -> PooledProportionResult:
    """Pooled proportion of events over all groups, with a confidence interval and, given
    ``p0``, the exact binomial and score tests of p = p0.

    Parameters
    ----------
    data : DataFrame or mapping of columns
        One row per group (or, with ``outcome``, one row per subject).
    events, trials : str
        Column names of the event and trial counts.
    method : str
        Interval: ``"wald"``, ``"wilson"`` (default), ``"wilson-cc"``, ``"clopper-pearson"``,
        ``"jeffreys"``, ``"agresti-coull"``, ``"likelihood-ratio"`` or ``"mid-p"``.
    conf_level : float
        Confidence level of the two-sided interval.
    p0 : float in (0, 1), optional
        Test H0: p = p0 (the common proportion) with the exact binomial test and the score test.
    alternative : {"two-sided", "less", "greater"}
        Direction of the tests: ``"less"`` tests p < p0, ``"greater"`` p > p0. The interval stays
        two-sided.
    correction : bool
        Continuity correction of the score test: False (default) is ``prop.test(x, n, p0,
        correct = FALSE)``, the test that inverts into the Wilson interval (the default
        ``method``); True is R's default ``correct = TRUE``, which inverts into ``"wilson-cc"``.
    group, outcome : str, optional
        For individual-level data: ``outcome`` names a 0/1 column, ``group`` the group column
        (default: the column ``group`` if present; without one, all subjects form one group).

    Returns
    -------
    PooledProportionResult
        ``estimate`` (X / N), ``se`` = sqrt(p(1 - p) / N), ``confidence_interval`` (low, high),
        ``conf_level``, ``method``, ``n_events``, ``n_trials``, ``n_groups``; with ``p0``:
        ``p0``, ``alternative``, ``correction``, ``pvalue_exact`` and ``log_pvalue_exact``
        (exact binomial test), ``statistic_score`` (X^2 on 1 df), ``pvalue_score`` and
        ``log_pvalue_score`` (score test); the logs stay finite where a p-value underflows.

    Notes
    -----
    With X = sum of events and N = sum of trials, X ~ Bin(N, p) when every group has the same p,
    so X / N is the MLE. It is the right summary only if p is common: check with
    :func:`binfer.homogeneity_test` (if p varies, X is Poisson-binomial with variance below
    N p (1 - p) and this interval is for the trials-weighted mean of the groups' p).

    - wald: phat +- z sqrt(phat (1 - phat) / N), clipped to [0, 1].
    - wilson: score interval (Wilson 1927); wilson-cc: with continuity correction (Newcombe 1998,
      method 4).
    - clopper-pearson: inverts the exact binomial tails (Clopper & Pearson 1934).
    - jeffreys: equal-tailed Beta(X + 1/2, N - X + 1/2) interval (Brown, Cai & DasGupta 2001),
      with lower limit 0 at X = 0 and upper 1 at X = N as they recommend.
    - agresti-coull: Wald on (X + z^2/2) / (N + z^2) (Agresti & Coull 1998).
    - likelihood-ratio: {p : 2 [l(phat) - l(p)] <= chi2_1(conf_level)}.
    - mid-p: inverts the mid-p tails P(X > x) + P(X = x)/2 (Lancaster 1961; Berry & Armitage 1995).

    Tests of p = p0, as R's ``binom.test(X, N, p0)`` and ``prop.test(X, N, p0)``. Exact: ``"less"``
    P(X <= x), ``"greater"`` P(X >= x), two-sided the sum of P(X = k) over every k with
    P(X = k) <= P(X = x) (1 + 1e-7) (R's rule and tolerance; Clopper-Pearson's equal-tailed
    doubling is a different test). Score: X^2 = (|x - N p0| - c)^2 / (N p0 (1 - p0)), c = 0, or
    min(1/2, |x - N p0|) with ``correction``, on 1 df; one-sided from the signed root. Every
    binomial probability comes from binfer's core in log space, so p-values far below 1e-300
    keep their size in ``log_pvalue_exact``.

    References
    ----------
    Brown, L. D., Cai, T. T. & DasGupta, A. (2001). Interval estimation for a binomial proportion.
    Statistical Science 16, 101-133. Newcombe, R. G. (1998). Two-sided confidence intervals for the
    single proportion. Statistics in Medicine 17, 857-872.

    Examples
    --------
    >>> import pandas as pd
    >>> from binfer import pooled_proportion
    >>> df = pd.DataFrame({"events": [0, 18, 8], "trials": [47, 148, 119]})
    >>> r = pooled_proportion(df, method="clopper-pearson")
    >>> round(r.estimate, 4), [round(v, 4) for v in r.confidence_interval]
    (0.0828, [0.0549, 0.1189])
    >>> t = pooled_proportion(df, p0=0.05)
    >>> round(t.pvalue_exact, 5), round(t.statistic_score, 4), round(t.pvalue_score, 5)
    (0.01297, 7.113, 0.00765)
    """
    alternative = check_alternative(alternative)
    if p0 is not None:
        try:
            value = float(p0)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"p0 must be a number in (0, 1), got {plain(p0)}") from exc
        if not 0 < value < 1:  # also refuses NaN
            raise ValueError(f"p0 must be in (0, 1) (open: at 0 or 1 the test is trivial), "
                             f"got {plain(p0)}")
        p0 = value
    counts = one_arm(data, events=events, trials=trials, group=group, outcome=outcome)
    x, n = int(counts.events.sum()), int(counts.trials.sum())
    ci = proportion_interval(x, n, method=method, conf_level=conf_level)
    phat = x / n
    tests = {}
    if p0 is not None:
        pvalue_exact, log_pvalue_exact = _binomial_test(x, n, p0, alternative)
        stat, pvalue_score, log_pvalue_score = _score_test(x, n, p0, alternative,
                                                           bool(correction))
        tests = dict(p0=p0, alternative=alternative, pvalue_exact=pvalue_exact,
                     log_pvalue_exact=log_pvalue_exact, statistic_score=stat,
                     pvalue_score=pvalue_score, log_pvalue_score=log_pvalue_score,
                     correction=bool(correction))
    return PooledProportionResult(
        estimate=phat,
        se=math.sqrt(phat * (1 - phat) / n),
        confidence_interval=ci,
        conf_level=float(conf_level),
        method=method,
        n_events=x,
        n_trials=n,
        n_groups=counts.k,
        **tests,
        _groups=counts,
    )
