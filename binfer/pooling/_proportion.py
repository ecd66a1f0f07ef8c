"""The pooled proportion sum(events) / sum(trials) and its confidence intervals.

Under a common p the groups' totals add: Bin(n_1, p) + ... + Bin(n_k, p) = Bin(N, p), so the
pooled count is sufficient and X / N is the MLE; every interval here is an interval for a binomial
proportion from X of N. Clopper-Pearson uses the beta quantile (the exact inversion of the binomial
tails, Boost's incomplete beta through scipy); mid-p and likelihood-ratio limits are solved with
brentq to 1e-15 relative, the mid-p point mass from the core's saddle-point binomial PMF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import optimize, special, stats

from .._data import one_arm
from .._results import ConfidenceInterval, Result, fmt
from ..core._checks import check_unit_interval
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
    _title: ClassVar[str] = "Pooled proportion"

    def _lines(self) -> list[str]:
        pct = f"{100 * self.conf_level:g}%"
        return [
            f"events / trials: {self.n_events} / {self.n_trials} in {self.n_groups} group"
            + ("s" if self.n_groups != 1 else ""),
            f"estimate: {fmt(self.estimate)} (se {fmt(self.se)})",
            f"{pct} CI ({self.method}): {fmt(self.confidence_interval)}",
        ]


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


def proportion_interval(
    x: int, n: int, *, method: str = "wilson", conf_level: float = 0.95
) -> ConfidenceInterval:
    """Two-sided confidence interval for a binomial proportion from ``x`` successes in ``n`` trials.

    See :func:`pooled_proportion` for the methods and their sources. Intervals are clipped to
    [0, 1]; at ``x = 0`` every lower limit is 0 and at ``x = n`` every upper limit is 1 (the
    convention of Brown, Cai & DasGupta 2001, also for Jeffreys).

    Examples
    --------
    >>> from binfer.pooling import proportion_interval
    >>> low, high = proportion_interval(3, 17, method="clopper-pearson")
    >>> round(low, 4), round(high, 4)
    (0.038, 0.4343)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    alpha = 1 - check_unit_interval(conf_level, "conf_level")
    z = stats.norm.isf(alpha / 2)
    phat = x / n
    if method == "wald":
        half = z * math.sqrt(phat * (1 - phat) / n)
        low, high = phat - half, phat + half
    elif method in ("wilson", "wilson-cc"):
        low, high = _wilson(x, n, z, cc=method == "wilson-cc")
    elif method == "clopper-pearson":
        low = 0.0 if x == 0 else special.betaincinv(x, n - x + 1, alpha / 2)
        high = 1.0 if x == n else special.betainccinv(x + 1, n - x, alpha / 2)
    elif method == "jeffreys":
        low = 0.0 if x == 0 else special.betaincinv(x + 0.5, n - x + 0.5, alpha / 2)
        high = 1.0 if x == n else special.betainccinv(x + 0.5, n - x + 0.5, alpha / 2)
    elif method == "agresti-coull":
        n_t = n + z * z
        p_t = (x + z * z / 2) / n_t
        half = z * math.sqrt(p_t * (1 - p_t) / n_t)
        low, high = p_t - half, p_t + half
    elif method == "likelihood-ratio":
        low, high = _lr_limits(x, n, z * z)
    else:
        low, high = _midp_limits(x, n, alpha)
    if x == 0:
        low = 0.0
    if x == n:
        high = 1.0
    return ConfidenceInterval(float(min(max(low, 0.0), 1.0)), float(min(max(high, 0.0), 1.0)))


def _wilson(x: int, n: int, z: float, *, cc: bool) -> tuple[float, float]:
    # Wilson (1927) score interval; with cc, Newcombe (1998) method 4, which is R's
    # prop.test(correct=TRUE) interval (R drops the correction when |x - n/2| < 1/2; we don't).
    phat = x / n
    z2n = z * z / (2 * n)
    shift = 0.5 / n if cc else 0.0

    def limit(pc, sign):
        return (pc + z2n + sign * z * math.sqrt(pc * (1 - pc) / n + z2n / (2 * n))) / (1 + 2 * z2n)

    pc_low, pc_high = phat - shift, phat + shift
    low = 0.0 if pc_low <= 0 else limit(pc_low, -1)
    high = 1.0 if pc_high >= 1 else limit(pc_high, +1)
    return low, high


def pooled_proportion(
    data,
    *,
    events="events",
    trials="trials",
    method: str = "wilson",
    conf_level: float = 0.95,
    group=None,
    outcome=None,
) -> PooledProportionResult:
    """Pooled proportion of events over all groups, with a confidence interval.

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
    group, outcome : str, optional
        For individual-level data: ``outcome`` names a 0/1 column, ``group`` the group column
        (default: the column ``group`` if present; without one, all subjects form one group).

    Returns
    -------
    PooledProportionResult
        ``estimate`` (X / N), ``se`` = sqrt(p(1 - p) / N), ``confidence_interval`` (low, high),
        ``conf_level``, ``method``, ``n_events``, ``n_trials``, ``n_groups``.

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
    """
    counts = one_arm(data, events=events, trials=trials, group=group, outcome=outcome)
    x, n = int(counts.events.sum()), int(counts.trials.sum())
    ci = proportion_interval(x, n, method=method, conf_level=conf_level)
    phat = x / n
    return PooledProportionResult(
        estimate=phat,
        se=math.sqrt(phat * (1 - phat) / n),
        confidence_interval=ci,
        conf_level=float(conf_level),
        method=method,
        n_events=x,
        n_trials=n,
        n_groups=counts.k,
    )
