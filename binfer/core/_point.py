"""log pmf / cdf / sf at a few points without the whole PMF: one tilt, one band-limited tree.

For a point k, tilt every trial to ``p' = expit(logit p + theta)`` with the tilted mean at k
(Peres, Lee & Keich 2021).  The tilted distribution is concentrated within ~11 tilted sd of k, so
every node of the product tree needs only that band of its coefficients: the leaves (binomial
blocks and chunks of single trials, whose log-PMFs are exact) are re-tilted coefficient-wise
and cut to their bands, then multiplied level by level with batched real FFTs, each node cut to
its Bernstein band.  At the tilted mean the FFT's absolute accuracy is a relative one, and
untilting gives ``log P(k)`` and, summing the band with weights ``e^(-theta (j - k))``, the tail
beyond k, to ~1e-13 relative.  Cost: O(N) for re-tilting plus FFTs of the bands.

References
----------
N. Peres, A. R. Lee, U. Keich (2021), "Exactly computing the tail of the Poisson-binomial
distribution", ACM Trans. Math. Softw. 47(4), arXiv:2004.07429.
"""

from __future__ import annotations

import math

import numpy as np

from ._engine import _LEAF, _fft_conv, banded_fft_product, bernoulli_chunk_matrix
from ._gradient import _tilt_for_mean
from ._logbinom import binom_logpmf_all, log1mexp

# Leaf coefficients below e^-_DEPTH of their tilted maximum are dropped (their total effect at
# the tilted mean is < N e^-_DEPTH relative, far below 1e-13).
_DEPTH = 60.0


class PointEvaluator:
    """Exact leaves of a Poisson-binomial (0 < p < 1 only), evaluated at single points."""

    def __init__(self, p: np.ndarray, counts: np.ndarray):
        single = counts == 1
        self.blocks = [binom_logpmf_all(int(c), float(q))
                       for q, c in zip(p[~single], counts[~single], strict=True)]
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
        self.mean = float(np.dot(counts, p))
        self.sd = math.sqrt(float(np.dot(counts, p * (1 - p))))

    def _theta(self, k: int) -> float:
        if abs(k - self.mean) <= self.sd:
            return 0.0
        target = min(max(float(k), 0.3), self.n - 0.3)
        return _tilt_for_mean(self.logit, self.weights, target)

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
            base += float(self.chunks[rows, m].sum())
            msum = int(m.sum())
        for a in self.blocks:
            j = np.arange(a.size)
            m = int(np.argmax(a + theta * j))
            rel = (a - a[m]) + theta * (j - m)
            keep = np.flatnonzero(rel >= -_DEPTH)
            lo, hi = int(keep[0]), int(keep[-1])
            V = np.maximum(_fft_conv(V, np.exp(rel[lo : hi + 1])), 0.0)
            top = V.max()
            V /= top
            base += math.log(top)
            off += lo
            base += float(a[m])
            msum += m
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
