"""O/E for many hospitals in one call against a loop of single calls (issue 13).

    .venv/bin/python benchmarks/bench_oe.py [--hospitals 10000] [--patients 1000] [--loop 200]

Times observed_vs_expected with group= on H hospitals of n patients (risks Beta(1, 15), ~6%
mortality), p-values only (conf_level=None) and with the 95% interval, and a loop of single calls
on the first ``--loop`` hospitals (scaled to H).
"""

import argparse
import time

import numpy as np
import pandas as pd

from binfer import observed_vs_expected


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hospitals", type=int, default=10_000)
    ap.add_argument("--patients", type=int, default=1_000)
    ap.add_argument("--loop", type=int, default=200)
    ap.add_argument("--with-ci", action="store_true", help="also time the 95%% intervals")
    a = ap.parse_args()
    rng = np.random.default_rng(2024)
    H, n = a.hospitals, a.patients
    risk = rng.beta(1, 15, H * n)
    died = (rng.random(H * n) < risk).astype(np.int8)
    df = pd.DataFrame({"hospital": np.repeat(np.arange(H), n), "risk": risk, "died": died})
    observed_vs_expected(df.iloc[: 2 * n], risks="risk", observed="died", group="hospital")  # jit

    t = time.perf_counter()
    res = observed_vs_expected(df, risks="risk", observed="died", group="hospital",
                               conf_level=None)
    batch = time.perf_counter() - t
    print(f"{H} hospitals x {n} patients, all p-values in one call: {batch:.2f} s")

    m = min(a.loop, H)
    obs = np.bincount(df["hospital"].to_numpy()[:m * n], weights=died[:m * n]).astype(int)
    t = time.perf_counter()
    for h in range(m):
        one = observed_vs_expected(risks=risk[h * n:(h + 1) * n], observed=int(obs[h]),
                                   conf_level=None)
        assert np.isclose(one.pvalue, res.table["pvalue"].iloc[h], rtol=1e-12, atol=0)
    loop = (time.perf_counter() - t) * H / m
    print(f"loop of single calls (timed on {m}, scaled to {H}): {loop:.2f} s "
          f"({loop / batch:.1f} x the batched call)")
    if a.with_ci:
        t = time.perf_counter()
        observed_vs_expected(df, risks="risk", observed="died", group="hospital")
        print(f"with 95% intervals: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
