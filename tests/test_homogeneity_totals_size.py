"""Size and power of binomial_vs_poisson_binomial by simulation (slow: `make validate`; issue 13).

Under H0 (one common p) the parametric-bootstrap test rejects at alpha = 0.05 and 0.1 within
3 Monte Carlo SE of alpha (two-sided: too liberal and too conservative both fail) on three small
designs, constant and varying; a constant design gives a statistic of exactly 0 for a large share
of data sets, a varying one almost never; the power rises with the heterogeneity
sum_g n_g (p_g - pbar)^2.  The bootstrap uses R = 19 resamples: (1 + hits) / 20 attains 0.05 and
0.1, and a Monte Carlo test is exact at those levels whatever R if the bootstrap law is the null
law, so R only costs power, not size.  Data sets run on 2 spawned worker processes (one numba
thread each); every data set has its own seed, so the results do not depend on the workers.
benchmarks/lrt_size.py runs larger designs with R = 99 (and the mixture and chi2(G - 1) sizes).
"""

import math
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pytest

import binfer

pytestmark = pytest.mark.slow

R = 19
ALPHAS = (0.05, 0.1)
WORKERS = 2
CHUNK = 10  # data sets per task
VARYING = np.random.default_rng(7).integers(10, 61, size=(60, 2))
# name: (trials, T, p, data sets)
DESIGNS = {
    "constant (20, 40)": (np.array([20, 40]), 50, 0.3, 400),
    "constant (10, 20, 30)": (np.array([10, 20, 30]), 50, 0.3, 200),
    "varying G = 2": (VARYING, 60, 0.3, 200),
}
A = np.array([30, 60, 90])  # the power design (benchmarks/lrt_size.py's design A), T = 100
SHIFT = np.array([1.0, 0.5, -2 / 3])  # sum_g n_g SHIFT_g = 0: p_g = 0.2 + s SHIFT_g keeps pbar


def _init() -> None:
    import numba

    numba.set_num_threads(1)


def _n_total(trials, T):
    return trials.sum(axis=1) if trials.ndim == 2 else np.full(T, trials.sum())


def _bootstrap_chunk(trials, T, p, seeds):
    """(statistic, bootstrap p-value) of data sets drawn under H0 from ``seeds``."""
    out = []
    for ss in seeds:
        rng = np.random.default_rng(ss)
        y = rng.binomial(_n_total(trials, T), p)
        r = binfer.binomial_vs_poisson_binomial(
            totals=y, trials=trials, n_resamples=R, random_state=int(rng.integers(2**63)),
            progress=False)
        out.append((r.statistic, r.pvalue))
    return out


def _statistic_chunk(trials, T, p_groups, seeds):
    """Statistics (fit only) of data sets with group probabilities ``p_groups``, constant
    design."""
    out = []
    for ss in seeds:
        rng = np.random.default_rng(ss)
        y = rng.binomial(trials, p_groups, size=(T, trials.size)).sum(axis=1)
        r = binfer.binomial_vs_poisson_binomial(
            totals=y, trials=trials, method="mixture", random_state=int(rng.integers(2**63)))
        out.append(r.statistic)
    return out


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(WORKERS, mp_context=get_context("spawn"), initializer=_init) as ex:
        yield ex


def _run(pool, fn, n, seed, *args):
    seeds = np.random.SeedSequence(seed).spawn(n)
    futures = [pool.submit(fn, *args, seeds[lo:lo + CHUNK]) for lo in range(0, n, CHUNK)]
    return [v for f in futures for v in f.result()]


@pytest.fixture(scope="module")
def h0_runs(pool):
    """{design: (statistics, bootstrap p-values)} under H0."""
    out = {}
    for k, (name, (trials, T, p, n)) in enumerate(DESIGNS.items()):
        res = np.array(_run(pool, _bootstrap_chunk, n, 2026_11_26 + k, trials, T, p))
        out[name] = res[:, 0], res[:, 1]
    return out


def _within(rate, alpha, n, k=3.0):
    se = math.sqrt(alpha * (1 - alpha) / n)
    return abs(rate - alpha) <= k * se, f"rate {rate:.4f}, alpha {alpha}, SE {se:.4f}, n {n}"


def _check_size(label, pvalues):
    for alpha in ALPHAS:
        rate = float((pvalues <= alpha * (1 + 1e-9)).mean())
        ok, msg = _within(rate, alpha, pvalues.size)
        print(f"{label}: {msg}")
        assert ok, f"{label}: {msg}"


@pytest.mark.parametrize("name", list(DESIGNS))
def test_bootstrap_size(h0_runs, name):
    _check_size(name, h0_runs[name][1])


def test_bootstrap_size_pooled(h0_runs):
    _check_size("pooled", np.concatenate([p for _, p in h0_runs.values()]))


def test_share_of_zero_statistics(h0_runs):
    # constant designs: the H0 point is the maximum whenever the totals are not under-dispersed
    for name in ("constant (20, 40)", "constant (10, 20, 30)"):
        zero = float((h0_runs[name][0] == 0).mean())
        print(f"{name}: statistic 0 in {zero:.3f}")
        assert 0.3 <= zero <= 0.7, (name, zero)
    # a varying design identifies the group p's through the replicates' means: the statistic is
    # (almost) never 0, and the mixture of chi2_0 and chi2_1 does not apply
    zero = float((h0_runs["varying G = 2"][0] == 0).mean())
    print(f"varying G = 2: statistic 0 in {zero:.3f}")
    assert zero <= 0.05, zero


def test_power_rises_with_heterogeneity(pool):
    """Design A, T = 100, pbar = 0.2: the rejection rate at a simulated 5% critical value
    grows with sum_g n_g (p_g - pbar)^2 (85 s^2)."""
    T = 100
    h0 = np.array(_run(pool, _statistic_chunk, 400, 4242, A, T, np.full(3, 0.2)))
    crit = float(np.quantile(h0, 0.95))
    assert crit > 0
    power, n = [], 150
    for k, s in enumerate((0.12, 0.2, 0.28)):
        stats_h1 = np.array(_run(pool, _statistic_chunk, n, 4343 + k, A, T, 0.2 + s * SHIFT))
        power.append(float((stats_h1 > crit).mean()))
    print(f"critical value {crit:.3f}; power {power}")
    se = [math.sqrt(max(r * (1 - r), 0.05 * 0.95) / n) for r in power]
    for lo, hi, se_lo, se_hi in zip(power, power[1:], se, se[1:], strict=False):
        assert hi - lo > 2 * math.hypot(se_lo, se_hi), power
    assert power[0] >= 0.05 - 3 * se[0], power
