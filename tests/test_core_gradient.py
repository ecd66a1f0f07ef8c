"""logpmf_grad: d log P(X = k) / d p_g (mpmath references are in test_core_accuracy.py)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from binfer import Binomial, PoissonBinomial


def exact_grad(p, counts, k):
    """counts_g [P_g(k-1) - P_g(k)] / P(k) in exact rational arithmetic (P_g: one trial removed)."""
    def pmf(pp, cc):
        out = [Fraction(1)]
        for q, c in zip(pp, cc, strict=True):
            q = Fraction(float(q))
            for _ in range(c):
                new = [Fraction(0)] * (len(out) + 1)
                for i, v in enumerate(out):
                    new[i] += v * (1 - q)
                    new[i + 1] += v * q
                out = new
        return out

    full = pmf(p, counts)

    def at(arr, j):
        return arr[j] if 0 <= j < len(arr) else Fraction(0)

    res = []
    for g, c in enumerate(counts):
        if c == 0:
            res.append(0.0)
            continue
        cc = list(counts)
        cc[g] -= 1
        pg = pmf(p, cc)
        res.append(float(c * (at(pg, k - 1) - at(pg, k)) / full[k]))
    return np.array(res)


@pytest.mark.parametrize(
    "p,counts",
    [
        ([0.2, 0.5, 0.7, 0.05], [3, 5, 2, 7]),
        ([0.0, 1.0, 0.3], [2, 3, 4]),  # boundary groups: one-sided derivatives
        ([0.5, 0.5], [3, 4]),  # p' = 1/2 exactly: the tilted factor has a root on the circle
        ([1e-9, 0.999999], [4, 3]),
        ([0.25, 0.6], [0, 5]),  # a group with no trials has gradient 0
    ],
)
def test_grad_matches_exact_rational_formula(p, counts):
    X = PoissonBinomial(p, counts)
    lo, hi = X.support()
    ks = np.arange(lo, hi + 1)
    got = X.logpmf_grad(ks)
    ref = np.array([exact_grad(p, counts, int(k)) for k in ks])
    assert np.allclose(got, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())


def test_grad_shape_nan_outside_support_and_binomial_closed_form():
    B = Binomial(40, 0.3)
    k = np.arange(41)
    g = B.logpmf_grad(k)
    assert g.shape == (41, 1)
    assert np.allclose(g[:, 0], k / 0.3 - (40 - k) / 0.7, rtol=1e-10, atol=1e-8)
    out = B.logpmf_grad([-1, 41, 2.5])
    assert np.all(np.isnan(out))
    with pytest.raises(ValueError, match="NaN"):
        B.logpmf_grad([np.nan])


def test_grad_deep_tails_agrees_with_finite_differences_of_logpmf():
    """Two different algorithms (tilted CF gradient, tilted product tree logpmf) must agree."""
    p = np.array([0.02, 0.3, 0.5, 0.9, 0.97])
    c = np.array([300, 500, 200, 400, 100])
    X = PoissonBinomial(p, c)
    ks = np.array([0, 1, 3, 50, 400, 700, 900, 1300, 1450, 1499, 1500])
    assert X.logpmf(ks).min() < -1900  # far below the double range
    g = X.logpmf_grad(ks)
    h = 1e-7
    fd = np.empty_like(g)
    for j in range(p.size):
        up, dn = p.copy(), p.copy()
        up[j] += h
        dn[j] -= h
        fd[:, j] = (PoissonBinomial(up, c).logpmf(ks) - PoissonBinomial(dn, c).logpmf(ks)) / (2 * h)
    assert np.max(np.abs(g - fd) / np.maximum(1.0, np.abs(fd))) < 1e-6


def test_grad_grouped_million_trials_edges():
    p = np.linspace(0.05, 0.5, 10)
    X = PoissonBinomial(p, np.full(10, 100_000))
    g = X.logpmf_grad([0, 1_000_000])
    # P(0) = prod q^n: d/dp_g = -n_g / q_g ; P(N) = prod p^n: n_g / p_g
    assert np.allclose(g[0], -100_000 / (1 - p), rtol=1e-9)
    assert np.allclose(g[1], 100_000 / p, rtol=1e-9)
    # the gradient at the mean is small next to the edge values
    mid = X.logpmf_grad([round(X.mean())])
    assert np.all(np.abs(mid) < 10)
