"""pooled_proportion: definitions checked in mpmath, R references in test_pooling_refs.py."""

import json
import math
from pathlib import Path

import mpmath as mp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import binfer
from binfer.pooling import proportion_interval
from binfer.pooling._proportion import METHODS

mp.mp.dps = 50


def _mp_tail_ge(x, n, p):  # P(X >= x)
    p = mp.mpf(p)
    return mp.fsum(mp.binomial(n, j) * p**j * (1 - p) ** (n - j) for j in range(x, n + 1))


def _mp_pmf(x, n, p):
    p = mp.mpf(p)
    return mp.binomial(n, x) * p**x * (1 - p) ** (n - x)


@pytest.mark.parametrize(("x", "n"), [(3, 17), (1, 400), (399, 400), (55, 120)])
def test_exact_limits_solve_their_defining_equations(x, n):
    cp = proportion_interval(x, n, method="clopper-pearson")
    assert float(_mp_tail_ge(x, n, cp.low)) == pytest.approx(0.025, rel=1e-10)
    assert float(1 - _mp_tail_ge(x + 1, n, cp.high)) == pytest.approx(0.025, rel=1e-10)
    mid = proportion_interval(x, n, method="mid-p")
    upper_tail = _mp_tail_ge(x + 1, n, mid.low) + _mp_pmf(x, n, mid.low) / 2
    lower_tail = 1 - _mp_tail_ge(x, n, mid.high) + _mp_pmf(x, n, mid.high) / 2
    assert float(upper_tail) == pytest.approx(0.025, rel=1e-10)
    assert float(lower_tail) == pytest.approx(0.025, rel=1e-10)


def test_likelihood_ratio_limits_have_the_chi2_deviance():
    x, n = 7, 90
    lr = proportion_interval(x, n, method="likelihood-ratio", conf_level=0.9)
    phat = mp.mpf(x) / n

    def dev(p):
        p = mp.mpf(p)
        return 2 * (x * mp.log(phat / p) + (n - x) * mp.log((1 - phat) / (1 - p)))

    crit = 2.705543454095404  # qchisq(0.90, 1)
    assert float(dev(lr.low)) == pytest.approx(crit, rel=1e-10)
    assert float(dev(lr.high)) == pytest.approx(crit, rel=1e-10)


def test_far_tail_limits_stay_accurate():
    # x = 1 of 10^7: the lower Clopper-Pearson limit is about 2.5e-9
    low = proportion_interval(1, 10**7, method="clopper-pearson").low
    expected = 1 - mp.power(mp.mpf(0.975), mp.mpf(1) / 10**7)  # P(X >= 1) = 1 - (1-p)^n
    assert low == pytest.approx(float(expected), rel=1e-10)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from(METHODS))
def test_intervals_are_ordered_and_nested(xn, method):
    x, n = xn
    narrow = proportion_interval(x, n, method=method, conf_level=0.8)
    wide = proportion_interval(x, n, method=method, conf_level=0.99)
    assert 0 <= wide.low <= narrow.low <= narrow.high <= wide.high <= 1
    if method not in ("agresti-coull", "wilson-cc"):  # these centre away from x / n
        assert narrow.low <= x / n <= narrow.high
    if x == 0:
        assert wide.low == 0
    if x == n:
        assert wide.high == 1


def test_pooled_sums_groups_and_reports():
    df = {"events": [0, 18, 8], "trials": [47, 148, 119]}
    r = binfer.pooled_proportion(df, method="jeffreys", conf_level=0.9)
    assert (r.n_events, r.n_trials, r.n_groups) == (26, 314, 3)
    assert r.estimate == 26 / 314
    assert r.se == pytest.approx((26 / 314 * (1 - 26 / 314) / 314) ** 0.5)
    assert r.confidence_interval == proportion_interval(26, 314, method="jeffreys",
                                                        conf_level=0.9)
    frame = r.to_frame()
    assert list(frame.columns) == ["estimate", "se", "confidence_interval_low",
                                   "confidence_interval_high", "conf_level", "method",
                                   "n_events", "n_trials", "n_groups"]
    assert "90% CI (jeffreys)" in repr(r) and "<table>" in r._repr_html_()


def test_bad_options():
    df = {"events": [1], "trials": [4]}
    with pytest.raises(ValueError, match="method must be one of wald, wilson"):
        binfer.pooled_proportion(df, method="exact")
    with pytest.raises(ValueError, match="conf_level must be a number in"):
        binfer.pooled_proportion(df, conf_level=95)


# --- issue 11, section 3: the test of p = p0, and proportion_interval over arrays -------------
# References: tests/reference/trust_refs.json, written by tests/reference/make_trust_refs.R
# (R's binom.test and prop.test; log p-values by the same rules in log space, checked there
# against log(R's p-value) wherever that is above 1e-300).

TRUST = json.loads((Path(__file__).parent / "reference" / "trust_refs.json").read_text())
STATS = json.loads((Path(__file__).parent / "reference" / "stats_refs.json").read_text())


def _close(actual, expected, rel):
    if expected < 1e-300:  # below double range R may leave a denormal (binom.test: 5e-324)
        return actual < 1e-300  # the logs are compared instead
    return actual == pytest.approx(expected, rel=rel, abs=0)


@pytest.mark.parametrize("ref", TRUST["binom_test"],
                         ids=lambda r: f"{r['label']}-{r['alternative']}")
def test_p0_tests_match_binom_test_and_prop_test(ref):
    data = {"events": [ref["x"]], "trials": [ref["n"]]}
    if "dataset" in ref:  # the totals of the real groups
        data = binfer.datasets.load(ref["dataset"])
    for cc, key in ((False, ""), (True, "_cc")):
        r = binfer.pooled_proportion(data, p0=ref["p0"], alternative=ref["alternative"],
                                     correction=cc)
        assert (r.n_events, r.n_trials, r.p0, r.alternative) == (ref["x"], ref["n"], ref["p0"],
                                                                ref["alternative"])
        # the exact p-values are sums of a few tail probabilities: ~1e-13 relative
        assert _close(r.pvalue_exact, ref["pvalue_exact"], 1e-10)
        assert r.log_pvalue_exact == pytest.approx(ref["log_pvalue_exact"], rel=1e-10,
                                                   abs=1e-13)
        assert r.statistic_score == pytest.approx(ref["statistic_score" + key], rel=1e-12,
                                                  abs=1e-300)
        assert _close(r.pvalue_score, ref["pvalue_score" + key], 1e-10)
        assert r.log_pvalue_score == pytest.approx(ref["log_pvalue_score" + key], rel=1e-10,
                                                   abs=1e-13)


def test_p_values_below_double_range_keep_their_log():
    # binom.test(0, 1e6, 0.01) underflows to 0; the log p-value is -10050.3 (R, log space)
    (ref,) = [r for r in TRUST["binom_test"]
              if r["x"] == 0 and r["n"] == 10**6 and r["alternative"] == "two-sided"]
    r = binfer.pooled_proportion({"events": [0], "trials": [10**6]}, p0=0.01)
    assert r.pvalue_exact == 0 and r.pvalue_score == 0
    assert r.log_pvalue_exact == pytest.approx(ref["log_pvalue_exact"], rel=1e-12)
    assert r.log_pvalue_exact < -10_000
    assert "log p = -1.005e+04" in repr(r)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 80).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.floats(0.01, 0.99), st.sampled_from(["two-sided", "less", "greater"]))
def test_exact_test_agrees_with_scipy_binomtest(xn, p0, alternative):
    # scipy.stats.binomtest implements R's two-sided rule (relative tolerance 1 + 1e-7) by
    # enumerating the far side; binfer finds the same block by bisection
    x, n = xn
    r = binfer.pooled_proportion({"events": [x], "trials": [n]}, p0=p0, alternative=alternative)
    expected = stats.binomtest(x, n, p0, alternative=alternative).pvalue
    assert r.pvalue_exact == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_exact_test_is_fast_at_a_billion_trials():
    # the far side is found by bisection: ~30 pmf evaluations, not R's 1e9-long vector
    x, n = 100_012_345, 10**9
    r = binfer.pooled_proportion({"events": [x], "trials": [n]}, p0=0.1)
    z = (x - n * 0.1) / math.sqrt(n * 0.1 * 0.9)  # near-normal: exact and score agree closely
    assert r.pvalue_exact == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-3)


def test_p0_report_and_frame():
    df = {"events": [0, 18, 8], "trials": [47, 148, 119]}
    r = binfer.pooled_proportion(df, p0=0.05, alternative="greater", correction=True)
    text = repr(r)
    assert "H0: p = 0.05 (greater)" in text and "exact binomial test: p-value" in text
    assert "score test (with continuity correction): X^2" in text
    row = r.to_frame().iloc[0]
    for name in ("p0", "alternative", "pvalue_exact", "log_pvalue_exact", "statistic_score",
                 "pvalue_score", "log_pvalue_score", "correction"):
        assert row[name] == getattr(r, name)
    assert "p0" not in binfer.pooled_proportion(df).to_frame().columns


@pytest.mark.parametrize(("options", "message"), [
    ({"p0": 0}, r"^p0 must be in \(0, 1\).*got 0$"),
    ({"p0": 1.0}, r"^p0 must be in \(0, 1\).*got 1.0$"),
    ({"p0": -0.2}, r"got -0.2$"),
    ({"p0": float("nan")}, r"got nan$"),
    ({"p0": np.float64(1.5)}, r"got 1.5$"),
    ({"p0": "half"}, r"^p0 must be a number in \(0, 1\), got 'half'$"),
    ({"p0": 0.5, "alternative": "two.sided"},
     r"^alternative must be one of .*two-sided.*less.*greater.*; got 'two.sided'$"),
    ({"alternative": "both"}, r"^alternative must be one of"),
])
def test_p0_and_alternative_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        binfer.pooled_proportion({"events": [3], "trials": [10]}, **options)


def _refs_by_method():
    groups = {}
    for ref in STATS["pooled_proportion"]:
        groups.setdefault((ref["method"], ref["conf_level"]), []).append(ref)
    return sorted(groups.items())


@pytest.mark.parametrize(("key", "refs"), _refs_by_method(), ids=lambda v: str(v)[:40])
def test_interval_over_arrays_and_series_matches_r(key, refs):
    # every (x, n) of one method and level in one call, against R (make_stats_refs.R)
    method, conf_level = key
    x = np.array([r["x"] for r in refs])
    n = np.array([r["n"] for r in refs])
    low, high = proportion_interval(x, n, method=method, conf_level=conf_level)
    assert isinstance(low, np.ndarray) and low.shape == x.shape
    np.testing.assert_allclose(low, [r["low"] for r in refs], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(high, [r["high"] for r in refs], rtol=1e-6, atol=1e-12)
    labels = [f"row{i}" for i in range(x.size)]
    s_low, s_high = proportion_interval(pd.Series(x, index=labels), pd.Series(n, index=labels),
                                        method=method, conf_level=conf_level)
    assert isinstance(s_low, pd.Series) and list(s_low.index) == labels
    np.testing.assert_array_equal(s_low.to_numpy(), low)
    np.testing.assert_array_equal(s_high.to_numpy(), high)
    # each entry is the scalar answer
    i = int(np.argmax(n))
    assert (low[i], high[i]) == tuple(proportion_interval(int(x[i]), int(n[i]), method=method,
                                                         conf_level=conf_level))


def test_interval_broadcasts_like_statsmodels():
    low, high = proportion_interval([[0, 1], [2, 3]], 3, method="clopper-pearson")
    assert low.shape == (2, 2)
    assert high[1, 1] == 1.0 and low[0, 0] == 0.0
    low, high = proportion_interval(pd.Series([1, 2], index=["a", "b"]), 10)
    assert list(low.index) == ["a", "b"]


@pytest.mark.parametrize(("x", "n", "message"), [
    ([1, 5, 2], [4, 4, 4], r"^x\[1\] = 5 > n = 4$"),
    ([1, -1], 4, r"^x\[1\] = -1 is negative"),
    ([1, 2.5], 4, r"^x\[1\] = 2.5 is not a whole number$"),
    (1, [3, 0], r"^n\[1\] = 0: a proportion needs at least one trial$"),
    ([1, np.nan], 4, r"^x\[1\] = nan is not a finite number$"),
    (pd.Series([1, 9], index=["A", "B"]), 5, r"^x\[1\] \(label 'B'\) = 9 > n = 5$"),
    ([[1, 2], [3, 7]], 5, r"^x\[1, 1\] = 7 > n = 5$"),
    (3, 2, r"^x = 3 > n = 2$"),
    ([1, 2, 3], [4, 5], r"^x and n have shapes \(3,\) and \(2,\)"),
    (["a"], 3, r"^x must be whole numbers >= 0, got \['a'\]$"),
])
def test_interval_input_is_checked(x, n, message):
    with pytest.raises(ValueError, match=message):
        proportion_interval(x, n)


@pytest.mark.parametrize(("x", "n"), [(26, 314), (3, 17), (390, 400)])
def test_score_test_inverts_into_the_wilson_interval(x, n):
    # the Wilson limits are the p0 where the uncorrected score test has p = 1 - conf_level,
    # the continuity-corrected ones (Newcombe's method 4) where the corrected test has
    data = {"events": [x], "trials": [n]}
    for method, cc in (("wilson", False), ("wilson-cc", True)):
        for limit in proportion_interval(x, n, method=method, conf_level=0.9):
            r = binfer.pooled_proportion(data, p0=limit, correction=cc)
            assert r.pvalue_score == pytest.approx(0.1, rel=1e-9)
