"""Compile (and cache) binfer's numba kernels ahead of their first use.

The kernels are compiled with ``cache=True``: the first process that calls one compiles it
(~7 s for every kernel of the core, ~12 s for the exact homogeneity test's network) and writes
the machine code next to the module (``__pycache__``, or under ``NUMBA_CACHE_DIR``); later
processes load it in milliseconds.  :func:`warm_up` makes every kernel go through that first
call on tiny inputs, through the library's own code paths, so that each one is compiled with
exactly the argument types the library passes (numba compiles, and caches, one specialisation
per type signature).  ``make demo`` and ``make test`` run it once after installing::

    python -m binfer.core._warmup          # prints what it compiled and how long it took

Run twice, the second run only loads the cache (well under a second).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def _core() -> None:
    """The tail-accurate engine (every kernel of ``_kernels``) and the closed-form binomial."""
    from . import _engine
    from ._binomial import binomial_log_tails, binomial_ppf

    rng = np.random.default_rng(0)
    # single trials: leaves, the narrow tree of direct windows, products above it
    p = np.sort(rng.uniform(0.05, 0.95, 13_000))
    _engine.interior_logpmf(p, np.ones(p.size, dtype=np.int64))
    # two binomial blocks wide enough for FFT windows (tilted sd >= 40 in both), with direct
    # windows in the tails; and the FFT method's kernels
    _engine.interior_logpmf(np.array([0.3, 0.5]), np.array([20_000, 20_000]))
    _engine.interior_logpmf(p[:3_000], np.ones(3_000, dtype=np.int64), method="fft")
    # both branches of the binomial tails (series and continued fraction) and the quantiles
    k = np.array([0.0, 10.0, 450.0, 2_950.0, 3_990.0])
    binomial_log_tails(k, 4_000, 0.3)
    binomial_ppf(np.log(np.array([1e-12, 0.5])), np.array([False, True]), 4_000, 0.3)


def _point() -> None:
    """The single-point evaluator (its leaves and FFT product use the same kernels)."""
    from ._point import PointEvaluator

    p = np.linspace(0.01, 0.99, 600)
    PointEvaluator(p, np.ones(p.size, dtype=np.int64))


def _exact_homogeneity() -> None:
    """The Fisher-Freeman-Halton network: exact run, then (a tiny budget forces them) the
    pilot with coarser merges, Chernoff settlement and coarsening."""
    from ..homogeneity._exact import ExactTooLarge, ffh_pvalue

    events = np.array([3, 7, 2, 9, 5, 4, 8])
    trials = np.array([20, 22, 18, 25, 21, 19, 24])
    ffh_pvalue(events, trials)
    try:
        ffh_pvalue(events, trials, max_nodes=40)
    except ExactTooLarge:
        pass


def _batch() -> None:
    """The batched pointwise kernel (binfer.core._batch): serial, threaded, with gradients."""
    from ._distribution import PoissonBinomial

    rng = np.random.default_rng(0)
    X = PoissonBinomial(rng.uniform(0.05, 0.95, (300, 10)), rng.integers(1, 40, (300, 10)))
    X.logpmf_and_grad(np.floor(X.mean()))  # large enough for the threaded pass
    X[0].logsf(5)  # one distribution: the serial pass, with tails


STEPS: dict[str, Callable[[], None]] = {
    "core": _core,
    "point": _point,
    "batch": _batch,
    "exact homogeneity": _exact_homogeneity,
}


def warm_up(verbose: bool = False) -> dict[str, float]:
    """Compile every kernel once (a no-op, apart from loading the cache, when already cached).

    Returns the seconds each step took.
    """
    times = {}
    for name, step in STEPS.items():
        t0 = time.perf_counter()
        step()
        times[name] = time.perf_counter() - t0
        if verbose:
            print(f"  {name}: {times[name]:.1f} s", flush=True)
    return times


def main() -> None:
    t0 = time.perf_counter()
    print("binfer: compiling the numba kernels (cached for later runs)", flush=True)
    warm_up(verbose=True)
    print(f"binfer: kernels ready ({time.perf_counter() - t0:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
