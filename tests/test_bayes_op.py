"""The Poisson-binomial PyTensor Op: values against brute-force convolution, the gradient
against mpmath finite differences, ``verify_grad``, and the numba implementation against
``perform``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc")
mpmath = pytest.importorskip("mpmath")

import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
from pytensor.gradient import verify_grad  # noqa: E402

from binfer.bayes._op import poisson_binomial_logpmf_op  # noqa: E402

RNG = np.random.default_rng(0)
T, G = 24, 3
TRIALS = np.tile([5, 8, 3], (T, 1))
TRIALS[::3, 0] = 7  # a design that varies across replicates
TRIALS[1::4, 2] = 0
TOTALS = RNG.binomial(TRIALS, [0.2, 0.6, 0.4]).sum(axis=1)


def mp_loglik(p, trials, totals, dps=50):
    """sum_t log P(Y_t = k_t) by exact convolution in mpmath."""
    mpmath.mp.dps = dps
    total = mpmath.mpf(0)
    for n_row, k in zip(trials, totals, strict=True):
        pmf = [mpmath.mpf(1)]
        for n, q in zip(n_row, p, strict=True):
            q = mpmath.mpf(q)
            b = [mpmath.binomial(int(n), j) * q**j * (1 - q) ** (int(n) - j)
                 for j in range(int(n) + 1)]
            pmf = [sum(pmf[i] * b[j - i] for i in range(len(pmf)) if 0 <= j - i < len(b))
                   for j in range(len(pmf) + len(b) - 1)]
        total += mpmath.log(pmf[int(k)])
    return total


def compiled(op, mode=None):
    p, k = pt.dvector("p"), pt.dvector("k")
    logp, jac = op(p, k)
    return pytensor.function([p, k], [logp, jac, pytensor.grad(logp.sum(), p)], mode=mode)


@pytest.mark.parametrize("p", [[0.3, 0.5, 0.45], [0.02, 0.97, 0.5], [1e-9, 0.5, 1 - 1e-9]])
def test_value_and_gradient_against_mpmath(p):
    p = np.array(p)
    op = poisson_binomial_logpmf_op(TRIALS, TOTALS)
    logp, jac, grad = compiled(op)(p, TOTALS.astype(float))
    assert logp.shape == (T,) and jac.shape == (T, G)
    want = float(mp_loglik(p, TRIALS, TOTALS))
    assert logp.sum() == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(grad, jac.sum(axis=0), rtol=1e-13)
    # central differences in mpmath at 50 digits (step 1e-20: truncation error ~1e-40)
    h = mpmath.mpf("1e-20")
    for g in range(G):
        up, down = p.astype(object).copy(), p.astype(object).copy()
        up[g] = mpmath.mpf(p[g]) + h
        down[g] = mpmath.mpf(p[g]) - h
        fd = float((mp_loglik(up, TRIALS, TOTALS) - mp_loglik(down, TRIALS, TOTALS)) / (2 * h))
        assert grad[g] == pytest.approx(fd, rel=1e-9, abs=1e-9)


def test_verify_grad():
    op = poisson_binomial_logpmf_op(TRIALS, TOTALS)
    k = pt.constant(TOTALS.astype(float))
    verify_grad(lambda p: op(p, k)[0].sum(), [np.array([0.3, 0.5, 0.45])],
                rng=np.random.default_rng(1))
    verify_grad(lambda p: (op(p, k)[0] ** 2).sum(), [np.array([0.1, 0.8, 0.6])],
                rng=np.random.default_rng(2))


def test_numba_backend_matches_perform_at_data_and_elsewhere():
    op = poisson_binomial_logpmf_op(TRIALS, TOTALS)
    c_fn, nb_fn = compiled(op), compiled(op, mode="NUMBA")
    p = np.array([0.25, 0.55, 0.4])
    for k in (TOTALS, TOTALS + 1, np.minimum(TOTALS + 3, TRIALS.sum(axis=1))):
        a, b = c_fn(p, k.astype(float)), nb_fn(p, k.astype(float))
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-300)


def test_impossible_total_is_minus_infinity():
    op = poisson_binomial_logpmf_op(TRIALS[:2], TOTALS[:2])
    k = np.array([TRIALS[0].sum() + 0.0, 0.0])
    logp, _, _ = compiled(op)(np.array([0.3, 1.0, 0.5]), k)
    assert logp[1] == -np.inf  # group 1 always succeeds: 0 is impossible
    assert np.isfinite(logp[0])


def test_mean_solve_op_value_gradient_and_numba():
    from scipy import special

    from binfer.bayes._op import solve_mean_logit_op

    rng = np.random.default_rng(4)
    logw = np.log(rng.dirichlet(np.ones(6)))
    op = solve_mean_logit_op(logw)
    ab, z = pt.dvector("ab"), pt.dvector("z")
    mu = op(ab, z)[0]
    outs = [mu, *pytensor.grad(mu, [ab, z])]
    c_fn = pytensor.function([ab, z], outs)
    nb_fn = pytensor.function([ab, z], outs, mode="NUMBA")
    for logit_m, tau in [(-1.3, 0.7), (4.0, 2.5), (-9.0, 0.01), (0.2, 5.0)]:
        zz = rng.standard_normal(6)
        got = c_fn([logit_m, tau], zz)
        m = np.exp(logw) @ special.expit(got[0] + tau * zz)
        assert special.logit(m) == pytest.approx(logit_m, abs=1e-12)
        for x, y in zip(got, nb_fn([logit_m, tau], zz), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)
        # implicit-function gradient against central differences of the solve
        h = 1e-6
        fd_tau = (c_fn([logit_m, tau + h], zz)[0] - c_fn([logit_m, tau - h], zz)[0]) / (2 * h)
        assert got[1][1] == pytest.approx(fd_tau, rel=1e-6, abs=1e-9)
    verify_grad(lambda ab, z: op(ab, z)[0], [np.array([-0.5, 0.8]), rng.standard_normal(6)],
                rng=np.random.default_rng(5))


# Open with PyTensor 3 (PyMC 6, numba 0.68; Python 3.12 here): compiled into its graph, the
# core's kernel reached log-PMF errors of 9e-8 at a billion trials and 7e-16 at -6e-12 (1e-4
# relative), though called directly, or through PyTensor 2.38, it is exact to 2e-15; the graph's
# numba fast-math flags are the likely route. Moderate designs agree to 1e-12 on both stacks.
_PYTENSOR_3 = int(pytensor.__version__.split(".")[0]) >= 3
_OPEN_ON_3 = pytest.mark.xfail(_PYTENSOR_3, reason="PyTensor 3 graph compilation of the core "
                               "kernel at extreme designs (see comment)", strict=False)


@pytest.mark.parametrize(("n", "p"), [pytest.param(5 * 10**8, 0.3, marks=_OPEN_ON_3),
                                      (2, 1e-300),
                                      pytest.param(3, 1 - 1e-12, marks=_OPEN_ON_3),
                                      (1, 0.5)])
def test_edges_against_the_binomial(n, p):
    # two groups sharing p: the total is Bin(2n, p), its log-PMF in mpmath (scipy's binom is
    # off by 3e-6 at a billion trials); k at 0, the mean and N, up to a billion trials and p
    # within 1e-300 of 0
    mpmath.mp.dps = 40
    N = 2 * n
    k = np.array([0.0, np.floor(N * p), float(N)])
    trials = np.full((3, 2), n)
    op = poisson_binomial_logpmf_op(trials, k)
    logp, jac, _ = compiled(op)(np.array([p, p]), k)
    q = mpmath.mpf(p)
    want = [float(mpmath.loggamma(N + 1) - mpmath.loggamma(j + 1) - mpmath.loggamma(N - j + 1)
                  + j * mpmath.log(q) + (N - j) * mpmath.log1p(-q)) for j in k.astype(int)]
    np.testing.assert_allclose(logp, want, rtol=1e-12)
    # d/dp log Bin(k; N, p) = k/p - (N - k)/(1 - p), shared equally by the two groups; at
    # the mean the two terms cancel, so the error is held to 1e-15 of their size there
    for row, j in zip(jac, k.astype(int), strict=True):
        terms = j / q - (N - j) / (1 - q)
        scale = float(j / q + (N - j) / (1 - q)) / 2
        np.testing.assert_allclose(row, float(terms) / 2, rtol=1e-6, atol=1e-15 * scale)


# --------------------------------------------------------------------------- beta-binomial Op
def _bb_function(mode=None):
    from binfer.bayes._op import beta_binomial_logp_op

    k, n, lc = pt.dvector("k"), pt.dvector("n"), pt.dvector("lc")
    lm, lk = pt.dscalar("lm"), pt.dscalar("lk")
    logp = beta_binomial_logp_op()(k, n, lc, lm, lk)[0]
    return pytensor.function([k, n, lc, lm, lk], [logp, *pytensor.grad(logp.sum(), [lm, lk])],
                             mode=mode)


def test_beta_binomial_op_gradient_numba_and_verify_grad():
    from scipy import special

    from binfer.bayes._logp import beta_binomial_logp_grad
    from binfer.bayes._op import beta_binomial_logp_op

    k = np.array([0.0, 3, 7, 12, 40, 1])
    n = np.array([10.0, 9, 30, 12, 120, 1])
    lc = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
    c_fn, nb_fn = _bb_function(), _bb_function(mode="NUMBA")
    for lm, lk in [(-1.8, 2.6), (0.4, -3.0), (5.0, 12.0), (-20.0, 40.0)]:
        logp, d_lm, d_lk = beta_binomial_logp_grad(k, n, lc, lm, lk)
        got = c_fn(k, n, lc, lm, lk)
        np.testing.assert_allclose(got[0], logp, rtol=1e-14)
        assert got[1] == pytest.approx(d_lm.sum(), rel=1e-13, abs=1e-13)
        assert got[2] == pytest.approx(d_lk.sum(), rel=1e-13, abs=1e-13)
        for x, y in zip(got, nb_fn(k, n, lc, lm, lk), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-13)
    op = beta_binomial_logp_op()
    kc, nc, lcc = (pt.constant(v) for v in (k, n, lc))
    verify_grad(lambda lm, lk: op(kc, nc, lcc, lm, lk)[0].sum(),
                [np.array(-1.2), np.array(1.5)], rng=np.random.default_rng(6))
    verify_grad(lambda lm, lk: (op(kc, nc, lcc, lm, lk)[0] ** 2).sum(),
                [np.array(0.3), np.array(4.0)], rng=np.random.default_rng(7))


# --------------------------------------------------------------------------- logit-normal Op
def test_logit_normal_op_gradient_numba_and_verify_grad():
    from scipy import special

    from binfer.bayes._ln_kernels import log_marginal
    from binfer.bayes._op import logit_normal_marginal_op

    k = np.array([0.0, 3, 7, 12, 40])
    n = np.array([10.0, 9, 30, 12, 120])
    lc = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
    op = logit_normal_marginal_op()
    eta, tau = pt.dvector("eta"), pt.dscalar("tau")
    logp = op(pt.constant(k), pt.constant(n), pt.constant(lc), eta, tau)[0]
    outs = [logp, *pytensor.grad(logp.sum(), [eta, tau])]
    c_fn = pytensor.function([eta, tau], outs)
    nb_fn = pytensor.function([eta, tau], outs, mode="NUMBA")
    rng = np.random.default_rng(8)
    for t in (0.0, 0.3, 1.5, 6.0):
        e = rng.normal(-1.0, 1.5, k.size)
        want, d_eta, d_tau = log_marginal(k, n, lc, e, t)
        got = c_fn(e, t)
        # 1e-13: PyTensor 3 compiles the graph around the Op with numba's fast-math flags
        np.testing.assert_allclose(got[0], want, rtol=1e-13)
        np.testing.assert_allclose(got[1], d_eta, rtol=1e-13)
        assert got[2] == pytest.approx(d_tau.sum(), rel=1e-13, abs=1e-13)
        for x, y in zip(got, nb_fn(e, t), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-13)
    kc, nc, lcc = (pt.constant(v) for v in (k, n, lc))
    verify_grad(lambda e, t: op(kc, nc, lcc, e, t)[0].sum(),
                [rng.normal(-1.0, 1.0, k.size), np.array(0.8)], rng=np.random.default_rng(9))
    verify_grad(lambda e, t: (op(kc, nc, lcc, e, t)[0] ** 2).sum(),
                [rng.normal(0.5, 1.0, k.size), np.array(2.5)], rng=np.random.default_rng(10))
