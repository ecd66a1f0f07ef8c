"""The Fisher-Freeman-Halton test of a k x 2 table: the exact p-value, or certified bounds.

Given both margins, the table's events (x_1..x_k) have the multivariate hypergeometric law
P(x) = prod_i C(n_i, x_i) / C(N, X). The two-sided p-value sums P over the tables no more probable
than the observed one (R's relative tie tolerance 1e-7). log P is a sum over groups, so the
tables are paths through a network whose stage-j node is the running total s = x_1 + ... + x_j
(Mehta & Patel 1983), swept here from both ends until the sweeps are two groups apart; the last
group of each sweep is then added one total at a time and the two blocks paired by sorting.

A node carries the mass of the partial paths it stands for (the sum of their prod C) and an
interval [lo, hi] holding all their exact log weights, so every decision is certified:

* paths are merged when their lo lie within ``delta`` (at first a few rounding errors: ties,
  i.e. groups of equal size taking the same values in another order); merging widens intervals,
  never loses a path;
* a node is settled when every completion counts (hi + longest remaining path <= threshold: its
  mass times C(N_rest, X - s), by Vandermonde's identity) or none does (lo + shortest > threshold);
* optionally, nodes whose undecided mass is negligible are settled by a Chernoff bound on the
  remaining groups, sum_{W_rest <= u} e^W_rest <= e^(theta u) sum e^((1 - theta) W_rest),
  theta >= 0 (one dynamic programme per theta on a grid); the bound goes into high - low;
* where the sweeps meet, a pair counts surely when hi + hi <= threshold, possibly when
  lo + lo <= threshold; the mass of the possible-only pairs goes into high - low.

Weights within the float rounding of sums of log-gamma values of the threshold are undecided too;
masses are sums of positive terms in floating point (relative rounding ~1e-13).
With ties merged and no Chernoff settlement the result is exact (low == high) unless a table's
probability is within rounding of the observed one's times 1 + 1e-7. When the sweeps outgrow the
work budget, paths are merged more coarsely (the bounds widen: each merge adds at most delta to
an interval, so many groups cost precision) and settled by Chernoff bounds within a share of p.

Hand-written: no library offers a k x 2 exact test that scales (R's FEXACT runs out of workspace
on tables of a few hundred). The merge and pairing loops are compiled (numba): the numpy
version of the network (sort and reduce each stage; binfer's previous implementation, kept in
tests/reference/make_ffh_refs.py) needed 7 s and 2e7 partial paths on dose_response, where
these take 2 s, and ran out of its default budget on all five bundled one-arm datasets.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit
from scipy import special

from ..core._logbinom import log_choose

__all__ = ["ExactTooLarge", "FFHPValue", "ffh_exact_pvalue", "ffh_pvalue"]

# R's fisher.test counts tables with P <= P_obs * (1 + 1e-7): a relative tolerance on ties.
_REL_TOL = 1e-7
# Largest merge width tried before giving up (each merge widens an interval by at most delta).
_DELTA_MAX = 1.0
# Chernoff tilts theta: a geometric grid; the bound is the best over the grid (theta = 0 is the
# trivial bound C(N_rest, r)). Deep tails need large theta (dose_response: t is 70 standard
# deviations below the mean log weight).
_THETAS = np.array([0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0,
                    13.0, 21.0, 34.0, 55.0])

# The pilot gets 1 / _PILOT of max_nodes (on the bundled datasets it costs a few percent of the
# final run). The final run may drop up to _PRESSURE_MAX times p of undecided mass before
# merging more coarsely.
_PILOT = 50
_PRESSURE_MAX = 1e-2
# Stages x totals of the per-sweep bound tables (36 Chernoff sums each, 8 bytes): 7e5 is ~200 MB
# per sweep; larger tables go to Monte Carlo.
_MAX_CELLS = 700_000

# One decorator for every kernel. cache=True: the first call in a fresh installation compiles
# them (about 15 s, once); later processes load the cache.
_jit = njit(cache=True)


class ExactTooLarge(RuntimeError):
    """The network grew past the work budget; the caller falls back to Monte Carlo."""


class FFHPValue(NamedTuple):
    """Certified bounds on the Fisher-Freeman-Halton p-value (``low == high`` when exact)."""

    low: float
    high: float
    peak: int  # most nodes held by one sweep at once
    delta: float  # widest merge used (about 1e-10: ties only)

    @property
    def exact(self) -> bool:
        return self.low == self.high

    @property
    def pvalue(self) -> float:
        return 0.5 * (self.low + self.high)


# ---------------------------------------------------------------------------------------------
# Compiled kernels


@_jit
def _logaddexp(a, b):
    if a < b:
        a, b = b, a
    if b == -np.inf:
        return a
    return a + math.log1p(math.exp(b - a))


@_jit
def _block_starts(s, total):
    """starts[v]..starts[v + 1] is the block of nodes with s == v (s sorted)."""
    starts = np.zeros(total + 2, np.int64)
    for i in range(s.size):
        starts[s[i] + 1] += 1
    for v in range(total + 1):
        starts[v + 1] += starts[v]
    return starts


@_jit
def _add_mass(acc, lm):
    """acc = (ref, sum): a running mass e^ref * sum (one exp per term, no log)."""
    if lm > acc[0] + 30.0:
        acc[1] = acc[1] * math.exp(acc[0] - lm) + 1.0
        acc[0] = lm
    else:
        acc[1] += math.exp(lm - acc[0])


@_jit
def _next_open(plo, phi, plm, i, end, lcx, short, long_, t_hi, t_lo, done):
    """Index of the run's next child that is neither dropped nor settled (-1: none left).

    Children settled on the way (hi + longest <= t_lo: every completion counts) add their
    mass to ``done``; the first dropped child (lo + shortest > t_hi) ends the run, since lo
    only grows along it.
    """
    while i < end:
        if plo[i] + lcx + short > t_hi:
            return -1
        if phi[i] + lcx + long_ > t_lo:
            return i
        _add_mass(done, plm[i] + lcx)
        i += 1
    return -1


@_jit
def _grow(cs, clo, chi, clm, m, size):
    """The output buffers, copied into arrays of ``size``."""
    cs2 = np.empty(size, np.int64)
    clo2 = np.empty(size)
    chi2 = np.empty(size)
    clm2 = np.empty(size)
    for i in range(m):  # a loop: slice assignment compiles numpy's shape checks (~2 s)
        cs2[i] = cs[i]
        clo2[i] = clo[i]
        chi2[i] = chi[i]
        clm2[i] = clm[i]
    return cs2, clo2, chi2, clm2


@_jit
def _prepare(ps, plm, total):
    """Block starts of the nodes (sorted by s), each block's largest log mass, and each node's
    mass relative to it (e^(lm - block max), for the linear sums of :func:`_expand`)."""
    starts = _block_starts(ps, total)
    pmax = np.full(total + 1, -np.inf)
    for i in range(ps.size):
        pmax[ps[i]] = max(pmax[ps[i]], plm[i])
    pexp = np.empty(ps.size)
    for i in range(ps.size):
        pexp[i] = math.exp(plm[i] - pmax[ps[i]])
    return starts, pmax, pexp


@_jit
def _expand(ps, plo, phi, plm, prep, lc, total, rest_cap, shortest, longest, t_hi, t_lo,
            delta, cap, s2_from, s2_to):
    """Add one group to every node, merge children within delta, settle the certain ones.

    A child none of whose completions can count (lo + shortest > t_hi) is dropped, with the
    rest of its run (the children of one parent block and one value x, in lo order); a child
    all of whose completions count (hi + longest <= t_lo) is settled: its log mass goes to
    settled[s2]. The others are merged into nodes, in lo order, at each new total s2: by a
    k-way merge (a heap over the runs) that starts a node where lo > node lo + delta, or, when
    delta is coarse enough for the range of lo to fit, by bins of width delta (no ordering
    needed: a node is a bin). Either way a node's children have lo within delta of its lo.
    Only the new totals s2_from..s2_to are made; ``prep`` is :func:`_prepare` of the parents.
    Returns (s, lo, hi, lm, settled, ok,
    progress); ok is False when more than ``cap`` nodes would be needed, and progress is then
    the share of the totals s2 done.
    """
    n = lc.size - 1
    starts, pmax, pexp = prep
    settled = np.full(total + 1, -np.inf)
    size = max(1024, min(cap, 2 * (ps.size * (s2_to - s2_from + 1)) // (total + 1) + 16))
    cs = np.empty(size, np.int64)
    clo = np.empty(size)
    chi = np.empty(size)
    clm = np.empty(size)
    m = np.int64(0)  # not the literal 0: a second specialisation of _grow
    hkey = np.empty(n + 1)
    hrun = np.empty(n + 1, np.int64)
    ptr = np.empty(n + 1, np.int64)
    end = np.empty(n + 1, np.int64)
    done = np.empty(2)
    node = np.empty(2)
    bin_lo = np.full(0, np.inf)
    bin_hi = np.empty(0)
    bin_lin = np.zeros(0)
    bin_ref = np.empty(0)
    bin_acc = np.zeros(0)
    s_first = max(s2_from, int(ps[0]) if ps.size else 0)
    for s2 in range(s2_from, s2_to + 1):
        r = total - s2
        if r > rest_cap:
            continue
        short, long_ = shortest[r], longest[r]
        done[0], done[1] = 0.0, 0.0
        first = m  # nodes of this s2 start here
        # range of the children's lo (those not dropped outright) and their number
        lo_min, lo_max, n_child = np.inf, -np.inf, 0
        for x in range(min(n, s2) + 1):
            a, b = starts[s2 - x], starts[s2 - x + 1]
            if a < b and plo[a] + lc[x] + short <= t_hi:
                lo_min = min(lo_min, plo[a] + lc[x])
                lo_max = max(lo_max, plo[b - 1] + lc[x])
                n_child += b - a
        if n_child == 0:
            continue
        lo_max = min(lo_max, t_hi - short)
        n_bins = int((lo_max - lo_min) / delta) + 1 if delta >= 1e-7 else -1
        if 0 < n_bins <= max(65536, 2 * n_child):
            # ---- bins of width delta. Masses add linearly relative to e^z (the largest
            # child mass bound): e^(plm - block max) is computed once per parent, so a child
            # costs a product, not an exp; the rare child too small for that scale (below
            # e^-600 of it) is added in log form.
            inv_delta = 1.0 / delta
            if bin_lo.size < n_bins:
                bin_lo = np.full(n_bins, np.inf)
                bin_hi = np.empty(n_bins)
                bin_lin = np.zeros(n_bins)
                bin_ref = np.empty(n_bins)
                bin_acc = np.zeros(n_bins)
            z = -np.inf
            for x in range(min(n, s2) + 1):
                if starts[s2 - x] < starts[s2 - x + 1]:
                    z = max(z, pmax[s2 - x] + lc[x])
            done_lin = 0.0
            for x in range(min(n, s2) + 1):
                lcx = lc[x]
                scale = math.exp(pmax[s2 - x] + lcx - z)
                for i in range(starts[s2 - x], starts[s2 - x + 1]):
                    lo = plo[i] + lcx
                    if lo + short > t_hi:
                        break
                    hi = phi[i] + lcx
                    w = pexp[i] * scale
                    if hi + long_ <= t_lo:
                        if w > 1e-260:
                            done_lin += w
                        else:
                            _add_mass(done, plm[i] + lcx)
                        continue
                    k = min(n_bins - 1, int((lo - lo_min) * inv_delta))
                    if lo < bin_lo[k]:
                        bin_lo[k] = lo
                    if hi > bin_hi[k] or bin_lin[k] + bin_acc[k] == 0.0:
                        bin_hi[k] = hi
                    if w > 1e-260:
                        bin_lin[k] += w
                    elif bin_acc[k] == 0.0:
                        bin_ref[k], bin_acc[k] = plm[i] + lcx, 1.0
                    else:
                        lm = plm[i] + lcx
                        if lm > bin_ref[k] + 30.0:
                            bin_acc[k] = bin_acc[k] * math.exp(bin_ref[k] - lm) + 1.0
                            bin_ref[k] = lm
                        else:
                            bin_acc[k] += math.exp(lm - bin_ref[k])
            if done_lin > 0:
                _add_mass(done, z + math.log(done_lin))
            for k in range(n_bins):
                if bin_lo[k] == np.inf:
                    continue
                if m == size:
                    if size >= cap:
                        return (cs[:0], clo[:0], chi[:0], clm[:0], settled, False,
                                (s2 - s_first + 1.0) / (s2_to - s_first + 1.0))
                    size = min(cap, 2 * size)
                    cs, clo, chi, clm = _grow(cs, clo, chi, clm, m, size)
                cs[m], clo[m], chi[m] = s2, bin_lo[k], bin_hi[k]
                lm = z + math.log(bin_lin[k]) if bin_lin[k] > 0 else -np.inf
                if bin_acc[k] > 0:
                    lm = _logaddexp(lm, bin_ref[k] + math.log(bin_acc[k]))
                clm[m] = lm
                m += 1
                bin_lo[k], bin_lin[k], bin_acc[k] = np.inf, 0.0, 0.0
        else:
            # ---- k-way merge of the runs x = 0..n with an open child
            h = 0
            for x in range(min(n, s2) + 1):
                a = _next_open(plo, phi, plm, starts[s2 - x], starts[s2 - x + 1], lc[x],
                               short, long_, t_hi, t_lo, done)
                if a < 0:
                    continue
                ptr[x] = a
                end[x] = starts[s2 - x + 1]
                key = plo[a] + lc[x]
                i = h
                h += 1
                while i > 0:
                    par = (i - 1) >> 1
                    if hkey[par] <= key:
                        break
                    hkey[i] = hkey[par]
                    hrun[i] = hrun[par]
                    i = par
                hkey[i] = key
                hrun[i] = x
            while h > 0:
                x = hrun[0]
                i = ptr[x]
                lo = hkey[0]
                hi = phi[i] + lc[x]
                lm = plm[i] + lc[x]
                if m > first and lo <= clo[m - 1] + delta:
                    if hi > chi[m - 1]:
                        chi[m - 1] = hi
                    _add_mass(node, lm)
                else:
                    if m > first:
                        clm[m - 1] = node[0] + math.log(node[1])
                    if m == size:
                        if size >= cap:
                            return (cs[:0], clo[:0], chi[:0], clm[:0], settled, False,
                                    (s2 - s_first + 1.0) / (s2_to - s_first + 1.0))
                        size = min(cap, 2 * size)
                        cs, clo, chi, clm = _grow(cs, clo, chi, clm, m, size)
                    cs[m], clo[m], chi[m] = s2, lo, hi
                    node[0], node[1] = lm, 1.0
                    m += 1
                # replace the heap top by the run's next open child, or remove the run
                a = _next_open(plo, phi, plm, i + 1, end[x], lc[x], short, long_, t_hi, t_lo,
                               done)
                if a >= 0:
                    ptr[x] = a
                    key = plo[a] + lc[x]
                    run = x
                else:
                    h -= 1
                    if h == 0:
                        break
                    key = hkey[h]
                    run = hrun[h]
                i = 0
                while True:
                    c = 2 * i + 1
                    if c >= h:
                        break
                    if c + 1 < h and hkey[c + 1] < hkey[c]:
                        c += 1
                    if hkey[c] >= key:
                        break
                    hkey[i] = hkey[c]
                    hrun[i] = hrun[c]
                    i = c
                hkey[i] = key
                hrun[i] = run
            if m > first:
                clm[m - 1] = node[0] + math.log(node[1])
        if done[1] > 0:
            settled[s2] = done[0] + math.log(done[1])
    return cs[:m], clo[:m], chi[:m], clm[:m], settled, True, 1.0


@_jit
def _coarsen(s, lo, hi, lm, delta):
    """Merge nodes (sorted by s, lo) of the same s whose lo lie within delta of a node's lo."""
    m = np.int64(0)  # not the literal 0: a second specialisation of _grow
    out_s = np.empty(s.size, np.int64)
    out_lo = np.empty(s.size)
    out_hi = np.empty(s.size)
    out_lm = np.empty(s.size)
    for i in range(s.size):
        if m > 0 and s[i] == out_s[m - 1] and lo[i] <= out_lo[m - 1] + delta:
            if hi[i] > out_hi[m - 1]:
                out_hi[m - 1] = hi[i]
            out_lm[m - 1] = _logaddexp(out_lm[m - 1], lm[i])
        else:
            out_s[m] = s[i]
            out_lo[m] = lo[i]
            out_hi[m] = hi[i]
            out_lm[m] = lm[i]
            m += 1
    return out_s[:m], out_lo[:m], out_hi[:m], out_lm[:m]


@_jit
def _settle(s, lo, hi, lm, total, log_rest, tilt_lo, tilt_hi, thetas, t_hi, t_lo, budget,
            pressure, max_keep):
    """Settle the nodes whose undecided mass is smallest, by Chernoff bounds, within ``budget``;
    then, while more than ``max_keep`` nodes are left, within ``pressure``.

    Per node, with u the weight the remaining groups may add: the mass of completions that
    might count when the node is dropped is at most e^(theta u) sum e^((1 - theta) W_rest)
    (u = t_hi - lo), and the mass that might not count when it is counted is at most
    e^(-theta u) sum e^((1 + theta) W_rest) (u = t_lo - hi); tilt_lo[r, j] and tilt_hi[r, j]
    hold those log sums over the remaining groups' tables with total r, and theta = 0 gives the
    trivial bound C(N_rest, r). The cheaper option is each node's cost; nodes are settled in
    increasing cost while the costs add up to at most e^budget.

    Returns (keep, counted, dropped_bound, counted_bound, used, pressed): keep marks the nodes
    left; counted[s] is the log mass of the nodes counted (before multiplying by their
    completions); the bounds are log sums of the costs of the dropped and of the counted nodes;
    used and pressed are the log costs charged to each budget.
    """
    k = s.size
    cost = np.empty(k)
    is_count = np.zeros(k, np.bool_)
    cand = np.empty(k, np.int64)
    nc = 0
    for i in range(k):
        r = total - s[i]
        u = t_hi - lo[i]
        best = log_rest[r]
        for j in range(1, thetas.size):
            v = thetas[j] * u + tilt_lo[r, j]
            if v < best:
                best = v
        drop = lm[i] + best
        u = t_lo - hi[i]
        best = log_rest[r]
        for j in range(1, thetas.size):
            v = -thetas[j] * u + tilt_hi[r, j]
            if v < best:
                best = v
        cnt = lm[i] + best
        if cnt < drop:
            cost[i] = cnt
            is_count[i] = True
        else:
            cost[i] = drop
        if cost[i] <= budget or (k > max_keep and cost[i] <= pressure):
            cand[nc] = i
            nc += 1
    keep = np.ones(k, np.bool_)
    counted = np.full(total + 1, -np.inf)
    dropped_bound = -np.inf
    counted_bound = -np.inf
    used = -np.inf
    pressed = -np.inf
    left = k
    # at most the cheapest k - max_keep nodes go to the pressure budget: sort only those and
    # the few that fit the (small) first budget
    c = cost[cand[:nc]]
    limit = k - max_keep
    if 0 < limit < nc:
        cut = np.partition(c, limit - 1)[limit - 1]
        sel = np.flatnonzero((c <= cut) | (c <= budget))
        cand = cand[sel]
        c = c[sel]
        nc = c.size
    order = np.argsort(c)
    for j in range(nc):
        i = cand[order[j]]
        total_cost = _logaddexp(used, cost[i])
        if total_cost <= budget:
            used = total_cost
        else:
            total_cost = _logaddexp(pressed, cost[i])
            if left <= max_keep or total_cost > pressure:
                break
            pressed = total_cost
        left -= 1
        keep[i] = False
        if is_count[i]:
            counted[s[i]] = _logaddexp(counted[s[i]], lm[i])
            counted_bound = _logaddexp(counted_bound, cost[i])
        else:
            dropped_bound = _logaddexp(dropped_bound, cost[i])
    return keep, counted, dropped_bound, counted_bound, used, pressed


@_jit
def _join_block(flo, fhi, flm, blo, bhi, blm, t_hi, t_lo):
    """Pair prefixes (flo, fhi, flm) with suffixes (blo sorted) that complete them.

    Returns the log sums of prefix mass x suffix mass over the pairs that surely count
    (fhi + bhi <= t_lo) and over those that possibly count (flo + blo <= t_hi).
    """
    sure = -np.inf
    maybe = -np.inf
    if flo.size == 0 or blo.size == 0:
        return sure, maybe
    cum_lo = np.empty(blo.size)
    acc = -np.inf
    for i in range(blo.size):
        acc = _logaddexp(acc, blm[i])
        cum_lo[i] = acc
    order = np.argsort(bhi)
    hi_sorted = bhi[order]
    cum_hi = np.empty(blo.size)
    acc = -np.inf
    for j in range(blo.size):
        acc = _logaddexp(acc, blm[order[j]])
        cum_hi[j] = acc
    for i in range(flo.size):
        j = np.searchsorted(blo, t_hi - flo[i], side="right")
        if j > 0:
            maybe = _logaddexp(maybe, flm[i] + cum_lo[j - 1])
        j = np.searchsorted(hi_sorted, t_lo - fhi[i], side="right")
        if j > 0:
            sure = _logaddexp(sure, flm[i] + cum_hi[j - 1])
    return sure, maybe


def _pad(a: np.ndarray) -> np.ndarray:
    """An upper bound on log sums computed with rounding: a + 1e-9 (1 + |a|) where finite."""
    return np.where(np.isfinite(a), a + 1e-9 * (1 + np.abs(np.where(np.isfinite(a), a, 0))), a)


def _rest_tables(trials: np.ndarray, total: int, lcs: list[np.ndarray]):
    """For every stage j (groups j..k-1 remaining) and remaining total r = 0..total: the longest
    and shortest path, log C(N_rest, r), and the Chernoff sums log sum e^(alpha W) for
    alpha = 1 - theta and 1 + theta (theta in _THETAS); then the tie merge width and the
    rounding slack of log weights."""
    k = trials.size
    nodes = np.arange(total + 1)
    longest = [None] * (k + 1)
    shortest = [None] * (k + 1)
    log_rest = [None] * (k + 1)
    tilt_lo = [None] * (k + 1)
    tilt_hi = [None] * (k + 1)
    alphas = np.concatenate([1 - _THETAS, 1 + _THETAS])
    empty = np.full(total + 1, -np.inf)
    empty[0] = 0.0
    longest[k] = empty
    shortest[k] = np.where(nodes == 0, 0.0, np.inf)
    log_rest[k] = empty
    tilt = np.full((total + 1, alphas.size), -np.inf)
    tilt[0] = 0.0
    tilt_lo[k], tilt_hi[k] = tilt[:, : _THETAS.size], tilt[:, _THETAS.size:]
    increments = np.empty(0)
    n_rest = 0
    for j in range(k - 1, -1, -1):
        n = int(trials[j])
        lc = lcs[j]
        n_rest += n
        # Max-plus convolution of concave sequences (log C(n, x) is concave in x): merge the
        # decreasing increments.
        increments = np.sort(np.concatenate([increments, np.diff(lc)]))[::-1]
        best = np.full(total + 1, -np.inf)
        reach = min(total, increments.size)
        best[0] = 0.0
        best[1 : reach + 1] = np.cumsum(increments[:reach])
        longest[j] = best
        # Min-plus and (for each alpha) log-sum-exp convolutions over the group's values.
        prev_short, prev_tilt = shortest[j + 1], tilt
        cur = np.full(total + 1, np.inf)
        tilt = np.full((total + 1, alphas.size), -np.inf)
        for x in range(min(n, total) + 1):
            np.minimum(cur[x:], lc[x] + prev_short[: total + 1 - x], out=cur[x:])
            np.logaddexp(tilt[x:], alphas * lc[x] + prev_tilt[: total + 1 - x], out=tilt[x:])
        shortest[j] = cur
        tilt_lo[j], tilt_hi[j] = tilt[:, : _THETAS.size], tilt[:, _THETAS.size:]
        ok = nodes <= n_rest
        log_rest[j] = np.where(ok, log_choose(n_rest, np.minimum(nodes, n_rest)), -np.inf)
    # Rounding in these sums must not make a bound too small: add a relative margin.
    tilt_lo = [np.ascontiguousarray(_pad(a)) for a in tilt_lo]
    tilt_hi = [np.ascontiguousarray(_pad(a)) for a in tilt_hi]
    # Rounding of log weights: log C(n, x) is a difference of three gammaln values, each within
    # a few ulps of at most log(n!), and a weight sums k of them: 32 ulps of sum log(n_i!)
    # bounds the error of any weight. Weights closer than that to the threshold are undecided
    # (``slack``); ties (equal weights summed in different orders) are merged (``delta``).
    slack = 1e-14 + 32 * np.finfo(float).eps * float(special.gammaln(trials + 1.0).sum())
    return longest, shortest, log_rest, tilt_lo, tilt_hi, max(1e-10, 4 * slack), slack


class _Sweep:
    """Partial paths from one end of the network (groups in sweep order), sorted by (s, lo)."""

    def __init__(self, trials, total, lcs, tables, widen: bool = True):
        self.trials = trials
        self.total = total
        self.lcs = lcs
        self.longest, self.shortest, self.log_rest, self.tilt_lo, self.tilt_hi = tables[:5]
        self.rest_cap = np.concatenate([np.cumsum(trials[::-1])[::-1], [0]])
        self.stage = 0
        self.s = np.zeros(1, dtype=np.int64)
        self.lo = np.zeros(1)
        self.hi = np.zeros(1)
        self.lm = np.zeros(1)
        self.delta = tables[5]  # merge width: ties only, until the budget says otherwise
        self.widen = widen  # may merge more coarsely than ties when over budget
        self._prep = None  # _prepare(s, lm) of the current nodes, made when first needed
        # settled[j][s]: log mass of the paths settled as counted at stage j with total s,
        # before multiplying by their completions (the caller decides which completions)
        self.settled: list[np.ndarray] = []
        self.dropped_bound = -np.inf  # log of the bounds on what dropped paths might count
        self.counted_bound = -np.inf  # log of the bounds on what counted paths might not

    @property
    def work(self) -> int:
        return self.s.size * (int(self.trials[self.stage]) + 1)

    def _expand(self, t_hi, t_lo, max_nodes, s2_from, s2_to):
        """The next stage's nodes with totals s2_from..s2_to (merging more coarsely if they
        would not fit in 2 * max_nodes)."""
        j = self.stage
        if self._prep is None:
            self._prep = _prepare(self.s, self.lm, self.total)
        while True:
            out = _expand(self.s, self.lo, self.hi, self.lm, self._prep, self.lcs[j], self.total,
                          int(self.rest_cap[j + 1]), self.shortest[j + 1], self.longest[j + 1],
                          t_hi, t_lo, self.delta, 2 * max_nodes, s2_from, s2_to)
            if out[5]:
                return out[:5]
            # Nodes grow about as 1 / delta once merging bites: aim at half the cap.
            self._widen(max_nodes, 4.0 / max(out[6], 1e-3))

    def block(self, t_hi: float, t_lo: float, max_nodes: int, s2: int):
        """The next stage's nodes with total s2 (not kept) and the log mass settled there as
        counted."""
        _, lo, hi, lm, settled = self._expand(t_hi, t_lo, max_nodes, s2, s2)
        return lo, hi, lm, settled[s2]

    def advance(self, t_hi: float, t_lo: float, budget: float, pressure: float,
                max_nodes: int) -> tuple[float, float]:
        """Add the next group and settle what can be settled.

        Paths are settled by Chernoff bounds within ``budget``, and, while more than
        ``max_nodes`` remain, within ``pressure`` too before they are merged more coarsely.
        Returns the log masses charged to each budget.
        """
        j = self.stage
        s, lo, hi, lm, settled = self._expand(t_hi, t_lo, max_nodes, 0, self.total)
        used = pressed = -np.inf
        if s.size and (budget > -np.inf or pressure > -np.inf):
            keep, counted, dropped, counted_bound, used, pressed = _settle(
                s, lo, hi, lm, self.total, self.log_rest[j + 1], self.tilt_lo[j + 1],
                self.tilt_hi[j + 1], _THETAS, t_hi, t_lo, budget, pressure, max_nodes)
            if not keep.all():
                settled = np.logaddexp(settled, counted)
                self.dropped_bound = np.logaddexp(self.dropped_bound, dropped)
                self.counted_bound = np.logaddexp(self.counted_bound, counted_bound)
                s, lo, hi, lm = s[keep], lo[keep], hi[keep], lm[keep]
        self.settled.append(settled)
        self.s, self.lo, self.hi, self.lm = s, lo, hi, lm
        self._prep = None
        while self.s.size > max_nodes:
            # nodes shrink about as 1 / delta once merging bites: aim at half the budget
            self._widen(max_nodes, max(2.0, 2.0 * self.s.size / max_nodes))
            self.s, self.lo, self.hi, self.lm = _coarsen(self.s, self.lo, self.hi, self.lm,
                                                         self.delta)
        self.stage += 1
        return float(used), float(pressed)

    def _widen(self, max_nodes: int, factor: float = 10.0) -> None:
        if self.delta >= _DELTA_MAX or not self.widen:
            raise ExactTooLarge(f"the network needs more than max_nodes={max_nodes} partial "
                                "paths")
        self.delta = min(_DELTA_MAX, max(self.delta * factor, 1e-7))


def _log_sub(a: float, b: float) -> float:
    """log(e^a - e^b), -inf when b >= a."""
    if b >= a:
        return -np.inf
    return a + math.log1p(-math.exp(b - a)) if b > -np.inf else a


def _network(events, trials, lcs, tables, max_nodes, log_budget=-np.inf, log_pressure=-np.inf,
             widen=True):
    """One run: log masses that surely / possibly count (divide by C(N, X) for p), the log
    mass settled by Chernoff bounds, the peak node count and the widest merge.

    Every table is decided once: by the front if the front settled its prefix (counted with all
    completions: Vandermonde), else by the back if the back settled its suffix (counted with
    the prefixes the front kept, whatever the groups between hold), else where they meet. The
    sweeps stop two groups apart; the last group of each is added one total at a time and
    the two blocks paired at once, so the largest stage is never held whole.
    """
    total = int(events.sum())
    k = trials.size
    big_n = int(trials.sum())
    observed = float(sum(lc[x] for lc, x in zip(lcs, events, strict=True)))
    threshold = observed + math.log1p(_REL_TOL)
    slack = tables[0][6]
    t_hi, t_lo = threshold + slack, threshold - slack
    front = _Sweep(trials, total, lcs, tables[0], widen)
    back = _Sweep(trials[::-1].copy(), total, lcs[::-1], tables[1], widen)
    peak, log_spent, log_pressed = 1, -np.inf, -np.inf
    while front.stage + back.stage < k - 2:
        # Chernoff budgets: an equal share per stage, unused shares carried forward.
        share = math.log((front.stage + back.stage + 1) / (k - 2))
        side = front if front.work <= back.work else back
        used, pressed = side.advance(t_hi, t_lo, _log_sub(log_budget + share, log_spent),
                                     _log_sub(log_pressure + share, log_pressed), max_nodes)
        log_spent = float(np.logaddexp(log_spent, used))
        log_pressed = float(np.logaddexp(log_pressed, pressed))
        peak = max(peak, front.s.size, back.s.size)
    a = front.stage + 1  # groups on the front's side at the meeting
    nodes = np.arange(total + 1)
    sure = []
    for j, settled in enumerate(front.settled):  # prefixes with all their completions
        sure.append(settled + front.log_rest[j + 1][total - nodes])
    # Suffixes the back settled as counted, with every prefix the front keeps: the groups
    # between (those neither sweep reached then) hold the remaining events in C(n, e) ways.
    between = big_n - int(trials[:a].sum())
    factor = np.full(total + 1, -np.inf)
    for c, settled in enumerate(back.settled, start=1):
        if not np.isfinite(settled).any():
            continue
        between_c = between - int(trials[k - c:].sum())
        need = total - nodes[:, None] - nodes[None, :]  # rows: prefix total; columns: suffix
        ok = (need >= 0) & (need <= between_c)
        ways = np.where(ok, log_choose(between_c, np.where(ok, need, 0)), -np.inf)
        factor = np.logaddexp(factor, special.logsumexp(ways + settled[None, :], axis=1))
    extra = []
    log_rest_front = front.log_rest[a]
    for s2 in range(total + 1):
        flo, fhi, flm, f_settled = front.block(t_hi, t_lo, max_nodes, s2)
        sure.append(np.array([f_settled + log_rest_front[total - s2]]))
        if flo.size == 0:
            continue
        blo, bhi, blm, b_settled = back.block(t_hi, t_lo, max_nodes, total - s2)
        f_mass = float(special.logsumexp(flm))
        sure.append(np.array([f_mass + factor[s2], f_mass + b_settled]))
        sure_join, maybe_join = _join_block(flo, fhi, flm, blo, bhi, blm, t_hi, t_lo)
        sure.append(np.array([sure_join]))
        extra.append(_log_sub(maybe_join, sure_join))
    log_counted = float(special.logsumexp(np.concatenate(sure)))
    # Paths counted by a Chernoff bound may hold tables that do not count (at most
    # counted_bound of them); dropped ones may hold tables that do (at most dropped_bound).
    not_sure = float(np.logaddexp(front.counted_bound, back.counted_bound))
    log_low = _log_sub(log_counted, not_sure)
    log_high = float(special.logsumexp([log_counted, front.dropped_bound, back.dropped_bound,
                                        *extra]))
    return log_low, log_high, float(np.logaddexp(log_spent, log_pressed)), peak, \
        max(front.delta, back.delta)


def ffh_pvalue(events, trials, *, max_nodes: int = 300_000, rtol: float = 1e-7) -> FFHPValue:
    """Two-sided Fisher-Freeman-Halton p-value of a k x 2 table, exact or between certified bounds.

    Parameters
    ----------
    events, trials : array-like of int
        The table's events and trials per group.
    max_nodes : int
        Work budget: most partial paths one sweep may hold at once (about 32 bytes each).
    rtol : float
        Share of p that paths settled by Chernoff bounds may leave undecided.

    Returns
    -------
    FFHPValue
        ``low``, ``high`` (equal when exact), ``peak`` (most nodes held by one sweep) and
        ``delta`` (the widest merge; about 1e-10 merges only ties).

    Notes
    -----
    Three runs at most. (1) The exact network: ties merged,
    nothing settled by a bound; it answers most tables of up to a few thousand subjects
    exactly. (2) A pilot with 1/50 of the budget, merging more coarsely as needed: certified
    but wide bounds, whose lower bound sets (3)'s Chernoff budgets: rtol * p, and, when a
    sweep outgrows max_nodes, up to a share of p matched to the width the pilot suggests,
    spent on the paths with the least undecided mass before any coarser merge.
    Raises :class:`ExactTooLarge` when even the coarsest merge does not fit max_nodes.
    """
    events = np.asarray(events, dtype=np.int64)
    trials = np.asarray(trials, dtype=np.int64)
    total, big_n = int(events.sum()), int(trials.sum())
    if 2 * total > big_n:  # the rarer outcome gives fewer nodes
        events, total = trials - events, big_n - total
    if total == 0 or trials.size == 1:  # one table fits the margins
        return FFHPValue(1.0, 1.0, 1, 0.0)
    cells = (trials.size + 1) * (total + 1)
    if cells > _MAX_CELLS:  # the bound tables alone would take over ~400 MB
        raise ExactTooLarge(f"{trials.size} groups and {total} outcomes of the rarer kind "
                            "are too many for the network's bound tables")
    order = np.argsort(-trials, kind="stable")
    events, trials = events[order], trials[order]
    log_norm = float(log_choose(big_n, total))
    lcs = [log_choose(int(n), np.arange(int(n) + 1, dtype=float)) for n in trials]
    tables = (_rest_tables(trials, total, lcs), _rest_tables(trials[::-1].copy(), total,
                                                             lcs[::-1]))
    observed = float(sum(lc[x] for lc, x in zip(lcs, events, strict=True)))

    def run(nodes, log_budget=-np.inf, log_pressure=-np.inf, widen=True):
        log_low, log_high, _, peak, delta = _network(events, trials, lcs, tables, nodes,
                                                     log_budget, log_pressure, widen)
        return log_low, log_high, peak, delta

    def result(log_low, log_high, peak, delta) -> FFHPValue:
        low = math.exp(log_low - log_norm) if log_low > -np.inf else 0.0
        high = min(1.0, math.exp(log_high - log_norm))
        return FFHPValue(min(low, high), high, peak, delta)

    try:
        return result(*run(max_nodes, widen=False))
    except ExactTooLarge:
        pass
    # pilot: at least ~50 nodes per total s (what the coarsest merge may need)
    pilot_nodes = min(max_nodes, max(max_nodes // _PILOT, 50 * (total + 1)))
    log_p_low, pressure = observed, _PRESSURE_MAX  # p >= P(observed table)
    if pilot_nodes < max_nodes:
        try:
            log_low, log_high, peak, delta = run(pilot_nodes)
        except ExactTooLarge:
            pass
        else:
            if _log_sub(log_high, log_low) <= math.log(rtol) + log_low:
                return result(log_low, log_high, peak, delta)
            log_p_low = max(log_low, observed)
            width = math.exp(min(50.0, log_high - log_p_low)) - 1
            pressure = min(_PRESSURE_MAX, max(rtol, width * pilot_nodes / max_nodes / 4))
    return result(*run(max_nodes, math.log(rtol / 2) + log_p_low,
                       math.log(pressure) + log_p_low))


def ffh_exact_pvalue(events, trials, *, max_nodes: int = 300_000) -> tuple[float, int]:
    """``(pvalue, peak)``: the midpoint of :func:`ffh_pvalue`'s bounds and its node peak."""
    r = ffh_pvalue(events, trials, max_nodes=max_nodes)
    return r.pvalue, r.peak
