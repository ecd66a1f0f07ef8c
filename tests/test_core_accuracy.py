"""Tail accuracy against independent references (mpmath at 60 digits, R).

The contract: logpmf, logcdf and logsf have relative error <= 1e-10 (of the probability) wherever
log P >= -700, and below that the log itself is correct to 1e-10 relative.  References are
written by tests/reference/make_core_refs.py (mpmath) and make_core_refs.R (R 4.2.2,
PoissonBinomial 1.2.5); see tests/reference/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _accuracy import assert_log_accurate

import binfer.core._engine as engine
from binfer import Binomial, PoissonBinomial

REF = Path(__file__).parent / "reference"
CASES = json.loads((REF / "core_refs.json").read_text())
GRADS = json.loads((REF / "core_grad_refs.json").read_text())
RCSV = pd.read_csv(REF / "core_refs_R.csv")


def _arr(values):
    return np.array([float(v) for v in values])


@pytest.fixture(params=["default", "fft_windows", "direct_windows"])
def engine_mode(request, monkeypatch):
    """Run each case as shipped, with FFT windows wherever a product allows them, and with
    direct windows only; both from tiny leaves and through the tilted engine even for tiny N."""
    if request.param != "default":
        import binfer.core._distribution as dist

        monkeypatch.setattr(engine, "_LEAF", 8)
        monkeypatch.setattr(dist, "_AUTO_DIRECT_MAX", 0)
        monkeypatch.setattr(engine, "_FFT_MIN_SD",
                            0.0 if request.param == "fft_windows" else float("inf"))
    return request.param


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_logpmf_logcdf_logsf_against_mpmath(case, engine_mode):
    X = PoissonBinomial(_arr(case["p"]), case["counts"])
    k = np.arange(X.n_trials + 1)
    assert_log_accurate(X.logpmf(k), _arr(case["logpmf"]), what="logpmf")
    assert_log_accurate(X.logcdf(k), _arr(case["logcdf"]), what="logcdf")
    assert_log_accurate(X.logsf(k), _arr(case["logsf"]), what="logsf")


@pytest.mark.parametrize("case", CASES[:5], ids=[c["name"] for c in CASES[:5]])
def test_log_of_probabilities_near_one_is_relatively_accurate(case):
    """log cdf = log(1 - sf) for cdf near 1: the tiny log is accurate relative to its own size."""
    X = PoissonBinomial(_arr(case["p"]), case["counts"])
    k = np.arange(X.n_trials + 1)
    for got, ref in [(X.logcdf(k), _arr(case["logcdf"])), (X.logsf(k), _arr(case["logsf"]))]:
        near = (ref > -1e-3) & (ref < 0)
        rel = np.abs(got[near] - ref[near]) / np.abs(ref[near])
        assert rel.size == 0 or rel.max() < 1e-9


def test_direct_method_against_mpmath():
    case = next(c for c in CASES if c["name"] == "extreme200")
    X = PoissonBinomial(_arr(case["p"]), case["counts"], method="direct")
    assert_log_accurate(X.logpmf(np.arange(201)), _arr(case["logpmf"]), what="direct")


def test_fft_method_has_absolute_accuracy_only():
    case = next(c for c in CASES if c["name"] == "uniform2000")
    X = PoissonBinomial(_arr(case["p"]), case["counts"])
    ref = np.exp(_arr(case["logpmf"]))
    fft = X.pmf_all(method="fft")
    assert np.max(np.abs(fft - ref)) < 1e-15
    tilted = X.pmf_all()
    pos = ref > 0  # (below 1e-308 the doubles underflow; the logs are tested elsewhere)
    assert np.max(np.abs(tilted[pos] - ref[pos]) / ref[pos]) < 1e-10


def test_below_double_range_logs_are_finite_and_correct():
    case = next(c for c in CASES if c["name"] == "small_tail")
    ref = _arr(case["logpmf"])
    assert ref.min() < -7000  # the reference reaches far below 1e-308
    X = PoissonBinomial(_arr(case["p"]), case["counts"])
    got = X.pmf_all(log=True)
    assert np.all(np.isfinite(got))
    deep = ref < -745
    rel = np.abs(got[deep] - ref[deep]) / np.abs(ref[deep])
    assert rel.max() < 1e-12


@pytest.mark.parametrize("what", ["binom_logpmf", "binom_logcdf", "binom_logsf"])
def test_binomial_against_R(what):
    rows = RCSV[RCSV["what"] == what]
    fn = {"binom_logpmf": "logpmf", "binom_logcdf": "logcdf", "binom_logsf": "logsf"}[what]
    for (n, p), grp in rows.groupby(["n", "p"]):
        B = Binomial(int(n), float(p))
        got = getattr(B, fn)(grp["k"].to_numpy())
        ref = grp["value"].to_numpy(dtype=float)
        # R's values are themselves accurate to ~2e-12 (see tests/reference/README.md)
        tol = 1e-11 * np.maximum(1.0, np.abs(ref))
        fin = np.isfinite(ref) & (ref < -1e-300)
        assert np.all(np.abs(got[fin] - ref[fin]) <= tol[fin]), (n, p, what)


def test_poisson_binomial_5000_against_R_convolve():
    p = pd.read_csv(REF / "pb5000_p.csv")["p"].to_numpy()
    X = PoissonBinomial(p)
    rows = RCSV[RCSV["case"] == "pb5000"]
    lp = rows[rows["what"] == "pb_convolve_logpmf"]
    got = X.logpmf(lp["k"].to_numpy())
    assert np.max(np.abs(got - lp["value"].to_numpy())) < 1e-12
    ls = rows[rows["what"] == "pb_convolve_logsf"]
    got = X.logsf(ls["k"].to_numpy())
    # R's log.p is log() of a double: absolute comparison (values near 0 are rounded by R)
    assert np.max(np.abs(got - ls["value"].to_numpy())) < 1e-12


@pytest.mark.parametrize("case", GRADS, ids=[g["name"] for g in GRADS])
def test_logpmf_grad_against_mpmath_finite_differences(case):
    X = PoissonBinomial(_arr(case["p"]), case["counts"])
    got = X.logpmf_grad(case["k"])
    ref = np.array([_arr(row) for row in case["grad"]])
    assert got.shape == ref.shape == (len(case["k"]), len(case["p"]))
    scale = np.maximum(np.abs(ref), np.abs(ref).max(axis=1, keepdims=True) * 1e-6)
    assert np.max(np.abs(got - ref) / scale) < 1e-9


GROUPED = json.loads((REF / "grouped_refs.json").read_text())["cases"]


@pytest.mark.parametrize("case", GROUPED, ids=[c["name"] for c in GROUPED])
def test_grouped_million_trials_against_mpmath_tilted_cf(case):
    """10^6 trials in a few groups: log pmf/cdf/sf at points from -40 to +40 sd and the edges."""
    X = PoissonBinomial(case["p"], case["counts"])
    pts = case["points"]
    k = np.array([r["k"] for r in pts])
    assert_log_accurate(X.logpmf(k), _arr([r["logpmf"] for r in pts]), what="logpmf")
    for what in ["logcdf", "logsf"]:
        sel = [r for r in pts if what in r]
        kk = np.array([r["k"] for r in sel])
        assert_log_accurate(getattr(X, what)(kk), _arr([r[what] for r in sel]), what=what)


def golden_p(n: int) -> np.ndarray:
    """p_i = frac(i * 0.6180339887498949): reproduced bit for bit by make_large_refs.R."""
    return (np.arange(1, n + 1, dtype=float) * 0.6180339887498949) % 1.0


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_large_n_against_R_convolve(n):
    ref = pd.read_csv(REF / f"large_refs_N{n}.csv")
    X = PoissonBinomial(golden_p(n))
    k = ref["k"].to_numpy()
    for what in ["logpmf", "logcdf", "logsf"]:
        ok = ref[what].notna().to_numpy()
        # R's own error is ~1e-13 (tests/reference/README.md); the contract is 1e-10
        assert_log_accurate(getattr(X, what)(k[ok]), ref[what].to_numpy()[ok], what=what)


def test_far_tails_below_double_range_against_R_tilted_convolve():
    """k = mean +- 25, 30, 36, 38, 40 sd (log P down to -938) for N = 1e3 .. 1e5."""
    ref = pd.read_csv(REF / "tail_refs.csv")
    ref = ref[ref["N"] <= 100_000]
    for n, grp in ref.groupby("N"):
        X = PoissonBinomial(golden_p(int(n)))
        k = grp["k"].to_numpy()
        assert_log_accurate(X.logpmf(k), grp["logpmf"].to_numpy(), what=f"logpmf N={n}")
        for what in ["logcdf", "logsf"]:
            ok = grp[what].notna().to_numpy()
            assert_log_accurate(getattr(X, what)(k[ok]), grp[what].to_numpy()[ok],
                                what=f"{what} N={n}")


@pytest.mark.slow
def test_million_single_trials_against_R_convolve():
    """N = 10^6 distinct p (R's exact O(N^2) convolution took ~25 min to make the reference)."""
    ref = pd.read_csv(REF / "large_refs_N1000000.csv")
    X = PoissonBinomial(golden_p(1_000_000))
    k = ref["k"].to_numpy()
    for what in ["logpmf", "logcdf", "logsf"]:
        ok = ref[what].notna().to_numpy()
        assert_log_accurate(getattr(X, what)(k[ok]), ref[what].to_numpy()[ok], what=what)
    tails = pd.read_csv(REF / "tail_refs.csv")
    tails = tails[tails["N"] == 1_000_000]
    if len(tails):
        kk = tails["k"].to_numpy()
        assert_log_accurate(X.logpmf(kk), tails["logpmf"].to_numpy(), what="far-tail logpmf")


def test_pointwise_path_against_R_convolve_and_far_tails():
    """A few points on a large distribution use one tilted window each (no whole PMF)."""
    n = 100_000
    X = PoissonBinomial(golden_p(n))
    ref = pd.read_csv(REF / f"large_refs_N{n}.csv").dropna()
    pick = ref.iloc[np.linspace(0, len(ref) - 1, 12).astype(int)]
    k = pick["k"].to_numpy()
    assert X._pointwise(k)
    for what in ["logpmf", "logcdf", "logsf"]:
        assert_log_accurate(getattr(X, what)(k), pick[what].to_numpy(), what=what)
    assert "_logpmf_all" not in X.__dict__  # the whole PMF was never computed
    tails = pd.read_csv(REF / "tail_refs.csv")
    for _, row in tails[tails["N"] == 10_000].iterrows():
        Y = PoissonBinomial(golden_p(10_000))
        with pytest.MonkeyPatch.context() as mp:
            import binfer.core._distribution as dist

            mp.setattr(dist, "_POINT_MIN_N", 0)
            kk = int(row["k"])
            assert Y._pointwise(np.array([kk]))
            assert_log_accurate(Y.logpmf(kk), row["logpmf"], what="point logpmf")
            for what in ["logcdf", "logsf"]:
                if np.isfinite(row[what]):
                    assert_log_accurate(getattr(Y, what)(kk), row[what], what=what)


def test_pointwise_path_matches_whole_pmf_with_boundary_groups(monkeypatch):
    import binfer.core._distribution as dist

    p = np.r_[np.random.default_rng(4).uniform(size=3000), 0.0, 1.0]
    counts = np.r_[np.ones(3000, dtype=int), 7, 5]
    full = PoissonBinomial(p, counts)
    k = np.array([0, 4, 5, 6, 300, 1500, 2700, 3004, 3005, 3006, 3012])
    expect = [full.logpmf(k), full.logcdf(k), full.logsf(k)]
    monkeypatch.setattr(dist, "_POINT_MIN_N", 0)
    pts = PoissonBinomial(p, counts)
    assert pts._pointwise(k)
    for got, ref in zip([pts.logpmf(k), pts.logcdf(k), pts.logsf(k)], expect, strict=True):
        assert_log_accurate(got, ref, what="points vs whole")


@pytest.mark.slow
def test_random_configurations_tilted_and_pointwise_against_direct(monkeypatch):
    """60 random grouped/single-trial mixes, extreme p included: the tree and the pointwise
    windows against the exact log-space convolution (itself checked against mpmath above)."""
    import binfer.core._distribution as dist

    rng = np.random.default_rng(123)
    for _ in range(60):
        g = int(rng.integers(1, 40))
        kind = int(rng.integers(0, 4))
        p = [rng.uniform(size=g), 10 ** rng.uniform(-15, 0, g),
             np.r_[rng.uniform(size=g), [0.0, 1.0]][:g],
             np.where(rng.random(g) < 0.5, 10 ** rng.uniform(-12, -1, g),
                      1 - 10 ** rng.uniform(-12, -1, g))][kind]
        counts = rng.integers(0, 120, g)
        singles = rng.uniform(size=int(rng.integers(0, 1500))) if rng.random() < 0.5 else []
        p = np.r_[p, singles]
        counts = np.r_[counts, np.ones(len(singles), dtype=int)]
        if counts.sum() == 0:
            continue
        X = PoissonBinomial(p, counts, method="direct")
        ref = X.pmf_all(log=True)
        assert_log_accurate(X.pmf_all(log=True, method="tilted"), ref, what="tilted")
        monkeypatch.setattr(dist, "_POINT_MIN_N", 0)
        Y = PoissonBinomial(p, counts)
        lo, hi = Y.support()
        ks = np.unique(np.r_[lo, hi, rng.integers(lo, hi + 1, 6)])
        assert_log_accurate(Y.logpmf(ks), X.logpmf(ks), what="point logpmf")
        assert_log_accurate(Y.logsf(ks), X.logsf(ks), what="point logsf")
        assert_log_accurate(Y.logcdf(ks), X.logcdf(ks), what="point logcdf")
        monkeypatch.setattr(dist, "_POINT_MIN_N", 50_000)


@pytest.mark.parametrize("case", GROUPED, ids=[c["name"] for c in GROUPED])
def test_grouped_million_trials_whole_pmf_against_mpmath(case):
    """The same points read off the whole log-PMF (the product tree, not pointwise windows)."""
    X = PoissonBinomial(case["p"], case["counts"])
    lp = X.pmf_all(log=True)
    pts = case["points"]
    k = np.array([r["k"] for r in pts])
    assert_log_accurate(lp[k], _arr([r["logpmf"] for r in pts]), what="whole logpmf")
    for what in ["logcdf", "logsf"]:
        sel = [r for r in pts if what in r]
        kk = np.array([r["k"] for r in sel])
        assert_log_accurate(getattr(X, what)(kk), _arr([r[what] for r in sel]), what=what)
