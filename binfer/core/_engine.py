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

from ._kernels import (
    fill_fft_rows,
    fill_gaps_direct,
    leaf_chunks,
    plan_fft_windows,
    scatter_fft_rows,
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
# Threads for the batched FFTs (scipy.fft's workers).
_WORKERS = -1
# Elements per batch of FFT windows (bounds memory: ~16 bytes each, a few arrays).
_BATCH_ELEMS = 4_000_000


def _log_direct_conv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact log-space convolution (logsumexp over the shorter operand): O(len(a) len(b))."""
    if a.size > b.size:
        a, b = b, a
    m, n = a.size, b.size
    mat = np.full((m, m + n - 1), -np.inf)
    idx = np.arange(m)[:, None] + np.arange(n)[None, :]
    mat[np.arange(m)[:, None], idx] = a[:, None] + b[None, :]
    return logsumexp(mat, axis=0)


def _linear_recursion(pt: np.ndarray, qt: np.ndarray) -> np.ndarray:
    """PMFs of the rows of ``pt`` (chunks of trials, q = ``qt``): P(j) <- q P(j) + p P(j-1)."""
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


def bernoulli_chunk_matrix(p: np.ndarray, chunk: int = _LEAF) -> tuple[np.ndarray, np.ndarray]:
    """Log-PMFs of chunks of single trials (0 < p < 1) as rows of a matrix, and the chunk sizes.

    The trials are sorted by p first so that each chunk is homogeneous (tilting then keeps its
    coefficients in range, and neighbouring chunks combine with small dynamic range).  Entries
    past a chunk's size are -inf.
    """
    return leaf_chunks(np.sort(np.asarray(p, dtype=float)), int(chunk))


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
        F = sfft.rfft(VA, axis=1, workers=_WORKERS)
        F *= sfft.rfft(VB, axis=1, workers=_WORKERS)
        C = sfft.irfft(F, nfft, axis=1, workers=_WORKERS)
        scatter_fft_rows(a, b, rows, thetas, which, C, own_lo, own_hi, out, covered)


def combine_tilted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Log-PMF of the sum of two independent variables with log-concave log-PMFs a and b.

    Tilted windows: FFT windows where both factors are wide (tilted sd >= ``_FFT_MIN_SD``),
    direct windows everywhere else and wherever an FFT window's kept run fell short.
    """
    nda = np.sort(-np.diff(a), kind="stable")
    ndb = np.sort(-np.diff(b), kind="stable")
    merged = np.sort(np.concatenate([nda, ndb]), kind="stable")
    out = np.empty(a.size + b.size - 1)
    covered = np.zeros(out.size, dtype=bool)
    if min(a.size, b.size) > 4 * _FFT_MIN_SD:
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
        nodes += [M[c, : sizes[c] + 1] for c in range(M.shape[0])]
    if not nodes:
        return np.zeros(1)
    return _tree(nodes, combine_tilted)


__all__ = ["interior_logpmf", "combine_tilted", "bernoulli_chunk_matrix"]
