"""The tail-accurate engine: the whole log-PMF of a sum of independent binomial blocks.

Hand-written because no library does it: FFT convolution (``scipy.signal.fftconvolve``,
fast-poibin) is accurate only to ~1e-16 *absolute*, and the relatively accurate direct
convolutions (``scipy.stats.poisson_binom``) are O(N^2) and underflow below 1e-308.

Algorithm ("tilted windows on a product tree")
----------------------------------------------
Every node of a product tree holds the full log-PMF of the trials below it, relatively accurate at
every k.  Leaves are exact: a group of ``n`` trials with a common ``p`` is a binomial block
(Loader's algorithm), and runs of single trials (sorted by p) are built in chunks of ``_LEAF`` by a
tilted linear recursion (``_kernels.leaf_chunks``).  Two nodes A and B are combined window by
window.  For a window both are exponentially tilted, ``A'(j) = A(j) e^(theta j)`` (a tilted
Poisson-binomial is again one, with ``p' = expit(logit p + theta)``), with theta chosen so that
the tilted product peaks where the window is wanted; only each factor's band within ``e^-T`` of
its tilted maximum is kept (A and B are log-concave, so the band is an interval, found by
bisection), the bands are convolved in linear scale and the result untilted:
``log C(k) = log C'(k) - theta k``.  Two kinds of window (``_kernels``):

* direct windows sum the non-negative terms of C'(k) one k at a time (four at a time in the
  inner loop): relatively accurate at every k, so a window is valid wherever its truncation is
  negligible (C' >= e^-26 of the factors' maxima), about +-7 tilted sd;
* FFT windows, where both factors are wide (tilted sd >= ``_FFT_MIN_SD``): batched real FFTs
  (scipy.fft) of circular length just long enough that the window's own range of k is free of
  wrap-around; valid where C' >= e^-9 of its maximum (the FFT's rounding is relative to the
  maximum), about +-4.2 tilted sd.

The narrow lower levels of the tree run in one compiled loop; the products above place FFT
windows ~7 tilted sd apart and fill whatever they leave (tails where the tilted sd is small, any
gap) with direct windows.  Cost: a direct window costs ~23 sd multiply-adds per output, an FFT
window O(log sd) per output, so the tree is sub-quadratic (O(N) for the narrow levels, whose
width is capped, and O(N log^2 N) above), and accurate to ~2e-12 relative at every k (measured
against mpmath and R; ``benchmarks/accuracy_report.py``), including far below the double range
(the logs never underflow).  The compiled kernels are in :mod:`binfer.core._kernels` (numba).

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

from ._kernels import (
    fill_fft_rows,
    fill_gaps_direct,
    leaf_chunks,
    linear_chunks,
    plan_fft_windows,
    product_slopes,
    rescale_cut,
    scatter_fft_rows,
    tree_narrow,
)
from ._logbinom import binom_logpmf_all

# Leaves: runs of single trials (sorted by p) are built by a tilted linear recursion in chunks of
# this size (see ``_kernels.leaf_chunks``).
_LEAF = 256
# Products use FFT windows where both factors' tilted sd is at least this (direct windows cost
# ~24 sd multiply-adds per output, an FFT window ~a few hundred ns); elsewhere direct windows.
_FFT_MIN_SD = 40.0
# FFT windows are placed this many tilted sd apart (each keeps about +-3.7 sd).
_STEP_SD = 7.0
# Leaves of the FFT method (plain recursion; a real FFT pays off only above this size).
_FFT_LEAF = 256
# Threads for the batched FFTs (scipy.fft's workers).
_WORKERS = -1
# ... but only for batches of at least this many elements.
_THREADED_MIN = 200_000
# Elements per batch of FFT windows (bounds memory: ~16 bytes each, a few arrays).
_BATCH_ELEMS = 4_000_000


def _narrow_max_trials() -> int:
    """Largest number of trials whose tilted sd stays below ``_FFT_MIN_SD`` at every tilt (a
    tilted Poisson-binomial of n trials has variance at most n / 4): products of such factors
    need no FFT windows."""
    return int(min(4.0 * _FFT_MIN_SD**2, 1e18)) - 1 if _FFT_MIN_SD > 0 else -1


def _workers(elements: int) -> int:
    """Threads for one batched FFT: starting threads costs more than it saves on small batches."""
    return 1 if elements < _THREADED_MIN else _WORKERS


def _kernel_array(x: np.ndarray) -> np.ndarray:
    """x as a C-contiguous, writeable float64 array: numba compiles (and caches) one
    specialisation of a kernel per array type, and a read-only or strided array would be a
    new type, compiled again (seconds) in a process that already has the kernels."""
    x = np.asarray(x, dtype=float)
    return x if x.flags.c_contiguous and x.flags.writeable else x.copy()


def _log_direct_conv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact log-space convolution (logsumexp over the shorter operand): O(len(a) len(b))."""
    if a.size > b.size:
        a, b = b, a
    m, n = a.size, b.size
    mat = np.full((m, m + n - 1), -np.inf)
    idx = np.arange(m)[:, None] + np.arange(n)[None, :]
    mat[np.arange(m)[:, None], idx] = a[:, None] + b[None, :]
    return logsumexp(mat, axis=0)


def bernoulli_chunk_matrix(p: np.ndarray, chunk: int = _LEAF) -> tuple[np.ndarray, np.ndarray]:
    """Log-PMFs of chunks of single trials (0 < p < 1) as rows of a matrix, and the chunk sizes.

    The trials are sorted by p first so that each chunk is homogeneous (tilting then keeps its
    coefficients in range, and neighbouring chunks combine with small dynamic range).  Entries
    past a chunk's size are -inf.
    """
    p = _kernel_array(p)
    if p.size > 1 and not bool(np.all(p[1:] >= p[:-1])):
        p = np.sort(p)
    return leaf_chunks(p, int(chunk))


def _fft_windows(a, b, rows, thetas, out, covered) -> None:
    """Evaluate the planned FFT windows of one product, batched by FFT length (scipy.fft).

    A window's linear convolution has m = wa + wb - 1 terms, but only its owned range of k is
    read, so a circular convolution of length L >= max(wa, wb) is enough when the owned
    indices lie in the wrap-free part [m - L, L - 1]: L >= max(hi + 1, m - lo).  Near the
    middle that is about m / 2 plus the owned half-width, a third less FFT work than m.
    """
    n = out.size - 1
    targets = rows[:, 0]
    own_lo = np.r_[0, (targets[:-1] + targets[1:]) // 2 + 1]
    own_hi = np.r_[(targets[:-1] + targets[1:]) // 2, n]
    wa = rows[:, 4] - rows[:, 3] + 1
    wb = rows[:, 6] - rows[:, 5] + 1
    m = wa + wb - 1
    k0 = rows[:, 3] + rows[:, 5]
    lo = np.clip(own_lo - k0, 0, m - 1)
    hi = np.clip(own_hi - k0, 0, m - 1)
    need = np.maximum(np.maximum(wa, wb), np.maximum(hi + 1, m - lo))
    order = np.argsort(need, kind="stable")
    work = None
    start = 0
    while start < order.size:
        first = need[order[start]]
        stop = start + 1
        while (stop < order.size and need[order[stop]] <= 1.2 * first
               and (stop - start + 1) * need[order[stop]] <= _BATCH_ELEMS):
            stop += 1
        which = order[start:stop]
        start = stop
        nfft = sfft.next_fast_len(int(need[which].max()), real=True)
        if work is None or work.shape[1] < which.size * nfft:
            work = np.empty((2, max(which.size * nfft, min(_BATCH_ELEMS, n + 1))))
        VA = work[0, : which.size * nfft].reshape(which.size, nfft)
        VB = work[1, : which.size * nfft].reshape(which.size, nfft)
        fill_fft_rows(a, b, rows, thetas, which, VA, VB)
        workers = _workers(VA.size)
        F = sfft.rfft(VA, axis=1, workers=workers)
        F *= sfft.rfft(VB, axis=1, workers=workers)
        C = sfft.irfft(F, nfft, axis=1, workers=workers)
        scatter_fft_rows(a, b, rows, thetas, which, C, own_lo, own_hi, out, covered)


def combine_tilted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Log-PMF of the sum of two independent variables with log-concave log-PMFs a and b.

    Tilted windows: FFT windows where both factors are wide (tilted sd >= ``_FFT_MIN_SD``),
    direct windows everywhere else and wherever an FFT window's kept run fell short.
    """
    a, b = _kernel_array(a), _kernel_array(b)
    nda, ndb, merged = product_slopes(a, b)
    out = np.empty(a.size + b.size - 1)
    covered = np.zeros(out.size, dtype=bool)
    if min(a.size, b.size) - 1 > _narrow_max_trials():
        rows, thetas = plan_fft_windows(a, b, nda, ndb, merged, float(_FFT_MIN_SD),
                                        float(_STEP_SD))
        if rows.shape[0]:
            _fft_windows(a, b, rows, thetas, out, covered)
    fill_gaps_direct(a, b, nda, ndb, merged, out, covered)
    return out


def _fft_conv(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Linear convolution by real FFTs (scipy.fft directly: fftconvolve's checks cost ~0.2 ms)."""
    m = x.size + y.size - 1
    size = sfft.next_fast_len(m, real=True)
    return sfft.irfft(sfft.rfft(x, size) * sfft.rfft(y, size), size)[:m]


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
            off, mu, var = np.append(off, 0), np.append(mu, 0.0), np.append(var, 0.0)
        m = 2 * P.shape[1] - 1
        nfft = sfft.next_fast_len(m, real=True)
        workers = _workers(P.shape[0] * nfft)
        F = sfft.rfft(P, nfft, axis=1, workers=workers)
        Fe = F[0::2]
        Fe *= F[1::2]
        P = sfft.irfft(Fe, nfft, axis=1, workers=workers)
        off = off[0::2] + off[1::2]
        mu = mu[0::2] + mu[1::2]
        var = var[0::2] + var[1::2]
        P, off, ls = rescale_cut(P, m, off, mu, var)
        lscale += ls
    return np.maximum(P[0], 0.0), int(off[0]), lscale


def _fft_logpmf(p: np.ndarray, blocks: list[np.ndarray], leaf: int = _FFT_LEAF) -> np.ndarray:
    """The peers' method: linear-scale FFT product tree (absolute accuracy ~1e-16 only).

    Single trials go through a compiled recursion in chunks of ``leaf`` and then a
    level-by-level product tree in which every level is one batched real FFT (pairs of rows);
    binomial blocks join at the end.
    """
    nodes = [np.exp(x) for x in blocks]
    if p.size:
        P, mu, var = linear_chunks(p, leaf)
        P, off, _ = banded_fft_product(P, np.zeros(P.shape[0], dtype=np.int64), mu, var)
        row = np.zeros(p.size + 1)
        take = min(P.size, p.size + 1 - off)
        row[off : off + take] = P[:take]
        nodes.append(row)
    if not nodes:
        return np.zeros(1)
    c = _tree(nodes, combine_fft_linear)
    np.maximum(c, 0.0, out=c)
    c /= c.sum()
    with np.errstate(divide="ignore"):
        return np.log(c, out=c)


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
        # the narrow lower levels in one compiled loop
        buf, starts = tree_narrow(M, sizes, _narrow_max_trials())
        nodes += [buf[starts[i] : starts[i + 1]] for i in range(starts.size - 1)]
    if not nodes:
        return np.zeros(1)
    return _tree(nodes, combine_tilted)


__all__ = ["interior_logpmf", "combine_tilted", "bernoulli_chunk_matrix"]
