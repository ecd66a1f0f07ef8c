"""Time binomial_vs_poisson_binomial on the issue's design: T = 1000 totals, G = 20 groups of
100 trials each (N_t = 2000, constant design), data drawn under H0 (p = 0.2) and under H1 (p_g
uniform in (0.05, 0.4)).

Usage:  .venv/bin/python benchmarks/bench_lrt.py [--refits 19]

Prints the time of one fit (``method="mixture"``: both likelihoods, no resampling) and of the
fit plus ``--refits`` parametric-bootstrap refits, serial.  No peer offers this test; the goals
(issue 13) are a fit under 0.1 s and 999 refits under 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import binfer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--refits", type=int, default=19)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    G, T = 20, 1000
    trials = np.full(G, 100)
    for name, p in [("H0", np.full(G, 0.2)), ("H1", rng.uniform(0.05, 0.4, G))]:
        totals = rng.binomial(trials, p, size=(T, G)).sum(axis=1)
        # compile / load the kernels
        binfer.binomial_vs_poisson_binomial(totals=totals[:50], trials=trials, method="mixture")
        t0 = time.perf_counter()
        r = binfer.binomial_vs_poisson_binomial(totals=totals, trials=trials, method="mixture",
                                                random_state=0)
        t_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        binfer.binomial_vs_poisson_binomial(totals=totals, trials=trials,
                                            n_resamples=args.refits, random_state=0,
                                            progress=False)
        t_boot = time.perf_counter() - t0
        print(f"data under {name}: fit {t_fit:.2f} s; fit + {args.refits} refits {t_boot:.1f} s "
              f"({(t_boot - t_fit) / args.refits:.2f} s a refit); statistic {r.statistic:.3g}")


if __name__ == "__main__":
    main()
