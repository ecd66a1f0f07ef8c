"""Property-based tests (hypothesis) of the core's identities."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import comb, logsumexp

from binfer import Binomial, PoissonBinomial

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

prob = st.one_of(
    st.floats(0.0, 1.0),
    st.sampled_from([0.0, 1.0, 1e-12, 1 - 1e-12, 0.5]),
    st.floats(-30, -1).map(lambda e: 10.0**e),
)


@st.composite
def grouped(draw, max_groups=6, max_count=40):
    g = draw(st.integers(1, max_groups))
    p = draw(st.lists(prob, min_size=g, max_size=g))
    counts = draw(st.lists(st.integers(0, max_count), min_size=g, max_size=g))
    return np.array(p), np.array(counts)


@SETTINGS
@given(grouped(), st.sampled_from(["auto", "tilted", "direct"]))
def test_pmf_sums_to_one_and_tails_complement(pc, method):
    p, c = pc
    X = PoissonBinomial(p, c, method=method)
    lp = X.pmf_all(log=True)
    assert abs(logsumexp(lp)) < 1e-12
    k = np.arange(-1, X.n_trials + 2)
    cdf, sf = X.cdf(k), X.sf(k)
    assert np.allclose(cdf + sf, 1.0, rtol=0, atol=1e-13)
    # in logs: log(cdf) and log(sf) combine to log 1 = 0
    both = np.logaddexp(X.logcdf(k), X.logsf(k))
    assert np.allclose(both, 0.0, atol=1e-13)
    assert np.all(np.diff(cdf) >= -1e-15)


@SETTINGS
@given(st.integers(0, 300), st.integers(0, 300), prob)
def test_additive_property(n1, n2, p):
    Y = Binomial(n1, p) + Binomial(n2, p)
    assert isinstance(Y, Binomial) and Y.n == n1 + n2 and Y.p == p
    # the convolution of the two PMFs equals the Bin(n1 + n2, p) PMF
    conv = np.convolve(Binomial(n1, p).pmf_all(), Binomial(n2, p).pmf_all())
    assert np.allclose(conv, Y.pmf_all(), rtol=1e-10, atol=1e-300)
    # and the grouped form (two groups with the same p) computes the same numbers
    Z = PoissonBinomial([p, p], [n1, n2], method="tilted")
    assert np.allclose(Z.pmf_all(log=True), Y.pmf_all(log=True), rtol=1e-11, atol=1e-11)


@SETTINGS
@given(st.integers(0, 60), st.integers(0, 60), st.integers(0, 120))
def test_vandermonde_identity(n1, n2, k):
    lhs = sum(comb(n1, j, exact=True) * comb(n2, k - j, exact=True) for j in range(0, k + 1)
              if k - j >= 0)
    assert lhs == comb(n1 + n2, k, exact=True)
    # and through the distribution: P(Y = k) / (p^k q^(N-k)) = C(n1 + n2, k)
    Y = Binomial(n1, 0.5) + Binomial(n2, 0.5)
    if k <= n1 + n2:
        assert math.isclose(float(Y.pmf(k)) * 2.0 ** (n1 + n2), lhs, rel_tol=1e-11)


@SETTINGS
@given(grouped(), grouped(), st.floats(-2, 2))
def test_mgf_pgf_of_sum_is_product(a, b, t):
    X, Y = PoissonBinomial(*a), PoissonBinomial(*b)
    S = X + Y
    assert math.isclose(S.mgf(t), X.mgf(t) * Y.mgf(t), rel_tol=1e-11)
    s = math.exp(t) - 1.5
    assert math.isclose(S.pgf(s), X.pgf(s) * Y.pgf(s), rel_tol=1e-9, abs_tol=1e-300)
    assert math.isclose(S.mean(), X.mean() + Y.mean(), rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(S.var(), X.var() + Y.var(), rel_tol=1e-12, abs_tol=1e-12)


@SETTINGS
@given(grouped())
def test_moments_closed_forms(pc):
    p, c = pc
    X = PoissonBinomial(p, c)
    pm = X.pmf_all()
    k = np.arange(pm.size)
    assert math.isclose(X.mean(), (k * pm).sum(), rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(X.var(), ((k - X.mean()) ** 2 * pm).sum(), rel_tol=1e-8, abs_tol=1e-9)
    pbar = X.mean() / X.n_trials if X.n_trials else 0.0
    assert math.isclose(X.variance_deficit(), -(c * (p - pbar) ** 2).sum(), rel_tol=1e-12,
                        abs_tol=1e-15)
    assert X.variance_deficit() <= 0.0


@SETTINGS
@given(grouped(), grouped())
def test_deconvolution_round_trip(a, b):
    X, Y = PoissonBinomial(*a), PoissonBinomial(*b)
    Z = X + Y
    R = Z.deconvolve(X)
    k = np.arange(Y.n_trials + 2)
    assert np.allclose(R.pmf(k), Y.pmf(k), rtol=1e-10, atol=1e-300)
    assert np.allclose((Z - Y).pmf(np.arange(X.n_trials + 2)),
                       X.pmf(np.arange(X.n_trials + 2)), rtol=1e-10, atol=1e-300)


@SETTINGS
@given(grouped(max_count=10), st.integers(1, 4))
def test_divisibility_both_ways(pc, k):
    p, c = pc
    X = PoissonBinomial(p, c * k)  # every multiplicity divisible by k: splits
    C = X.decompose(k)
    S = C
    for _ in range(k - 1):
        S = S + C
    kk = np.arange(X.n_trials + 1)
    assert np.allclose(S.pmf(kk), X.pmf(kk), rtol=1e-10, atol=1e-300)
    # one extra trial at a p in (0, 1] that X does not already hold in multiples of k+1
    if k >= 2:
        Y = X + Binomial(1, 0.123456789)
        try:
            Y.decompose(k)
        except ValueError as exc:
            assert "not a multiple" in str(exc)
        else:
            raise AssertionError("decompose should have failed")
