"""How the batch kernel's rounding grows with N: its log pmf/cdf/sf against the banded tilted
windows (binfer.core._point, validated against mpmath and R) for a few groups of 2e4 .. 1e8
trials each, at points from -35 to +30 sd and next to both ends of the support.

Usage:  .venv/bin/python benchmarks/batch_large_n_accuracy.py

Prints, per design, the worst |error of log P| / max(1, |log P| / 700) of the kernel (the
contract's measure: relative error of P where log P >= -700) and the two times.  The single
path uses the kernel up to 1e7 trials (``_CF_MAX_TRIALS``) because of these figures.
"""

from __future__ import annotations

import time

import numpy as np

import binfer
from binfer.core import _batch
from binfer.core._point import PointEvaluator


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'groups':>6} {'trials each':>12} {'logpmf':>9} {'logcdf':>9} {'logsf':>9} "
          f"{'windows s':>10} {'kernel s':>9}")
    for G, n in [(50, 2 * 10**4), (10, 10**5), (20, 10**6), (2, 10**7), (3, 10**8)]:
        p = rng.uniform(0.01, 0.99, G)
        c = np.full(G, n)
        X = binfer.PoissonBinomial(p, c)
        mean, sd = X.mean(), X.std()
        z = np.array([-35, -10, -3, 0, 0.5, 2, 8, 30])
        ks = np.unique(np.clip(np.round(mean + sd * z), 0, X.n_trials)).astype(int)
        ks = np.r_[1, 2, ks, X.n_trials - 2, X.n_trials - 1]
        windows = PointEvaluator(*X._interior)
        t0 = time.perf_counter()
        ref = np.array([windows.evaluate(int(k)) for k in ks]).T
        t_ref = time.perf_counter() - t0
        _batch.evaluate(p[None], c[None], ks[None].astype(float))  # compiled / loaded
        t0 = time.perf_counter()
        out, _ = _batch.evaluate(p[None], c[None], ks[None].astype(float))
        t_kernel = time.perf_counter() - t0
        err = np.nanmax(np.abs(out[:, 0] - ref) / np.maximum(1, np.abs(ref) / 700), axis=1)
        print(f"{G:>6} {n:>12.0e} {err[0]:>9.1e} {err[1]:>9.1e} {err[2]:>9.1e} "
              f"{t_ref:>10.3f} {t_kernel:>9.5f}")


if __name__ == "__main__":
    main()
