"""Time binomial_vs_poisson_binomial on the issue's design: T = 1000 totals, G = 20 groups, N_t
~ 2000, data drawn under H0 (p = 0.2) and under H1 (p_g uniform in (0.05, 0.4)), with a constant
design (100 trials per group) and with one that varies per replicate (uniform in 50..150).

Usage:  .venv/bin/python benchmarks/bench_lrt.py [--refits 19] [--designs constant varying]

Prints the time of one fit (``method="mixture"``: both likelihoods, no resampling) and of the
fit plus ``--refits`` parametric-bootstrap refits (serial; the kernels use numba's threads), the
time per refit, and both against the issue's goals (fit <= 0.1 s; 999 refits <= 30 s on 2
cores) as ratios. No peer offers this test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import binfer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--refits", type=int, default=19)
    ap.add_argument("--designs", nargs="+", default=["constant", "varying"])
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    G, T = 20, 1000
    designs = {"constant": np.full(G, 100), "varying": rng.integers(50, 151, size=(T, G))}
    # compile / load the kernels
    binfer.binomial_vs_poisson_binomial(totals=[10, 20], trials=[20, 30], method="mixture")
    for dname in args.designs:
        trials = designs[dname]
        n = np.broadcast_to(trials, (T, G))
        for name, p in [("H0", np.full(G, 0.2)), ("H1", rng.uniform(0.05, 0.4, G))]:
            totals = rng.binomial(n, p).sum(axis=1)
            t0 = time.perf_counter()
            r = binfer.binomial_vs_poisson_binomial(totals=totals, trials=trials,
                                                    method="mixture")
            t_fit = time.perf_counter() - t0
            t0 = time.perf_counter()
            binfer.binomial_vs_poisson_binomial(totals=totals, trials=trials,
                                                n_resamples=args.refits, random_state=0,
                                                progress=False)
            t_boot = time.perf_counter() - t0
            per = (t_boot - t_fit) / args.refits
            print(f"{dname:8s} design, data under {name}: fit {t_fit:.2f} s (x{t_fit / 0.1:.1f} "
                  f"the 0.1 s goal); {args.refits} refits {t_boot - t_fit:.1f} s, {per:.3f} s "
                  f"a refit, 999 refits ~{999 * per:.0f} s (x{999 * per / 30:.1f} the 30 s "
                  f"goal); statistic {r.statistic:.3g}", flush=True)


if __name__ == "__main__":
    main()
