"""PoissonBinomial and Binomial: the exact distribution of a sum of independent binomials."""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from . import _batch
from ._binomial import binomial_log_tails, binomial_ppf
from ._checks import (
    check_batch,
    check_choice,
    check_counts,
    check_positive_int,
    check_probabilities,
    check_quantiles,
    read_array,
)
from ._engine import interior_logpmf
from ._logbinom import binom_logpmf, log1mexp
from ._point import PointEvaluator

_METHODS = ("auto", "tilted", "direct", "fft")
# "auto": the exact log-space direct convolution is cheapest up to about this many trials.
_AUTO_DIRECT_MAX = 64
# Pointwise calls (logpmf, logcdf, logsf, ...) at up to _POINT_MAX_K distinct k on a distribution
# with at least _POINT_MIN_N trials of 0 < p < 1 use one tilted window each instead of the
# whole PMF (unless the PMF is already cached).
_POINT_MIN_N = 50_000
_POINT_MAX_K = 16
# The whole PMF (an array of N + 1 logs, and the engine's work arrays: ~130 MiB at N = 1e6,
# benchmarks/bench_pmf.py) is refused beyond this many trials, with a ValueError saying how
# large it would be; single points are still answered (closed form for one binomial, one
# banded tilted window each otherwise).
_MAX_PMF_TRIALS = 20_000_000
# Pointwise calls (at most _POINT_MAX_K distinct k) on a distribution of 2 to this many groups
# (and no cached PMF) read the tilted characteristic function at each point (binfer.core._batch:
# O(groups) per point, a few us for 20 groups), the path every batch takes.
_CF_MAX_GROUPS = 2048
# ... and at most this many trials (its rounding grows with N: against the banded windows,
# benchmarks/batch_large_n_accuracy.py, 1.3e-12 relative at N = 1e6 in 10 groups, 1.6e-11 at 2e7
# in 20, 5.7e-11 at 3e8 in 3).  Larger members of a batch are evaluated one by one through the
# single-distribution path.
_CF_MAX_TRIALS = 10**7


class PoissonBinomial:
    """Sum of independent binomials ``X = sum_g Bin(counts[g], p[g])`` (Poisson-binomial).

    The grouped form is the natural one for grouped count data: a trial with 10^5 patients in
    10 centres is 10 binomial blocks, and every algorithm here works on the blocks.

    Parameters
    ----------
    p : array_like
        Success probability of each group, in [0, 1] (0 and 1 are handled exactly).  An
        array of shape ``(B, G)`` (or ``(..., G)``) is a *batch* of B distributions over G
        groups each: see "Batches" below.
    counts : array_like of int, optional
        Number of trials in each group; ``None`` means one trial each (the classic
        Poisson-binomial with probabilities ``p``).  For a batch, shape ``(B, G)`` or ``(G,)``
        (broadcast against ``p``); a group with count 0 contributes nothing, so members with
        fewer groups are padded with zero counts.
    method : {"auto", "tilted", "direct", "fft"}, optional
        How the PMF is computed.  ``"tilted"`` (what ``"auto"`` uses beyond a few dozen trials)
        is the O(N log^2 N) exponentially tilted product tree, relatively accurate (~1e-12) at
        every k, logs included far below 1e-308; ``"direct"`` is the exact log-space
        convolution, O(N^2); ``"fft"`` is the plain FFT product tree, fast but accurate only to
        ~1e-16 *absolute* (as fast-poibin and R's DivideFFT).

    Notes
    -----
    PGF: ``G(s) = prod_g (1 - p_g + p_g s)^counts_g``.  With a common p this is the binomial
    PGF, which is the additive property Bin(n1, p) + Bin(n2, p) = Bin(n1 + n2, p); with unequal
    p the variance falls short of the binomial with the same N and mean by
    ``sum_g counts_g (p_g - pbar)^2`` (:meth:`variance_deficit`).

    The log-PMF is computed once (lazily) and cached; every probability method reads it.
    A few points of a distribution with up to 2048 groups (and no cached PMF) are read from
    its tilted characteristic function instead (O(groups) per point, ~10 us for 20 groups).

    **Batches.**  With ``p`` of shape ``(B, G)`` the object holds B independent distributions
    (``batch_shape == (B,)``), as scipy.stats' array parameters and the batch semantics of
    TensorFlow Probability and PyTorch distributions.  ``pmf logpmf cdf logcdf sf logsf`` take
    ``k`` broadcastable to the batch shape on its leading axes (shape ``(B,)``: one point per
    member; ``(B, K)``: K points each; a scalar: the same k for all) and return arrays of shape
    ``batch_shape + k's trailing shape``; ``logpmf_grad(k)`` returns that shape plus ``(G,)``.
    All members are evaluated in one compiled pass (``binfer.core._batch``), pointwise from the
    tilted characteristic function, with the same accuracy as a single distribution (relative
    ~1e-12; finite logs far below 1e-308).  ``mean var std stats variance_deficit support
    n_trials`` return arrays; ``pmf_all`` returns ``(B, N_max + 1)`` padded with 0 (-inf in
    logs); ``ppf isf`` work member by member; ``X[i]`` is member i as a single distribution.
    ``+``, ``-``, ``deconvolve`` and ``decompose`` are not defined for a batch (ValueError).

    References
    ----------
    Y. H. Wang (1993), "On the number of successes in independent trials", Statistica Sinica 3.
    N. Peres, A. R. Lee, U. Keich (2021), "Exactly computing the tail of the Poisson-binomial
    distribution", ACM Trans. Math. Softw. 47(4), arXiv:2004.07429.

    Examples
    --------
    >>> import binfer
    >>> X = binfer.PoissonBinomial([0.04, 0.10], counts=[12, 18])
    >>> round(X.mean(), 12), round(X.var(), 12)
    (2.28, 2.0808)
    >>> round(float(X.pmf(0)), 6)
    0.091964
    >>> round(float(X.logsf(25)), 6)  # P(X > 25) ~ 2e-26: a finite, accurate log
    -59.062413

    A batch of three distributions over the same two groups, one point each:

    >>> B = binfer.PoissonBinomial([[0.04, 0.10], [0.05, 0.05], [0.2, 0.01]], counts=[12, 18])
    >>> B.batch_shape
    (3,)
    >>> B.logpmf([0, 1, 2]).round(6)
    array([-2.386353, -1.08204 , -1.314035])
    >>> B.logpmf_grad([0, 1, 2]).shape
    (3, 2)
    """

    def __init__(self, p, counts=None, *, method: str = "auto"):
        self._method = check_choice(method, "method", _METHODS)
        arr = p if isinstance(p, np.ndarray) else read_array(p, "p")
        if arr.ndim >= 2 or (counts is not None and np.ndim(counts) >= 2):
            self._p, self._counts = check_batch(arr, counts)
            self._batch_shape = self._p.shape[:-1]
        else:
            self._p = check_probabilities(arr, "p")
            self._counts = check_counts(counts, self._p.size, "counts")
            if self._counts is counts or self._p is p:
                # never share (and freeze) the caller's arrays
                self._counts, self._p = self._counts.copy(), self._p.copy()
            self._batch_shape = ()
        self._p.setflags(write=False)
        self._counts.setflags(write=False)

    # ------------------------------------------------------------------ structure
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Shape of the batch of distributions: ``()`` for one distribution, ``(B,)`` for p of
        shape ``(B, G)``."""
        return self._batch_shape

    @property
    def p(self) -> np.ndarray:
        """Success probability of each group (read-only array; ``batch_shape + (G,)``)."""
        return self._p

    @property
    def counts(self) -> np.ndarray:
        """Number of trials in each group (read-only array)."""
        return self._counts

    @property
    def n_trials(self) -> int | np.ndarray:
        """Total number of trials N (the support is within 0..N); an array for a batch."""
        if self._batch_shape:
            return self._counts.sum(axis=-1)
        return self._n_total

    @cached_property
    def _n_total(self) -> int:
        return int(self._counts.sum())

    def _no_batch(self, what: str) -> None:
        if self._batch_shape:
            raise ValueError(
                f"{what} is not defined for a batch of distributions (batch_shape="
                f"{self._batch_shape}): take one member first, X[i]"
            )

    def __getitem__(self, index) -> PoissonBinomial:
        """Member(s) of a batch: ``X[i]`` is one distribution, ``X[2:5]`` a smaller batch."""
        if not self._batch_shape:
            raise TypeError("a single distribution (batch_shape ()) cannot be indexed")
        if not isinstance(index, tuple):
            index = (index,)
        if any(ix is Ellipsis for ix in index) or len(index) > len(self._batch_shape):
            raise IndexError(f"too many indices for batch_shape {self._batch_shape}")
        return PoissonBinomial(self._p[index], self._counts[index], method=self._method)

    def __repr__(self) -> str:
        if self._batch_shape:
            return (f"PoissonBinomial(batch_shape={self._batch_shape}, "
                    f"{self._p.shape[-1]} groups per member)")
        G = self._p.size
        if G <= 6:
            pairs = zip(self._counts, self._p, strict=True)
            body = ", ".join(f"Bin({c}, {q:.6g})" for c, q in pairs)
        else:
            body = f"{G} groups"
        return f"PoissonBinomial({body}; N={self.n_trials}, mean={self.mean():.6g})"

    @cached_property
    def _merged(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct p values and their total counts (groups with equal p are one binomial)."""
        self._no_batch("merging groups")
        keep = self._counts > 0
        return _merge(self._p[keep], self._counts[keep])

    @cached_property
    def _parts(self) -> tuple[int, int, np.ndarray, np.ndarray]:
        """(trials with p = 1, trials with p = 0, p and counts of the groups with 0 < p < 1 and
        trials, in their given order: unsorted, unmerged)."""
        p, c = self._p, self._counts
        used = c > 0
        sure = int(c[used & (p == 1.0)].sum())
        never = int(c[used & (p == 0.0)].sum())
        mid = used & (p > 0.0) & (p < 1.0)
        return sure, never, p[mid], c[mid]

    @cached_property
    def _interior(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct p in (0, 1) and their total counts (what the PMF engines take)."""
        _, _, pi, ci = self._parts
        return _merge(pi, ci)

    @cached_property
    def _closed(self) -> tuple[int, float] | None:
        """(n, p) when every trial with 0 < p < 1 shares one p: a binomial in closed form
        (n = 0 when there is none: a point mass, whatever its number of p = 0 or 1 trials)."""
        _, _, pi, ci = self._parts
        if pi.size == 0:
            return 0, 0.5
        return (int(ci.sum()), float(pi[0])) if pi.min() == pi.max() else None

    def _check_pmf_size(self) -> None:
        N = self.n_trials
        if N > _MAX_PMF_TRIALS:
            raise ValueError(
                f"the whole PMF of N = {N} trials would need {N + 1} values "
                f"(~{8 * (N + 1) / 2**30:.3g} GiB per array; the limit is {_MAX_PMF_TRIALS} "
                "trials): ask for single points (logpmf, logcdf, logsf at k) instead"
            )

    def support(self) -> tuple[int, int] | tuple[np.ndarray, np.ndarray]:
        """Smallest and largest value with positive probability (arrays for a batch)."""
        if self._batch_shape:
            used = self._counts * (self._p > 0)
            sure = (self._counts * (self._p == 1.0)).sum(axis=-1)
            return sure, used.sum(axis=-1)
        sure, never, _, _ = self._parts
        return sure, self.n_trials - never

    # ------------------------------------------------------------------ PMF engine
    def _compute_logpmf(self, method: str) -> np.ndarray:
        self._check_pmf_size()
        sure, _, _, _ = self._parts
        pi, ci = self._interior
        if method == "auto":
            method = "direct" if int(ci.sum()) <= _AUTO_DIRECT_MAX else "tilted"
        inner = interior_logpmf(pi, ci, method)
        if inner.size == self.n_trials + 1:  # no trial has p = 0 or 1
            return inner
        out = np.full(self.n_trials + 1, -np.inf)
        out[sure : sure + inner.size] = inner
        return out

    @cached_property
    def _logpmf_all(self) -> np.ndarray:
        arr = self._compute_logpmf(self._method)
        arr.setflags(write=False)
        return arr

    @cached_property
    def _log_tails(self) -> tuple[np.ndarray, np.ndarray]:
        """(logcdf, logsf) at 0..N, each summed from its own tail (no 1 - x cancellation)."""
        lp = self._logpmf_all
        with np.errstate(invalid="ignore"):
            lcdf = np.logaddexp.accumulate(lp)
            # sf(k) = P(X > k): accumulate from the top, shifted by one
            rev = np.logaddexp.accumulate(lp[::-1])[::-1]
        lsf = np.empty_like(lcdf)
        lsf[:-1] = rev[1:]
        lsf[-1] = -np.inf
        # Near 1, the log of a probability is best taken from the small complementary tail:
        # log(1 - sf) keeps full relative accuracy where summing the pmf would round to 0.
        lcdf, lsf = (
            np.where(lcdf > -math.log(2.0), log1mexp(np.minimum(lsf, 0.0)), lcdf),
            np.where(lsf > -math.log(2.0), log1mexp(np.minimum(lcdf, 0.0)), lsf),
        )
        lcdf.setflags(write=False)
        lsf.setflags(write=False)
        return lcdf, lsf

    def pmf_all(self, log: bool = False, *, method: str | None = None) -> np.ndarray:
        """PMF (or log-PMF) at k = 0..N as one array.

        Parameters
        ----------
        log : bool
            Return log-probabilities (finite wherever P > 0, even far below 1e-308).
        method : {"auto", "tilted", "direct", "fft"}, optional
            Override the distribution's method for this call (not cached).

        Examples
        --------
        >>> import binfer
        >>> binfer.Binomial(3, 0.5).pmf_all()
        array([0.125, 0.375, 0.375, 0.125])
        """
        if self._batch_shape:
            return self._batch_pmf_all(log, method)
        if method is None or method == self._method:
            arr = self._logpmf_all
        else:
            arr = self._compute_logpmf(check_choice(method, "method", _METHODS))
            return arr if log else np.exp(arr)  # a fresh array: nothing to protect
        return arr.copy() if log else np.exp(arr)

    def _batch_pmf_all(self, log: bool, method: str | None) -> np.ndarray:
        """Whole PMFs of the members, member by member, padded to N_max + 1 values."""
        N = np.asarray(self.n_trials)
        out = np.full(self._batch_shape + (int(N.max()) + 1,), -np.inf if log else 0.0)
        for index in np.ndindex(*self._batch_shape):
            member = PoissonBinomial(self._p[index], self._counts[index], method=self._method)
            row = member.pmf_all(log, method=method)
            out[index][: row.size] = row
        return out

    # ------------------------------------------------------------------ pointwise
    def _index(self, k) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = read_array(k, "k")
        if np.isnan(k).any():
            raise ValueError("k contains NaN")
        return k, np.floor(k), (k == np.floor(k)) & (k >= 0) & (k <= self.n_trials)

    def _align(self, x, name: str = "k", dtype=float) -> tuple[np.ndarray, tuple[int, ...]]:
        """``x`` of a batch's pointwise method as (B, K) and the member's point shape.

        Its leading axes broadcast against ``batch_shape`` (a scalar: the same for every
        member), its trailing axes are the points of each member."""
        arr = read_array(x, name, dtype=dtype)
        if np.isnan(arr).any():
            raise ValueError(f"{name} contains NaN")
        bs = self._batch_shape
        nb = len(bs)
        if arr.ndim == 0:
            arr = np.broadcast_to(arr, bs)
        lead = arr.shape[:nb]
        ok = arr.ndim >= nb and all(a in (1, b) for a, b in zip(lead, bs, strict=True))
        if not ok:
            dims = ", ".join(map(str, bs))
            raise ValueError(
                f"{name} has shape {arr.shape} but the batch_shape is {bs}: give one point per "
                f"member (shape {bs}), K points each (shape ({dims}, K)) or a scalar"
            )
        pts = arr.shape[nb:]
        arr = np.broadcast_to(arr, bs + pts)
        B = int(np.prod(bs))
        return arr.reshape(B, int(np.prod(pts)) if pts else 1), pts

    def _values(self, k, which: int):
        """logpmf (0), logcdf (1) or logsf (2) at k, for one distribution or a batch."""
        if self._batch_shape:
            return self._batch_values(k, which)
        k = read_array(k, "k")
        if self._few_groups(k):
            # the low-latency route: the kernel also answers outside the support and at
            # non-integer k (logpmf -inf; tails at floor(k))
            if np.isnan(k).any():
                raise ValueError("k contains NaN")
            out, _ = _batch.evaluate(self._p[None, :], self._counts[None, :],
                                     k.reshape(1, -1), tails=which > 0)
            res = out[which, 0].reshape(k.shape)
            return res[()] if res.ndim == 0 else res
        return (self._logpmf, self._logcdf, self._logsf)[which](k)

    def _few_groups(self, k: np.ndarray) -> bool:
        """Read these points from the tilted characteristic function (binfer.core._batch)?  For
        at most ``_POINT_MAX_K`` distinct points, ``method="auto"``, at most ``_CF_MAX_GROUPS``
        groups and ``_CF_MAX_TRIALS`` trials, no cached PMF and more than one group (a binomial
        has its closed form)."""
        return (1 < self._p.size <= _CF_MAX_GROUPS and self._method == "auto"
                and "_logpmf_all" not in self.__dict__ and self._n_total <= _CF_MAX_TRIALS
                and (k.size <= _POINT_MAX_K or np.unique(k).size <= _POINT_MAX_K))

    def _batch_values(self, k, which: int) -> np.ndarray:
        """Values (0 logpmf, 1 logcdf, 2 logsf) of every member at its points."""
        kk, pts = self._align(k)
        p = self._p.reshape(-1, self._p.shape[-1])
        c = self._counts.reshape(-1, self._p.shape[-1])
        out, _ = _batch.evaluate(p, c, kk, tails=which > 0)
        res = out[which]
        for b in np.flatnonzero(c.sum(axis=1) > _CF_MAX_TRIALS):
            member = PoissonBinomial(p[b], c[b], method=self._method)
            res[b] = (member._logpmf, member._logcdf, member._logsf)[which](kk[b])
        return res.reshape(self._batch_shape + pts)

    def _pointwise(self, ks: np.ndarray) -> bool:
        """Evaluate a few points without the whole PMF? (large N, PMF not yet computed)."""
        if "_logpmf_all" in self.__dict__:
            return False
        _, _, _, ci = self._parts
        if int(ci.sum()) > _MAX_PMF_TRIALS:
            return True  # the whole PMF would not fit: every method answers point by point
        if self._method not in ("auto", "tilted"):
            return False
        return int(ci.sum()) >= _POINT_MIN_N and np.unique(ks).size <= _POINT_MAX_K

    @cached_property
    def _points(self) -> PointEvaluator:
        return PointEvaluator(*self._interior)

    @cached_property
    def _point_cache(self) -> dict:
        return {}

    def _point(self, k: int) -> tuple[float, float, float]:
        """(logpmf, logcdf, logsf) at an integer k inside the support, by one tilted window."""
        cache = self._point_cache
        if k not in cache:
            lo, _ = self.support()
            cache[k] = self._points.evaluate(k - lo)
        return cache[k]

    def _lookup(self, ks: np.ndarray, which: int) -> np.ndarray:
        """Values (0 logpmf, 1 logcdf, 2 logsf) at integer ks inside the support."""
        if ks.size == 0:
            return np.zeros(0)
        if self._closed is not None:
            # one binomial: Loader's log-PMF and continued-fraction tails, O(1) per point
            n, p = self._closed
            j = ks - self.support()[0]
            if which == 0:
                return binom_logpmf(j, n, p)
            return binomial_log_tails(j, n, p)[which - 1]
        if self._pointwise(ks):
            return np.array([self._point(int(k))[which] for k in ks])
        if which == 0:
            return self._logpmf_all[ks]
        return self._log_tails[which - 1][ks]

    def logpmf(self, k):
        """log P(X = k); -inf for k outside the support or not an integer."""
        return self._values(k, 0)

    def _logpmf(self, k):
        k, _, ok = self._index(k)
        lo, hi = self.support()
        ok &= (k >= lo) & (k <= hi)
        out = np.full(k.shape, -np.inf)
        out[ok] = self._lookup(k[ok].astype(np.int64), 0)
        return out[()] if out.ndim == 0 else out

    def pmf(self, k):
        """P(X = k)."""
        return np.exp(self.logpmf(k))

    def logcdf(self, k):
        """log P(X <= k), accurate in both tails."""
        return self._values(k, 1)

    def _logcdf(self, k):
        k, fk, _ = self._index(k)
        lo, hi = self.support()
        out = np.where(fk < lo, -np.inf, 0.0)
        inside = (fk >= lo) & (fk < hi)
        out[inside] = self._lookup(fk[inside].astype(np.int64), 1)
        return out[()] if out.ndim == 0 else out

    def cdf(self, k):
        """P(X <= k)."""
        return np.exp(self.logcdf(k))

    def logsf(self, k):
        """log P(X > k), accurate in both tails (not computed as 1 - cdf)."""
        return self._values(k, 2)

    def _logsf(self, k):
        k, fk, _ = self._index(k)
        lo, hi = self.support()
        out = np.where(fk < lo, 0.0, -np.inf)
        inside = (fk >= lo) & (fk < hi)
        out[inside] = self._lookup(fk[inside].astype(np.int64), 2)
        return out[()] if out.ndim == 0 else out

    def sf(self, k):
        """P(X > k)."""
        return np.exp(self.logsf(k))

    def ppf(self, q):
        """Smallest k with P(X <= k) >= q (scipy's convention: ppf(0) = support start - 1)."""
        if self._batch_shape:
            return self._by_member("ppf", q)
        q = check_quantiles(q, "q")
        if self._closed is not None:
            return self._closed_quantile(q, lower=True)
        lcdf, lsf = self._log_tails
        lo, _ = self.support()
        out = np.empty(q.shape)
        flat_q = q.ravel()
        flat = out.ravel()
        for i, qq in enumerate(flat_q):
            if qq == 0.0:
                flat[i] = lo - 1
            elif qq > 0.5:
                # cdf(k) >= q  <=>  sf(k) <= 1 - q ; sf is non-increasing
                target = math.log1p(-qq) if qq < 1 else -math.inf
                flat[i] = int(np.searchsorted(-lsf, -target, side="left"))
            else:
                flat[i] = int(np.searchsorted(lcdf, math.log(qq), side="left"))
        out = flat.reshape(q.shape)
        return out[()] if out.ndim == 0 else out

    def isf(self, q):
        """Smallest k with P(X > k) <= q."""
        if self._batch_shape:
            return self._by_member("isf", q)
        q = check_quantiles(q, "q")
        if self._closed is not None:
            return self._closed_quantile(q, lower=False)
        _, lsf = self._log_tails
        lo, _ = self.support()
        out = np.empty(q.shape)
        flat = out.ravel()
        for i, qq in enumerate(q.ravel()):
            if qq == 1.0:
                flat[i] = lo - 1
            else:
                target = math.log(qq) if qq > 0 else -math.inf
                flat[i] = int(np.searchsorted(-lsf, -target, side="left"))
        out = flat.reshape(q.shape)
        return out[()] if out.ndim == 0 else out

    def _by_member(self, name: str, q) -> np.ndarray:
        """A quantile method of every member (q aligned as k is), member by member."""
        qq, pts = self._align(check_quantiles(q, "q"), "q")
        out = np.empty(qq.shape)
        p = self._p.reshape(-1, self._p.shape[-1])
        c = self._counts.reshape(-1, self._p.shape[-1])
        for b in range(qq.shape[0]):
            member = PoissonBinomial(p[b], c[b], method=self._method)
            out[b] = getattr(member, name)(qq[b])
        return out.reshape(self._batch_shape + pts)

    def _closed_quantile(self, q: np.ndarray, *, lower: bool):
        """ppf (``lower``) or isf of one binomial (plus its sure trials): scipy's quantile
        confirmed by the closed-form tails, else bisection on them (:func:`binomial_ppf`)."""
        n, p = self._closed
        lo, _ = self.support()
        with np.errstate(divide="ignore"):
            if lower:
                # cdf(k) >= q, or for q > 1/2 the equivalent sf(k) <= 1 - q (accurate near 1)
                upper = q > 0.5
                target = np.where(upper, np.log1p(-np.minimum(q, 1.0)), np.log(q))
            else:
                upper = np.ones(q.shape, dtype=bool)
                target = np.log(q)
        out = np.asarray(binomial_ppf(target, upper, n, p) + lo)
        edge = (q == 0.0) if lower else (q == 1.0)
        out[edge] = lo - 1
        return out[()] if out.ndim == 0 else out

    def rvs(self, size=None, random_state=None):
        """Random draws: a sum of binomial draws per group (exact), or inverse CDF for many groups.

        Parameters
        ----------
        size : int or tuple of int, optional
            Shape of the draws (for a batch: ``size + batch_shape``).
        random_state : None, int or numpy.random.Generator
            Anything :func:`numpy.random.default_rng` accepts.
        """
        rng = np.random.default_rng(random_state)
        shape = () if size is None else (size if isinstance(size, tuple) else (int(size),))
        if self._batch_shape:
            # draws of shape size + batch_shape: one sum of binomial draws per member
            return rng.binomial(self._counts, self._p,
                                size=shape + self._p.shape).sum(axis=-1).astype(np.int64)
        n_draws = int(np.prod(shape)) if shape else 1
        if self._p.size <= 64:
            draws = rng.binomial(self._counts, self._p, size=(n_draws, self._p.size)).sum(axis=1)
        else:
            lcdf, _ = self._log_tails
            cdf = np.exp(lcdf)
            draws = np.minimum(np.searchsorted(cdf, rng.random(n_draws), side="right"),
                               self.n_trials)
        draws = draws.astype(np.int64)
        return draws[0] if size is None else draws.reshape(shape)

    # ------------------------------------------------------------------ moments and transforms
    def _sum_groups(self, x: np.ndarray):
        """sum_g counts_g x_g: a float, or an array over the batch."""
        total = (self._counts * x).sum(axis=-1)
        return total if self._batch_shape else float(total)

    def mean(self) -> float | np.ndarray:
        """E[X] = sum_g counts_g p_g."""
        return self._sum_groups(self._p)

    def var(self) -> float | np.ndarray:
        """Var(X) = sum_g counts_g p_g (1 - p_g)."""
        return self._sum_groups(self._p * (1.0 - self._p))

    def std(self) -> float | np.ndarray:
        """Standard deviation."""
        return np.sqrt(self.var()) if self._batch_shape else math.sqrt(self.var())

    def stats(self, moments: str = "mv"):
        """Mean ('m'), variance ('v'), skewness ('s') and excess kurtosis ('k'), as scipy.stats.

        From the Bernoulli cumulants: kappa3 = pq(1 - 2p), kappa4 = pq(1 - 6pq).
        """
        p = self._p
        pq = p * (1.0 - p)
        var = self._sum_groups(pq)
        out = []
        for m in moments:
            if m == "m":
                out.append(self.mean())
            elif m == "v":
                out.append(var)
            elif m in "sk":
                cum = self._sum_groups(pq * (1 - 2 * p) if m == "s" else pq * (1 - 6 * pq))
                with np.errstate(divide="ignore", invalid="ignore"):
                    val = np.where(np.asarray(var) > 0,
                                   cum / np.asarray(var) ** (1.5 if m == "s" else 2.0), np.nan)
                out.append(val if self._batch_shape else float(val))
            else:
                raise ValueError(f"moments must be made of 'm', 'v', 's', 'k'; got {moments!r}")
        return out[0] if len(out) == 1 else tuple(out)

    def pgf(self, s):
        """Probability generating function E[s^X] = prod_g (1 - p_g + p_g s)^counts_g."""
        s_arr = np.asarray(s)
        if self._batch_shape:
            # s aligned as k: (B, K) against (B, G) groups
            flat, pts = self._align(s_arr, "s", dtype=complex)
            z = flat[:, :, None]
            G = self._p.shape[-1]
            pb = self._p.reshape(-1, 1, G)
            cb = self._counts.reshape(-1, 1, G)
            with np.errstate(divide="ignore", invalid="ignore"):
                logs = np.where(cb > 0, cb * np.log((1.0 - pb) + pb * z), 0.0)
            val = np.exp(logs.sum(axis=-1)).reshape(self._batch_shape + pts)
            return val if np.iscomplexobj(s_arr) else val.real
        z = s_arr.astype(complex)[..., None]
        base = (1.0 - self._p) + self._p * z
        used = self._counts > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(used, self._counts * np.log(base), 0.0)
        val = np.exp(logs.sum(axis=-1))
        if not np.iscomplexobj(s_arr):
            val = val.real
        return val[()] if np.ndim(val) == 0 else val

    def mgf(self, t):
        """Moment generating function E[e^(tX)] = prod_g (1 - p_g + p_g e^t)^counts_g."""
        t = np.asarray(t)
        return self.pgf(np.exp(t))

    # ------------------------------------------------------------------ algebra
    def __add__(self, other):
        """Independent sum: a Binomial when every p is equal (the additive property)."""
        if not isinstance(other, PoissonBinomial):
            return NotImplemented
        self._no_batch("X + Y")
        other._no_batch("X + Y")
        p = np.concatenate([self._p, other._p])
        c = np.concatenate([self._counts, other._counts])
        return _simplify(p, c, self._method)

    def deconvolve(self, other: PoissonBinomial) -> PoissonBinomial:
        """The Y with ``self = other + Y`` (Y independent of ``other``), by PGF division.

        ``G_Y(s) = G_self(s) / G_other(s)``.  Both PGFs factor into linear terms
        ``(1 - p + p s)`` with roots ``-(1 - p) / p``, so the quotient is a polynomial exactly
        when every factor of ``other`` (with multiplicity) is a factor of ``self``; it is then the
        product of the remaining factors, a valid PGF.  Otherwise the division leaves a
        remainder and no such Y exists: a ValueError says which factor is missing.  Factors
        match when their p are equal as floating-point numbers (a tolerance would let
        p = 1 - 1e-12 cancel p = 1, whose distributions differ).

        Examples
        --------
        >>> import binfer
        >>> binfer.Binomial(10, 0.3).deconvolve(binfer.Binomial(4, 0.3))
        Binomial(n=6, p=0.3)
        """
        if not isinstance(other, PoissonBinomial):
            raise ValueError(f"can only deconvolve a PoissonBinomial, got {type(other).__name__}")
        self._no_batch("deconvolve")
        other._no_batch("deconvolve")
        zu, zc = self._merged
        zc = zc.copy()
        xu, xc = other._merged
        for q, c in zip(xu, xc, strict=True):
            if q == 0.0:
                continue  # factor 1: divides anything
            hit = np.flatnonzero(zu == q)
            if hit.size == 0 or zc[hit[0]] < c:
                have = int(zc[hit[0]]) if hit.size else 0
                raise ValueError(
                    "no valid Y with Z = X + Y: dividing the PGFs leaves a remainder, since X has "
                    f"{c} trial(s) with p = {q!r} but Z has only {have}; the quotient "
                    "G_Z / G_X is not a polynomial"
                )
            zc[hit[0]] -= c
        keep = zc > 0
        if not keep.any():
            return Binomial(0, 0.0)
        return _simplify(zu[keep], zc[keep], self._method)

    def __sub__(self, other):
        """``Z - X`` is :meth:`deconvolve`: the Y with Z = X + Y."""
        if not isinstance(other, PoissonBinomial):
            return NotImplemented
        return self.deconvolve(other)

    def decompose(self, k: int) -> PoissonBinomial:
        """C such that X = C_1 + ... + C_k with C_i i.i.d. copies of C.

        The PGF's roots are ``-(1 - p_g)/p_g``, so ``G = H^k`` for a PGF H exactly when the
        multiplicity of every distinct p in (0, 1] is divisible by k (p = 0 trials contribute the
        factor 1; a p = 1 group is a constant, which splits only when k divides its size).
        Bin(n, p) splits into k i.i.d. parts iff k divides n.

        Examples
        --------
        >>> import binfer
        >>> binfer.Binomial(10, 0.3).decompose(2)
        Binomial(n=5, p=0.3)
        """
        self._no_batch("decompose")
        k = check_positive_int(k, "k")
        uniq, tot = self._merged
        bad = (uniq > 0) & (tot % k != 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"X cannot be split into {k} i.i.d. parts: p = {uniq[i]:.12g} occurs in "
                f"{tot[i]} trial(s), not a multiple of {k}, so the PGF is not a {k}-th power of "
                "a polynomial with non-negative coefficients"
            )
        comp = np.where(uniq > 0, tot // k, tot // k)
        keep = comp > 0
        if not keep.any():
            return Binomial(0, float(uniq[0]) if uniq.size else 0.0)
        return _simplify(uniq[keep], comp[keep], self._method)

    def matching_binomial(self) -> Binomial:
        """Bin(N, mean / N): the binomial with the same number of trials and the same mean (for
        a batch, a batch of one-group distributions)."""
        if self._batch_shape:
            N = self.n_trials
            pbar = np.divide(self.mean(), N, out=np.zeros(N.shape), where=N > 0)
            return PoissonBinomial(pbar[..., None], N[..., None], method=self._method)
        N = self.n_trials
        return Binomial(N, self.mean() / N if N else 0.0)

    def variance_deficit(self) -> float:
        """Var(X) - Var(matching binomial) = -sum_g counts_g (p_g - pbar)^2 <= 0.

        For two groups this is the seed's ``-n1 n2 / (n1 + n2) (p1 - p2)^2``.
        """
        N = self.n_trials
        if self._batch_shape:
            pbar = np.divide(self.mean(), N, out=np.zeros(N.shape), where=N > 0)
            return -(self._counts * (self._p - pbar[..., None]) ** 2).sum(axis=-1)
        if N == 0:
            return 0.0
        pbar = self.mean() / N
        return -float(np.dot(self._counts, (self._p - pbar) ** 2))

    def logpmf_grad(self, k) -> np.ndarray:
        """d log P(X = k) / d p_g for every group g: shape (len(k), G).

        ``d log P(k) / d p_g = counts_g [P_g(k-1) - P_g(k)] / P(k)`` with P_g the PMF with one
        trial of group g removed, evaluated from the characteristic function of the distribution
        tilted to have mean k + 1/2 (stable in the far tails; one compiled pass over the groups
        per k, ``binfer.core._batch``).  Rows for k outside the support or not an integer are
        NaN (the log-probability is -inf there); a group with no trials has gradient 0, a group
        with p = 0 or 1 its one-sided derivative.

        For a batch, ``k`` is aligned as in :meth:`logpmf` and the result has shape
        ``batch_shape + k's point shape + (G,)``: ``(B, G)`` for one point per member,
        ``(B, K, G)`` for K points each.

        Examples
        --------
        >>> import binfer
        >>> binfer.Binomial(10, 0.3).logpmf_grad([3])  # k/p - (n-k)/(1-p) = 0
        array([[0.]])
        """
        if not self._batch_shape:
            k = np.atleast_1d(read_array(k, "k"))  # rows (len(k), G), even for a scalar k
        return self.logpmf_and_grad(k)[1]


    def logpmf_and_grad(self, k) -> tuple[np.ndarray, np.ndarray]:
        """``(logpmf(k), logpmf_grad(k))`` from one compiled pass (what a sampler or an
        optimiser asks for at every step); shapes as :meth:`logpmf` and :meth:`logpmf_grad`.

        Examples
        --------
        >>> import binfer
        >>> X = binfer.PoissonBinomial([[0.2, 0.5], [0.1, 0.3]], counts=[10, 4])
        >>> value, grad = X.logpmf_and_grad([3, 1])
        >>> value.shape, grad.shape
        ((2,), (2, 2))
        """
        G = self._p.shape[-1]
        if self._batch_shape:
            kk, pts = self._align(k)
            shape = self._batch_shape + pts
        else:
            kk = read_array(k, "k")
            if kk.ndim > 1:
                raise ValueError(f"k must be a scalar or one-dimensional, got shape {kk.shape}")
            shape = kk.shape
            kk = kk.reshape(1, -1)
        if np.isnan(kk).any():
            raise ValueError("k contains NaN")
        out, grad = _batch.evaluate(self._p.reshape(-1, G), self._counts.reshape(-1, G), kk,
                                    tails=False, grad=True)
        value = out[0].reshape(shape)
        return (value[()] if value.ndim == 0 else value), grad.reshape(shape + (G,))


class Binomial(PoissonBinomial):
    """Bin(n, p): the one-group PoissonBinomial, with attributes ``n`` and ``p``.

    Examples
    --------
    >>> import binfer
    >>> binfer.Binomial(12, 0.04) + binfer.Binomial(18, 0.04)
    Binomial(n=30, p=0.04)
    """

    def __init__(self, n: int, p: float, *, method: str = "auto"):
        pa = check_probabilities([p], "p")
        if isinstance(n, bool) or not np.isscalar(n) or n != int(n) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        super().__init__(pa, [int(n)], method=method)

    @property
    def n(self) -> int:  # type: ignore[override]
        """Number of trials."""
        return int(self._counts[0])

    @property
    def p(self) -> float:  # type: ignore[override]
        """Success probability."""
        return float(self._p[0])

    def __repr__(self) -> str:
        return f"Binomial(n={self.n}, p={self.p:.12g})"


def _merge(p: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct p values (sorted) and their total counts: groups with equal p are one binomial."""
    if p.size == 0:
        uniq, tot = p, counts.astype(np.int64)
    else:
        if np.all(counts == 1):
            # one trial each (the common ungrouped case): sorting p needs no permutation
            sp, sc = np.sort(p), counts
        else:
            order = np.argsort(p, kind="stable")
            sp, sc = p[order], counts[order]
        starts = np.flatnonzero(np.concatenate(([True], sp[1:] != sp[:-1])))
        if starts.size == sp.size:  # all distinct (the common case): nothing to merge
            uniq, tot = sp, sc.astype(np.int64)
        else:
            uniq, tot = sp[starts], np.add.reduceat(sc, starts).astype(np.int64)
    uniq.setflags(write=False)
    tot.setflags(write=False)
    return uniq, tot


def _simplify(p: np.ndarray, counts: np.ndarray, method: str) -> PoissonBinomial:
    """A Binomial when every group with trials shares one p, else a PoissonBinomial."""
    keep = counts > 0
    if not keep.any():
        return Binomial(0, float(p[0]), method=method)
    if np.all(p[keep] == p[keep][0]):
        return Binomial(int(counts[keep].sum()), float(p[keep][0]), method=method)
    return PoissonBinomial(p, counts, method=method)
