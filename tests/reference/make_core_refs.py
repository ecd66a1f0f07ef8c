#!/usr/bin/env python
"""Generate high-precision reference values for the grouped Poisson-binomial
distribution, independently of binfer.

    X = sum_g Binomial(counts[g], p[g])   (independent groups),  N = sum(counts)

Everything is computed with mpmath at mp.dps = 60 (about 199 bits).  numpy is
used only to draw the p vectors (numpy.random.default_rng(seed)); the double
values so drawn are taken as the exact truth (mpf(float) is exact).

Outputs (next to this script):
  core_refs.json       list of cases {"name", "p", "counts", "logpmf", "logcdf", "logsf"}
  core_grad_refs.json  list of cases {"name", "p", "counts", "k", "grad"}

Conventions:
  * arrays cover k = 0..N;  cdf(k) = P(X <= k);  sf(k) = P(X > k)  (logsf[N] = "-inf")
  * natural logs written as strings with 20 significant digits (mpmath.nstr(x, 20)),
    "-inf" where the probability is exactly zero.
  * p written as JSON floats (Python repr, round-trips exactly); counts as ints.
  * grad[i][g] = d log P(X = k[i]) / d p[g] (all counts[g] trials of group g share
    p[g]); strings with 17 significant digits, "nan" where P(X = k) = 0.

Method:
  * PMF: exact-arithmetic-style dynamic programming (product of PGF factors) in
    mpmath; a group with counts[g] > 1 contributes its binomial PMF
    binomial(n, j) p^j (1-p)^(n-j) (with 1-p formed in mpmath from the exact
    double p).  All terms are non-negative, so every PMF value carries relative
    error ~ N * 2^-199, with no underflow (mpmath exponents are unbounded).
    Zero probabilities (p = 0 or 1) come out exactly zero.
  * CDF/SF: both tails are summed directly from the PMF (cdf from below, sf from
    above).  For each k, whichever of cdf(k), sf(k) is the smaller is logged
    directly, and the other one is obtained as log1p(-smaller).  This keeps full
    relative accuracy also for log values extremely close to 0 (e.g.
    logsf(0) = log(1 - P(X=0)) ~ -1e-130), which log(direct sum ~ 1) could not.
  * Gradients: central finite differences with step h = 1e-25 at dps = 60,
    asserted to agree to 1e-15 relative with the analytic formula
        counts[g] * (P_g(k-1) - P_g(k)) / P(k),
    P_g = PMF with one trial of group g removed (computed exactly in mpmath).
  * Self-checks: PMF sums to 1 (to 1e-50); the small cases are recomputed at
    dps = 90 and must agree with the dps = 60 values to far more than 20 digits.

Run:  /work/main/.venv/bin/python tests/reference/make_core_refs.py
"""

import json
import os
import sys
import time

import mpmath
import numpy as np
from mpmath import mp, mpf

HERE = os.path.dirname(os.path.abspath(__file__))
DPS = 60
mp.dps = DPS


# ---------------------------------------------------------------- PMF machinery
def binom_pmf_mp(n, p):
    """Exact-ish binomial PMF vector (length n+1) in mpmath; p is an mpf."""
    q = 1 - p
    out = []
    for j in range(n + 1):
        a = mpf(1) if j == 0 else p ** j          # 0**0 := 1
        b = mpf(1) if j == n else q ** (n - j)
        out.append(mpmath.binomial(n, j) * a * b)
    return out


def convolve(a, b):
    out = [mpf(0)] * (len(a) + len(b) - 1)
    for i, ai in enumerate(a):
        if ai == 0:
            continue
        for j, bj in enumerate(b):
            out[i + j] += ai * bj
    return out


def pmf_grouped(ps, counts):
    """PMF of sum_g Binomial(counts[g], ps[g]); ps are mpf, counts ints."""
    pmf = [mpf(1)]
    for p, n in zip(ps, counts):
        if n == 0:
            continue
        if n == 1:
            q = 1 - p
            m = len(pmf)
            new = [None] * (m + 1)
            new[0] = pmf[0] * q
            for j in range(1, m):
                new[j] = pmf[j] * q + pmf[j - 1] * p
            new[m] = pmf[m - 1] * p
            pmf = new
        else:
            pmf = convolve(pmf, binom_pmf_mp(n, p))
    return pmf


def tails(pmf):
    """Return (cdf_direct, sf_direct): cdf[k] = sum_{j<=k}, sf[k] = sum_{j>k}."""
    n1 = len(pmf)
    cdf = [None] * n1
    s = mpf(0)
    for k in range(n1):
        s += pmf[k]
        cdf[k] = s
    sf = [None] * n1
    s = mpf(0)
    for k in range(n1 - 1, -1, -1):
        sf[k] = s           # P(X > k)
        s += pmf[k]
    return cdf, sf


def log_tails(pmf):
    cdf, sf = tails(pmf)
    lc, ls = [], []
    for c, s in zip(cdf, sf):
        if c <= s:
            lcv = mpmath.log(c) if c > 0 else mpf("-inf")
            lsv = mpmath.log1p(-c)
        else:
            lsv = mpmath.log(s) if s > 0 else mpf("-inf")
            lcv = mpmath.log1p(-s)
        lc.append(lcv)
        ls.append(lsv)
    return lc, ls


def logs(pmf):
    return [mpmath.log(x) if x > 0 else mpf("-inf") for x in pmf]


def fmt(x, digits=20):
    if mpmath.isinf(x):
        if x < 0:
            return "-inf"
        return "inf"
    if mpmath.isnan(x):
        return "nan"
    return mpmath.nstr(x, digits)


# ---------------------------------------------------------------- cases
def make_cases():
    cases = []
    p = np.random.default_rng(1).uniform(0, 1, 300)
    cases.append(("uniform300", p, [1] * 300))

    p = 10 ** np.random.default_rng(2).uniform(-12, 0, 200)
    p[1::2] = 1.0 - p[1::2]        # every second p (indices 1,3,5,...) -> 1-p in double
    cases.append(("extreme200", p, [1] * 200))

    cases.append(("grouped600", np.array([0.01, 0.3, 0.9, 0.5]), [50, 120, 30, 400]))
    cases.append(("with_zero_one", np.array([0.0, 1.0, 0.35, 0.8]), [5, 3, 10, 4]))

    p = np.random.default_rng(3).uniform(0, 1, 2000)
    cases.append(("uniform2000", p, [1] * 2000))

    p = np.random.default_rng(4).uniform(0, 0.02, 1500)
    cases.append(("small_tail", p, [1] * 1500))
    return cases


def compute_case(p, counts):
    ps = [mpf(float(x)) for x in p]           # exact double values
    pmf = pmf_grouped(ps, counts)
    assert len(pmf) == sum(counts) + 1
    tot = mpmath.fsum(pmf)
    assert abs(tot - 1) < mpf("1e-50"), tot
    lp = logs(pmf)
    lc, ls = log_tails(pmf)
    return pmf, lp, lc, ls


# ---------------------------------------------------------------- gradients
def logpmf_at(ps, counts, k):
    pmf = pmf_grouped(ps, counts)
    return mpmath.log(pmf[k]) if pmf[k] > 0 else mpf("nan")


def grad_case(name, p, counts, ks):
    ps = [mpf(float(x)) for x in p]
    pmf = pmf_grouped(ps, counts)
    h = mpf("1e-25")
    G = len(ps)
    # finite differences: one full PMF per perturbation, reused for all k
    fd = [[None] * G for _ in ks]
    an = [[None] * G for _ in ks]
    maxrel = mpf(0)
    for g in range(G):
        pp = list(ps); pp[g] = ps[g] + h
        pm = list(ps); pm[g] = ps[g] - h
        fp = pmf_grouped(pp, counts)
        fm = pmf_grouped(pm, counts)
        c2 = list(counts); c2[g] -= 1
        Pg = pmf_grouped(ps, c2)       # one trial of group g removed, length N
        for i, k in enumerate(ks):
            if pmf[k] == 0:
                fd[i][g] = an[i][g] = mpf("nan")
                continue
            fd[i][g] = (mpmath.log(fp[k]) - mpmath.log(fm[k])) / (2 * h)
            a = Pg[k - 1] if k >= 1 else mpf(0)
            b = Pg[k] if k < len(Pg) else mpf(0)
            an[i][g] = counts[g] * (a - b) / pmf[k]
            rel = abs(fd[i][g] - an[i][g]) / abs(an[i][g])
            assert rel < mpf("1e-15"), (name, k, g, rel)
            maxrel = max(maxrel, rel)
    print(f"  {name}: max rel |FD - analytic| = {mpmath.nstr(maxrel, 3)}")
    return {
        "name": name,
        "p": [float(x) for x in p],
        "counts": [int(c) for c in counts],
        "k": list(ks),
        "grad": [[fmt(v, 17) for v in row] for row in fd],
    }


# ---------------------------------------------------------------- main
def main():
    t0 = time.time()
    out = []
    small_for_check = ("uniform300", "extreme200", "grouped600", "with_zero_one")
    for name, p, counts in make_cases():
        t1 = time.time()
        pmf, lp, lc, ls = compute_case(p, counts)
        N = sum(counts)
        # sanity: log values finite where probability > 0
        nz = sum(1 for x in pmf if x == 0)
        print(f"{name}: N={N}, zero-prob k's={nz}, min logpmf={mpmath.nstr(min(x for x in lp if not mpmath.isinf(x)), 8)}"
              f", {time.time() - t1:.1f}s", flush=True)
        if name in small_for_check:
            # recompute at higher precision; must agree far beyond 20 digits
            with mp.workdps(90):
                _, lp2, lc2, ls2 = compute_case(p, counts)
            for A, B in ((lp, lp2), (lc, lc2), (ls, ls2)):
                for a, b in zip(A, B):
                    if mpmath.isinf(a) or mpmath.isinf(b):
                        assert a == b, (name, a, b)
                    else:
                        assert abs(a - b) <= mpf("1e-40") * max(abs(b), mpf("1e-300")), (name, a, b)
        assert fmt(ls[N]) == "-inf"
        out.append({
            "name": name,
            "p": [float(x) for x in p],
            "counts": [int(c) for c in counts],
            "logpmf": [fmt(x) for x in lp],
            "logcdf": [fmt(x) for x in lc],
            "logsf": [fmt(x) for x in ls],
        })
    with open(os.path.join(HERE, "core_refs.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")

    print("gradients:")
    grads = [
        grad_case("grad_small", [0.2, 0.5, 0.7, 0.05], [3, 5, 2, 7], list(range(18))),
        grad_case("grad_200", [0.02, 0.5, 0.97], [40, 60, 100],
                  [0, 1, 5, 30, 60, 100, 150, 199, 200]),
    ]
    with open(os.path.join(HERE, "core_grad_refs.json"), "w") as f:
        json.dump(grads, f, indent=1)
        f.write("\n")
    print(f"total {time.time() - t0:.1f}s  (mpmath {mpmath.__version__}, backend {mpmath.libmp.BACKEND}, "
          f"numpy {np.__version__}, python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
