"""Accuracy check of large_refs_N<N>.csv (R PoissonBinomial "Convolve") against
an independent extended-precision DP.  Not a test; does not use binfer.

Run from the project root:
    .venv/bin/python tests/reference/check_large_refs.py 10000 100000 1000000

The DP is the plain product of PGF factors (1 - p_i + p_i z) in numpy
longdouble (x86-64: 80-bit, 64-bit mantissa, exponent range to ~1e-4951, so
nothing underflows), with 1 - p_i formed in longdouble (error 2^-65 instead of
R's double-rounded 1 - p_i).  All terms are non-negative, so its relative error
is at most ~2 N 2^-64 (1e-14 at N = 1e5, typically far smaller); it is NOT
normalised.  cdf is a left cumulative sum, sf a right cumulative sum of the pmf,
and the log of the one near 1 is log1p(-other).  Prints, per column, the
largest |R - DP| in log space for |value| <= 1 (= relative error of the
probability) and the largest |R - DP| / |value| for |value| > 1 (there the
17-digit double log value itself carries ~1.1e-16 relative rounding).
The support is trimmed to entries >= 1e-360 as the DP goes (see dp_pmf);
"--full" switches that off (plain O(N^2): 2.5 s at N = 1e4, ~3.5 min at 1e5).
"""
import csv
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
LD = np.longdouble
TRIM = LD("1e-360")


def probs(n):
    return (np.arange(1, n + 1, dtype=float) * 0.6180339887498949) % 1.0


def dp_pmf(p, trim=True):
    """pmf of sum Bernoulli(p_i) in longdouble.  With trim=True, entries below
    TRIM at either end of the support are dropped (set to 0) every 32 steps.
    The pmf is log-concave at every step, so the dropped entries are exactly the
    contiguous runs at the ends.  The total mass dropped is below N * width * TRIM,
    which is < 1e-340 absolute, so it is invisible at the > 1e-300 values checked.
    This makes N = 1e6 feasible (~ N * 80 sd instead of N^2 / 2 operations)."""
    n = len(p)
    buf = np.zeros(n + 1, dtype=LD)
    buf[0] = 1
    pl = p.astype(LD)
    ql = LD(1) - pl
    lo, hi = 0, 1                      # live support is buf[lo:hi]
    for i in range(n):
        seg = buf[lo:hi]
        t = seg * pl[i]
        seg *= ql[i]
        buf[lo + 1 : hi + 1] += t
        hi += 1
        if trim and (i & 31) == 31:
            big = np.flatnonzero(buf[lo:hi] >= TRIM)
            new_lo, new_hi = lo + big[0], lo + big[-1] + 1
            buf[lo:new_lo] = 0
            buf[new_hi:hi] = 0
            lo, hi = new_lo, new_hi
    return buf


def main(ns, trim=True):
    assert np.finfo(LD).nmant >= 63, "needs 80-bit long double"
    for n in ns:
        t0 = time.time()
        pmf = dp_pmf(probs(n), trim)
        cdf = np.cumsum(pmf)
        sf = np.concatenate([np.cumsum(pmf[::-1])[::-1][1:], [LD(0)]])
        total = cdf[-1]
        print(f"N={n}: DP (trim={trim}) {time.time() - t0:.1f} s, sum(pmf)-1 = {float(total - 1):.3g}")
        rows = list(csv.DictReader(open(HERE / f"large_refs_N{n}.csv")))
        k = np.array([int(r["k"]) for r in rows])
        with np.errstate(divide="ignore"):
            truth = {
                "logpmf": np.log(pmf[k]),
                "logcdf": np.where(cdf[k] < 0.5, np.log(cdf[k]), np.log1p(-sf[k])),
                "logsf": np.where(sf[k] < 0.5, np.log(sf[k]), np.log1p(-cdf[k])),
            }
        for col, tv in truth.items():
            v = np.array([float(r[col]) if r[col] != "NA" else np.nan for r in rows])
            ok = ~np.isnan(v)
            d = np.abs(v[ok].astype(LD) - tv[ok]).astype(float)
            av = np.abs(v[ok])
            small = av <= 1
            msg = f"  {col}: {ok.sum()} values"
            if small.any():
                msg += (f"; |value|<=1: {small.sum()}, max abs diff {d[small].max():.3g}"
                        f" (k={k[ok][small][np.argmax(d[small])]})")
            if (~small).any():
                r_ = d[~small] / av[~small]
                msg += (f"; |value|>1: {(~small).sum()}, max abs diff {d[~small].max():.3g},"
                        f" max rel diff {r_.max():.3g} (k={k[ok][~small][np.argmax(r_)]}),"
                        f" median rel {np.median(r_):.3g}")
            tol = 2e-14 + 4e-16 * av
            msg += f"; max diff/(2e-14 + 4e-16|value|) = {(d / tol).max():.3g}"
            print(msg)
            tvf = tv.astype(float)
            miss = (~ok) & np.isfinite(tvf) & (np.abs(tvf) > 1e-13) & (tvf > -690)
            if miss.any():
                print(f"    NA although |true| > 1e-13 and > -690 at {miss.sum()} k, e.g. "
                      f"k={k[miss][:3].tolist()} true={tvf[miss][:3].tolist()}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--full"]
    main([int(float(a)) for a in args] or [10000, 100000, 1000000],
         trim="--full" not in sys.argv)
