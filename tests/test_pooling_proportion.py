"""pooled_proportion: definitions checked in mpmath, R references in test_pooling_refs.py."""

import mpmath as mp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
