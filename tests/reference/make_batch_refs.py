#!/usr/bin/env python
"""Reference values for batches of small Poisson-binomials, independently of binfer.

Each member is X = sum_g Bin(counts[g], p[g]); a batch is a (B, G) array of p and of counts, the
shorter members padded with groups of count 0.  For each member and each of its points k this
writes log P(X = k), log P(X <= k), log P(X > k) and the gradient d log P(X = k) / d p[g].

Method (mpmath, mp.dps = 60, pure-Python backend): the PMF is the exact product of the
groups' PGF factors, each group's binomial PMF binomial(n, j) p^j (1 - p)^(n - j) formed in
mpmath from the exact double p (all terms non-negative: relative error ~ N 2^-199, no
underflow).  Tails are summed from the PMF; the smaller is logged directly, the other is
log1p(-smaller).  Gradients: for members of at most 400 trials, central finite differences of
log P(k) in p[g] (mpmath.diff, step 1e-25) *and* the analytic form
counts[g] (P_g(k-1) - P_g(k)) / P(k) (P_g: one trial of g removed, computed exactly), asserted
to agree to 1e-20 relative; for the larger members, the analytic form only (a finite
difference would need 2 G exact convolutions of 2000 trials each).  numpy draws the p and
counts (default_rng(seed)) and is not used in any computation.

Output: batch_refs.json next to this script: {"p": (B, G), "counts": (B, G), "members": [{"k",
"logpmf", "logcdf", "logsf", "grad"}]} with values as strings of 20 significant digits,
"-inf" for a zero probability, "nan" for a gradient where P(X = k) = 0.

Run from the project root:  .venv/bin/python tests/reference/make_batch_refs.py  (~2 min)
"""

from __future__ import annotations

import json
from pathlib import Path

import mpmath as mp
import numpy as np

mp.mp.dps = 60
OUT = Path(__file__).with_name("batch_refs.json")
G = 20


def binom_row(n: int, p) -> list:
    q = 1 - p
    return [mp.binomial(n, j) * p**j * q ** (n - j) for j in range(n + 1)]


def convolve(a: list, b: list) -> list:
    out = [mp.mpf(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x == 0:
            continue
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def pmf(p: list, counts: list) -> list:
    row = [mp.mpf(1)]
    for q, c in zip(p, counts, strict=True):
        if c > 0:
            row = convolve(row, binom_row(int(c), mp.mpf(q)))
    return row


def log_or_inf(x) -> str:
    return "-inf" if x == 0 else mp.nstr(mp.log(x), 20)


def member_values(p: list, counts: list, ks: list) -> dict:
    P = pmf(p, counts)
    N = len(P) - 1
    assert abs(mp.fsum(P) - 1) < mp.mpf(10) ** -50

    def at(arr, j):
        return arr[j] if 0 <= j < len(arr) else mp.mpf(0)

    loo = {}  # P_g, one trial of group g removed: computed once per group

    def leave_one_out(g):
        if g not in loo:
            cc = list(counts)
            cc[g] -= 1
            loo[g] = pmf(p, cc)
        return loo[g]

    logpmf, logcdf, logsf, grad = [], [], [], []
    for k in ks:
        cdf = mp.fsum(P[: k + 1]) if k >= 0 else mp.mpf(0)
        sf = mp.fsum(P[k + 1 :]) if k < N else mp.mpf(0)
        if cdf <= sf:
            lc, ls = log_or_inf(cdf), mp.nstr(mp.log1p(-cdf), 20)
        else:
            ls, lc = log_or_inf(sf), mp.nstr(mp.log1p(-sf), 20)
        logpmf.append(log_or_inf(at(P, k)))
        logcdf.append(lc)
        logsf.append(ls)
        row = []
        for g, c in enumerate(counts):
            if at(P, k) == 0:
                row.append("nan")
                continue
            if c == 0:
                row.append("0.0")
                continue
            Pg = leave_one_out(g)
            val = c * (at(Pg, k - 1) - at(Pg, k)) / at(P, k)
            if N <= 400 and 0 < p[g] < 1:
                def logp(x, g=g, k=k):
                    pp = list(p)
                    pp[g] = x
                    return mp.log(pmf(pp, counts)[k])
                fd = mp.diff(logp, mp.mpf(p[g]), h=mp.mpf(10) ** -25)
                assert abs(fd - val) <= mp.mpf(10) ** -20 * max(1, abs(val)), (g, k, fd, val)
            row.append(mp.nstr(val, 20))
        grad.append(row)
    return {"k": ks, "logpmf": logpmf, "logcdf": logcdf, "logsf": logsf, "grad": grad}


def main() -> None:
    rng = np.random.default_rng(12)
    members = []
    # 1. the benchmark's design: 20 groups, ~2000 trials
    members.append((rng.uniform(0.02, 0.5, G), rng.integers(50, 150, G)))
    # 2. a few groups padded with zeros, tiny and near-one p
    p = np.full(G, 0.5)
    c = np.zeros(G, dtype=int)
    p[:4] = [1e-12, 0.3, 1 - 1e-9, 2e-5]
    c[:4] = [40, 25, 30, 60]
    members.append((p, c))
    # 3. p = 0 and p = 1 groups among interior ones
    p = rng.uniform(0.05, 0.95, G)
    c = rng.integers(0, 12, G)
    p[[1, 5]] = 0.0
    p[[2, 9]] = 1.0
    members.append((p, c))
    # 4. one group of 300 trials and 19 single trials
    p = rng.uniform(0.001, 0.2, G)
    c = np.ones(G, dtype=int)
    c[0] = 300
    members.append((p, c))
    P, C, out = [], [], []
    for p, c in members:
        p = [float(x) for x in p]
        c = [int(x) for x in c]
        N = sum(c)
        sure = sum(ci for pi, ci in zip(p, c, strict=True) if pi == 1.0)
        never = sum(ci for pi, ci in zip(p, c, strict=True) if pi == 0.0)
        mean = sum(pi * ci for pi, ci in zip(p, c, strict=True))
        sd = sum(pi * (1 - pi) * ci for pi, ci in zip(p, c, strict=True)) ** 0.5
        ks = sorted({sure, sure + 1, sure + 2, int(mean), int(mean + 3 * sd),
                     int(mean + 12 * sd), int(mean - 6 * sd), N - never - 1, N - never,
                     N - never + 1, sure - 1})
        ks = [k for k in ks if -1 <= k <= N + 1]
        P.append(p)
        C.append(c)
        out.append(member_values(p, c, ks))
        print("member", len(out), "N =", N, "points", ks, flush=True)
    OUT.write_text(json.dumps({"p": P, "counts": C, "members": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
