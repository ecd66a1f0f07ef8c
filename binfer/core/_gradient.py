"""Gradient of log P(X = k) with respect to every group's p, stable far into the tails.

For X = sum_g Bin(n_g, p_g),

    d log P(k) / d p_g = n_g [P_g(k-1) - P_g(k)] / P(k),

where P_g is the PMF with one trial of group g removed.  Computing P_g by deconvolution is
unstable; instead every quantity is taken from the characteristic function of the distribution
*tilted* so that its mean is k (Peres, Lee & Keich 2021): there P'(k) is of order 1/sd and the
ratios above are ratios of well-scaled numbers.  With z = e^(theta + i t),

    n_g [P_g(k-1) - P_g(k)] / P(k)
        = n_g sum_t e^(-itk) phi'(t) D_g(t) / sum_t e^(-itk) phi'(t),
    D_g(t) = (z - 1) / (q_g + p_g z) = (p'_g / p_g e^(it) - q'_g / q_g) / (q'_g + p'_g e^(it)),

with phi'(t) = prod_h (q'_h + p'_h e^(it))^(n_h) evaluated analytically (in logs) on an odd grid of
M points, M ~ 24 tilted sd (aliasing below e^-60).  One pass over the groups per k: O(G M).
Groups with p = 0 or p = 1 use P(k -+ 1) / P(k) from the same sums.

References
----------
N. Peres, A. R. Lee, U. Keich (2021), "Exactly computing the tail of the Poisson-binomial
distribution", ACM Trans. Math. Softw. 47(4).  M. Fernandez, S. Williams (2010), "Closed-form
expression for the Poisson-binomial probability density function", IEEE Trans. Aerosp. Electron.
Syst. 46(2) (the DFT of the characteristic function).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit

# Work budget (complex entries) for one block of the groups x grid matrix.
_BLOCK = 4_000_000


def _tilt_for_mean(logit: np.ndarray, n: np.ndarray, target: float) -> float:
    """theta with sum_g n_g expit(logit_g + theta) = target (0 < target < sum n)."""
    span = float(np.max(np.abs(logit))) + 60.0

    def f(theta: float) -> float:
        return float(np.dot(n, expit(logit + theta))) - target

    lo, hi = -span, span
    while f(lo) > 0:
        lo *= 2
    while f(hi) < 0:
        hi *= 2
    return brentq(f, lo, hi, xtol=1e-13, rtol=1e-15, maxiter=500)


def logpmf_grad(p: np.ndarray, counts: np.ndarray, k: np.ndarray) -> np.ndarray:
    """d log P(X = k) / d p_g, shape (len(k), G); NaN rows where P(X = k) = 0."""
    p = np.asarray(p, dtype=float)
    counts = np.asarray(counts, dtype=np.int64)
    k = np.asarray(k)
    G = p.size
    out = np.full((k.size, G), np.nan)
    interior = (p > 0) & (p < 1) & (counts > 0)
    sure = (p == 1) & (counts > 0)
    never = (p == 0) & (counts > 0)
    n_sure = int(counts[sure].sum())
    n_int = int(counts[interior].sum())
    pi = p[interior]
    ni = counts[interior].astype(float)
    qi = 1.0 - pi
    logit = np.log(pi) - np.log1p(-pi)
    for row, kk in enumerate(k.ravel()):
        if kk != math.floor(kk):
            continue
        j = int(kk) - n_sure  # the interior part must equal j
        if j < 0 or j > n_int:
            continue
        if n_int == 0:
            theta = 0.0
        else:
            target = min(max(float(j), 0.3), n_int - 0.3) if n_int >= 1 else 0.0
            theta = _tilt_for_mean(logit, ni, target)
        pt = expit(logit + theta)  # tilted p'
        qt = expit(-(logit + theta))  # tilted q', computed directly (no 1 - p' cancellation)
        var = float(np.dot(ni, pt * qt))
        m = 2 * math.ceil(12.0 * math.sqrt(var) + 40.0) + 1
        if m > n_int + 3:
            # the whole support and its two neighbours fit: no aliasing at all
            m = n_int + 3 if (n_int + 3) % 2 == 1 else n_int + 4
        t = 2.0 * np.pi * np.arange(m) / m
        eit = np.exp(1j * t)
        # log phi'(t) of the interior groups, accumulated in blocks of groups
        logphi = np.zeros(m, dtype=complex)
        step = max(1, _BLOCK // m)
        for s in range(0, pi.size, step):
            sl = slice(s, s + step)
            logphi += ni[sl] @ np.log(qt[sl, None] + pt[sl, None] * eit[None, :])
        # e^(-itj) phi'(t): the centre of the tilted distribution sits at j, so phases stay small
        w = np.exp(logphi - 1j * t * j)
        s0 = w.sum().real
        res = np.empty(G)
        if pi.size:
            # p'/p and q'/q in a form that cannot overflow: p'/p = 1/(p + q e^-theta) etc.
            rp = 1.0 / (pi + qi * math.exp(-theta)) if theta > -700 else np.exp(theta) / (
                pi * np.exp(theta) + qi)
            rq = 1.0 / (qi + pi * math.exp(theta)) if theta < 700 else np.exp(-theta) / (
                qi * np.exp(-theta) + pi)
            num = np.empty(pi.size)
            for s in range(0, pi.size, step):
                sl = slice(s, s + step)
                d = (rp[sl, None] * eit[None, :] - rq[sl, None]) / (
                    qt[sl, None] + pt[sl, None] * eit[None, :])
                num[sl] = (d @ w).real
            res[interior] = ni * num / s0
        if sure.any():
            # P = P_g shifted by one: grad = n_g (1 - P(k+1) / P(k))
            ratio = (w * np.exp(-1j * t)).sum().real / s0
            up = np.sign(ratio) * math.exp(-theta + math.log(abs(ratio))) if ratio else 0.0
            res[sure] = counts[sure] * (1.0 - up)
        if never.any():
            ratio = (w * np.exp(1j * t)).sum().real / s0
            down = np.sign(ratio) * math.exp(theta + math.log(abs(ratio))) if ratio else 0.0
            res[never] = counts[never] * (down - 1.0)
        res[counts == 0] = 0.0
        out[row] = res
    return out
