"""PoissonBinomial / Binomial against brute-force enumeration, scipy and the seed's facts."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

import binfer
from binfer import Binomial, PoissonBinomial

METHODS = ["auto", "tilted", "direct", "fft"]


def brute_force_pmf(p, counts):
    """Exact PMF by enumerating every outcome of every trial (Fractions of the double p's)."""
    trials = [Fraction(float(q)) for q, c in zip(p, counts, strict=True) for _ in range(c)]
    N = len(trials)
    pmf = [Fraction(0)] * (N + 1)
    for outcome in itertools.product((0, 1), repeat=N):
        prob = Fraction(1)
        for x, q in zip(outcome, trials, strict=True):
            prob *= q if x else 1 - q
        pmf[sum(outcome)] += prob
    return pmf


def flog(x: Fraction) -> float:
    if x == 0:
        return -math.inf
    if x > Fraction(1, 2):
        # near 1: log1p of the exact complement keeps the tiny log accurate
        return math.log1p(-float(1 - x))
    # log of an exact rational without underflow: log(num) - log(den) on Python ints
    return math.log(x.numerator) - math.log(x.denominator)


BRUTE_CASES = [
    ([0.04], [12]),
    ([0.04, 0.10], [5, 7]),
    ([0.5, 0.5, 0.5], [1, 1, 1]),
    ([1e-9, 0.3, 1 - 1e-9], [3, 3, 4]),
    ([0.0, 1.0, 0.25], [3, 2, 4]),
    (list(np.random.default_rng(7).uniform(size=12)), None),
    ([1e-300, 0.999], [4, 3]),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("p,counts", BRUTE_CASES)
def test_pmf_matches_brute_force(p, counts, method):
    c = [1] * len(p) if counts is None else counts
    exact = brute_force_pmf(p, c)
    X = PoissonBinomial(p, counts, method=method)
    got = X.pmf_all(log=True)
    ref = np.array([flog(x) for x in exact])
    finite = np.isfinite(ref)
    if method == "fft":
        # absolute accuracy only: compare probabilities, not logs
        assert np.allclose(np.exp(got), [float(x) for x in exact], rtol=0, atol=1e-15)
    else:
        assert np.array_equal(np.isfinite(got), finite)
        assert np.allclose(got[finite], ref[finite], rtol=1e-12, atol=1e-12)
    # cdf and sf summed exactly
    cdf = np.cumsum(np.array(exact, dtype=object))
    k = np.arange(len(exact))
    lcdf = np.array([flog(x) for x in cdf])
    lsf = np.array([flog(1 - x) for x in cdf])
    if method != "fft":
        f = np.isfinite(lsf)
        assert np.allclose(X.logsf(k)[f], lsf[f], rtol=1e-11, atol=1e-300)
        assert np.all(np.isneginf(X.logsf(k)[~f]))
        f = np.isfinite(lcdf)
        assert np.allclose(X.logcdf(k)[f], lcdf[f], rtol=1e-11, atol=1e-300)


def test_seed_server_clusters_are_binomial_30():
    Y = Binomial(12, 0.04) + Binomial(18, 0.04)
    assert isinstance(Y, Binomial)
    assert (Y.n, Y.p) == (30, 0.04)
    k = np.arange(31)
    assert np.allclose(Y.pmf(k), stats.binom.pmf(k, 30, 0.04), rtol=1e-13, atol=0)
    # the same total built trial by trial
    Z = PoissonBinomial([0.04] * 30)
    assert np.allclose(Z.pmf_all(), Y.pmf_all(), rtol=1e-13)


def test_unequal_p_sum_is_not_binomial():
    Y = Binomial(12, 0.04) + Binomial(18, 0.10)
    assert not isinstance(Y, Binomial)
    assert Y.n_trials == 30
    B = Y.matching_binomial()
    assert isinstance(B, Binomial) and B.n == 30
    assert math.isclose(B.mean(), Y.mean(), rel_tol=1e-15)
    assert Y.var() < B.var()
    assert not np.allclose(Y.pmf_all(), B.pmf_all(), rtol=1e-3)


def test_variance_deficit_two_group_formula():
    n1, n2, p1, p2 = 12, 18, 0.04, 0.10
    Y = Binomial(n1, p1) + Binomial(n2, p2)
    seed = -n1 * n2 / (n1 + n2) * (p1 - p2) ** 2
    assert math.isclose(Y.variance_deficit(), seed, rel_tol=1e-13)
    assert math.isclose(Y.variance_deficit(), Y.var() - Y.matching_binomial().var(),
                        rel_tol=1e-10)


def test_variance_deficit_general_formula():
    rng = np.random.default_rng(3)
    p = rng.uniform(size=9)
    n = rng.integers(1, 50, size=9)
    X = PoissonBinomial(p, n)
    pbar = (n * p).sum() / n.sum()
    assert math.isclose(X.variance_deficit(), -(n * (p - pbar) ** 2).sum(), rel_tol=1e-13)
    assert math.isclose(X.variance_deficit(), X.var() - X.matching_binomial().var(),
                        rel_tol=1e-9)
    assert Binomial(10, 0.3).variance_deficit() == 0.0


def test_matches_scipy_binom_and_poisson_binom():
    k = np.arange(0, 201)
    X = Binomial(200, 0.37)
    assert np.allclose(X.pmf(k), stats.binom.pmf(k, 200, 0.37), rtol=1e-12, atol=0)
    assert np.allclose(X.cdf(k), stats.binom.cdf(k, 200, 0.37), rtol=1e-12, atol=0)
    p = np.random.default_rng(11).uniform(size=150)
    Y = PoissonBinomial(p)
    ref = stats.poisson_binom(p)
    k = np.arange(151)
    pm = ref.pmf(k)
    ok = pm > 1e-250
    assert np.allclose(Y.pmf(k)[ok], pm[ok], rtol=1e-10, atol=0)
    c = ref.cdf(k)
    ok = c > 1e-250
    assert np.allclose(Y.cdf(k)[ok], c[ok], rtol=1e-10, atol=0)


def test_scipy_conventions_out_of_support_and_non_integers():
    X = PoissonBinomial([0.2, 0.7], [3, 2])
    assert X.pmf(-1) == 0 and X.pmf(6) == 0 and X.pmf(2.5) == 0
    assert X.logpmf(-1) == -np.inf and X.logpmf(2.5) == -np.inf
    assert X.cdf(-0.5) == 0 and X.cdf(5) == 1 and X.cdf(100) == 1
    assert X.sf(-1) == 1 and X.sf(5) == 0
    assert X.cdf(2.5) == X.cdf(2)
    assert X.logsf(5) == -np.inf and X.logcdf(-1) == -np.inf
    assert np.ndim(X.pmf(1)) == 0 and X.pmf([1, 2]).shape == (2,)
    assert X.pmf(np.zeros((2, 3))).shape == (2, 3)


def test_p_zero_and_one_shift_the_support():
    X = PoissonBinomial([0.0, 1.0, 0.5], [4, 3, 2])
    assert X.support() == (3, 5)
    assert np.allclose(X.pmf([2, 3, 4, 5, 6]), [0, 0.25, 0.5, 0.25, 0])
    assert X.n_trials == 9
    assert X.ppf(0) == 2 and X.ppf(1) == 5
    D = PoissonBinomial([1.0], [4])
    assert D.pmf(4) == 1.0 and D.logpmf(4) == 0.0 and D.logpmf(3) == -np.inf


def test_ppf_isf_definitions():
    X = PoissonBinomial(np.random.default_rng(2).uniform(size=40))
    cdf = X.cdf(np.arange(41))
    for q in [1e-12, 0.01, 0.3, 0.5, 0.77, 0.999999, 1 - 1e-14]:
        k = int(X.ppf(q))
        assert cdf[k] >= q and (k == 0 or cdf[k - 1] < q)
        j = int(X.isf(q))
        assert X.sf(j) <= q and (j == 0 or X.sf(j - 1) > q)
    assert X.ppf([0.1, 0.9]).shape == (2,)
    with pytest.raises(ValueError, match="q"):
        X.ppf(1.5)
    with pytest.raises(ValueError, match="q"):
        X.isf(np.nan)


def test_moments_against_pmf():
    p = np.array([0.1, 0.45, 0.8])
    n = np.array([7, 3, 5])
    X = PoissonBinomial(p, n)
    k = np.arange(X.n_trials + 1)
    pm = X.pmf_all()
    mean = (k * pm).sum()
    var = ((k - mean) ** 2 * pm).sum()
    skew = ((k - mean) ** 3 * pm).sum() / var**1.5
    kurt = ((k - mean) ** 4 * pm).sum() / var**2 - 3
    m, v, s, kk = X.stats("mvsk")
    assert np.allclose([m, v, s, kk], [mean, var, skew, kurt], rtol=1e-12)
    assert math.isclose(X.std(), math.sqrt(var), rel_tol=1e-12)
    b = stats.binom(20, 0.3)
    assert np.allclose(Binomial(20, 0.3).stats("mvsk"), b.stats("mvsk"), rtol=1e-13)


def test_pgf_mgf():
    X = PoissonBinomial([0.2, 0.6], [3, 4])
    pm = X.pmf_all()
    s = np.array([-1.5, 0.0, 0.3, 1.0, 2.0])
    ref = np.array([(pm * si ** np.arange(8)).sum() for si in s])
    assert np.allclose(X.pgf(s), ref, rtol=1e-12, atol=1e-15)
    assert math.isclose(X.pgf(1.0), 1.0)
    t = np.array([-2.0, 0.0, 0.7])
    assert np.allclose(X.mgf(t), [(pm * np.exp(ti * np.arange(8))).sum() for ti in t])
    z = np.exp(0.4j)
    assert np.isclose(X.pgf(z), (pm * z ** np.arange(8)).sum())
    Y = Binomial(5, 0.3)
    assert np.allclose((X + Y).pgf(s), X.pgf(s) * Y.pgf(s), rtol=1e-12)
    assert np.allclose((X + Y).mgf(t), X.mgf(t) * Y.mgf(t), rtol=1e-12)


def test_rvs_reproducible_and_distributed():
    X = PoissonBinomial([0.1, 0.5, 0.9], [20, 10, 5])
    a = X.rvs(size=20000, random_state=42)
    b = X.rvs(size=20000, random_state=42)
    assert np.array_equal(a, b)
    assert a.shape == (20000,) and a.dtype == np.int64
    assert abs(a.mean() - X.mean()) < 5 * X.std() / math.sqrt(20000)
    # goodness of fit of the draws (many groups: the inverse-CDF sampler)
    Y = PoissonBinomial(np.random.default_rng(1).uniform(size=100))
    d = Y.rvs(size=(100, 200), random_state=np.random.default_rng(5))
    assert d.shape == (100, 200)
    counts = np.bincount(d.ravel(), minlength=101)
    expected = Y.pmf_all() * d.size
    use = expected > 20
    chi2 = ((counts[use] - expected[use]) ** 2 / expected[use]).sum()
    assert stats.chi2.sf(chi2, use.sum() - 1) > 1e-4
    assert np.ndim(X.rvs(random_state=1)) == 0


def test_deconvolve_inverse_problem():
    Z = Binomial(20, 0.3)
    Y = Z.deconvolve(Binomial(8, 0.3))
    assert isinstance(Y, Binomial) and (Y.n, Y.p) == (12, 0.3)
    assert (Z - Binomial(8, 0.3)).n == 12
    W = PoissonBinomial([0.1, 0.4, 0.9], [3, 5, 2])
    R = W - PoissonBinomial([0.4, 0.9], [2, 2])
    assert np.allclose(R.pmf_all(), PoissonBinomial([0.1, 0.4], [3, 3]).pmf_all())
    with pytest.raises(ValueError, match="remainder"):
        Z.deconvolve(Binomial(3, 0.31))
    with pytest.raises(ValueError, match="remainder"):
        Z.deconvolve(Binomial(21, 0.3))
    # p = 0 factors are 1 and divide anything
    assert (Z - Binomial(5, 0.0)).n == 20
    E = Z - Z
    assert E.n_trials == 0 and E.pmf(0) == 1.0


def test_decompose_divisibility():
    assert Binomial(10, 0.3).decompose(2).n == 5
    assert Binomial(12, 0.3).decompose(3).n == 4
    with pytest.raises(ValueError, match="not a multiple of 2"):
        Binomial(9, 0.3).decompose(2)
    X = PoissonBinomial([0.2, 0.7, 1.0, 0.0], [4, 6, 2, 3])
    C = X.decompose(2)
    k = np.arange(X.n_trials + 2)
    assert np.allclose((C + C).pmf(k), X.pmf(k), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="p = 1"):
        PoissonBinomial([0.2, 1.0], [4, 3]).decompose(2)
    assert X.decompose(1).n_trials == X.n_trials - 0  # k = 1: itself
    with pytest.raises(ValueError, match="k"):
        X.decompose(0)


def test_binomial_attributes_and_repr():
    B = Binomial(7, 0.25)
    assert B.n == 7 and B.p == 0.25 and isinstance(B, PoissonBinomial)
    assert repr(B) == "Binomial(n=7, p=0.25)"
    assert "N=30" in repr(PoissonBinomial([0.04, 0.1], [12, 18]))
    assert Binomial(0, 0.5).pmf_all().tolist() == [1.0]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(p=[0.2, 1.2]), r"p\[1\] = 1.2 is outside \[0, 1\]"),
        (dict(p=[-0.1]), r"p\[0\] = -0.1"),
        (dict(p=[0.2, np.nan]), r"p\[1\] = nan is not a finite"),
        (dict(p=[]), "p must not be empty"),
        (dict(p=[[0.1, 0.2], [0.3]]), "p is ragged"),  # 2-D p is a batch: rows must match
        (dict(p=["a"]), "p must be numbers"),
        (dict(p=[0.1, 0.2], counts=[3]), "counts has 1 entries but p has 2"),
        (dict(p=[0.1, 0.2], counts=[3, -1]), r"counts\[1\] = -1 is negative"),
        (dict(p=[0.1, 0.2], counts=[3, 2.5]), r"counts\[1\] = 2.5 is not an integer"),
        (dict(p=[0.1], counts=[np.nan]), r"counts\[0\] = nan"),
        (dict(p=[0.1], method="magic"), "method must be one of"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PoissonBinomial(**kwargs)


def test_bad_binomial_and_bad_k():
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        Binomial(-1, 0.3)
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        Binomial(2.5, 0.3)
    with pytest.raises(ValueError, match="p"):
        Binomial(3, 2.0)
    with pytest.raises(ValueError, match="NaN"):
        Binomial(3, 0.2).pmf(np.nan)
    with pytest.raises(ValueError, match="method"):
        Binomial(3, 0.2).pmf_all(method="nope")


def test_public_api_exported():
    assert binfer.PoissonBinomial is PoissonBinomial
    for name in ["pmf", "logpmf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf", "rvs", "mean",
                 "var", "std", "stats", "pgf", "mgf", "support", "pmf_all", "deconvolve",
                 "decompose", "matching_binomial", "variance_deficit", "logpmf_grad"]:
        assert callable(getattr(PoissonBinomial, name))
