"""Kernels of the marginalised logit-normal model (``binfer.bayes._ln_kernels``): the log
marginal likelihood by quadrature at the mode against mpmath quadrature, its gradient against
central finite differences of that quadrature, tau = 0 against the binomial log-PMF, and the
rejection sampler of z against the numerically integrated posterior CDF (Kolmogorov-Smirnov)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import cumulative_trapezoid
from scipy.optimize import brentq
from scipy.special import expit, gammaln, log_expit

mpmath = pytest.importorskip("mpmath")

from binfer.bayes._ln_kernels import draw_z, log_marginal  # noqa: E402


# ------------------------------------------------------------------------------- references
def ref_mode(y, n, eta, tau):
    """The mode of h by bisection-type root finding of h' over its bracket tau (y - n, y)."""
    def dh(z):
        return tau * (y * expit(-(eta + tau * z)) - (n - y) * expit(eta + tau * z)) - z
    return brentq(dh, tau * (y - n) - 1e-9, tau * y + 1e-9, xtol=1e-14, rtol=1e-15,
                  maxiter=500)


def mp_log_integral(y, n, eta, tau, dps=30):
    """log int exp(h(z)) dz / sqrt(2 pi) (no binomial coefficient) by mpmath quadrature, split
    at the mode and at multiples of the curvature scale (h'' <= -1 bounds the tails)."""
    mpmath.mp.dps = dps
    y, n, eta, tau = (mpmath.mpf(v) for v in (y, n, eta, tau))

    def h(z):
        a = eta + tau * z
        return -y * mpmath.log1p(mpmath.exp(-a)) - (n - y) * mpmath.log1p(mpmath.exp(a)) \
            - z * z / 2

    zm = ref_mode(float(y), float(n), float(eta), float(tau))
    p = expit(float(eta) + float(tau) * zm)
    s = 1 / math.sqrt(1 + float(tau) ** 2 * float(n) * p * (1 - p))
    pts = {zm + k * s for k in (-40, -20, -10, -5, -2.5, -1, 0, 1, 2.5, 5, 10, 20, 40)}
    pts |= {zm + k for k in (-45, -25, -12, 12, 25, 45)}
    pts = [mpmath.mpf(q) for q in sorted(pts) if zm - 45 <= q <= zm + 45]
    zm = mpmath.mpf(zm)
    hm = h(zm)
    integral = mpmath.quad(lambda z: mpmath.exp(h(z) - hm), pts)
    return hm + mpmath.log(integral) - mpmath.log(2 * mpmath.pi) / 2


def lchoose(y, n):
    return float(mpmath.log(mpmath.binomial(int(n), int(y))))


def run(y, n, eta, tau):
    y, n, eta = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (y, n, eta))
    lc = np.array([lchoose(a, b) for a, b in zip(y, n, strict=True)])
    return log_marginal(y, n, lc, eta, float(tau))


# ------------------------------------------------------------------------------ log marginal
# (y, n, eta, tau): y = 0 and y = n, large n, tau = 0, and the "walls" at large tau that
# Gauss-Hermite rules missed by up to 2e-2 (the worst cases of the 660-case stress grid)
CASES = [
    (0, 50, -5.0, 2.0),
    (50, 50, 10.0, 8.0),
    (5, 5, 10.0, 8.0),
    (0, 1_000_000, 10.0, 2.0),
    (1, 2000, -20.0, 8.0),
    (0, 1_000_000, 0.0, 8.0),
    (0, 1, 0.0, 0.5),
    (1, 1, -5.0, 0.05),
    (2, 5, -1.0, 0.5),
    (0, 50, 2.0, 0.5),
    (50, 50, -20.0, 0.5),
    (25, 50, 10.0, 0.05),
    (1, 2000, -5.0, 0.5),
    (1999, 2000, 10.0, 0.5),
    (0, 2000, -1.0, 0.05),
    (500000, 1_000_000, -1.0, 0.5),
    (0, 1_000_000, -20.0, 0.5),
    (999_999, 1_000_000, 10.0, 0.05),
    (3, 50, -1.0, 0.0),
    (1_000_000, 1_000_000, 2.0, 0.0),
]


@pytest.mark.parametrize(("y", "n", "eta", "tau"), CASES)
def test_log_marginal_matches_mpmath(y, n, eta, tau):
    logp, _, _ = run(y, n, eta, tau)
    ref = lchoose(y, n) + float(mp_log_integral(y, n, eta, tau))
    # 1e-9 absolute, plus a few ulps of log L itself (|log L| reaches 2e7 in the grid)
    assert abs(logp[0] - ref) <= 1e-9 + 4e-16 * abs(ref)


@pytest.mark.parametrize("n", [1, 7, 50, 2000, 1e6, 1e9])
def test_tau_zero_is_binomial(n):
    y = np.array([0.0, 1.0, math.floor(n / 3), n - 1, n])
    y = y[(y >= 0) & (y <= n)]
    trials = np.full_like(y, n)
    lc = gammaln(trials + 1) - gammaln(y + 1) - gammaln(trials - y + 1)
    # scipy forms log(1 - p) from p, so it is itself accurate only for moderate eta
    for eta in np.linspace(-3.0, 3.0, 7):
        row = np.full(y.size, eta)
        logp, d_eta, d_tau = log_marginal(y, trials, lc, row, 0.0)
        np.testing.assert_allclose(logp, stats.binom.logpmf(y, trials, expit(row)),
                                   rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(
            d_eta, y * expit(-row) - (trials - y) * expit(row), rtol=1e-13, atol=1e-12)
        assert np.all(d_tau == 0.0)
    # and against mpmath for extreme eta
    for eta in (-30.0, 30.0):
        logp, d_eta, d_tau = log_marginal(y, trials, lc, np.full(y.size, eta), 0.0)
        mpmath.mp.dps = 30
        p = 1 / (1 + mpmath.exp(-eta))
        for k in range(y.size):
            ref = float(lc[k] + y[k] * mpmath.log(p) + (n - y[k]) * mpmath.log(1 - p))
            assert abs(logp[k] - ref) <= 1e-12 + 4e-16 * abs(ref)
            assert math.isclose(d_eta[k], float(y[k] - n * p), rel_tol=1e-13, abs_tol=1e-12)
        assert np.all(d_tau == 0.0)


def test_tau_zero_is_the_limit():
    """The tau = 0 branch joins the quadrature continuously."""
    logp0, d_eta0, _ = run([3, 0, 40], [20, 8, 40], [-1.5, 0.5, 3.0], 0.0)
    logp, d_eta, _ = run([3, 0, 40], [20, 8, 40], [-1.5, 0.5, 3.0], 1e-7)
    np.testing.assert_allclose(logp, logp0, atol=1e-10)
    np.testing.assert_allclose(d_eta, d_eta0, atol=1e-5)


@pytest.mark.parametrize(("y", "n", "eta", "tau"), [
    (3, 20, -1.5, 0.7),
    (0, 8, 0.5, 0.3),
    (1, 2000, -5.0, 0.5),
    (400, 1000, 0.2, 0.05),
    (47, 50, 1.0, 1.2),
    (50, 50, 10.0, 8.0),
    (0, 50, -5.0, 2.0),
])
def test_gradient_matches_finite_differences(y, n, eta, tau):
    tol = 1e-9
    _, d_eta, d_tau = run(y, n, eta, tau)
    step = mpmath.mpf("1e-6")
    mpmath.mp.dps = 30
    fd_eta = (mp_log_integral(y, n, eta + step, tau)
              - mp_log_integral(y, n, eta - step, tau)) / (2 * step)
    fd_tau = (mp_log_integral(y, n, eta, tau + step)
              - mp_log_integral(y, n, eta, tau - step)) / (2 * step)
    assert abs(d_eta[0] - float(fd_eta)) <= tol * max(1.0, abs(float(fd_eta)))
    assert abs(d_tau[0] - float(fd_tau)) <= tol * max(1.0, abs(float(fd_tau)))


def test_extremes_are_finite():
    y = np.array([0.0, 1e9, 5e8, 0.0, 1.0, 3.0])
    n = np.array([1e9, 1e9, 1e9, 1.0, 1.0, 7.0])
    lc = gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
    for eta0 in (-30.0, 0.0, 30.0):
        for tau in (0.0, 1e-12, 0.05, 2.0, 20.0):
            out = log_marginal(y, n, lc, np.full(y.size, eta0), tau)
            for arr in out:
                assert np.all(np.isfinite(arr)), (eta0, tau)
            assert np.all(out[0] <= 1e-9)  # a log probability


# ------------------------------------------------------------------------------------ draw_z
def ref_cdf(y, n, eta, tau):
    """The posterior CDF of z as an interpolant of the cumulative trapezoid rule on a fine grid
    spanning where h is within 60 of its maximum."""
    if tau == 0.0:
        return stats.norm.cdf

    def h(z):
        a = eta + tau * z
        return y * log_expit(a) + (n - y) * log_expit(-a) - 0.5 * z * z

    zm = ref_mode(y, n, eta, tau)
    hm = h(zm)
    lo = brentq(lambda z: h(z) - hm + 60.0, zm - 45.0, zm)
    hi = brentq(lambda z: h(z) - hm + 60.0, zm, zm + 45.0)
    grid = np.linspace(lo, hi, 400_001)
    cdf = cumulative_trapezoid(np.exp(h(grid) - hm), grid, initial=0.0)
    cdf /= cdf[-1]
    return lambda z: np.interp(z, grid, cdf)


DRAW_CASES = [
    (0.0, 2000.0, -1.0, 2.0),  # skewed: the likelihood a wall on the right
    (500_000.0, 1e6, 0.3, 0.5),  # narrow: s ~ 0.004
    (3.0, 20.0, -1.5, 0.7),  # rat-tumour-like
    (5.0, 5.0, 10.0, 8.0),  # y = n, the wall on the left of a prior-dominated mode
    (2.0, 9.0, 0.0, 0.0),  # tau = 0: N(0, 1)
]


def test_draw_z_kolmogorov_smirnov():
    y, n, eta, tau = (np.array(v) for v in zip(*DRAW_CASES, strict=True))
    S = 4000
    draws = draw_z(y, n, np.tile(eta, (S, 1)), np.tile(tau, (S, 1)),
                   np.random.default_rng(20240611))
    assert draws.shape == (S, len(DRAW_CASES))
    for g, case in enumerate(DRAW_CASES):
        result = stats.kstest(draws[:, g], ref_cdf(*case))
        assert result.pvalue > 1e-3, (case, result)


def test_draw_z_shapes_reproducible_and_finite():
    rng = np.random.default_rng(5)
    G, S = 6, 300
    y = np.array([0.0, 1e9, 5e8, 0.0, 1.0, 3.0])
    n = np.array([1e9, 1e9, 1e9, 1.0, 1.0, 7.0])
    eta = rng.choice([-30.0, 0.0, 30.0], (S, G))
    tau_sg = rng.choice([0.0, 1e-12, 0.05, 2.0, 20.0], (S, G))
    tau_s1 = rng.choice([0.0, 0.5, 20.0], (S, 1))
    for tau in (tau_sg, tau_s1):
        a = draw_z(y, n, eta, tau, np.random.default_rng(11))
        b = draw_z(y, n, eta, tau, np.random.default_rng(11))
        c = draw_z(y, n, eta, tau, np.random.default_rng(12))
        assert a.shape == (S, G)
        assert np.all(np.isfinite(a))
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
