#!/usr/bin/env python3
"""Check tail_refs.csv (made by make_tail_refs.R) against exact computations.

Run from the project root:
    .venv/bin/python tests/reference/check_tail_refs.py          # N = 1000 (+ N = 1e4)
    .venv/bin/python tests/reference/check_tail_refs.py --quick  # N = 1000 only

* N = 1000 rows (role "check"): exact DP of the PGF product in mpmath at
  mp.dps = 50 (every p is the exact double, q = 1 - p formed in mpmath), then
  log P(k), log P(X > k) = log sum_{j>k} P(j), log P(X <= k) = log sum_{j<=k} P(j).
  The same rows are also recomputed by the fixed-point DP below (cross-check).
* N = 1e4 rows (role "ref"; skipped with --quick): exact-integer fixed-point DP.
  The PMF is held as Python integers V_j ~ P(j) * 2^F (F = 2000 bits), every
  p_i as the exact integer A_i = p_i * 2^S (S = 128; asserted exact), and
  V'_j = (V_j * (2^S - A_i) + V_{j-1} * A_i) >> S.  Each step truncates by < 1
  unit of 2^-F, so the absolute error is < N * 2^-2000, negligible against
  values >= e^-1000 ~ 2^-1443.  (~1 min at N = 1e4.)
The tests also confirm that k == round(mu + z*sd) for each row.
Exit status 1 if any |log difference| exceeds TOL = 1e-12.
"""
import csv
import math
import os
import sys
import time
from fractions import Fraction

import mpmath as mp
import numpy as np

TOL = 1e-12
HERE = os.path.dirname(os.path.abspath(__file__))
PHI = 0.6180339887498949


def golden_p(N):
    return (np.arange(1, N + 1, dtype=float) * PHI) % 1.0


def pmf_mpmath(p, dps=50):
    mp.mp.dps = dps
    pm = [mp.mpf(1)]
    for pi in p:
        a = mp.mpf(float(pi))
        b = 1 - a
        new = [None] * (len(pm) + 1)
        new[0] = pm[0] * b
        for j in range(1, len(pm)):
            new[j] = pm[j] * b + pm[j - 1] * a
        new[-1] = pm[-1] * a
        pm = new
    return pm


def pmf_fixed(p, F=2000, S=128):
    """Return list of Python ints V_j ~ P(j) * 2^F (truncating fixed point)."""
    one = 1 << S
    A = []
    for pi in p:
        fr = Fraction(float(pi)) * one
        assert fr.denominator == 1, "p not exact at S bits"
        A.append(int(fr))
    V = np.zeros(len(p) + 1, dtype=object)
    V[:] = 0
    V[0] = 1 << F
    for i, a in enumerate(A):
        b = one - a
        n = i + 1  # V[0..n] used after this step
        head = V[:n]  # old V_0..V_{n-1}
        newv = np.empty(n + 1, dtype=object)
        newv[0] = 0
        newv[1:] = head * a
        newv[:n] += head * b
        V[: n + 1] = newv >> S
    return [int(v) for v in V]


def mplog_fixed(v, F):
    mp.mp.dps = 40
    return mp.log(mp.mpf(v)) - F * mp.log(2)


def exact_logs_mp(pm, k):
    mp.mp.dps = 50
    N = len(pm) - 1
    lp = mp.log(pm[k])
    lsf = mp.log(mp.fsum(pm[k + 1:])) if k < N else mp.ninf
    lcdf = mp.log(mp.fsum(pm[: k + 1]))
    return lp, lcdf, lsf


def exact_logs_fixed(V, k, F=2000):
    return (mplog_fixed(V[k], F), mplog_fixed(sum(V[: k + 1]), F),
            mplog_fixed(sum(V[k + 1:]), F))


def main():
    quick = "--quick" in sys.argv
    rows = list(csv.DictReader(open(os.path.join(HERE, "tail_refs.csv"))))
    worst = 0.0
    byN = {}
    for r in rows:
        byN.setdefault(int(r["N"]), []).append(r)
    todo = [1000] + ([] if quick else [10000])
    for N in todo:
        if N not in byN:
            print(f"N={N}: no rows in tail_refs.csv, skipped")
            continue
        p = golden_p(N)
        mu = math.fsum(p)
        sd = math.sqrt(math.fsum(p * (1 - p)))
        t = time.time()
        pm = pmf_mpmath(p) if N == 1000 else None
        tm = time.time() - t
        t = time.time()
        V = pmf_fixed(p)
        tf = time.time() - t
        print(f"N={N}: mu={mu:.10f} sd={sd:.10f}; "
              + (f"mpmath DP {tm:.1f} s, " if pm else "")
              + f"fixed-point DP {tf:.1f} s")
        for r in byN[N]:
            k, z = int(r["k"]), float(r["z"])
            assert k == round(mu + z * sd), (k, mu + z * sd)
            ex_f = exact_logs_fixed(V, k)
            ex = exact_logs_mp(pm, k) if pm else ex_f
            if pm:  # cross-check the two exact DPs
                for a, b in zip(ex, ex_f):
                    assert abs(a - b) < 1e-25, (a, b)
            names = ["logpmf", "logcdf", "logsf"]
            out = []
            for name, e in zip(names, ex):
                if r[name] == "NA":
                    continue
                v = float(r[name])
                d = float(mp.mpf(v) - e)
                worst = max(worst, abs(d))
                out.append(f"{name}={mp.nstr(e, 17)} diff={d:+.2e} rel={d / float(e):+.1e}")
            print(f"  z={z:+5g} k={k:6d}  " + "  ".join(out))
    print(f"max |log diff| = {worst:.3e} (tolerance {TOL})")
    if worst > TOL:
        sys.exit(1)


if __name__ == "__main__":
    main()
