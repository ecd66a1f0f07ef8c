"""log pmf / cdf / sf at a few points without the whole PMF: one tilt, one band-limited tree.

For a point k, tilt every trial to ``p' = expit(logit p + theta)`` with the tilted mean at
k + 1/2 (Peres, Lee & Keich 2021), so that P'(k) and P'(k + 1) are both near the tilted maximum
however small the untilted sd is (a tilt to k itself, or none near the centre, left P(X > 0) of
Bin(1e5, 1e-20) 5% off).  The tilted distribution is concentrated within ~11 tilted sd of k, so
every node of the product tree needs only that band of its coefficients: chunks of single trials
(exact log-PMFs) are re-tilted coefficient-wise and cut to their bands, binomial blocks are
evaluated only on their bands (Loader's log-PMF, O(sqrt n) values per block, so groups of up to
~1e12 trials fit), then multiplied with real FFTs, each node cut to its Bernstein band.  At the
tilted mean the FFT's absolute accuracy is a relative one, and untilting gives ``log P(k)`` and,
summing the band with weights ``e^(-theta (j - k))``, the tail on the side away from the mean;
the other tail is its complement.  Measured against R's exact convolution at N = 1e6: ~2e-12
relative; the logs of the scale factors are summed with compensation.  Cost: O(N) for
re-tilting plus FFTs of the bands.

References
----------
N. Peres, A. R. Lee, U. Keich (2021), "Exactly computing the tail of the Poisson-binomial
distribution", ACM Trans. Math. Softw. 47(4), arXiv:2004.07429.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit

from ._engine import _LEAF, _fft_conv, banded_fft_product, bernoulli_chunk_matrix
from ._logbinom import binom_logpmf, log1mexp

# Leaf coefficients below e^-_DEPTH of their tilted maximum are dropped (their total effect at
# the tilted mean is < N e^-_DEPTH relative, far below 1e-13).
_DEPTH = 60.0
# Most coefficients one window may hold (the sum of the blocks' bands, ~11 sqrt(n) each): beyond
# it a ValueError says how large the request is (~16 bytes a coefficient in the FFTs).
_MAX_BAND = 30_000_000


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


class PointEvaluator:
    """Exact leaves of a Poisson-binomial (0 < p < 1 only), evaluated at single points."""

    def __init__(self, p: np.ndarray, counts: np.ndarray):
        single = counts == 1
        # binomial blocks as (n, p): each window evaluates only its tilted band (O(sqrt n))
        self.blocks = [(int(c), float(q)) for q, c in zip(p[~single], counts[~single],
                                                          strict=True)]
        # rows past a partial chunk's size are -inf: they tilt to zeros
        self.chunks = bernoulli_chunk_matrix(p[single], _LEAF)[0] if single.any() else None
        self.n = int(counts.sum())
        ok = (p > 0) & (p < 1)
        logit = np.log(p[ok]) - np.log1p(-p[ok])
        weights = counts[ok].astype(float)
        if logit.size > 4096:
            # The tilt only has to put the tilted mean near k (the formulas are exact for any
            # theta), so solve it on a weighted subsample of the sorted logits.
            order = np.argsort(logit)
            cw = np.cumsum(weights[order])
            picks = np.searchsorted(cw, np.linspace(0, cw[-1], 2049)[1:] - 1e-9)
            picks = np.unique(np.minimum(picks, order.size - 1))
            w = np.diff(np.r_[0.0, cw[picks]])
            logit, weights = logit[order][picks], w
        self.logit, self.weights = logit, weights
        self.full_logit, self.full_weights = np.log(p[ok]) - np.log1p(-p[ok]), counts[ok]

    def _theta(self, k: int) -> float:
        """The tilt whose mean is k + 1/2: P'(k) and P'(k + 1) are then both near the tilted
        maximum (the tilted variance is at least ~1/4), so the PMF at k and each tail beyond it
        are well inside the window's relative accuracy however small the untilted sd is."""
        target = min(max(k + 0.5, 0.3), self.n - 0.3)
        theta = _tilt_for_mean(self.logit, self.weights, target)
        if self.logit.size == self.full_logit.size:
            return theta
        # the subsample's tilt misses the extreme logits that dominate a far tail: a few
        # safeguarded Newton steps on every trial put the tilted mean within 0.05 of the target
        logit, w = self.full_logit, self.full_weights
        lo, hi = -math.inf, math.inf
        for _ in range(60):
            s = expit(logit + theta)
            f = float(np.dot(w, s)) - target
            if abs(f) < 0.05:
                break
            if f > 0:
                hi = min(hi, theta)
            else:
                lo = max(lo, theta)
            step = f / max(float(np.dot(w, s * (1.0 - s))), 1e-300)
            theta -= step
            if not lo < theta < hi:  # Newton left the bracket: bisect (or expand it)
                if math.isfinite(lo) and math.isfinite(hi):
                    theta = 0.5 * (lo + hi)
                elif math.isfinite(lo):
                    theta = lo + max(1.0, abs(step))
                else:
                    theta = hi - max(1.0, abs(step))
        return theta

    def _block_band(self, n: int, q: float, theta: float) -> tuple[np.ndarray, int, float, int]:
        """One binomial block tilted by theta, cut to its band: (values <= 1, first index, the
        untilted log-PMF at the tilted mode, that mode)."""
        lq = math.log(q) - math.log1p(-q) + theta
        pt = float(expit(lq))
        mode = min(max(int(math.floor((n + 1) * pt)), 0), n)
        # Bernstein: beyond mode +- t the tilted PMF is below e^-_DEPTH of its maximum
        var = n * pt * (1.0 - pt)
        t = int(math.ceil(_DEPTH + math.sqrt(_DEPTH**2 + 2.5 * _DEPTH * var))) + 2
        if min(2 * t + 1, n + 1) > _MAX_BAND:
            raise ValueError(
                f"one tilted window over a group of {n} trials needs about {2 * t + 1} "
                f"coefficients (the limit is {_MAX_BAND}, ~{16 * _MAX_BAND / 2**30:.2g} GiB): "
                "too large to evaluate exactly here"
            )
        j = np.arange(max(mode - t, 0), min(mode + t, n) + 1, dtype=float)
        a = binom_logpmf(j, n, q)
        m = int(np.argmax(a + theta * j))
        # relative to the mode: theta j itself is ~1e6 at N = 1e6 and its rounding would be
        # ~1e-10 of the result; theta (j - m) is small where it matters
        rel = (a - a[m]) + theta * (j - j[m])
        keep = np.flatnonzero(rel >= -_DEPTH)
        lo_i, hi_i = int(keep[0]), int(keep[-1])
        return np.exp(rel[lo_i : hi_i + 1]), int(j[lo_i]), float(a[m]), int(j[m])

    def _tilted_product(self, theta: float):
        """(V, offset o, log scale, sum of modes): P(j) = V[j - o] exp(scale + theta (msum - j))."""
        V, off, base, msum = np.ones(1), 0, 0.0, 0
        if self.chunks is not None:
            rows = np.arange(self.chunks.shape[0])
            col = np.arange(self.chunks.shape[1])
            m = np.argmax(self.chunks + theta * col, axis=1)
            rel = (self.chunks - self.chunks[rows, m][:, None]) + theta * (col - m[:, None])
            v = np.exp(rel)
            v[rel < -_DEPTH] = 0.0
            w = v.sum(axis=1)
            mu = (v * col).sum(axis=1) / w
            var = (v * (col - mu[:, None]) ** 2).sum(axis=1) / w
            V, off, base = banded_fft_product(v, np.zeros(rows.size, dtype=np.int64), mu, var)
            base += math.fsum(self.chunks[rows, m])  # ~1e4 terms: a plain sum kept ~1e-11
            msum = int(m.sum())
        for n, q in self.blocks:
            band, lo, top, mode = self._block_band(n, q, theta)
            if V.size + band.size > _MAX_BAND:
                raise ValueError(
                    f"one tilted window over groups of {[c for c, _ in self.blocks]} trials "
                    f"needs more than {_MAX_BAND} coefficients (~{16 * _MAX_BAND / 2**30:.2g} "
                    "GiB): too large to evaluate exactly here"
                )
            V = np.maximum(_fft_conv(V, band), 0.0)
            vmax = V.max()
            V /= vmax
            base += math.log(vmax) + top
            off += lo
            msum += mode
        return V, off, base, msum

    def evaluate(self, k: int) -> tuple[float, float, float]:
        """(log P(X = k), log P(X <= k), log P(X > k)) for an integer 0 <= k <= n."""
        theta = self._theta(k)
        V, off, base, msum = self._tilted_product(theta)
        j = off + np.arange(V.size)
        i = k - off
        scale = base + theta * (msum - k)
        pk = V[i] if 0 <= i < V.size else 0.0
        logpmf = math.log(pk) + scale if pk > 0 else -math.inf
        if k >= self.n:
            return logpmf, 0.0, -math.inf
        if theta > 0:
            # P(j) = V(j) e^(scale) e^(-theta (j - k)): the weights decay above k
            up = j > k
            tail = float((V[up] * np.exp(-theta * (j[up] - k))).sum())
            logsf = math.log(tail) + scale if tail > 0 else -math.inf
            logcdf = log1mexp(logsf)
        elif theta < 0:
            down = j <= k
            logcdf = math.log(float((V[down] * np.exp(-theta * (j[down] - k))).sum())) + scale
            logsf = log1mexp(min(logcdf, 0.0))
        else:
            up = float(V[j > k].sum())
            down = float(V[j <= k].sum())
            logsf = math.log(up) + scale if up > 0 else -math.inf
            logcdf = math.log(down) + scale if down > 0 else -math.inf
            # near the centre both are O(1): take the smaller directly, the other as 1 - it
            if logsf < logcdf:
                logcdf = log1mexp(logsf)
            else:
                logsf = log1mexp(logcdf)
        return logpmf, logcdf, logsf
