"""Homogeneity tests and pooling at scale, beside scipy and statsmodels on the same data.

    .venv/bin/python benchmarks/bench_homogeneity.py [--groups-test 1000000] [--groups-meta 100000]

Pearson and G tests on k = 1e6 groups (scipy.stats.chi2_contingency on the k x 2 table), the
pooled proportion and a DerSimonian-Laird logit meta-analysis on k = 1e5 groups (statsmodels'
combine_effects on the same logit effects and variances; binfer also computes the Q-profile
interval of tau^2, the prediction interval and the per-group table, which combine_effects leaves
for later). Times are the best of `--repeat` runs, peers starting from the same DataFrame;
ratios are binfer / peer in the same run. Answers are compared too: a fast wrong answer is no
benchmark.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.proportion import proportion_confint

import binfer


def best_time(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups-test", type=int, default=1_000_000)
    ap.add_argument("--groups-meta", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(2026)

    k = args.groups_test
    trials = rng.integers(5, 200, size=k)
    events = rng.binomial(trials, rng.beta(20, 80, size=k))
    df = pd.DataFrame({"events": events, "trials": trials})
    table = np.column_stack([events, trials - events])
    print(f"homogeneity tests, k = {k:,} groups, N = {trials.sum():,}")
    rows = []
    for method, lam in (("pearson", "pearson"), ("g", "log-likelihood")):
        t_ours, ours = best_time(lambda m=method: binfer.homogeneity_test(df, method=m),
                                 args.repeat)
        t_peer, peer = best_time(
            lambda la=lam: stats.chi2_contingency(table, correction=False, lambda_=la),
            args.repeat)
        rel = abs(ours.statistic - peer.statistic) / peer.statistic
        rows.append((f"{method} test", t_ours, "scipy chi2_contingency", t_peer, rel))

    k = args.groups_meta
    trials = rng.integers(5, 200, size=k)
    events = rng.binomial(trials, rng.beta(20, 80, size=k))
    df = pd.DataFrame({"events": events, "trials": trials})
    print(f"pooling, k = {k:,} groups")
    t_pool, pooled = best_time(lambda: binfer.pooled_proportion(df), args.repeat)
    t_peer, peer = best_time(
        lambda: proportion_confint(df["events"].sum(), df["trials"].sum(), method="wilson"),
        args.repeat)
    rows.append(("pooled_proportion (wilson)", t_pool, "statsmodels proportion_confint",
                 t_peer, abs(pooled.confidence_interval.low - peer[0]) / peer[0]))

    t_meta, meta = best_time(lambda: binfer.meta_proportion(df, method="DL"), args.repeat)

    def statsmodels_dl():
        # the same escalc logit effects (1/2 added to groups with 0 or all events)
        x, n = df["events"].to_numpy(float), df["trials"].to_numpy(float)
        fix = (x == 0) | (x == n)
        x, n = np.where(fix, x + 0.5, x), np.where(fix, n + 1, n)
        y = np.log(x / (n - x))
        v = 1 / x + 1 / (n - x)
        return combine_effects(y, v, method_re="dl")

    t_peer, peer = best_time(statsmodels_dl, args.repeat)
    rel = abs(meta.estimate - peer.mean_effect_re) / abs(peer.mean_effect_re)
    rows.append(("meta_proportion (DL, logit)", t_meta, "statsmodels combine_effects",
                 t_peer, rel))

    print(f"\n{'task':30s} {'binfer s':>10s} {'peer':>32s} {'peer s':>9s} {'ratio':>7s}"
          f" {'rel diff':>9s}")
    for name, t_o, peer_name, t_p, rel in rows:
        print(f"{name:30s} {t_o:10.4f} {peer_name:>32s} {t_p:9.4f} {t_o / t_p:7.2f} {rel:9.1e}")


if __name__ == "__main__":
    main()
