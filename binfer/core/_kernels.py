"""Compiled kernels (numba) for the tail-accurate engine's hot loops.

The tilted-window products of :mod:`binfer.core._engine` spend their time in scalar work that
numpy can only batch at a large constant cost (band bisection, gathers, exponentials, short
convolutions).  These kernels do that arithmetic in compiled loops; the FFTs stay in scipy.fft.
What they bought (benchmarks/README.md, same machine, same p): the default tail-accurate PMF at
N = 1e4 went from 1.2 x fast-poibin's O(N^2) "dp" time to about 0.17 x, at N = 1e6 from 6.4 x
fast-poibin's FFT time to about 1 x.

Compiled with ``cache=True``: the first call in a fresh installation compiles them (~5 s for
the whole engine, once; ``python -m binfer.core._warmup`` does it ahead, and ``make demo`` /
``make test`` run that); later processes load the cache.  Compile time (it was ~25 s) is kept
down by keeping the kernels shallow, since numba re-optimises and re-emits the code of every
compiled callee inside each caller: the direct windows exist in one compiled function
(:func:`_direct`, which also runs the narrow tree), the helpers are small and compiled once,
and constructs that compile slowly are avoided (array slice assignments compile numpy's shape
checks and their error messages, ``np.searchsorted`` its NaN-aware comparisons, ``array.view``
~0.3 s, a literal int argument such as ``0`` a second specialisation of the callee).
"""

from __future__ import annotations

import math

import llvmlite.ir as llvm_ir
import numpy as np
from numba import njit, types
from numba.extending import intrinsic

# Helpers of the windows are compiled once, as functions of their own (``_shared``); inlined in
# numba's IR in each caller they cost ~1.3 s more in a fresh installation (typed and lowered again
# at every call site).  Those of the leaves (_neumaier, _log_recursion_row) are cheaper inlined
# (``_inline``).  The results are the same either way (IEEE arithmetic, no fastmath flags).
_shared = njit(cache=True)
_inline = njit(cache=True, inline="always")

# Direct windows: band depth (coefficients below e^-_T of a factor's tilted maximum are dropped)
# and validity threshold (an output is kept where its tilted value is >= e^-_VALID, the
# factors' maxima being 1).  Each dropped term is < e^-_T and they fall off geometrically beyond
# the band, so the truncation error of a kept value is below (a few) e^(_VALID - _T) = 3e-17
# relative, and below 1e-13 even if 3000 dropped terms were each as large as the band's edge.
_T = 64.0
_VALID = 26.0


@intrinsic
def _f64_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (a register bitcast: numba compiles
    an array ``view`` for the same job in ~0.3 s, and the loop below then needed two passes)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.DoubleType())

    return types.float64(types.int64), codegen


@_shared
def _search_left(x, v):
    """``np.searchsorted(x, v, side="left")`` for sorted x, NaN sorting last as in numpy (a
    written-out search: numpy's compiles for ~0.4 s)."""
    nan = v != v
    lo, hi = 0, x.size
    while lo < hi:
        mid = (lo + hi) >> 1
        y = x[mid]
        if y < v or (nan and y == y):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, fastmath={"contract"})
def _exp_into(x):
    """x[i] <- exp(x[i]) for -700 <= x[i] <= 700, to ~2 ulp, in a loop numba vectorises.

    libm's exp costs 10-25 ns a call on the machines we measured, and the windows exponentiate
    every band coefficient: a Cody-Waite reduction x = k ln2 + r (|r| <= ln2 / 2) with a
    degree-13 Taylor polynomial for e^r (truncation < 2e-16) times 2^k, built in the exponent
    bits, brings it to ~1 ns.  Checked against mpmath in tests/test_core_kernels.py.
    """
    for i in range(x.size):
        v = x[i]
        kf = (v * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0
        r = (v - kf * 6.93147180369123816490e-01) - kf * 1.90821492927058770002e-10
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        x[i] = p * _f64_from_bits((np.int64(kf) + 1023) << 52)


def _exp_inplace(x, bits=None):
    """:func:`_exp_into` (``bits``, once its scratch buffer, is not needed any more)."""
    _exp_into(x)


@_shared
def _tilt_into(src, top, theta, offset, out):
    """out[i] = exp((src[i] - top) + theta (i + offset)), i < src.size: a tilted band (the
    difference of indices, not theta times a large index, enters the sum)."""
    w = src.size
    for i in range(w):
        out[i] = (src[i] - top) + theta * (i + offset)
    _exp_into(out[:w])


@_shared
def _place(merged, nda, ndb, t):
    """Tilt putting the tilted mode of the product at t (merged: sorted slope thresholds), and
    each factor's tilted mode there (the number of its sorted slopes below the tilt)."""
    n = merged.size
    if t <= 0:
        theta = merged[0] - 1.0
    elif t >= n:
        theta = merged[n - 1] + 1.0
    else:
        theta = 0.5 * (merged[t - 1] + merged[t])
    return theta, _search_left(nda, theta), _search_left(ndb, theta)


@_shared
def _band(a, theta, mode, depth):
    """[lo, hi] around ``mode`` where (a(j) - a(mode)) + theta (j - mode) >= -depth."""
    top = a[mode]
    n = a.size - 1
    if (a[0] - top) - theta * mode >= -depth:
        left = 0
    else:
        lo, hi = 0, mode
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            if (a[mid] - top) + theta * (mid - mode) >= -depth:
                hi = mid
            else:
                lo = mid
        left = hi
    if (a[n] - top) + theta * (n - mode) >= -depth:
        right = n
    else:
        lo, hi = mode, n
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            if (a[mid] - top) + theta * (mid - mode) >= -depth:
                lo = mid
            else:
                hi = mid
        right = lo
    return left, right


@njit(cache=True, fastmath={"reassoc", "contract"})
def _dot(x, y):
    """Dot product of equal-length views (0-based loop: numba vectorises it)."""
    s = 0.0
    for i in range(x.size):
        s += x[i] * y[i]
    return s


@njit(cache=True, fastmath={"reassoc", "contract"})
def _dot4(x, y):
    """Four dot products of x with y shifted by 3, 2, 1, 0 (len(y) = len(x) + 3): the terms of
    four consecutive outputs of a convolution, each x[t] loaded once."""
    s0 = s1 = s2 = s3 = 0.0
    for t in range(x.size):
        v = x[t]
        s0 += v * y[t + 3]
        s1 += v * y[t + 2]
        s2 += v * y[t + 1]
        s3 += v * y[t]
    return s0, s1, s2, s3


@njit(cache=True)
def _direct(a, b, nda, ndb, merged, out, covered, M, sizes, max_trials):
    """Direct tilted windows, the one compiled copy of them (numba would re-optimise and
    re-emit a callee's code inside every caller): :func:`fill_gaps_direct` when M has no rows,
    else :func:`tree_narrow` (a, ..., covered then unused).

    Each window tilts both factors by theta (mode of the tilted product placed ahead of the
    first uncovered k), keeps each factor's band within e^-_T of its tilted maximum, and sums
    the tilted products directly (non-negative terms: relatively accurate at every k) for the
    run of k whose tilted value is >= e^-_VALID.  ``nda``, ``ndb`` are the sorted negated first
    differences of a and b, ``merged`` both together (sorted).
    """
    tree = M.shape[0] > 0
    # the nodes of the tree, concatenated: node i is buf[starts[i] : starts[i + 1]]
    m = M.shape[0]
    starts = np.empty(m + 1, dtype=np.int64)
    starts[0] = 0
    for c in range(m):
        starts[c + 1] = starts[c] + sizes[c] + 1
    buf = np.empty(starts[m])
    for c in range(m):
        for j in range(sizes[c] + 1):
            buf[starts[c] + j] = M[c, j]
    pair = np.empty(m, dtype=np.bool_)
    nbuf = buf
    nstarts = starts
    thr = math.exp(-_VALID)
    sv = np.empty(4)
    while True:
        n_tasks = 1
        if tree:
            if m <= 1:
                break
            # this level: node i times node i + 1 while the product stays narrow (at most
            # max_trials trials), left to right
            nstarts = np.empty(m + 1, dtype=np.int64)
            nstarts[0] = 0
            n_tasks = 0
            nd = 0
            while nd < m:
                width = starts[nd + 1] - starts[nd]
                pair[n_tasks] = (nd + 1 < m
                                 and width + (starts[nd + 2] - starts[nd + 1]) - 2 <= max_trials)
                if pair[n_tasks]:
                    width += starts[nd + 2] - starts[nd + 1] - 1
                    nd += 2
                else:
                    nd += 1
                nstarts[n_tasks + 1] = nstarts[n_tasks] + width
                n_tasks += 1
            if n_tasks == m:
                break
            nbuf = np.empty(nstarts[n_tasks])
        nd = 0  # the task's first node
        for q in range(n_tasks):
            if tree:
                out = nbuf[nstarts[q] : nstarts[q + 1]]
                if not pair[q]:
                    for j in range(out.size):
                        out[j] = buf[starts[nd] + j]
                    nd += 1
                    continue
                a = buf[starts[nd] : starts[nd + 1]]
                b = buf[starts[nd + 1] : starts[nd + 2]]
                nd += 2
                nda = _slopes(a)
                ndb = _slopes(b)
                merged = _merge_sorted(nda, ndb)
            n_out = out.size - 1
            n = merged.size
            va = np.empty(a.size)
            vbr = np.empty(b.size)
            k_from = np.int64(0)
            while k_from <= n_out:
                # the next run of uncovered k (in the tree: all of them)
                k_to = n_out
                if not tree:
                    if covered[k_from]:
                        k_from += 1
                        continue
                    k_to = k_from
                    while k_to + 1 <= n_out and not covered[k_to + 1]:
                        k_to += 1
                # ---- the run k_from..k_to, window by window
                k_cur = k_from
                target = k_from
                while k_cur <= k_to:
                    theta, ma, mb = _place(merged, nda, ndb, target)
                    la, ua = _band(a, theta, ma, _T)
                    lb, ub = _band(b, theta, mb, _T)
                    a0 = a[ma]
                    b0 = b[mb]
                    _tilt_into(a[la : ua + 1], a0, theta, la - ma, va)
                    wb = ub - lb + 1
                    _tilt_into(b[lb : ub + 1], b0, theta, lb - mb, vbr)
                    # reversed in place (a slice assignment compiles numpy's shape checks: ~2 s)
                    for i in range(wb // 2):
                        vbr[i], vbr[wb - 1 - i] = vbr[wb - 1 - i], vbr[i]
                    # C'(k) = sum_j va[j - la] * vb[k - j - lb],
                    # vb[k - j - lb] = vbr[ub - k + j], four consecutive k at a time (each
                    # va[j] loaded once for four products)
                    k = k_cur
                    base = a0 + b0
                    mode = ma + mb
                    while k <= k_to:
                        nk = min(4, k_to - k + 1)
                        jc0 = max(la, k + 3 - ub)
                        jc1 = min(ua, k - lb)
                        if nk == 4 and jc0 <= jc1:
                            sv[0], sv[1], sv[2], sv[3] = _dot4(
                                va[jc0 - la : jc1 - la + 1],
                                vbr[ub - k - 3 + jc0 : ub - k + jc1 + 1])
                            for i in range(4):
                                ki = k + i
                                # the few terms outside the common range
                                for j in range(max(la, ki - ub), jc0):
                                    sv[i] += va[j - la] * vbr[ub - ki + j]
                                for j in range(jc1 + 1, min(ua, ki - lb) + 1):
                                    sv[i] += va[j - la] * vbr[ub - ki + j]
                        else:
                            for i in range(nk):
                                ki = k + i
                                j0 = max(la, ki - ub)
                                j1 = min(ua, ki - lb)
                                sv[i] = (_dot(va[j0 - la : j1 - la + 1],
                                              vbr[ub - ki + j0 : ub - ki + j1 + 1])
                                         if j0 <= j1 else 0.0)
                        done = False
                        for i in range(nk):
                            if sv[i] < thr:
                                done = True
                                break
                            out[k] = math.log(sv[i]) + base + theta * (mode - k)
                            k += 1
                        if done:
                            break
                    if k == k_cur:
                        # the window does not reach back to k_cur: bring its mode closer
                        if target <= k_cur:
                            raise RuntimeError(
                                "tilted convolution failed to cover the support")
                        target = k_cur + (target - k_cur) // 2
                        continue
                    half = max(1, k - 1 - max(target, k_cur))
                    k_cur = k
                    target = min(n, k_cur + max(1, (3 * half) // 4))
                k_from = k_to + 1
        if not tree:
            break
        buf = nbuf
        starts = nstarts
        m = n_tasks
    return buf, starts[: m + 1]


_NO_ROWS = np.empty((0, 1))
_NO_SIZES = np.empty(0, dtype=np.int64)


def fill_gaps_direct(a, b, nda, ndb, merged, out, covered):
    """Fill every run of k not yet ``covered`` with the log-PMF of the sum (log-PMFs a, b) by
    direct tilted windows (:func:`_direct`)."""
    _direct(a, b, nda, ndb, merged, out, covered, _NO_ROWS, _NO_SIZES, 0)


def combine_direct_range(a, b, nda, ndb, merged, out, k_from, k_to):
    """Fill out[k_from..k_to] (only) by direct tilted windows."""
    covered = np.ones(out.size, dtype=np.bool_)
    covered[k_from : k_to + 1] = False
    fill_gaps_direct(a, b, nda, ndb, merged, out, covered)


def tree_narrow(M, sizes, max_trials):
    """Multiply the leaf rows of M pairwise, level by level, while the products stay at most
    ``max_trials`` trials (narrow enough that direct windows beat FFT windows).  Returns the
    remaining nodes (log-PMFs) for the FFT-capable tree above, concatenated, and their start
    offsets (node i is ``buf[starts[i] : starts[i + 1]]``)."""
    if M.shape[0] == 0:
        return np.empty(0), np.zeros(1, dtype=np.int64)
    e = np.empty(0)
    return _direct(e, e, e, e, e, e, np.empty(0, dtype=np.bool_), M, sizes, int(max_trials))


# ---------------------------------------------------------------------------------- leaves
@_inline
def _log_recursion_row(p, m, out):
    """Exact log-space recursion for the log-PMF of m single trials (fallback for wide chunks)."""
    out[0] = 0.0
    for j in range(1, out.size):
        out[j] = -np.inf
    for i in range(m):
        lp = math.log(p[i])
        lq = math.log1p(-p[i])
        for j in range(i + 1, 0, -1):
            x = out[j] + lq
            y = out[j - 1] + lp
            hi = max(x, y)
            if hi == -np.inf:
                out[j] = -np.inf
            else:
                out[j] = hi + math.log1p(math.exp(min(x, y) - hi))
        out[0] += lq


@njit(cache=True, fastmath={"contract"})
def _recursion(pt, qt, m, P, Q):
    """PMF of m Bernoulli(pt[i]) trials (qt = 1 - pt, given separately for accuracy) by the
    recursion P(j) <- q P(j) + p P(j - 1), two trials per pass:
    P(j) <- q1 q2 P(j) + (p1 q2 + q1 p2) P(j - 1) + p1 p2 P(j - 2).  Every term is
    non-negative, so each coefficient is relatively accurate (~2 m eps) unless it underflows.
    P and Q are work buffers of length >= m + 3; the PMF is returned at offset 2 (two leading
    zeros let the loop read P(j - 2) without a branch)."""
    for j in range(m + 3):
        P[j] = 0.0
        Q[j] = 0.0
    P[2] = 1.0
    cur = 0  # degree so far
    i = 0
    while i + 1 < m:
        c0 = qt[i] * qt[i + 1]
        c1 = pt[i] * qt[i + 1] + qt[i] * pt[i + 1]
        c2 = pt[i] * pt[i + 1]
        for j in range(cur + 3):
            Q[2 + j] = c0 * P[2 + j] + c1 * P[1 + j] + c2 * P[j]
        P, Q = Q, P
        cur += 2
        i += 2
    if i < m:
        a = pt[i]
        b = qt[i]
        for j in range(cur + 2):
            Q[2 + j] = b * P[2 + j] + a * P[1 + j]
        P, Q = Q, P
    return P


@_inline
def _neumaier(total, comp, term):
    """One step of Neumaier's compensated sum: (new total, new compensation); the sum is
    total + comp at the end."""
    t = total + term
    if abs(total) >= abs(term):
        comp += (total - t) + term
    else:
        comp += (term - t) + total
    return t, comp


@njit(cache=True)
def leaf_chunks(p, chunk):
    """Log-PMFs of consecutive chunks of single trials (sorted p, 0 < p < 1), one row each.

    Each chunk is tilted to p' = expit(logit p + theta), theta = -logit of its median, and built
    by the linear recursion (:func:`_recursion`), which adds non-negative terms only (every
    coefficient relatively accurate, ~2 L eps).  Untilting:
    log P(j) = log P'(j) - theta j + sum_i log(q_i + p_i e^theta).  A chunk whose tilted
    coefficients come near underflow is redone by the log-space recursion.  Entries past a
    chunk's size are -inf.  Returns the matrix and the chunk sizes.
    """
    n = p.size
    n_chunks = (n + chunk - 1) // chunk
    M = np.empty((n_chunks, chunk + 1))
    for c in range(n_chunks):
        for j in range(chunk + 1):
            M[c, j] = -np.inf
    sizes = np.empty(n_chunks, dtype=np.int64)
    P = np.empty(chunk + 3)
    Q = np.empty(chunk + 3)
    pt = np.empty(chunk)
    qt = np.empty(chunk)
    for c in range(n_chunks):
        lo = c * chunk
        m = min(chunk, n - lo)
        sizes[c] = m
        pc = p[lo : lo + m]
        med = pc[(m - 1) // 2]
        theta = -(math.log(med) - math.log1p(-med))
        # norm = sum_i [log(q_i + p_i e^theta) - theta p'_i] (each term is -KL(p'_i || p_i),
        # O(1)) and mu = sum_i p'_i, so that log P(j) = log P'(j) - theta (j - mu) + norm: the
        # two large sums sum_i log(q_i + p_i e^theta) and theta j (~1e3 each for a chunk far
        # from p = 1/2) cancel near the mode, and formed separately they left ~1e-13 rounding
        # in every coefficient, a bias of ~5e-15 a chunk (-1.8e-11 in the total mass at N = 1e6).
        # Both are summed with Neumaier's compensation: the terms are O(1)-O(10), and plain sums
        # of 256 of them kept ~1e-13 of rounding (measured against mpmath; test_core_edges).
        norm = 0.0
        norm_c = 0.0
        mu = 0.0
        mu_c = 0.0
        for i in range(m):
            lq = math.log1p(-pc[i])
            z = (math.log(pc[i]) - lq) + theta
            e = math.exp(-abs(z))
            # p' = 1 / (1 + e^-z), q' = e^-z p' (z > 0; mirrored for z <= 0)
            if z > 0:
                pt[i] = 1.0 / (1.0 + e)
                qt[i] = e * pt[i]
                # lq + z - theta p' = log p + theta q' (no large cancellation)
                term = (math.log(pc[i]) + theta * qt[i]) + math.log1p(e)
            else:
                qt[i] = 1.0 / (1.0 + e)
                pt[i] = e * qt[i]
                term = (lq - theta * pt[i]) + math.log1p(e)
            norm, norm_c = _neumaier(norm, norm_c, term)
            mu, mu_c = _neumaier(mu, mu_c, pt[i])
        norm += norm_c
        mu += mu_c
        R = _recursion(pt, qt, m, P, Q)
        bad = False
        for j in range(m + 1):
            if R[2 + j] < 1e-280:
                bad = True
                break
        row = M[c]
        if bad:
            _log_recursion_row(pc, m, row[: m + 1])
        else:
            for j in range(m + 1):
                row[j] = math.log(R[2 + j]) - theta * (j - mu) + norm
    return M, sizes


# ---------------------------------------------------------------------------- FFT windows
# FFT windows: band depth and kept depth.  FFT rounding is ~1e-16 (a few) relative to the
# window's maximum; keeping only C' >= e^-_W_FFT max (about +-3.7 tilted sd) bounds its effect
# at ~1e-12 relative, and the truncation at n e^(_W_FFT - _T_FFT) < 1e-13 for n <= 1e7.
_T_FFT = 40.0
_W_FFT = 9.0


@_shared
def _local_var(sorted_slopes, m):
    """Variance of a log-concave PMF tilted so that its mode is at m, from its slope density:
    slopes change by ~1/var per unit step near the mode."""
    n = sorted_slopes.size
    if n < 2:
        return 0.25
    h = 6
    lo = max(0, min(m - h, n - 1))
    hi = max(0, min(m + h, n - 1))
    if hi <= lo:
        return 0.25
    d = sorted_slopes[hi] - sorted_slopes[lo]
    if d <= 0.0:
        return 1e12
    return (hi - lo) / d


@njit(cache=True)
def plan_fft_windows(a, b, nda, ndb, merged, min_sd, step_sd):
    """Targets of the FFT windows of one product: spaced ``step_sd`` tilted sd apart, and only
    where both factors' tilted sd is at least ``min_sd`` (elsewhere direct windows are cheaper).

    Returns an int64 array (windows x 7): target, ma, mb, la, ua, lb, ub; and their thetas.
    """
    n = merged.size
    cap = 16
    rows = np.empty((cap, 7), dtype=np.int64)
    thetas = np.empty(cap)
    count = 0
    t = np.int64(0)  # not the literal 0 (a second specialisation of _place)
    while t <= n:
        theta, ma, mb = _place(merged, nda, ndb, t)
        var_a = _local_var(nda, ma)
        var_b = _local_var(ndb, mb)
        sd_c = math.sqrt(var_a + var_b)
        if min(var_a, var_b) >= min_sd * min_sd:
            la, ua = _band(a, theta, ma, _T_FFT)
            lb, ub = _band(b, theta, mb, _T_FFT)
            if count == cap:
                cap *= 2
                r2 = np.empty((cap, 7), dtype=np.int64)
                t2 = np.empty(cap)
                # element-wise copies: slice assignments compile numpy's shape checks (~1 s)
                for i in range(count):
                    for j in range(7):
                        r2[i, j] = rows[i, j]
                    t2[i] = thetas[i]
                rows = r2
                thetas = t2
            rows[count, 0] = t
            rows[count, 1] = ma
            rows[count, 2] = mb
            rows[count, 3] = la
            rows[count, 4] = ua
            rows[count, 5] = lb
            rows[count, 6] = ub
            thetas[count] = theta
            count += 1
        t += max(1, int(step_sd * sd_c))
    return rows[:count], thetas[:count]


@njit(cache=True)
def fill_fft_rows(a, b, rows, thetas, which, VA, VB):
    """Tilted band values of the windows ``which`` into the zero-padded rows of VA and VB."""
    for r in range(which.size):
        w = which[r]
        ma, mb, la, ua, lb, ub = rows[w, 1], rows[w, 2], rows[w, 3], rows[w, 4], rows[w, 5], \
            rows[w, 6]
        theta = thetas[w]
        a0 = a[ma]
        b0 = b[mb]
        va = VA[r]
        vb = VB[r]
        _tilt_into(a[la : ua + 1], a0, theta, la - ma, va)
        for i in range(ua - la + 1, va.size):
            va[i] = 0.0
        _tilt_into(b[lb : ub + 1], b0, theta, lb - mb, vb)
        for i in range(ub - lb + 1, vb.size):
            vb[i] = 0.0


@njit(cache=True)
def scatter_fft_rows(a, b, rows, thetas, which, C, own_lo, own_hi, out, covered):
    """Untilt the kept part (C' >= e^-_W_FFT of its maximum) of each window's owned k range.

    Rows of C are circular convolutions of length L = C.shape[1], which may be shorter than the
    linear length m: index i of the linear result is exact (free of wrap-around) for
    m - L <= i <= L - 1, and only those indices are read.
    """
    cut = math.exp(-_W_FFT)
    L = C.shape[1]
    for r in range(which.size):
        w = which[r]
        ma, mb, la, ua, lb, ub = rows[w, 1], rows[w, 2], rows[w, 3], rows[w, 4], rows[w, 5], \
            rows[w, 6]
        m = (ua - la) + (ub - lb) + 1
        i_lo = max(0, m - L)
        i_hi = min(m, L) - 1
        c = C[r]
        cmax = 0.0
        for i in range(i_lo, i_hi + 1):
            if c[i] > cmax:
                cmax = c[i]
        keep = cut * cmax
        base = a[ma] + b[mb]
        mode = ma + mb
        theta = thetas[w]
        k0 = la + lb
        for k in range(max(own_lo[w], k0 + i_lo), min(own_hi[w], k0 + i_hi) + 1):
            v = c[k - k0]
            if v >= keep:
                out[k] = math.log(v) + base + theta * (mode - k)
                covered[k] = True


@_shared
def _slopes(a):
    """Sorted negated first differences of a log-concave log-PMF.  They are sorted already up to
    rounding in flat stretches, so an insertion sort (O(n) on such input; numba compiles it in a
    fraction of np.sort's time) puts the few swapped neighbours back."""
    d = np.empty(a.size - 1)
    for i in range(d.size):
        d[i] = a[i] - a[i + 1]
    for i in range(1, d.size):
        v = d[i]
        j = i - 1
        while j >= 0 and d[j] > v:
            d[j + 1] = d[j]
            j -= 1
        d[j + 1] = v
    return d


@_shared
def _merge_sorted(x, y):
    out = np.empty(x.size + y.size)
    i = j = 0
    for k in range(out.size):
        if j >= y.size or (i < x.size and x[i] <= y[j]):
            out[k] = x[i]
            i += 1
        else:
            out[k] = y[j]
            j += 1
    return out


@njit(cache=True)
def product_slopes(a, b):
    """What every window placement of a product reads: the sorted negated first differences of
    a and of b, and both merged (the tilts at which the product's tilted mode moves)."""
    nda = _slopes(a)
    ndb = _slopes(b)
    return nda, ndb, _merge_sorted(nda, ndb)


@njit(cache=True)
def linear_chunks(p, chunk):
    """PMFs (linear scale) of consecutive chunks of single trials, one row each (the FFT
    method's leaves, by :func:`_recursion`), padded with zeros; and each chunk's mean and
    variance."""
    n = p.size
    n_chunks = (n + chunk - 1) // chunk
    M = np.zeros((n_chunks, chunk + 1))
    mu = np.zeros(n_chunks)
    var = np.zeros(n_chunks)
    P = np.empty(chunk + 3)
    Q = np.empty(chunk + 3)
    qt = np.empty(chunk)
    for c in range(n_chunks):
        lo = c * chunk
        m = min(chunk, n - lo)
        pc = p[lo : lo + m]
        for i in range(m):
            qt[i] = 1.0 - pc[i]
            mu[c] += pc[i]
            var[c] += pc[i] * qt[i]
        R = _recursion(pc, qt, m, P, Q)
        for j in range(m + 1):
            M[c, j] = R[2 + j]
    return M, mu, var


@njit(cache=True)
def rescale_cut(C, m, off, mu, var):
    """One level of the banded FFT product: rescale each row of C[:, :m] to maximum 1 and cut
    it to mu +- (11 sd + 40) (mass beyond is < e^-60).  Returns the cut rows (one common
    width), their offsets and the log of the scale factors taken out."""
    rows = C.shape[0]
    lo = np.empty(rows, dtype=np.int64)
    top = np.empty(rows)
    lscale = 0.0
    comp = 0.0  # Neumaier compensation: thousands of logs, a plain sum kept ~1e-11 of rounding
    width = 1
    for r in range(rows):
        t = 11.0 * math.sqrt(var[r]) + 40.0
        lo[r] = min(max(int(math.floor(mu[r] - t)) - off[r], 0), m - 1)
        hi = min(max(int(math.ceil(mu[r] + t)) - off[r], 0), m - 1)
        width = max(width, hi - lo[r] + 1)
        mx = 0.0
        for i in range(m):
            if C[r, i] > mx:
                mx = C[r, i]
        top[r] = mx
        lscale, comp = _neumaier(lscale, comp, math.log(mx))
    lscale += comp
    out = np.zeros((rows, width))
    for r in range(rows):
        inv = 1.0 / top[r]
        stop = min(width, m - lo[r])
        for i in range(stop):
            out[r, i] = C[r, lo[r] + i] * inv
    return out, off + lo, lscale
