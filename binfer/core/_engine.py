"""The tail-accurate engine: the whole log-PMF of a sum of independent binomial blocks.

Hand-written because no library does it: FFT convolution (``scipy.signal.fftconvolve``,
fast-poibin) is accurate only to ~1e-16 *absolute*, and the relatively accurate direct
convolutions (``scipy.stats.poisson_binom``) are O(N^2) and underflow below 1e-308.

Algorithm ("tilted windows on a product tree")
----------------------------------------------
Every node of a product tree holds the full log-PMF of the trials below it, relatively accurate at
every k.  Leaves are exact: a group of ``n`` trials with a common ``p`` is a binomial block
(Loader's algorithm), and runs of single trials with distinct p are built by a log-space recursion.
Two nodes A and B are combined window by window.  For a window centred near k0 both are
exponentially tilted, ``A'(j) = A(j) e^(theta j)`` (a tilted Poisson-binomial is again one, with
``p' = expit(logit p + theta)``), with theta chosen so that the tilted product peaks at k0.
Only the coefficients within ``e^-T`` of each tilted maximum are kept (A and B are log-concave, so
this is an interval found by bisection, ~11 tilted sd wide), they are convolved in linear scale
(FFT for large bands, ``numpy.convolve`` for small ones) and untilted:
``log C(k) = log C'(k) - theta k``.  A window's result is kept only where ``C'(k)`` is within
``e^-W`` of its maximum, where the convolution's rounding error (relative to the maximum) is still
tiny *relative to the value*.  Windows are placed until every k of C is covered.

The cost of one combination is O(n log n) (about n / (8 sd) windows, each an FFT of ~20 sd points),
so the whole tree is O(N log^2 N), sub-quadratic, and accurate to ~1e-12 relative at every k,
including far below the double-precision range (the logs never underflow).

References
----------
N. Peres, A. R. Lee, U. Keich (2021), "Exactly computing the tail of the Poisson-binomial
distribution", ACM Trans. Math. Softw. 47(4), arXiv:2004.07429 (exponential shifting of FFT
convolutions).  C. Loader (2000), "Fast and Accurate Computation of Binomial Probabilities".
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from scipy import fft as sfft
from scipy.special import logsumexp

from ._logbinom import binom_logpmf_all

# Truncation depth of the tilted bands: terms below e^-T of a band's maximum are dropped.
# The dropped mass at any k is < (band count) * e^-T * max(C'), so with e^-T = 2.7e-33 and
# k kept only where C' > e^-W max(C') the truncation error is < n e^(W-T) (< 1e-15 for n = 1e7).
_T = 75.0
# Truncation depth for FFT windows (which keep only C' >= e^-7 max): n e^(7 - T) < 1e-13 for
# n <= 1e7 needs T >= 52.
_T_FFT = 52.0
# Threads for the batched FFTs (scipy.fft's workers).
_WORKERS = -1
# Kept depth for FFT windows: FFT rounding is ~1e-16 * (a few) relative to max(C'); keeping only
# C' >= e^-7 max(C') (about +-3.7 tilted sd) bounds its effect at ~1e-12 relative.
_W_FFT = 7.0
# Kept depth for direct (relatively accurate) convolution windows: limited only by truncation.
_W_DIRECT = 28.0
# Band products at or below this size are convolved directly (relatively accurate, no window
# limit from rounding); above it, by FFT.
_DIRECT_WORK = 40_000
# ... and so is any band product whose shorter band has at most this many points.
_DIRECT_MIN = 32
# One tilt and one direct convolution cover a whole product when the tilted coefficients span
# at most e^-_RANGE (no product underflows: e^-600 > 1e-261), for products up to this much work.
_RANGE = 600.0
_ONE_TILT_WORK = 300_000
# Products of at least this many trials place all their windows at once and batch the FFTs.
_BATCH_MIN_N = 256
# Elements per batch of windows (bounds memory: ~16 bytes each, several arrays).
_BATCH_ELEMS = 2_000_000
# ... and below this many padded elements a product's windows all go in one batch.
_BATCH_SMALL = 200_000
# Full leaf chunks are multiplied level by level, all products of a level in one batch.
_LEVELWISE = True
# Leaves: runs of single trials (sorted by p) are built by a tilted linear recursion in chunks of
# this size (a log-space recursion for the rare chunk whose tilted coefficients would underflow).
_LEAF = 256
# Nodes this small are combined by an exact log-space direct convolution.
_SMALL = 24


def _log_direct_conv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact log-space convolution (logsumexp over the shorter operand): O(len(a) len(b))."""
    if a.size > b.size:
        a, b = b, a
    m, n = a.size, b.size
    mat = np.full((m, m + n - 1), -np.inf)
    idx = np.arange(m)[:, None] + np.arange(n)[None, :]
    mat[np.arange(m)[:, None], idx] = a[:, None] + b[None, :]
    return logsumexp(mat, axis=0)


def _log_recursion(pp: np.ndarray) -> np.ndarray:
    """Log-PMFs of the rows of ``pp`` (chunks of trials) by the log-space recursion: O(L^2)."""
    n_chunks, chunk = pp.shape
    with np.errstate(divide="ignore"):
        lp = np.log(pp)
        lq = np.log1p(-pp)
    lpmf = np.full((n_chunks, chunk + 1), -np.inf)
    lpmf[:, 0] = 0.0
    for i in range(chunk):
        new = lpmf[:, : i + 2].copy()
        new[:, 0] = lpmf[:, 0] + lq[:, i]
        new[:, 1 : i + 2] = np.logaddexp(lpmf[:, 1 : i + 2] + lq[:, i : i + 1],
                                         lpmf[:, : i + 1] + lp[:, i : i + 1])
        lpmf[:, : i + 2] = new
    return lpmf


def _linear_recursion(pt: np.ndarray, qt: np.ndarray) -> np.ndarray:
    """PMFs of the rows of ``pt`` (chunks of trials, q = ``qt``): P(j) <- q P(j) + p P(j-1).

    Only non-negative terms are added, so every coefficient is relatively accurate (~2 L eps)
    unless it underflows.
    """
    n_chunks, chunk = pt.shape
    # coefficient-major layout: each update touches contiguous rows of chunks
    P = np.zeros((chunk + 1, n_chunks))
    P[0] = 1.0
    ptT, qtT = np.ascontiguousarray(pt.T), np.ascontiguousarray(qt.T)
    tmp = np.empty((chunk, n_chunks))
    for i in range(chunk):
        t = tmp[: i + 1]
        np.multiply(P[: i + 1], ptT[i], out=t)
        P[: i + 2] *= qtT[i]
        P[1 : i + 2] += t
    return P.T


def _tilted_recursion(pp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-PMFs of the rows of ``pp`` by the linear recursion on tilted probabilities.

    Each chunk is tilted to p' = expit(logit p + theta) with theta = -median logit p, so that its
    coefficients stay far from underflow; the recursion P(j) <- q' P(j) + p' P(j-1) adds
    non-negative terms only, so every coefficient is relatively accurate (~2 L eps).  Untilting:
    log P(j) = log P'(j) - theta j + sum_i log(q_i + p_i e^theta).  Returns the log-PMFs and a
    mask of the chunks whose tilted coefficients came too close to underflow (redo those in logs).
    """
    n_chunks, chunk = pp.shape
    with np.errstate(divide="ignore"):
        logit = np.log(pp) - np.log1p(-pp)
    real = pp > 0  # padding trials have p = 0
    # rows hold sorted p (padding p = 0 at the end): the middle real entry is the median
    sizes = real.sum(axis=1)
    theta = -logit[np.arange(n_chunks), np.maximum(sizes - 1, 0) // 2]
    theta[sizes == 0] = 0.0
    z = logit + theta[:, None]
    pt = np.where(real, 1.0 / (1.0 + np.exp(-z)), 0.0)
    qt = np.where(real, 1.0 / (1.0 + np.exp(z)), 1.0)
    P = _linear_recursion(pt, qt)
    # log(q + p e^theta) = log q - log q' = log1p(-p) + log1p(e^z)
    norm = np.where(real, np.log1p(-pp) + np.logaddexp(0.0, z), 0.0).sum(axis=1)
    col = np.arange(chunk + 1)
    inside = col[None, :] <= sizes[:, None]
    bad = ((P < 1e-280) & inside).any(axis=1)
    with np.errstate(divide="ignore"):
        out = np.log(P) - theta[:, None] * col[None, :] + norm[:, None]
    return out, bad


def bernoulli_chunk_matrix(p: np.ndarray, chunk: int = _LEAF) -> tuple[np.ndarray, np.ndarray]:
    """Log-PMFs of chunks of single trials (0 < p < 1) as rows of a matrix, and the chunk sizes.

    The trials are sorted by p first so that each chunk is homogeneous (tilting then keeps its
    coefficients in range, and neighbouring chunks combine with small dynamic range).  Entries
    past a chunk's size are -inf.
    """
    n_total = p.size
    p = np.sort(p)
    n_chunks = -(-n_total // chunk)
    pad = n_chunks * chunk - n_total
    # Padding trials with p = 0 add nothing (log q = 0, log p = -inf).
    pp = np.concatenate([p, np.zeros(pad)]).reshape(n_chunks, chunk)
    lpmf, bad = _tilted_recursion(pp)
    if bad.any():
        lpmf[bad] = _log_recursion(pp[bad])
    sizes = np.full(n_chunks, chunk)
    if pad:
        sizes[-1] = chunk - pad
        lpmf[-1, sizes[-1] + 1 :] = -np.inf
    return lpmf, sizes


def _fft_conv(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Linear convolution by real FFTs (scipy.fft directly: fftconvolve's checks cost ~0.2 ms)."""
    m = x.size + y.size - 1
    size = sfft.next_fast_len(m, real=True)
    return sfft.irfft(sfft.rfft(x, size) * sfft.rfft(y, size), size)[:m]


def _band(a: np.ndarray, theta: float, mode: int, depth: float) -> tuple[int, int]:
    """Interval [lo, hi] around ``mode`` where a(j) + theta j >= max - depth (a is log-concave).

    Values are formed relative to the mode, (a(j) - a(mode)) + theta (j - mode), so that a large
    theta times a large j never enters the sum (that would cost ~1e-7 absolute at j = 1e6).
    """
    top = a[mode]

    def rel(j: int) -> float:
        return (a[j] - top) + theta * (j - mode)

    if rel(0) >= -depth:
        left = 0
    else:
        lo, hi = 0, mode
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if rel(mid) >= -depth:
                hi = mid
            else:
                lo = mid
        left = hi
    n = a.size - 1
    if rel(n) >= -depth:
        right = n
    else:
        lo, hi = mode, n
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if rel(mid) >= -depth:
                lo = mid
            else:
                hi = mid
        right = lo
    return left, right


def _tilted_mode(diffs_desc_neg: np.ndarray, theta: float) -> int:
    """Mode of a(j) + theta j given the sorted (ascending) negated first differences of a."""
    # mode = #{j : a(j) - a(j-1) + theta > 0} = #{-diff < theta}
    return int(np.searchsorted(diffs_desc_neg, theta, side="left"))


def _one_tilt_direct(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """Whole product by one tilt and one direct convolution, when the dynamic range allows.

    Tilting both factors by the theta that levels the product's end points, the tilted
    coefficients span ``e^-rA..1`` and ``e^-rB..1``.  When ``rA + rB <= _RANGE`` no product of
    coefficients underflows, and a direct convolution of non-negative numbers is relatively
    accurate at every k (no cancellation), so one pass gives the whole log-PMF.
    """
    n = a.size + b.size - 2
    if a.size * b.size > _ONE_TILT_WORK:
        return None
    theta = ((a[0] + b[0]) - (a[-1] + b[-1])) / n if n else 0.0
    ta = a + theta * np.arange(a.size)
    tb = b + theta * np.arange(b.size)
    ma, mb = ta.max(), tb.max()
    if (ma - ta.min()) + (mb - tb.min()) > _RANGE:
        return None
    c = np.convolve(np.exp(ta - ma), np.exp(tb - mb))
    return np.log(c) + (ma + mb) - theta * np.arange(n + 1)


def _window(a, b, nda, ndb, theta):
    """One tilted window: (k0, c, depth, log a(ma) + b(mb), ma + mb) with C'(k0 + i) = c[i].

    Untilt with ``log C(k) = log c[k - k0] + base + theta (ma + mb - k)``: forming the difference
    of indices first keeps theta * k (up to ~1e9) out of the rounding."""
    ma = _tilted_mode(nda, theta)
    mb = _tilted_mode(ndb, theta)
    la, ua = _band(a, theta, ma, _T)
    lb, ub = _band(b, theta, mb, _T)
    va = np.exp((a[la : ua + 1] - a[ma]) + theta * np.arange(la - ma, ua - ma + 1))
    vb = np.exp((b[lb : ub + 1] - b[mb]) + theta * np.arange(lb - mb, ub - mb + 1))
    if va.size * vb.size <= _DIRECT_WORK or min(va.size, vb.size) <= _DIRECT_MIN:
        c = np.convolve(va, vb)
        depth = _W_DIRECT
    else:
        c = _fft_conv(va, vb)
        depth = _W_FFT
    return la + lb, c, depth, a[ma] + b[mb], ma + mb


def _kept_run(c: np.ndarray, depth: float) -> tuple[int, int, int]:
    """(lo, hi, argmax): the run of c >= max(c) e^-depth around the maximum (an interval)."""
    cmax_i = int(np.argmax(c))
    keep = c >= c[cmax_i] * math.exp(-depth)
    gaps = np.flatnonzero(~keep[:cmax_i])
    lo_i = int(gaps[-1]) + 1 if gaps.size else 0
    gaps = np.flatnonzero(~keep[cmax_i:])
    hi_i = cmax_i + int(gaps[0]) - 1 if gaps.size else c.size - 1
    return lo_i, hi_i, cmax_i


def combine_tilted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Log-PMF of the sum of two independent variables with log-concave log-PMFs a and b."""
    na, nb = a.size - 1, b.size - 1
    n = na + nb
    one = _one_tilt_direct(a, b)
    if one is not None:
        return one
    if min(na, nb) < _SMALL:
        return _log_direct_conv(a, b)
    if n >= _BATCH_MIN_N:
        # all windows at once (the one-row case of the level-wise products)
        return combine_rows(a[None, :], b[None, :])[0]
    # Negated first differences, ascending: -(a(j) - a(j-1)) increases with j (log-concavity).
    nda = np.sort(-np.diff(a))
    ndb = np.sort(-np.diff(b))
    merged = np.sort(np.concatenate([nda, ndb]))  # thresholds of theta for the product's mode
    out = np.full(n + 1, np.nan)
    _fill_adaptive(a, b, nda, ndb, merged, out, 0, n)
    return out


def _theta_for(merged: np.ndarray, target, rows=0):
    """Tilt(s) putting the product's tilted mode at ``target`` (scalar or array).

    ``merged`` holds the sorted slope thresholds of one product (1-D) or of many (2-D, one
    row each, picked by ``rows``): mode(theta) = #{merged < theta}, so target t needs
    merged[t-1] < theta <= merged[t].
    """
    m2 = np.atleast_2d(merged)
    n = m2.shape[1]
    t = np.asarray(target)
    inner = 0.5 * (m2[rows, np.clip(t - 1, 0, n - 1)] + m2[rows, np.clip(t, 0, n - 1)])
    th = np.where(t <= 0, m2[rows, 0] - 1.0, np.where(t >= n, m2[rows, n - 1] + 1.0, inner))
    return float(th) if th.ndim == 0 else th


def _fill_adaptive(a, b, nda, ndb, merged, out, k_from: int, k_to: int) -> None:
    """Cover out[k_from..k_to] window by window, placing each from the last one's width."""
    n = merged.size
    k_cur = k_from
    target = k_from
    tries = 0
    while k_cur <= k_to:
        theta = _theta_for(merged, target)
        k0, c, depth, base, mode = _window(a, b, nda, ndb, theta)
        lo_i, hi_i, cmax_i = _kept_run(c, depth)
        vlo, vhi = k0 + lo_i, k0 + hi_i
        if vlo > k_cur:
            # Window placed too far: bring it back towards k_cur.
            tries += 1
            if tries > 60:
                raise RuntimeError("tilted convolution failed to cover the support")
            target = k_cur + (target - k_cur) // 2
            continue
        tries = 0
        if vhi < k_cur:
            target = k_cur + 1
            continue
        vhi = min(vhi, k_to)
        ks = np.arange(k_cur, vhi + 1)
        out[ks] = np.log(c[ks - k0]) + base + theta * (mode - ks)
        half = max(1, vhi - (k0 + cmax_i))
        k_cur = vhi + 1
        target = min(n, k_cur + max(1, (4 * half) // 5))


def _bisect(ok, bad_end: np.ndarray, good_end: np.ndarray) -> np.ndarray:
    """Per lane, the index nearest ``bad_end`` at which the monotone ``ok`` holds, searching the
    interval from ``bad_end`` (where ok may fail) to ``good_end`` (where it holds)."""
    bad, good = bad_end.copy(), good_end.copy()
    while True:
        active = np.abs(good - bad) > 1
        if not active.any():
            return good
        mid = (bad + good) // 2
        hit = ok(mid)
        good = np.where(active & hit, mid, good)
        bad = np.where(active & ~hit, mid, bad)


def _rows_bisect_count(sorted_rows: np.ndarray, rows: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per query, #{sorted_rows[row] < x} (a searchsorted on each query's own row)."""
    lo = np.zeros(rows.size, dtype=np.int64)
    hi = np.full(rows.size, sorted_rows.shape[1], dtype=np.int64)
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        less = sorted_rows[rows, np.minimum(mid, sorted_rows.shape[1] - 1)] < x
        lo = np.where(active & less, mid + 1, lo)
        hi = np.where(active & ~less, mid, hi)


def _rows_band(A: np.ndarray, rows, theta, mode, depth):
    """Per window (row, theta, mode): the interval where A[row]'(j) >= max - depth."""
    n = A.shape[1] - 1
    top = A[rows, mode]

    def ok(j):
        return (A[rows, j] - top) + theta * (j - mode) >= -depth

    zero = np.zeros_like(mode)
    end = np.full_like(mode, n)
    left = np.where(ok(zero), 0, _bisect(ok, zero, mode))
    right = np.where(ok(end), n, _bisect(ok, end, mode))
    return left, right


def combine_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Row-wise products of many pairs of log-PMFs at once (row r of A times row r of B).

    The same tilted windows as :func:`combine_tilted`, but every window of every pair goes
    through one set of batched array operations, so a whole level of the product tree costs a
    few dozen numpy calls instead of a few dozen per product.  Rows are full log-PMFs of equal
    length (finite, log-concave).
    """
    R, wa1 = A.shape
    wb1 = B.shape[1]
    n = wa1 + wb1 - 2
    cols = np.arange(n + 1)
    out = np.full((R, n + 1), np.nan)
    # 1. pairs whose tilted range allows one direct convolution (relatively accurate everywhere)
    one = np.zeros(R, dtype=bool)
    if wa1 * wb1 <= _ONE_TILT_WORK:
        theta0 = ((A[:, 0] + B[:, 0]) - (A[:, -1] + B[:, -1])) / n
        ta = A + theta0[:, None] * np.arange(wa1)
        tb = B + theta0[:, None] * np.arange(wb1)
        ma, mb = ta.max(axis=1), tb.max(axis=1)
        one = (ma - ta.min(axis=1)) + (mb - tb.min(axis=1)) <= _RANGE
    if one.any():
        va = np.exp(ta[one] - ma[one][:, None])
        vb = np.exp(tb[one] - mb[one][:, None])
        c = np.zeros((va.shape[0], n + 1))
        if wa1 <= wb1:
            for j in range(wa1):
                c[:, j : j + wb1] += va[:, j : j + 1] * vb
        else:
            for j in range(wb1):
                c[:, j : j + wa1] += vb[:, j : j + 1] * va
        out[one] = np.log(c) + (ma + mb)[one][:, None] - theta0[one][:, None] * cols
    rest = np.flatnonzero(~one)
    if rest.size == 0:
        return out
    A, B = A[rest], B[rest]
    R2 = rest.size
    nda = np.sort(-np.diff(A, axis=1), axis=1)
    ndb = np.sort(-np.diff(B, axis=1), axis=1)
    merged = np.sort(np.concatenate([nda, ndb], axis=1), axis=1)
    # 2. window targets per row (all rows advance together)
    t_all = np.arange(n + 1)
    h = 6
    lo = np.clip(t_all - h, 0, n - 1)
    hi = np.clip(t_all + h, 0, n - 1)
    sd = np.sqrt(np.maximum(hi - lo, 1) / np.maximum(merged[:, hi] - merged[:, lo], 1e-300))
    row_ids, targets = [np.arange(R2)], [np.zeros(R2, dtype=np.int64)]
    t = np.zeros(R2, dtype=np.int64)
    live = np.arange(R2)
    while live.size:
        tt = t[live]
        s_t = sd[live, tt]
        ahead = np.minimum(n, tt + (6.0 * s_t).astype(np.int64) + 1)
        step = (2.8 * (s_t + np.minimum(s_t, sd[live, ahead]))).astype(np.int64)
        step = np.maximum(1, np.minimum(step, np.minimum((tt + 1) // 2, (n - tt) // 3)))
        tt = np.minimum(n, tt + step)
        t[live] = tt
        row_ids.append(live)
        targets.append(tt)
        live = live[tt < n]
    row_w = np.concatenate(row_ids)
    tgt = np.concatenate(targets)
    order = np.lexsort((tgt, row_w))
    row_w, tgt = row_w[order], tgt[order]
    # ownership: between midpoints to the neighbouring targets of the same row
    same_prev = np.r_[False, row_w[1:] == row_w[:-1]]
    same_next = np.r_[row_w[:-1] == row_w[1:], False]
    prev_t = np.r_[0, tgt[:-1]]
    next_t = np.r_[tgt[1:], 0]
    own_lo = np.where(same_prev, (prev_t + tgt) // 2 + 1, 0)
    own_hi = np.where(same_next, (tgt + next_t) // 2, n)
    theta = _theta_for(merged, tgt, row_w)
    mA = _rows_bisect_count(nda, row_w, theta)
    mB = _rows_bisect_count(ndb, row_w, theta)
    la, ua = _rows_band(A, row_w, theta, mA, _T_FFT)
    lb, ub = _rows_band(B, row_w, theta, mB, _T_FFT)
    wa, wb = ua - la + 1, ub - lb + 1
    A_pad = np.concatenate([A, np.full((R2, int(wa.max())), -np.inf)], axis=1)
    B_pad = np.concatenate([B, np.full((R2, int(wb.max())), -np.inf)], axis=1)
    size = wa + wb - 1
    res = np.full((R2, n + 1), np.nan)
    cut = math.exp(-_W_FFT)
    byw = np.argsort(size, kind="stable")
    nw = byw.size
    start = 0
    while start < nw:
        first = size[byw[start]]
        stop = start + 1
        while (stop < nw and (size[byw[stop]] <= 2.0 * first
                              or (stop + 1) * size[byw[stop]] < _BATCH_SMALL)
               and (stop - start) * size[byw[stop]] < _BATCH_ELEMS):
            stop += 1
        w = byw[start:stop]
        start = stop
        Wa, Wb = int(wa[w].max()), int(wb[w].max())
        r = row_w[w]
        ia = la[w][:, None] + np.arange(Wa)[None, :]
        va = np.exp((A_pad[r[:, None], ia] - A[r, mA[w]][:, None])
                    + theta[w][:, None] * (ia - mA[w][:, None]))
        ib = lb[w][:, None] + np.arange(Wb)[None, :]
        vb = np.exp((B_pad[r[:, None], ib] - B[r, mB[w]][:, None])
                    + theta[w][:, None] * (ib - mB[w][:, None]))
        m = Wa + Wb - 1
        nfft = sfft.next_fast_len(m, real=True)
        fa = sfft.rfft(va, nfft, axis=1, workers=_WORKERS)
        fa *= sfft.rfft(vb, nfft, axis=1, workers=_WORKERS)
        c = sfft.irfft(fa, nfft, axis=1, workers=_WORKERS)[:, :m]
        cmax = c.max(axis=1)
        lens = own_hi[w] - own_lo[w] + 1
        rows = np.repeat(np.arange(w.size), lens)
        starts = np.repeat(np.cumsum(lens) - lens, lens)
        k = np.arange(rows.size) - starts + own_lo[w][rows]
        cc = k - (la[w] + lb[w])[rows]
        inside = (cc >= 0) & (cc < m)
        vals = np.where(inside, c[rows, np.clip(cc, 0, m - 1)], 0.0)
        good = vals >= cut * cmax[rows]
        rows, k, vals = rows[good], k[good], vals[good]
        rr = r[rows]
        res[rr, k] = (np.log(vals) + (A[r, mA[w]] + B[r, mB[w]])[rows]
                      + theta[w][rows] * ((mA[w] + mB[w])[rows] - k))
    for i in np.flatnonzero(np.isnan(res).any(axis=1)):
        gaps = np.flatnonzero(np.isnan(res[i]))
        a, b = A[i], B[i]
        nda_i, ndb_i, merged_i = nda[i], ndb[i], merged[i]
        breaks = np.flatnonzero(np.diff(gaps) > 1)
        for s0, e0 in zip(np.r_[gaps[0], gaps[breaks + 1]], np.r_[gaps[breaks], gaps[-1]],
                          strict=True):
            _fill_adaptive(a, b, nda_i, ndb_i, merged_i, res[i], int(s0), int(e0))
    out[rest] = res
    return out


def _chunk_tree(M: np.ndarray) -> list[np.ndarray]:
    """Multiply the rows of M (equal-length full log-PMFs) level by level with combine_rows.

    Returns the product plus the odd rows left over at some levels (to join in the final tree).
    """
    leftovers = []
    while M.shape[0] > 1:
        if M.shape[0] % 2:
            leftovers.append(M[-1])
            M = M[:-1]
        M = combine_rows(M[0::2], M[1::2])
    return [M[0]] + leftovers


def combine_fft_linear(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Linear-scale FFT convolution (absolute accuracy ~1e-16, as the FFT peers)."""
    c = _fft_conv(a, b)
    np.maximum(c, 0.0, out=c)
    return c


def _tree(nodes: list[np.ndarray], combine) -> np.ndarray:
    """Combine nodes smallest-first (Huffman order keeps every product balanced)."""
    heap = [(x.size, i, x) for i, x in enumerate(nodes)]
    heapq.heapify(heap)
    counter = len(nodes)
    while len(heap) > 1:
        _, _, x = heapq.heappop(heap)
        _, _, y = heapq.heappop(heap)
        z = combine(x, y)
        heapq.heappush(heap, (z.size, counter, z))
        counter += 1
    return heap[0][2]


def banded_fft_product(P: np.ndarray, off: np.ndarray, mu: np.ndarray, var: np.ndarray):
    """Product of the rows of P (non-negative, linear scale) by a level-wise FFT tree.

    Row r holds Q_r(off_r + i), a distribution (or a tilted, rescaled one) with mean mu_r and
    variance var_r.  Every level multiplies pairs of rows with one batched real FFT, rescales
    each row to maximum 1 (no overflow however many levels) and cuts it to its Bernstein band
    mu +- t, t = 11 sd + 40, outside which the mass is below e^-60 (far below the FFT's own
    ~1e-16 rounding).  Returns (values, offset, log of the scale factors taken out).
    """
    lscale = 0.0
    while P.shape[0] > 1:
        if P.shape[0] % 2:
            delta = np.zeros((1, P.shape[1]))
            delta[0, 0] = 1.0
            P = np.vstack([P, delta])
            off, mu, var = np.r_[off, 0], np.r_[mu, 0.0], np.r_[var, 0.0]
        m = 2 * P.shape[1] - 1
        nfft = sfft.next_fast_len(m, real=True)
        F = sfft.rfft(P, nfft, axis=1, workers=_WORKERS)
        P = sfft.irfft(F[0::2] * F[1::2], nfft, axis=1, workers=_WORKERS)[:, :m]
        off = off[0::2] + off[1::2]
        mu = mu[0::2] + mu[1::2]
        var = var[0::2] + var[1::2]
        top = P.max(axis=1)
        P /= top[:, None]
        lscale += float(np.log(top).sum())
        t = 11.0 * np.sqrt(var) + 40.0
        lo = np.clip(np.floor(mu - t).astype(np.int64) - off, 0, m - 1)
        hi = np.clip(np.ceil(mu + t).astype(np.int64) - off, 0, m - 1)
        width = int((hi - lo).max()) + 1
        if width < m:
            Pp = np.concatenate([P, np.zeros((P.shape[0], width))], axis=1)
            P = Pp[np.arange(P.shape[0])[:, None], lo[:, None] + np.arange(width)]
            off = off + lo
    return np.maximum(P[0], 0.0), int(off[0]), lscale


def _fft_logpmf(p: np.ndarray, blocks: list[np.ndarray], leaf: int = 16) -> np.ndarray:
    """The peers' method: linear-scale FFT product tree (absolute accuracy ~1e-16 only).

    Single trials go through a vectorised recursion in chunks of ``leaf`` and then a
    level-by-level product tree in which every level is one batched real FFT (pairs of rows);
    binomial blocks join at the end.
    """
    nodes = [np.exp(x) for x in blocks]
    if p.size:
        n_chunks = -(-p.size // leaf)
        pp = np.concatenate([p, np.zeros(n_chunks * leaf - p.size)]).reshape(n_chunks, leaf)
        qq = 1.0 - pp
        P, off, _ = banded_fft_product(_linear_recursion(pp, qq),
                                       np.zeros(n_chunks, dtype=np.int64),
                                       pp.sum(axis=1), (pp * qq).sum(axis=1))
        row = np.zeros(p.size + 1)
        take = min(P.size, p.size + 1 - off)
        row[off : off + take] = P[:take]
        nodes.append(row)
    if not nodes:
        return np.zeros(1)
    c = _tree(nodes, combine_fft_linear)
    np.maximum(c, 0.0, out=c)
    with np.errstate(divide="ignore"):
        return np.log(c / c.sum())


def interior_logpmf(p: np.ndarray, counts: np.ndarray, method: str = "tilted") -> np.ndarray:
    """Log-PMF (length sum(counts)+1) of sum_g Bin(counts[g], p[g]) with every p in (0, 1).

    ``p`` must hold distinct values (merge equal p first: they form one binomial block).
    """
    single = counts == 1
    nodes: list[np.ndarray] = [binom_logpmf_all(int(c), float(q))
                               for q, c in zip(p[~single], counts[~single], strict=True)]
    if method == "direct":
        nodes += [np.array([math.log1p(-q), math.log(q)]) for q in p[single]]
        if not nodes:
            return np.zeros(1)
        return _tree(nodes, _log_direct_conv)
    if method == "fft":
        return _fft_logpmf(p[single], nodes)
    if method != "tilted":
        raise ValueError(f"method must be 'auto', 'tilted', 'direct' or 'fft', got {method!r}")
    if single.any():
        M, sizes = bernoulli_chunk_matrix(p[single], _LEAF)
        full = sizes == _LEAF
        if _LEVELWISE and full.sum() >= 2:
            nodes += _chunk_tree(M[full])
        else:
            nodes += [M[c, : _LEAF + 1].copy() for c in np.flatnonzero(full)]
        nodes += [M[c, : sizes[c] + 1].copy() for c in np.flatnonzero(~full)]
    if not nodes:
        return np.zeros(1)
    return _tree(nodes, combine_tilted)


__all__ = ["interior_logpmf", "combine_tilted", "bernoulli_chunk_matrix"]
