"""Independent references for the Fisher-Freeman-Halton test on the bundled one-arm datasets.

binfer/homogeneity/_exact.py computes the FFH p-value (or certified bounds) by a network with
interval nodes, Chernoff settlement and compiled kernels. This script checks it against two
things that share none of that code:

1. ``network_pvalue``: binfer's previous exact network algorithm (numpy only, exact-tie merging
   on a 1e-9 log grid, longest/shortest path bounds, sweeps from both ends; copied here
   verbatim from binfer 0.x, git history of binfer/homogeneity/_exact.py), run with a work
   budget of 2e7 partial paths. It finishes on dose_response and efron_morris.
2. ``permutation_pvalue``: Monte Carlo with both margins fixed, the definition of the
   conditional null: the pooled 0/1 outcomes (X ones, N - X zeros) are permuted 1e6 times
   (numpy Generator.permuted, seed 20251126) and cut into the groups; the p-value is the share
   of permuted tables with log P(table) <= log P(observed) + log(1 + 1e-7) (R's tolerance),
   with its binomial standard error. Run on efron_morris (where R's fisher.test says 0.2216)
   and surgical.

Log binomial coefficients come from scipy.special.gammaln; the datasets are read from
datasets/*.csv. Output: tests/reference/ffh_refs.json (read by tests/test_homogeneity_exact.py)
and ffh_refs_log.txt (timings and versions). Run from the project root (about 3 minutes):

    .venv/bin/python tests/reference/make_ffh_refs.py
"""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
from scipy import special

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
SEED = 20251126
N_PERM = 1_000_000


def log_choose(n, x):
    return special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)


# ---- 1. the previous network algorithm (verbatim but for this header) ----------------------

_REL_TOL = 1e-7
_MERGE_STEP = 1e-9
_CHUNK = 2_000_000


class ExactTooLarge(RuntimeError):
    """The network grew past its budget."""


def _suffix_bounds(trials: np.ndarray, total: int) -> tuple[list, list]:
    """Longest and shortest path of every suffix j..k-1, for every remaining total 0..total."""
    k = trials.size
    longest: list[np.ndarray] = [None] * (k + 1)  # type: ignore[list-item]
    shortest: list[np.ndarray] = [None] * (k + 1)  # type: ignore[list-item]
    empty = np.full(total + 1, -np.inf)
    empty[0] = 0.0
    longest[k] = empty
    shortest[k] = np.where(np.arange(total + 1) == 0, 0.0, np.inf)
    increments = np.empty(0)
    for j in range(k - 1, -1, -1):
        n = int(trials[j])
        lc = log_choose(n, np.arange(n + 1, dtype=float))
        # Max-plus convolution of concave sequences: merge the (decreasing) increments.
        increments = np.sort(np.concatenate([increments, np.diff(lc)]))[::-1]
        best = np.full(total + 1, -np.inf)
        reach = min(total, increments.size)
        best[0] = 0.0
        best[1 : reach + 1] = np.cumsum(increments[:reach])
        longest[j] = best
        # Min-plus convolution: shortest[j][r] = min_x lc[x] + shortest[j+1][r - x].
        prev = shortest[j + 1]
        cur = np.full(total + 1, np.inf)
        for x in range(min(n, total) + 1):
            np.minimum(cur[x:], lc[x] + prev[: total + 1 - x], out=cur[x:])
        shortest[j] = cur
    return longest, shortest


class _Side:
    """Partial paths from one end of the network: groups processed, events so far, weights."""

    def __init__(self, trials: np.ndarray, total: int):
        self.trials = trials
        self.total = total
        self.longest, self.shortest = _suffix_bounds(trials, total)
        self.rest = np.concatenate([np.cumsum(trials[::-1])[::-1], [0]])
        self.stage = 0
        self.s = np.zeros(1, dtype=np.int64)
        self.w = np.zeros(1)
        self.logm = np.zeros(1)

    @property
    def next_trials(self) -> int:
        return int(self.trials[self.stage])

    def advance(self, threshold: float, max_nodes: int):
        """Add the next group; return the settled paths (stage, events, log mass) that count."""
        j = self.stage
        n = int(self.trials[j])
        lc = log_choose(n, np.arange(n + 1, dtype=float))
        empty = (np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))
        pieces, settled_s, settled_m = [empty], [empty[0]], [empty[1]]
        held = 0
        step = max(1, _CHUNK // (n + 1))  # expand a chunk of parents at a time: bounded memory
        for lo in range(0, self.s.size, step):
            s2 = (self.s[lo : lo + step, None] + np.arange(n + 1)[None, :]).ravel()
            w2 = (self.w[lo : lo + step, None] + lc[None, :]).ravel()
            m2 = np.repeat(self.logm[lo : lo + step], n + 1)
            remaining = self.total - s2
            ok = (remaining >= 0) & (remaining <= self.rest[j + 1])
            s2, w2, m2, remaining = s2[ok], w2[ok], m2[ok], remaining[ok]
            all_count = w2 + self.longest[j + 1][remaining] <= threshold
            settled_s.append(s2[all_count])
            settled_m.append(m2[all_count] + w2[all_count])
            keep = ~all_count & (w2 + self.shortest[j + 1][remaining] <= threshold)
            pieces.append((s2[keep], w2[keep], m2[keep]))
            held += int(keep.sum())
            if held > max_nodes:
                raise ExactTooLarge(f"network holds over {max_nodes} partial paths")
        settled = (np.concatenate(settled_s), np.concatenate(settled_m))
        s2, w2, m2 = (np.concatenate(x) for x in zip(*pieces, strict=True))
        if s2.size:
            # Merge paths with the same node and (numerically) the same past weight.
            key_w = np.round(w2 / _MERGE_STEP).astype(np.int64)
            order = np.lexsort((key_w, s2))
            s2, w2, m2, key_w = s2[order], w2[order], m2[order], key_w[order]
            new = np.concatenate([[True], (s2[1:] != s2[:-1]) | (key_w[1:] != key_w[:-1])])
            start = np.flatnonzero(new)
            if start.size < s2.size:
                m2 = np.logaddexp.reduceat(m2, start)
                s2, w2 = s2[start], w2[start]
        self.s, self.w, self.logm = s2, w2, m2
        self.stage += 1
        return settled


def ffh_exact_pvalue(events: np.ndarray, trials: np.ndarray, *, max_nodes: int = 2_000_000):
    """Two-sided Fisher-Freeman-Halton p-value of a k x 2 table and the network's peak size.

    The network is swept from both ends (always advancing the end holding fewer partial paths)
    until the two meet; the surviving prefixes and suffixes are then joined exactly by sorting
    the suffixes' weights at each node. Returns ``(pvalue, peak)``; raises :class:`ExactTooLarge`
    when either end would hold more than ``max_nodes`` partial paths.
    """
    events = np.asarray(events, dtype=np.int64)
    trials = np.asarray(trials, dtype=np.int64)
    total, big_n = int(events.sum()), int(trials.sum())
    if 2 * total > big_n:  # the rarer outcome gives fewer nodes
        events, total = trials - events, big_n - total
    if total == 0:
        return 1.0, 1
    order = np.argsort(-trials, kind="stable")
    events, trials = events[order], trials[order]
    k = trials.size
    log_norm = float(log_choose(big_n, np.array(total)))
    observed = float(log_choose(trials, events.astype(float)).sum())
    threshold = observed + np.log1p(_REL_TOL)

    front, back = _Side(trials, total), _Side(trials[::-1], total)
    counted = []  # log masses of full tables that count (relative to log_norm)
    collapsed = []  # suffix paths all of whose prefixes count: (groups covered, events, log mass)
    peak = 1
    while front.stage + back.stage < k:
        # Advance the end whose next expansion is smaller.
        if front.s.size * (front.next_trials + 1) <= back.s.size * (back.next_trials + 1):
            s_set, m_set = front.advance(threshold, max_nodes)
            # Each settled prefix counts with all its completions (Vandermonde's identity).
            rest_n = front.rest[front.stage]
            counted.append(m_set + log_choose(rest_n, total - s_set))
        else:
            r_set, m_set = back.advance(threshold, max_nodes)
            collapsed.append((np.full(r_set.size, back.stage), r_set, m_set))
        peak = max(peak, front.s.size, back.s.size)

    # Join the surviving prefixes (groups 0..a-1) with the surviving suffixes (a..k-1).
    a = front.stage
    counted.append(_join(front, back, total, threshold))
    if collapsed and front.s.size:
        # A collapsed suffix covering the last c groups counts with every surviving prefix,
        # whatever the groups in between hold: C(trials between, events between) ways. factor[s]
        # sums that over the collapsed suffixes for a prefix ending at node s.
        c = np.concatenate([x[0] for x in collapsed])
        r = np.concatenate([x[1] for x in collapsed])
        lm = np.concatenate([x[2] for x in collapsed])
        between = np.cumsum(np.concatenate([[0], trials[a:]]))  # trials in groups a..a+i-1
        nodes = np.arange(total + 1)
        factor = np.full(total + 1, -np.inf)
        for cc in np.unique(c):
            sel = c == cc
            rr, inverse = np.unique(r[sel], return_inverse=True)
            mass = np.full(rr.size, -np.inf)
            np.logaddexp.at(mass, inverse, lm[sel])
            n_between = int(between[k - cc - a])
            left = total - nodes[:, None] - rr[None, :]
            ok = (left >= 0) & (left <= n_between)
            ways = log_choose(n_between, np.where(ok, left, 0))
            terms = np.where(ok, mass[None, :] + ways, -np.inf)
            factor = np.logaddexp(factor, special.logsumexp(terms, axis=1))
        counted.append(front.logm + front.w + factor[front.s])
    log_p = special.logsumexp(np.concatenate(counted)) - log_norm
    return float(min(1.0, np.exp(log_p))), peak


def _join(front: _Side, back: _Side, total: int, threshold: float) -> np.ndarray:
    """Log masses of (prefix, suffix) pairs with prefix weight + suffix weight <= threshold."""
    out = [np.empty(0)]
    if front.s.size == 0 or back.s.size == 0:
        return out[0]
    order = np.lexsort((back.w, back.s))
    bs, bw, bm = back.s[order], back.w[order], back.logm[order]
    for r in np.unique(bs):
        lo, hi = np.searchsorted(bs, r, "left"), np.searchsorted(bs, r, "right")
        cum = np.logaddexp.accumulate(bm[lo:hi] + bw[lo:hi])
        sel = front.s == total - r
        if not sel.any():
            continue
        upto = np.searchsorted(bw[lo:hi], threshold - front.w[sel], "right")
        good = upto > 0
        out.append(front.logm[sel][good] + front.w[sel][good] + cum[upto[good] - 1])
    return np.concatenate(out)


def network_pvalue(events, trials):
    p, peak = ffh_exact_pvalue(events, trials, max_nodes=20_000_000)
    return p, peak


# ---- 2. permutations of the pooled outcomes ------------------------------------------------

def permutation_pvalue(events, trials, n_perm=N_PERM):
    events = np.asarray(events, dtype=np.int64)
    trials = np.asarray(trials, dtype=np.int64)
    big_n, total = int(trials.sum()), int(events.sum())
    threshold = float(log_choose(trials, events).sum()) + math.log1p(_REL_TOL)
    ends = np.cumsum(trials)[:-1]
    pooled = np.zeros(big_n, dtype=np.int8)
    pooled[:total] = 1
    chunk = max(1000, 20_000_000 // big_n)  # permuted rows per batch (memory)
    rng = np.random.default_rng(SEED)
    hits = 0
    done = 0
    while done < n_perm:
        size = min(chunk, n_perm - done)
        perm = rng.permuted(np.broadcast_to(pooled, (size, big_n)), axis=1)
        csum = np.cumsum(perm, axis=1, dtype=np.int32)
        cuts = np.concatenate([np.zeros((size, 1), np.int32), csum[:, ends - 1],
                               csum[:, -1:]], axis=1)
        x = np.diff(cuts, axis=1)
        assert (x.sum(axis=1) == total).all()
        hits += int((log_choose(trials, x).sum(axis=1) <= threshold).sum())
        done += size
    p = hits / n_perm
    return {"hits": hits, "n": n_perm, "p": p, "se": math.sqrt(p * (1 - p) / n_perm)}


def _data(name):
    frame = pd.read_csv(ROOT / "datasets" / f"{name}.csv")
    return frame["events"].to_numpy(), frame["trials"].to_numpy()


def main():
    refs, log = {"network": {}, "permutation": {}}, []
    for name in ("dose_response", "efron_morris"):
        t0 = time.perf_counter()
        p, peak = network_pvalue(*_data(name))
        dt = time.perf_counter() - t0
        refs["network"][name] = {"pvalue": p, "peak_nodes": peak}
        log.append(f"network {name}: p = {p!r} (peak {peak} partial paths, {dt:.1f} s)")
    for name in ("efron_morris", "surgical"):
        t0 = time.perf_counter()
        res = permutation_pvalue(*_data(name))
        dt = time.perf_counter() - t0
        refs["permutation"][name] = {**res, "seed": SEED}
        log.append(f"permutation {name}: {res['hits']} of {res['n']}, p = {res['p']:.6g} "
                   f"(SE {res['se']:.2g}, {dt:.1f} s)")
    refs["meta"] = {"python": platform.python_version(), "numpy": np.__version__,
                    "scipy": scipy.__version__, "pandas": pd.__version__,
                    "script": "tests/reference/make_ffh_refs.py"}
    (OUT / "ffh_refs.json").write_text(json.dumps(refs, indent=2) + "\n")
    (OUT / "ffh_refs_log.txt").write_text("\n".join(log) + "\n")
    print("\n".join(log))


if __name__ == "__main__":
    main()
