"""Worst errors of binfer's core against every committed independent reference.

Usage:  .venv/bin/python benchmarks/accuracy_report.py [--skip-1e6]

Error measure (as the core's contract): |log binfer - log reference| where the reference log
probability is >= -700 (the relative error of the probability), and the relative error of the
log below that.  References and the scripts that wrote them: tests/reference/README.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

import binfer

REF = Path(__file__).resolve().parent.parent / "tests" / "reference"


def err(got, ref) -> float:
    got, ref = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    ok = np.isfinite(ref)
    if not ok.any():
        return 0.0
    e = np.abs(got[ok] - ref[ok]) / np.maximum(1.0, np.abs(ref[ok]) / 700.0)
    return float(e.max())


def golden_p(n: int) -> np.ndarray:
    return (np.arange(1, n + 1, dtype=float) * 0.6180339887498949) % 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-1e6", action="store_true")
    args = ap.parse_args()
    rows = []
    for case in json.loads((REF / "core_refs.json").read_text()):
        X = binfer.PoissonBinomial([float(v) for v in case["p"]], case["counts"])
        k = np.arange(X.n_trials + 1)
        worst = max(err(getattr(X, w)(k), [float(v) for v in case[w]])
                    for w in ["logpmf", "logcdf", "logsf"])
        rows.append(("mpmath exact DP", case["name"], X.n_trials, worst))
    for case in json.loads((REF / "grouped_refs.json").read_text())["cases"]:
        X = binfer.PoissonBinomial(case["p"], case["counts"])
        lp = X.pmf_all(log=True)
        worst = 0.0
        for r in case["points"]:
            worst = max(worst, err([lp[r["k"]]], [float(r["logpmf"])]))
            for w in ["logcdf", "logsf"]:
                if w in r:
                    worst = max(worst, err(getattr(X, w)([r["k"]]), [float(r[w])]))
        rows.append(("mpmath tilted CF", case["name"], X.n_trials, worst))
    sizes = [10_000, 100_000] + ([] if args.skip_1e6 else [1_000_000])
    tails = pd.read_csv(REF / "tail_refs.csv")
    for n in sizes:
        X = binfer.PoissonBinomial(golden_p(n))
        X.pmf_all(log=True)  # the whole PMF (not the pointwise windows)
        ref = pd.read_csv(REF / f"large_refs_N{n}.csv")
        k = ref["k"].to_numpy()
        worst = max(err(getattr(X, w)(k[ref[w].notna()]), ref[w].dropna())
                    for w in ["logpmf", "logcdf", "logsf"])
        rows.append(("R Convolve", f"golden N={n}", n, worst))
        t = tails[tails["N"] == n]
        if len(t):
            kk = t["k"].to_numpy()
            worst = err(X.logpmf(kk), t["logpmf"])
            for w in ["logcdf", "logsf"]:
                sel = t[w].notna().to_numpy()
                worst = max(worst, err(getattr(X, w)(kk[sel]), t[w][sel]))
            rows.append(("R tilted Convolve (log P < -745)", f"golden N={n}", n, worst))
    df = pd.DataFrame(rows, columns=["reference", "case", "N", "worst error"])
    print(df.to_string(index=False, float_format=lambda v: f"{v:.2g}"))


if __name__ == "__main__":
    main()
