"""Whole-PMF and far-tail timings of binfer's core against scipy and fast-poibin, with accuracy.

Usage:  .venv/bin/python benchmarks/bench_pmf.py [--max-n 1000000] [--repeat 3] [--uniform]

For N in {1e2, 1e3, 1e4, 1e5, 1e6} single trials and for 10 groups of 1e5 trials, prints per
method: the time for the whole PMF, its ratio to binfer's default (tail-accurate) path measured in
the same run, the worst relative error in the tails (where the reference has 1e-300 < P < 1e-5)
and the error of one far-tail log sf (k = mean + 40 sd).

Probabilities: p_i = frac(i * 0.6180339887498949), i = 1..N, an equidistributed stand-in for
U(0, 1) draws that R reproduces bit for bit, so the committed R references
(tests/reference/large_refs_N*.csv: PoissonBinomial's exact "Convolve", relatively accurate to
1e-300) apply; N <= 1000 is checked against exact mpmath dynamic programming done in the run, the
grouped case against tests/reference/grouped_refs.json (mpmath).  ``--uniform`` times seeded
U(0, 1) draws instead (accuracy then against fast-poibin's relatively accurate "dp" mode, N <= 1e5).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

import binfer

REF = Path(__file__).resolve().parent.parent / "tests" / "reference"


def golden_p(n: int) -> np.ndarray:
    return (np.arange(1, n + 1, dtype=float) * 0.6180339887498949) % 1.0


def timed(fn, repeat: int):
    best, out = math.inf, None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def mpmath_reference(p: np.ndarray) -> pd.DataFrame:
    import mpmath as mp

    mp.mp.dps = 40
    pmf = [mp.mpf(1)]
    for q in p:
        q = mp.mpf(float(q))
        new = [v * (1 - q) for v in pmf] + [mp.mpf(0)]
        for i, v in enumerate(pmf):
            new[i + 1] += v * q
        pmf = new
    N = len(pmf) - 1
    logpmf = [float(mp.log(v)) for v in pmf]
    tail = [mp.mpf(0)] * (N + 1)
    acc = mp.mpf(0)
    for k in range(N, -1, -1):
        tail[k] = acc  # P(X > k)
        acc += pmf[k]
    logsf = [float(mp.log(v)) if v > 0 else -math.inf for v in tail]
    return pd.DataFrame({"k": np.arange(N + 1), "logpmf": logpmf, "logsf": logsf})


def load_reference(n: int, p: np.ndarray, uniform: bool) -> tuple[pd.DataFrame | None, str]:
    if uniform:
        if n <= 100_000:
            from fast_poibin import PoiBin

            pm = PoiBin(p, mode="dp").pmf
            ok = pm > 1e-300
            ref = pd.DataFrame({"k": np.flatnonzero(ok), "logpmf": np.log(pm[ok])})
            return ref, "fast-poibin dp"
        return None, "none"
    if n <= 1000:
        return mpmath_reference(p), "mpmath exact"
    f = REF / f"large_refs_N{n}.csv"
    if f.exists():
        return pd.read_csv(f), "R Convolve"
    return None, "none"


def tail_reference(n: int, uniform: bool) -> tuple[float | None, int | None]:
    """log P(X > k) at k = mean + 40 sd from tests/reference/tail_refs.csv (R, tilted Convolve)."""
    f = REF / "tail_refs.csv"
    if uniform or not f.exists():
        return None, None
    t = pd.read_csv(f)
    t = t[(t["N"] == n) & (t["z"] == 40)]
    if t.empty:
        return None, None
    return float(t["logsf"].iloc[0]), int(t["k"].iloc[0])


def tail_error(logpmf_got: np.ndarray, ref: pd.DataFrame | None) -> float:
    """Worst relative error where the reference has 1e-300 < P < 1e-5 (NaN without reference)."""
    if ref is None:
        return math.nan
    r = ref.dropna(subset=["logpmf"])
    r = r[(r["logpmf"] < math.log(1e-5)) & (r["logpmf"] > math.log(1e-300))]
    if r.empty:
        return math.nan
    got = logpmf_got[r["k"].to_numpy()]
    with np.errstate(invalid="ignore"):
        err = np.abs(np.expm1(got - r["logpmf"].to_numpy()))
    err[~np.isfinite(got)] = 1.0
    return float(np.nanmax(err))


def log_of(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.where(x > 0, x, 0.0))


def run_case(label: str, p: np.ndarray, counts, ref, ref_name, repeat, sf_ref=None, k_tail=None):
    rows = []
    X0 = binfer.PoissonBinomial(p, counts)
    N = X0.n_trials
    if k_tail is None:
        k_tail = min(N - 1, int(round(X0.mean() + 40 * X0.std())))

    def binfer_full(method=None):
        X = binfer.PoissonBinomial(p, counts)
        return X.pmf_all(log=True, method=method)

    def binfer_tail():
        return float(binfer.PoissonBinomial(p, counts).logsf(k_tail))

    t_b, lp = timed(lambda: binfer_full(), repeat)
    ref_sf = sf_ref
    if ref_sf is None and ref is not None and "logsf" in ref:
        hit = ref[ref["k"] == k_tail]["logsf"].dropna()
        ref_sf = float(hit.iloc[0]) if len(hit) else None
    t_tail, lsf = timed(binfer_tail, repeat)

    def sf_err(v):
        if ref_sf is None or v is None:
            return math.nan
        if not np.isfinite(v):
            return 1.0  # -inf (a zero probability): 100% error
        with np.errstate(over="ignore"):
            return float(abs(np.expm1(v - ref_sf)))

    rows.append(dict(case=label, method="binfer (tilted, default)", time_s=t_b, ratio=1.0,
                     tail_rel_err=tail_error(lp, ref), tail_time_s=t_tail, tail_logsf=lsf,
                     tail_logsf_err=sf_err(lsf)))
    t, lpf = timed(lambda: binfer_full("fft"), repeat)
    rows.append(dict(case=label, method="binfer method='fft'", time_s=t, ratio=t / t_b,
                     tail_rel_err=tail_error(lpf, ref)))
    # the peers work on the expanded probabilities
    pe = np.repeat(p, counts) if counts is not None else p
    from fast_poibin import PoiBin

    t, pb = timed(lambda: PoiBin(pe), repeat)
    sf_v = float(np.log1p(-pb.cdf[k_tail])) if pb.cdf[k_tail] < 1 else -math.inf
    rows.append(dict(case=label, method="fast-poibin PoiBin(p)", time_s=t, ratio=t / t_b,
                     tail_rel_err=tail_error(log_of(pb.pmf), ref), tail_logsf=sf_v,
                     tail_logsf_err=sf_err(sf_v)))
    if N <= 100_000:
        t, pb = timed(lambda: PoiBin(pe, mode="dp"), 1 if N >= 1e5 else repeat)
        sf_v = float(np.log1p(-pb.cdf[k_tail])) if pb.cdf[k_tail] < 1 else -math.inf
        rows.append(dict(case=label, method="fast-poibin dp", time_s=t, ratio=t / t_b,
                         tail_rel_err=tail_error(log_of(pb.pmf), ref), tail_logsf=sf_v,
                         tail_logsf_err=sf_err(sf_v)))
    if N <= 10_000:
        from scipy import stats

        k = np.arange(N + 1)
        t, pm = timed(lambda: stats.poisson_binom.pmf(k, pe), 1)
        with np.errstate(all="ignore"):
            sf_v = float(stats.poisson_binom.logsf(k_tail, pe))
        rows.append(dict(case=label, method="scipy poisson_binom", time_s=t, ratio=t / t_b,
                         tail_rel_err=tail_error(log_of(pm), ref), tail_logsf=sf_v,
                         tail_logsf_err=sf_err(sf_v)))
    for r in rows:
        r["reference"] = ref_name
        r["N"] = N
    return rows


def peak_memory(uniform: bool) -> tuple[float, float]:
    """Peak resident memory (MiB) of a fresh process while it computes the N = 1e6 PMF, and
    that peak's rise over the process just before the call (numba's allocations are invisible
    to tracemalloc, so the operating system's count is used; Linux only)."""
    import subprocess
    import sys

    code = (
        "import numpy as np, binfer\n"
        "def status(key):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(key):\n"
        "            return float(line.split()[1]) / 1024\n"
        "binfer.PoissonBinomial(np.linspace(0.01, 0.99, 30_000)).pmf_all(log=True)\n"
        + ("p = np.random.default_rng(0).uniform(size=10**6)\n" if uniform else
           "p = (np.arange(1, 10**6 + 1, dtype=float) * 0.6180339887498949) % 1.0\n")
        + "before = status('VmRSS')\n"
        "open('/proc/self/clear_refs', 'w').write('5')  # restart the peak (VmHWM) count\n"
        "binfer.PoissonBinomial(p).pmf_all(log=True)\n"
        "print(status('VmHWM'), status('VmHWM') - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    total, rise = (float(v) for v in out.stdout.split())
    return total, rise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-n", type=float, default=1e6)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--uniform", action="store_true", help="seeded U(0,1) p instead of golden")
    args = ap.parse_args()
    rows = []
    # Compile (or load from numba's cache) every kernel before anything is timed: N = 3e4 uses
    # the FFT windows, the narrow tree, the leaves, the FFT method and the point evaluator.
    warm = binfer.PoissonBinomial(golden_p(30_000))
    warm.pmf_all(log=True)
    warm.pmf_all(log=True, method="fft")
    binfer.PoissonBinomial(golden_p(30_000)).logsf(16_000)
    for n in [100, 1000, 10_000, 100_000, 1_000_000]:
        if n > args.max_n:
            break
        p = np.random.default_rng(0).uniform(size=n) if args.uniform else golden_p(n)
        ref, name = load_reference(n, p, args.uniform)
        rep = args.repeat if n <= 10_000 else 1
        sf_ref, k_tail = tail_reference(n, args.uniform)
        rows += run_case(f"N={n:.0e}", p, None, ref, name, rep, sf_ref=sf_ref, k_tail=k_tail)
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    if args.max_n >= 1e6:
        gp = json.loads((REF / "grouped_refs.json").read_text()) if (
            REF / "grouped_refs.json").exists() else None
        case = next(c for c in gp["cases"] if c["name"] == "grouped10x1e5") if gp else None
        p = np.array(case["p"]) if case else np.linspace(0.05, 0.5, 10)
        counts = np.array(case["counts"]) if case else np.full(10, 100_000)
        ref = None
        sf_ref, k_tail = None, None
        if case:
            pts = pd.DataFrame(case["points"])
            ref = pd.DataFrame({"k": pts["k"], "logpmf": pts["logpmf"].astype(float)})
            up = pts.dropna(subset=["logsf"]) if "logsf" in pts else pts.iloc[:0]
            if len(up):
                last = up.iloc[-1]
                k_tail, sf_ref = int(last["k"]), float(last["logsf"])
        rows += run_case("10 groups x 1e5", p, counts, ref, "mpmath tilted CF" if case else "none",
                         1, sf_ref=sf_ref, k_tail=k_tail)
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    cols = ["case", "method", "time_s", "ratio", "tail_rel_err", "tail_time_s", "tail_logsf",
            "tail_logsf_err", "reference"]
    print()
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if args.max_n >= 1e5:
        p = golden_p(100_000)
        from fast_poibin import PoiBin

        t_shuf, _ = timed(lambda: binfer.PoissonBinomial(p).pmf_all(log=True), 1)
        t_sort, _ = timed(lambda: binfer.PoissonBinomial(np.sort(p)).pmf_all(log=True), 1)
        f_shuf, _ = timed(lambda: PoiBin(p, mode="dp"), 1)
        f_sort, _ = timed(lambda: PoiBin(np.sort(p), mode="dp"), 1)
        print(f"\nsorted vs shuffled p at N = 1e5: binfer {t_sort:.3g} s vs {t_shuf:.3g} s "
              f"({t_sort / t_shuf:.2f} x); fast-poibin dp {f_sort:.3g} s vs {f_shuf:.3g} s "
              f"({f_sort / f_shuf:.2f} x)")
    if args.max_n >= 1e6:
        total, rise = peak_memory(args.uniform)
        print(f"peak resident memory, binfer pmf_all at N = 1e6: {total:.0f} MiB for the whole "
              f"process, {rise:.0f} MiB above the process before the call")


if __name__ == "__main__":
    main()
