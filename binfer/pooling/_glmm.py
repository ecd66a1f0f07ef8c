"""The binomial-normal random-intercept model of Stijnen, Hamza & Ozdemir (2010), by maximum
likelihood, as ``metafor::rma.glmm(measure = "PLO")`` fits it through ``lme4::glmer(nAGQ = 7)``.

x_i ~ Bin(n_i, expit(mu + tau u_i)), u_i ~ N(0, 1). Each group's integral over u_i is one-
dimensional, so adaptive Gauss-Hermite quadrature is exact in form to lme4's: centre the nodes
(``numpy.polynomial.hermite.hermgauss``) at the conditional mode of u_i and scale them by the
curvature there. The mode is found by a safeguarded Newton iteration (hand-written: vectorised over
the groups, which scipy's scalar root finders are not); (mu, tau) by ``scipy.optimize.minimize``
(Nelder-Mead); the Hessian for the standard error by ``scipy.differentiate.hessian``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite import hermgauss
from scipy import differentiate, optimize, special

from ..core._logbinom import log_choose

__all__ = ["GlmmFit", "fit_binomial_normal"]

N_AGQ = 7  # rma.glmm's default nAGQ, passed to lme4::glmer


@dataclass(frozen=True)
class GlmmFit:
    mu: float
    se: float
    sigma: float  # tau, the standard deviation of the random intercepts
    loglik: float


def _conditional_modes(mu, sigma, x, n):
    """Mode of h(u) = x eta - n log(1 + e^eta) - u^2/2, eta = mu + sigma u, for every group.

    h is strictly concave (h'' <= -1), and its root lies in [-sigma (n - x), sigma x] (h' is
    positive at the left end and negative at the right one for sigma >= 0), so Newton steps that
    leave the bracket are replaced by bisection."""
    lo = -sigma * (n - x)
    hi = sigma * x
    u = np.zeros(np.broadcast_shapes(np.shape(mu), np.shape(sigma), np.shape(x)))
    for _ in range(200):
        p = special.expit(mu + sigma * u)
        g = sigma * (x - n * p) - u
        lo = np.where(g > 0, u, lo)
        hi = np.where(g < 0, u, hi)
        step = g / (sigma**2 * n * p * (1 - p) + 1)
        if np.all(np.abs(step) <= 1e-13 * (1 + np.abs(u))):
            return u + step
        new = u + step
        u = np.where((new < lo) | (new > hi), 0.5 * (lo + hi), new)
    return u


def _loglik(params, x, n, lognorm, nodes, logw):
    """Log-likelihood at params = (mu, sigma), each of any (broadcastable) shape; the groups run
    along a new last axis. The likelihood is even in sigma, so |sigma| is used."""
    mu = np.asarray(params[0], dtype=float)[..., None]
    sigma = np.abs(np.asarray(params[1], dtype=float))[..., None]
    u0 = _conditional_modes(mu, sigma, x, n)
    p0 = special.expit(mu + sigma * u0)
    scale = 1.0 / np.sqrt(sigma**2 * n * p0 * (1 - p0) + 1)  # sd of the Laplace approximation
    # int exp(h(u)) du = sqrt(2) s * sum_j w_j exp(t_j^2 + h(u0 + sqrt(2) s t_j))
    u = u0[..., None] + math.sqrt(2) * scale[..., None] * nodes
    eta = mu[..., None] + sigma[..., None] * u
    h = x[..., None] * eta - n[..., None] * np.logaddexp(0.0, eta) - u**2 / 2
    log_int = special.logsumexp(h + nodes**2 + logw, axis=-1) + np.log(math.sqrt(2) * scale)
    return np.sum(lognorm + log_int - 0.5 * math.log(2 * math.pi), axis=-1)


def fit_binomial_normal(events: np.ndarray, trials: np.ndarray) -> GlmmFit:
    """ML fit of logit(p_i) = mu + tau u_i by ``N_AGQ``-point adaptive Gauss-Hermite quadrature."""
    x = np.asarray(events, dtype=float)
    n = np.asarray(trials, dtype=float)
    nodes, weights = hermgauss(N_AGQ)
    logw = np.log(weights)
    lognorm = log_choose(n, x)

    def negll(params):
        return -float(_loglik(params, x, n, lognorm, nodes, logw))

    # Start from the logit of the pooled proportion (shrunk away from 0 and 1) and tau = 1.
    p_start = (x.sum() + 0.5) / (n.sum() + 1.0)
    start = np.array([math.log(p_start / (1 - p_start)), 1.0])
    simplex = np.array([start, start + [0.5, 0.0], start + [0.0, 0.5]])
    # Stop on the simplex size (xatol); fatol sits above the ~1e-13 rounding noise of the
    # log-likelihood, which would otherwise keep Nelder-Mead shrinking until maxiter.
    options = {"xatol": 1e-9, "fatol": 1e-10, "maxiter": 5000}
    res = optimize.minimize(
        negll, start, method="Nelder-Mead", options={**options, "initial_simplex": simplex}
    )
    # restart at the optimum (a fresh simplex) to guard against a collapsed one
    res = optimize.minimize(negll, res.x, method="Nelder-Mead", options=options)
    mu, sigma = float(res.x[0]), abs(float(res.x[1]))
    if sigma < 1e-6:
        # At a boundary maximum the likelihood is flat to O(tau^2) in tau; Nelder-Mead leaves
        # tau ~ 1e-9 there, which lme4 (bounded bobyqa) reports as exactly 0.
        sigma = 0.0

    def ll(p):
        return _loglik(p, x, n, lognorm, nodes, logw)

    if sigma > 1e-4:
        hess = differentiate.hessian(ll, np.array([mu, sigma]), initial_step=0.05).ddf
        cov = np.linalg.inv(-hess)
        var_mu = cov[0, 0]
    else:
        # tau at (or next to) 0: the likelihood is even in tau, so the (mu, tau) cross term
        # vanishes and the variance of mu is 1 / (-d^2 l / d mu^2).
        d2 = differentiate.hessian(ll, np.array([mu, sigma]), initial_step=0.05).ddf[0, 0]
        var_mu = -1.0 / d2
    return GlmmFit(mu=mu, se=math.sqrt(var_mu), sigma=sigma, loglik=-float(res.fun))
