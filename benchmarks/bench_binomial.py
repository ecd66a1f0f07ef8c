"""One large binomial: binfer's closed form against scipy.stats.binom, timed in the same run.

Usage:  .venv/bin/python benchmarks/bench_binomial.py [--repeat 5]

For n from 1e4 to 1e15 and k at the centre, 3 sd out and 40 sd out, times one ``logsf(k)``
(construction included) and one ``logpmf(k)`` in binfer and scipy, prints the ratio binfer /
scipy, and the two values: scipy's logsf is log(betaincc), which is -inf once the tail underflows
(about 38 sd out), binfer's is finite there.  Also the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import math
import time

import scipy.stats as st

import binfer


def best_of(fn, repeat: int) -> tuple[float, float]:
    best, value = math.inf, math.nan
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, float(value)

def peak_rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return math.nan

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    binfer.Binomial(100, 0.3).logsf(40)  # compile / load the kernels
    print(f"{'n':>8} {'p':>6} {'z':>4} {'binfer logsf s':>15} {'scipy s':>10} {'ratio':>7} "
          f"{'binfer logsf':>15} {'scipy logsf':>15} {'logpmf ratio':>13}")
    for n in [10**4, 10**6, 10**8, 10**10, 10**12, 10**15]:
        for p in [0.5, 1e-3]:
            sd = math.sqrt(n * p * (1 - p))
            for z in [0, 3, 40]:
                k = int(n * p + z * sd)
                if k >= n:
                    continue
                tb, vb = best_of(lambda n=n, p=p, k=k: binfer.Binomial(n, p).logsf(k), args.repeat)
                ts, vs = best_of(lambda n=n, p=p, k=k: st.binom.logsf(k, n, p), args.repeat)
                tbp, _ = best_of(lambda n=n, p=p, k=k: binfer.Binomial(n, p).logpmf(k),
                                 args.repeat)
                tsp, _ = best_of(lambda n=n, p=p, k=k: st.binom.logpmf(k, n, p), args.repeat)
                print(f"{n:8.0e} {p:6g} {z:4d} {tb:15.2e} {ts:10.2e} {tb / ts:7.2f} "
                      f"{vb:15.8g} {vs:15.8g} {tbp / tsp:13.2f}")
    print(f"peak resident memory: {peak_rss_mib():.0f} MiB")

if __name__ == "__main__":
    main()
