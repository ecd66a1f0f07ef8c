"""The core at the edges of its domain (issue 11): p within 1e-300 of 0 or 1, k at the support's
edges, N from 1e5 to 1e15, and the total mass of a large PMF.

Every reference here is a closed form evaluated independently of binfer (log1p/expm1 in Python
floats, mpmath at 50 digits, scipy where scipy is accurate), never binfer's own output.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import scipy.stats as st
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_h

import binfer
from binfer.core._engine import bernoulli_chunk_matrix

REL = 1e-10  # the accuracy contract wherever log P >= -700


def _log1mexp(x: float) -> float:
    """log(1 - e^x), x <= 0, by the two-branch rule (Maechler 2012), written out here."""
    return math.log(-math.expm1(x)) if x > -math.log(2) else math.log1p(-math.exp(x))


def _close(got: float, want: float, rel: float = REL) -> bool:
    """Relative error of the probability (not of its log) where log P >= -700; beyond, the log
    itself to rel (a double log there has an ulp of ~1e-13 of its size)."""
    if want == -math.inf:
        return got == -math.inf
    if want >= -700:
        return abs(math.expm1(got - want)) <= rel
    return abs(got - want) <= rel * abs(want)


# ------------------------------------------------------------------ the reported defects
def test_tiny_p_tail_of_one_binomial():
    # P(X >= 1) = 1 - (1 - p)^n: binfer returned -34.4855 (5% off in P) before
    want = _log1mexp(10**5 * math.log1p(-1e-20))
    assert _close(float(binfer.Binomial(10**5, 1e-20).logsf(0)), want)
    # log P(X >= 1) at p = 1e-300 was -inf while pmf(1) = 1e-294
    want = _log1mexp(10**6 * math.log1p(-1e-300))
    assert math.isclose(want, -676.9600173402494, rel_tol=1e-14)
    assert _close(float(binfer.Binomial(10**6, 1e-300).logsf(0)), want)


def test_p_next_to_one():
    # 1 - 1e-20 is exactly 1.0 in binary64, where P(X <= n - 1) = 0 is right; the largest double
    # below 1 gives P(X <= n - 1) = 1 - p^n
    assert 1 - 1e-20 == 1.0
    assert binfer.Binomial(10**6, 1 - 1e-20).logcdf(10**6 - 1) == -math.inf
    p = 1 - 2**-53
    want = _log1mexp(10**6 * math.log1p(-(2**-53)))
    assert _close(float(binfer.Binomial(10**6, p).logcdf(10**6 - 1)), want, 1e-13)


def test_pointwise_far_lower_tail_of_a_million_trials():
    # raised "math domain error" before (a log of 0 in the theta < 0 branch); the whole
    # tail-accurate PMF is a different algorithm (product tree, not one tilted window)
    p = np.random.default_rng(4).uniform(size=10**6)
    ks = [0, 1000, 499_000, 999_000, 10**6]
    got = binfer.PoissonBinomial(p).logpmf(ks)
    assert np.all(np.isfinite(got))
    whole = binfer.PoissonBinomial(p).pmf_all(log=True)[ks]
    np.testing.assert_allclose(got, whole, rtol=1e-13, atol=2e-11)
    # P(X = 0) and P(X = N) in closed form
    assert _close(got[0], math.fsum(np.log1p(-p)), 1e-12)
    assert _close(got[-1], math.fsum(np.log(p)), 1e-12)


def test_total_mass_of_a_million_uniform_trials():
    # summed to 1 - 1.8e-11 before: the leaves' untilting added two ~1e3 sums that cancel
    p = np.random.default_rng(0).uniform(size=10**6)
    lp = binfer.PoissonBinomial(p).pmf_all(log=True)
    assert abs(math.expm1(float(np.logaddexp.reduce(lp)))) < 2e-12


def test_leaf_chunks_against_mpmath():
    mp.mp.dps = 30
    rng = np.random.default_rng(1)
    for lo, hi in [(0, 1), (1e-6, 1e-3), (0.98, 1)]:
        p = np.sort(rng.uniform(lo, hi, size=256))
        row = bernoulli_chunk_matrix(p, 256)[0][0]
        poly = [mp.mpf(1)]
        for x in p:
            x = mp.mpf(float(x))
            nxt = [mp.mpf(0)] * (len(poly) + 1)
            for j, v in enumerate(poly):
                nxt[j] += v * (1 - x)
                nxt[j + 1] += v * x
            poly = nxt
        ref = np.array([float(mp.log(v)) for v in poly])
        inside = ref > -700
        err = np.abs(np.expm1(row[inside] - ref[inside]))
        assert err.max() < 5e-13, (lo, hi, err.max())
        assert abs(float(mp.fsum(mp.exp(mp.mpf(float(x))) for x in row)) - 1) < 2e-13


# ------------------------------------------------------------------ one binomial, closed form
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st_h.integers(10**5, 10**6),
    st_h.one_of(
        st_h.floats(1e-300, 1e-250), st_h.floats(1e-300, 1e-3),
        st_h.floats(0.999, 1 - 2**-53), st_h.floats(1e-3, 0.999),
        st_h.sampled_from([5e-324, 1e-300, 0.5, 1 - 2**-53]),
    ),
    st_h.sampled_from(["auto", "tilted", "direct", "fft"]),
)
def test_binomial_support_edges(n, p, method):
    lq = math.log1p(-p)
    lp = math.log(p)
    X = binfer.Binomial(n, p, method=method)
    want = {
        "pmf0": n * lq, "pmfN": n * lp,
        "pmf1": math.log(n) + lp + (n - 1) * lq,
        "sf0": _log1mexp(n * lq), "cdfN1": _log1mexp(n * lp), "sfN1": n * lp, "cdf0": n * lq,
    }
    got = {
        "pmf0": X.logpmf(0), "pmfN": X.logpmf(n), "pmf1": X.logpmf(1),
        "sf0": X.logsf(0), "cdfN1": X.logcdf(n - 1), "sfN1": X.logsf(n - 1), "cdf0": X.logcdf(0),
    }
    for key, w in want.items():
        assert _close(float(got[key]), w, 1e-12), (key, got[key], w)
    # the whole PMF at the edges (the FFT method is accurate only to ~1e-16 absolute)
    whole = X.pmf_all(log=True)
    for k, key in [(0, "pmf0"), (1, "pmf1"), (n, "pmfN")]:
        if method != "fft":
            assert _close(float(whole[k]), want[key], 1e-12), (k, whole[k], want[key])
        elif want[key] > math.log(1e-6):
            assert abs(math.exp(whole[k]) - math.exp(want[key])) < 1e-13


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st_h.integers(5 * 10**4, 5 * 10**5), st_h.integers(5 * 10**4, 5 * 10**5),
    st_h.one_of(st_h.floats(1e-300, 1e-3), st_h.sampled_from([1e-300, 1 - 2**-53])),
    st_h.floats(1e-3, 0.999),
)
def test_two_groups_at_the_support_edges(n1, n2, p1, p2):
    """Two binomial blocks (one at an extreme p), N = 1e5..1e6: pointwise windows and the whole
    PMF against the closed forms of P(0), P(1), P(N), P(X >= 1) and P(X <= N - 1)."""
    X = binfer.PoissonBinomial([p1, p2], [n1, n2])
    N = n1 + n2
    l0 = n1 * math.log1p(-p1) + n2 * math.log1p(-p2)
    lN = n1 * math.log(p1) + n2 * math.log(p2)
    l1 = np.logaddexp(math.log(n1) + math.log(p1) - math.log1p(-p1),
                      math.log(n2) + math.log(p2) - math.log1p(-p2)) + l0
    want = [l0, float(l1), lN, _log1mexp(l0), _log1mexp(lN), lN]
    got = [X.logpmf(0), X.logpmf(1), X.logpmf(N), X.logsf(0), X.logcdf(N - 1), X.logsf(N - 1)]
    for g, w in zip(got, want, strict=True):
        assert _close(float(g), w, 1e-11), (g, w)


def test_many_trials_with_extreme_p():
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.uniform(size=60_000), np.full(500, 1e-300), np.full(500, 1 - 2**-53),
                        10.0 ** rng.uniform(-300, -10, size=1000)])
    X = binfer.PoissonBinomial(p)  # N = 62 000: the pointwise path for a few k
    N = p.size
    l0, lN = math.fsum(np.log1p(-p)), math.fsum(np.log(p))
    for g, w in [(X.logpmf(0), l0), (X.logpmf(N), lN), (X.logsf(0), _log1mexp(l0)),
                 (X.logcdf(N - 1), _log1mexp(lN)), (X.logsf(N - 1), lN)]:
        assert _close(float(g), w, 1e-11), (g, w)
    whole = X.pmf_all(log=True)
    assert _close(float(whole[0]), l0, 1e-11) and _close(float(whole[N]), lN, 1e-11)


# ------------------------------------------------------------------ huge n
def test_large_binomials_in_closed_form():
    mp.mp.dps = 50
    # scipy gh-5503: binom.cdf(2, 10**12, 10**-12); exact value by mpmath
    n, p = 10**12, mp.mpf(10) ** -12
    want = (1 - p) ** n * (1 + n * p / (1 - p) + n * (n - 1) / 2 * (p / (1 - p)) ** 2)
    assert math.isclose(float(binfer.Binomial(10**12, 1e-12).cdf(2)), float(want), rel_tol=1e-12)
    # a pmf at n = 1.5e15
    n, k, q = int(1.5e15), int(0.45e15), 0.3
    want = (mp.loggamma(n + 1) - mp.loggamma(k + 1) - mp.loggamma(n - k + 1)
            + k * mp.log(mp.mpf(q)) + (n - k) * mp.log(1 - mp.mpf(q)))
    assert _close(float(binfer.Binomial(n, q).logpmf(k)), float(want), 1e-9)
    # a far tail at n = 1e8 (allocated 763 MiB and failed before): the sum of the PMF terms
    # beyond k in mpmath (each term from the previous by its ratio; 12 sd out they fall off
    # geometrically, so ~1e4 terms reach 1e-25 of the sum)
    n, k = 10**8, 5 * 10**7 + 60_000
    term = mp.exp(mp.loggamma(n + 1) - mp.loggamma(k + 2) - mp.loggamma(n - k) - n * mp.log(2))
    total, j = mp.mpf(0), k + 1
    while term > total * mp.mpf(10) ** -25:
        total += term
        term *= mp.mpf(n - j) / (j + 1)
        j += 1
    assert _close(float(binfer.Binomial(n, 0.5).logsf(k)), float(mp.log(total)), 1e-10)
    # where scipy is accurate (the centre), the same answer
    ks = np.array([5 * 10**7 - 3000, 5 * 10**7, 5 * 10**7 + 7000])
    np.testing.assert_allclose(binfer.Binomial(n, 0.5).cdf(ks), st.binom.cdf(ks, n, 0.5),
                               rtol=1e-12)
    np.testing.assert_array_equal(binfer.Binomial(10**12, 0.5).ppf([0.025, 0.5, 0.975]),
                                  st.binom.ppf([0.025, 0.5, 0.975], 10**12, 0.5))


def test_binomial_quantiles_far_in_the_tails():
    X = binfer.Binomial(1000, 0.3)
    q = np.array([0.0, 1e-300, 0.01, 0.5, 0.7, 0.99, 1.0])
    np.testing.assert_array_equal(X.ppf(q[2:-1]), st.binom.ppf(q[2:-1], 1000, 0.3))
    assert X.ppf(0.0) == -1 and X.ppf(1.0) == 1000 and X.isf(1.0) == -1
    # isf(1e-300): the smallest k with P(X > k) <= 1e-300 (scipy answers 1000)
    k = int(X.isf(1e-300))
    assert X.logsf(k) <= math.log(1e-300) < X.logsf(k - 1)
    k = int(X.ppf(1e-300))
    assert X.logcdf(k) >= math.log(1e-300) > X.logcdf(k - 1)


def test_requests_that_cannot_fit_are_refused():
    with pytest.raises(ValueError, match="100000000 trials"):
        binfer.Binomial(10**8, 0.5).pmf_all()
    with pytest.raises(ValueError, match="too large"):
        binfer.PoissonBinomial([0.3, 0.6], [10**15, 10**15]).logpmf(10**15)
    # two groups of 1e9 trials: banded windows, no PMF of 2e9 values
    X = binfer.PoissonBinomial([0.3, 0.6], [10**9, 10**9])
    k = 9 * 10**8
    # Normal approximation only as a sanity bound at the centre (sd ~ 2e4)
    assert abs(float(X.cdf(k)) - 0.5) < 0.01
    assert np.isfinite(X.logsf(2 * 10**9 - 5))


def test_binomial_quantiles_against_the_cumulated_pmf():
    """ppf/isf (scipy's guess confirmed by the closed-form tails, else bisection) against a
    search in the cumulated whole PMF, for q from 1e-300 to 1 - 1e-15."""
    rng = np.random.default_rng(11)
    for _ in range(30):
        n = int(rng.integers(1, 3000))
        p = (float(10 ** rng.uniform(-6, 0)) if rng.random() < 0.8
             else float(1 - 10 ** -rng.uniform(1, 15)))
        X = binfer.Binomial(n, p)
        lp = X.pmf_all(log=True)
        lcdf = np.logaddexp.accumulate(lp)
        lsf = np.r_[np.logaddexp.accumulate(lp[::-1])[::-1][1:], -np.inf]
        q = np.array([1e-300, 1e-20, 1e-3, 0.3, 0.5, 0.9, 1 - 1e-9, 1 - 1e-15])
        # smallest k with cdf(k) >= q (searched in the tail that is accurate), likewise sf <= q
        # (with a relative slack of 1e-9 in the log for rounding in either computation)
        want_ppf = [int(np.searchsorted(lcdf, math.log(x) * (1 + 1e-9))) if x <= 0.5 else
                    int(np.argmax(lsf <= math.log1p(-x) * (1 - 1e-9))) for x in q]
        want_isf = [int(np.argmax(lsf <= math.log(x) * (1 - 1e-9))) if x <= 0.5 else
                    int(np.searchsorted(lcdf, math.log1p(-x) * (1 + 1e-9))) for x in q]
        np.testing.assert_array_equal(X.ppf(q), want_ppf, err_msg=f"{n} {p}")
        np.testing.assert_array_equal(X.isf(q), want_isf, err_msg=f"{n} {p}")


@pytest.mark.parametrize("n", [1, 10**9])
@pytest.mark.parametrize("p", [0.0, 1.0, 1e-300, 1 - 2**-53, 5e-324])
def test_one_group_at_n_one_and_a_billion(n, p):
    """N = 1 and N = 1e9 at p = 0, 1 and next to either: closed forms (p = 0 or 1 with 1e9
    trials, a point mass, was refused as a 1e9-value PMF)."""
    X = binfer.Binomial(n, p)
    lq = math.log1p(-p) if p < 1 else -math.inf
    lp = math.log(p) if p > 0 else -math.inf
    l0, lN = (n * lq if p < 1 else -math.inf), (n * lp if p > 0 else -math.inf)
    if p == 0:
        l0 = 0.0
    if p == 1:
        lN = 0.0
    # P(X <= 0) = P(0) and P(X > 0) = 1 - P(0)
    sf0 = -math.inf if p == 0 else (0.0 if p == 1 else _log1mexp(l0))
    for got, want in [(X.logpmf(0), l0), (X.logpmf(n), lN), (X.logcdf(0), l0),
                      (X.logsf(0), sf0)]:
        assert _close(float(got), want, 1e-12), (got, want)
    if n > 1:
        cdf_n1 = 0.0 if p == 0 else (-math.inf if p == 1 else _log1mexp(lN))
        assert _close(float(X.logcdf(n - 1)), cdf_n1, 1e-12)
        assert _close(float(X.logsf(n - 1)), lN, 1e-12)
    # quantiles: the smallest k whose cdf reaches 1/2, and whose sf is <= 1e-300
    for k, cond in [(X.ppf(0.5), lambda k: X.cdf(k) >= 0.5),
                    (X.isf(1e-300), lambda k: X.logsf(k) <= math.log(1e-300))]:
        assert cond(k) and (k == 0 or not cond(k - 1))


def test_point_masses_of_huge_groups():
    X = binfer.PoissonBinomial([0.0, 1.0], [10**9, 10**9])
    assert X.support() == (10**9, 10**9)
    np.testing.assert_array_equal(X.logpmf([0, 10**9, 2 * 10**9]), [-np.inf, 0.0, -np.inf])
    np.testing.assert_array_equal(X.logsf([10**9 - 1, 10**9]), [0.0, -np.inf])
    assert X.ppf(0.3) == 10**9
