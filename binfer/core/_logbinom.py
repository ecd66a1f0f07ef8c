"""Relatively accurate log binomial probabilities (Loader's saddle-point algorithm).

``scipy.stats.binom.logpmf`` forms ``gammaln(n+1) - gammaln(k+1) - gammaln(n-k+1)``; for n near
1e6 the three terms are ~1e7 and their difference loses ~1e-9 in the log, i.e. a relative error of
~1e-9 in the probability.  Loader's form writes the log-probability as a sum of small, accurately
computable pieces (Stirling-series remainders and the deviance term ``bd0``), which keeps the log
accurate to a few ulps of its own size at every k, including far below the double range.

References
----------
C. Loader (2000), "Fast and Accurate Computation of Binomial Probabilities", technical note
(the algorithm behind R's ``dbinom``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

_LN_2PI = math.log(2.0 * math.pi)

# Stirling-series remainder stirlerr(n) = log(n!) - log(sqrt(2 pi n) (n/e)^n) for n = 0..15.
# For n <= 15 the terms are O(30) so math.lgamma (error ~1e-15 absolute) keeps the remainder
# accurate to ~1e-14 absolute, far inside the 1e-10 relative target.
_STIRLERR_SMALL = np.array(
    [0.0]
    + [
        math.lgamma(n + 1.0) - (n + 0.5) * math.log(n) + n - 0.5 * _LN_2PI
        for n in range(1, 16)
    ]
)


def _stirlerr(n: np.ndarray) -> np.ndarray:
    """Stirling remainder for integer-valued n >= 0 (array)."""
    n = np.asarray(n, dtype=float)
    out = np.empty_like(n)
    small = n <= 15
    out[small] = _STIRLERR_SMALL[n[small].astype(np.int64)]
    m = n[~small]
    nn = m * m
    s0, s1, s2, s3, s4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
    # the five-term Stirling series is accurate to ~1e-17 for every n > 15 (R switches to
    # shorter truncations for larger n only to save time; one expression is cheaper in numpy)
    val = (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / m
    out[~small] = val
    return out


def _bd0(x: np.ndarray, npq: np.ndarray) -> np.ndarray:
    """Deviance term x log(x / np) + np - x, computed without cancellation (x > 0, np > 0)."""
    x = np.asarray(x, dtype=float)
    npq = np.asarray(npq, dtype=float)
    x, npq = np.broadcast_arrays(x, npq)
    out = np.empty(x.shape)
    near = np.abs(x - npq) < 0.1 * (x + npq)
    far = ~near
    xf, mf = x[far], npq[far]
    # log(x / np): one rounding in the ratio (log x - log np loses ~1e-15 absolute in the
    # difference of two large logs, x times that in the result); log x - log np only where the
    # ratio overflows or underflows (np or x subnormal or huge)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        ratio = xf / mf
    fine = np.isfinite(ratio) & (ratio > 1e-300) & (ratio < 1e300)
    lr = np.empty(xf.shape)
    lr[fine] = np.log(ratio[fine])
    lr[~fine] = np.log(xf[~fine]) - np.log(mf[~fine])
    out[far] = xf * lr + mf - xf
    xn, mn = x[near], npq[near]
    v = (xn - mn) / (xn + mn)
    s = (xn - mn) * v
    ej = 2.0 * xn * v
    v2 = v * v
    # |v| < 0.1/1: each term shrinks by v2 < 0.01 (and by the 1/(2j+1)), so 9 terms reach 1e-18.
    for j in range(1, 10):
        ej = ej * v2
        s = s + ej / (2 * j + 1)
    out[near] = s
    return out


def log1mexp(x):
    """log(1 - e^x) for x <= 0, accurate near 0 and for very negative x (Maechler 2012).

    Arrays in, arrays out; a scalar in, a float out.  log1mexp(-inf) = 0, log1mexp(0) = -inf.
    """
    arr = np.asarray(x, dtype=float)
    out = np.empty_like(arr)
    small = arr > -math.log(2.0)
    with np.errstate(divide="ignore"):
        out[small] = np.log(-np.expm1(arr[small]))
        out[~small] = np.log1p(-np.exp(arr[~small]))
    return float(out) if out.ndim == 0 else out


def log_choose(n, x):
    """log C(n, x) by ``gammaln`` (elementwise; arrays or scalars).

    Absolute error about 1e-16 times log(n!): right for the combinatorial weights of conditional
    tests and likelihoods; use :func:`binom_logpmf` where a log-probability must stay relatively
    accurate at large n.
    """
    return special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)


def binom_logpmf(k: np.ndarray, n: int, p: float) -> np.ndarray:
    """log P(Bin(n, p) = k) for integer k in 0..n (array); -inf outside, exact for p in {0, 1}."""
    k = np.asarray(k, dtype=float)
    out = np.full(k.shape, -np.inf)
    inside = (k >= 0) & (k <= n)
    if p == 0.0:
        out[inside & (k == 0)] = 0.0
        return out
    if p == 1.0:
        out[inside & (k == n)] = 0.0
        return out
    q = 1.0 - p
    lo = inside & (k == 0)
    hi = inside & (k == n)
    mid = inside & ~lo & ~hi
    out[lo] = n * math.log1p(-p)
    out[hi] = n * math.log(p)
    km = k[mid]
    if km.size:
        nk = n - km
        lc = (
            _stirlerr(np.array([n]))[0]
            - _stirlerr(km)
            - _stirlerr(nk)
            - _bd0(km, n * p)
            - _bd0(nk, n * q)
        )
        # log(k (n - k) / n) from the integers: log1p(-k / n) cancels when k is near n
        lf = _LN_2PI + np.log(km) + np.log(nk) - math.log(n)
        out[mid] = lc - 0.5 * lf
    return out


def binom_logpmf_all(n: int, p: float) -> np.ndarray:
    """log P(Bin(n, p) = k) for every k = 0..n."""
    return binom_logpmf(np.arange(n + 1), n, p)
