"""Worst relative error of the pooled and homogeneity methods against R, per method.

    .venv/bin/python benchmarks/stats_accuracy_report.py

Reads tests/reference/stats_refs.json (written by tests/reference/make_stats_refs.R) and compares
every record; the tests assert 1e-6, this prints how far inside that each method is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import binfer

REFS = json.loads((Path(__file__).resolve().parent.parent / "tests" / "reference"
                   / "stats_refs.json").read_text())


def data(name: str) -> pd.DataFrame:
    spec = REFS["datasets"][name]
    return pd.DataFrame({c: spec[c] for c in spec if c not in ("type", "source", "dose")})


def rel(got: float, ref) -> float:
    ref = float(ref)
    return abs(got - ref) / abs(ref) if ref != 0 else abs(got)


def main() -> None:
    worst: dict[str, float] = {}

    def record(name: str, *errors: float) -> None:
        worst[name] = max(worst.get(name, 0.0), *errors)

    for r in REFS["pooled_proportion"]:
        df = data(r["dataset"]) if r["dataset"] in REFS["datasets"] else \
            {"events": [r["x"]], "trials": [r["n"]]}
        ci = binfer.pooled_proportion(df, method=r["method"],
                                      conf_level=r["conf_level"]).confidence_interval
        record(f"interval {r['method']}", rel(ci.low, r["low"]), rel(ci.high, r["high"]))
    for r in REFS["homogeneity"]:
        if r["test"] == "fisher-exact" and r["status"] != "ok":
            continue
        method = {"pearson": "pearson", "g-test": "g", "fisher-exact": "exact"}[r["test"]]
        t = binfer.homogeneity_test(data(r["dataset"]), method=method)
        record(f"homogeneity {method} (p-value)", rel(t.pvalue, r["pvalue"]))
    for r in REFS["tarone"]:
        t = binfer.tarone_test(data(r["dataset"]))
        record("tarone", rel(t.statistic, r["statistic"]), rel(t.pvalue, r["pvalue"]))
    for r in REFS["trend"]:
        scores = None if r["scores_option"] == "default" else r["scores"]
        t = binfer.trend_test(data(r["dataset"]), scores=scores)
        record("trend", rel(t.statistic, r["statistic"]), rel(t.pvalue, r["pvalue"]))
    for r in REFS["beta_binomial"]:
        t = binfer.beta_binomial(data(r["dataset"]), information="expected")
        record("beta-binomial (vs VGAM)",
               *(rel(getattr(t, f), r[f]) for f in ("mu", "rho", "se_mu", "se_rho", "loglik",
                                                    "lrt_pvalue")))
    for r in REFS["cmh"]:
        d = data(r["dataset"])
        if r["method"] == "exact":
            t = binfer.cmh_test(d, exact=True)
            record("cmh exact (vs tight re-solve)", rel(t.pvalue, r["pvalue_tight"]),
                   rel(t.estimate, r["estimate_tight"]))
        else:
            t = binfer.cmh_test(d, correction=r["correct"])
            record("cmh", rel(t.statistic, r["statistic"]), rel(t.pvalue, r["pvalue"]),
                   rel(t.estimate, r["estimate"]), rel(t.confidence_interval.low, r["conf_low"]))
    for r in REFS["breslow_day"]:
        t = binfer.breslow_day_test(data(r["dataset"]), tarone_correction=r["tarone_correction"])
        record("breslow-day", rel(t.statistic, r["statistic"]), rel(t.pvalue, r["pvalue"]))
    for name, err in worst.items():
        print(f"{name:36s} {err:.1e}")


if __name__ == "__main__":
    main()
