"""Numerical kernels for the logit-normal hierarchy with the group effects integrated out.

For y_g ~ Bin(n_g, expit(eta_g + tau z_g)), z_g ~ N(0, 1), the log of the marginal
likelihood of group g is

    log L_g = log C(n_g, y_g) + log int exp(h_g(z)) dz - log(2 pi) / 2,
    h_g(z) = y_g log expit(eta_g + tau z) + (n_g - y_g) log expit(-(eta_g + tau z)) - z^2 / 2,

and h_g is strictly concave with h_g'' <= -1, so its posterior p(z | y_g) ~ exp(h_g(z)) is
log-concave and unimodal.

- :func:`log_marginal` (numba): log L_g and its derivatives in eta_g and tau by the trapezoid
  rule on a grid through the mode z* of h_g, its step set by the curvature scale
  s = (-h_g''(z*))^(-1/2) and by how close to the real line the integrand's poles lie (adaptive
  quadrature centred and scaled at the mode, as in Liu & Pierce 1994, Biometrika 81, 624-629;
  the trapezoid rule rather than Gauss-Hermite, see the function). The derivatives are the
  posterior expectations of the score (differentiation under the integral sign; Louis 1982,
  JRSS B 44, 226-233), taken with the same nodes.
- :func:`draw_z` (numpy, vectorised): exact draws from p(z | y_g, eta_g, tau) by rejection
  from a three-piece envelope of tangent lines to the concave log density (Gilks & Wild 1992,
  "Adaptive rejection sampling for Gibbs sampling", Applied Statistics 41, 337-348, with the
  tangents fixed at z* - s, z* and z* + s instead of adapted).

The mode is found by Newton's method on h' safeguarded by a bracket that every step keeps
(bisection when a step leaves it) and a clamp on how far a step moves eta + tau z
(rtsafe in Press et al. 2007, Numerical Recipes, 3rd ed., section 9.4). log expit is computed
as -softplus(-x) (Maechler 2012, "Accurately computing log(1 - exp(-|a|))", Rmpfr vignette).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# log_marginal's trapezoid rule, in units of the curvature scale s at the mode: step
# min(_STEP_MAX, _STEP_POLE * pi / (tau s)), summed outward from the mode until the integrand
# has fallen by _DROP (e^-32 ~ 1e-14 of its peak; h is concave, so it keeps falling).
_STEP_MAX = 0.8  # resolves the Gaussian part: trapezoid error 2 exp(-2 pi^2 / 0.8^2) ~ 1e-13
_STEP_POLE = 0.07  # keeps the step well inside the strip |Im z| < pi / tau in which the
# integrand is analytic (expit has poles at eta + tau z = i pi (2k + 1)); measured on the grid
# in log_marginal's docstring: 0.1 leaves errors up to 8e-9 at tau = 2, 0.07 below 1e-10
_DROP = 32.0
_MAX_STEPS = 100_000  # per side; never reached for finite inputs (tau = 20, s = 1: ~4000)
_MAX_NEWTON = 100  # steps for the mode; n <= 1e9, |eta| <= 30, tau <= 20 need at most 25
_TOL = 1e-12  # |Newton step| <= _TOL * (1 + |z|) ends the search
_MAX_DA = 4.0  # a Newton step moves eta + tau z by at most this much
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_MAX_ROUNDS = 1000  # rejection rounds in draw_z (acceptance is >= ~0.8 per round)


# ----------------------------------------------------------------------------- scalar helpers
@njit(cache=True, error_model="numpy")
def _log_expit(x):
    """log expit(x) = -softplus(-x), without overflow."""
    return -(max(-x, 0.0) + math.log1p(math.exp(-abs(x))))


@njit(cache=True, error_model="numpy")
def _expit_pair(a):
    """(expit(a), expit(-a)) with no cancellation in either."""
    t = math.exp(-abs(a))
    if a >= 0.0:
        return 1.0 / (1.0 + t), t / (1.0 + t)
    return t / (1.0 + t), 1.0 / (1.0 + t)


@njit(cache=True, error_model="numpy")
def _mode(y, n, eta, tau):
    """(z*, s): the mode of h and (-h''(z*))^(-1/2), by safeguarded Newton steps.

    h'(z) = tau (y - n expit(a)) - z with a = eta + tau z, decreasing, and since
    y - n expit(a) lies in (y - n, y) the mode lies in tau (y - n, y) (for tau >= 0). Newton
    starts at the precision-weighted combination of the prior mode 0 and the likelihood's
    maximum z_ml = (logit p_hat - eta) / tau, p_hat = (y + 1/2) / (n + 1); each step moves a by
    at most _MAX_DA and must stay in the bracket (else bisection), which every evaluation of h'
    tightens (rtsafe; Press et al. 2007, section 9.4).
    """
    if tau == 0.0:
        return 0.0, 1.0
    lo = min(tau * (y - n), tau * y)
    hi = max(tau * (y - n), tau * y)
    lp = math.log(y + 0.5) - math.log(n - y + 0.5)
    p_hat = (y + 0.5) / (n + 1.0)
    info = tau * tau * n * p_hat * (1.0 - p_hat)
    z = (lp - eta) / tau * (info / (1.0 + info))
    z = min(max(z, lo), hi)
    max_dz = _MAX_DA / abs(tau)
    for _ in range(_MAX_NEWTON):
        e, f = _expit_pair(eta + tau * z)
        g = tau * (y * f - (n - y) * e) - z
        if g == 0.0:
            break
        if g > 0.0:
            lo = z
        else:
            hi = z
        step = g / (1.0 + tau * tau * n * e * f)
        step = min(max(step, -max_dz), max_dz)
        z_new = z + step
        if not (lo <= z_new <= hi):
            z_new = 0.5 * (lo + hi)
        done = abs(z_new - z) <= _TOL * (1.0 + abs(z))
        z = z_new
        if done:
            break
    e, f = _expit_pair(eta + tau * z)
    return z, 1.0 / math.sqrt(1.0 + tau * tau * n * e * f)


# ------------------------------------------------------------------------------ log marginal
@njit(cache=True, error_model="numpy")
def _h_score(y, n, eta, tau, z):
    """(h(z), y - n expit(eta + tau z)) with log expit as -softplus(-x)."""
    a = eta + tau * z
    t = math.exp(-abs(a))
    sp = math.log1p(t)  # softplus(-|a|)
    if a >= 0.0:
        le_pos, le_neg = -sp, -(a + sp)
        e, f = 1.0 / (1.0 + t), t / (1.0 + t)
    else:
        le_pos, le_neg = -(sp - a), -sp
        e, f = t / (1.0 + t), 1.0 / (1.0 + t)
    return y * le_pos + (n - y) * le_neg - 0.5 * z * z, y * f - (n - y) * e


@njit(cache=True, error_model="numpy")
def log_marginal(events, trials, lchoose, eta, tau):
    """log int Bin(y_g | n_g, expit(eta_g + tau z)) phi(z) dz per group, with its derivatives.

    The trapezoid rule on a grid through the mode z* of h with a step chosen per group
    (Trefethen and Weideman 2014, "The exponentially convergent trapezoidal rule", SIAM Review
    56, 385-458: for an integrand analytic in the strip |Im z| < d the error falls like
    exp(-2 pi d / step)). The integrand exp(h) is analytic except at the poles of expit,
    Im z = pi / tau, so the step is min(0.8 s, 0.07 pi / tau) with s = (-h''(z*))^(-1/2) (the
    first term resolves the near-Gaussian peak, the second the logistic "wall" that y = 0 or
    y = n puts beside a prior-dominated mode, which Gauss-Hermite rules integrate poorly: with
    20 nodes their error reached 4e-5 at tau = 2 and 2e-2 at tau = 8). Nodes are added outward
    until the integrand has fallen by e^-32; h is concave, so the rest is negligible.

    Measured against mpmath quadrature at 30 digits over n in {1, 5, 50, 2000, 1e6},
    y in {0, 1, n/2, n - 1, n}, eta in {-20, -5, -1, 0, 2, 10}, tau in {0, 0.05, 0.5, 2, 8}
    (660 cases): error below 1e-10 + 4e-16 |log L| everywhere (a step of 0.1 pi / tau left
    8e-9 at tau = 2); ~36 nodes a group at rat-tumour values (tau 0.7), ~95 us for 71 groups.

    Parameters
    ----------
    events, trials, lchoose, eta : ndarray of float64, shape (G,)
        y_g, n_g, log C(n_g, y_g) and the linear predictor eta_g.
    tau : float
        The group-effect scale, >= 0.

    Returns
    -------
    logp, d_eta, d_tau : ndarray, shape (G,)
        log L_g, d log L_g / d eta_g = E[y_g - n_g expit(eta_g + tau z) | y_g] and
        d log L_g / d tau = E[(y_g - n_g expit(eta_g + tau z)) z | y_g], the expectations
        over the same nodes (the score under the integral; Louis 1982). At tau = 0 these are
        exactly the binomial log-PMF at expit(eta_g), y_g - n_g expit(eta_g) and 0.
    """
    G = events.shape[0]
    logp = np.empty(G)
    d_eta = np.empty(G)
    d_tau = np.empty(G)
    for g in range(G):
        y = events[g]
        n = trials[g]
        if tau == 0.0:
            h0, r0 = _h_score(y, n, eta[g], 0.0, 0.0)
            logp[g] = lchoose[g] + h0
            d_eta[g] = r0
            d_tau[g] = 0.0
            continue
        zm, s = _mode(y, n, eta[g], tau)
        step = s * min(_STEP_MAX, _STEP_POLE * math.pi / (tau * s))
        top, r0 = _h_score(y, n, eta[g], tau, zm)
        total = 1.0
        m1 = r0
        m2 = r0 * zm
        for side in (-1.0, 1.0):
            for i in range(1, _MAX_STEPS):
                z = zm + side * i * step
                v, r = _h_score(y, n, eta[g], tau, z)
                w = math.exp(v - top)
                total += w
                m1 += w * r
                m2 += w * r * z
                if v < top - _DROP:
                    break
        logp[g] = lchoose[g] + top + math.log(total * step) - _HALF_LOG_2PI
        d_eta[g] = m1 / total
        d_tau[g] = m2 / total
    return logp, d_eta, d_tau


# ---------------------------------------------------------------------------------- draw_z
def _log_expit_np(a: np.ndarray) -> np.ndarray:
    """log expit(a) = -softplus(-a), elementwise without overflow."""
    return -(np.maximum(-a, 0.0) + np.log1p(np.exp(-np.abs(a))))


def _expit_pair_np(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(expit(a), expit(-a)) elementwise with no cancellation in either."""
    t = np.exp(-np.abs(a))
    big = 1.0 / (1.0 + t)
    small = t / (1.0 + t)
    pos = a >= 0.0
    return np.where(pos, big, small), np.where(pos, small, big)


def _h_np(z, y, n, eta, tau):
    """h(z) = y log expit(a) + (n - y) log expit(-a) - z^2 / 2, a = eta + tau z."""
    a = eta + tau * z
    return y * _log_expit_np(a) + (n - y) * _log_expit_np(-a) - 0.5 * z * z


def _dh_np(z, y, n, eta, tau):
    """h'(z) = tau (y - n expit(a)) - z, with y - n expit(a) = y expit(-a) - (n - y) expit(a)."""
    e, f = _expit_pair_np(eta + tau * z)
    return tau * (y * f - (n - y) * e) - z


def _mode_np(y, n, eta, tau) -> tuple[np.ndarray, np.ndarray]:
    """(z*, s) elementwise for equal-shaped float arrays: the algorithm of the numba ``_mode``
    (safeguarded Newton, Press et al. 2007, section 9.4), iterating on the unconverged
    entries only."""
    y, n, eta, tau = (np.asarray(v, dtype=np.float64) for v in (y, n, eta, tau))
    free = tau != 0.0
    tf = np.where(free, tau, 1.0)
    lo = np.minimum(tau * (y - n), tau * y)
    hi = np.maximum(tau * (y - n), tau * y)
    lp = np.log(y + 0.5) - np.log(n - y + 0.5)
    p_hat = (y + 0.5) / (n + 1.0)
    info = tau * tau * n * p_hat * (1.0 - p_hat)
    z = np.where(free, (lp - eta) / tf * (info / (1.0 + info)), 0.0)
    z = np.clip(z, lo, hi)
    idx = np.flatnonzero(free.ravel())
    zf = z.ravel()
    yv, nv, ev, tv = (arr.ravel()[idx] for arr in (y, n, eta, tau))
    lov, hiv, zv = lo.ravel()[idx], hi.ravel()[idx], zf[idx]
    for _ in range(_MAX_NEWTON):
        if idx.size == 0:
            break
        e, f = _expit_pair_np(ev + tv * zv)
        g = tv * (yv * f - (nv - yv) * e) - zv
        lov = np.where(g > 0.0, zv, lov)
        hiv = np.where(g < 0.0, zv, hiv)
        max_dz = _MAX_DA / np.abs(tv)
        step = np.clip(g / (1.0 + tv * tv * nv * e * f), -max_dz, max_dz)
        z_new = zv + step
        z_new = np.where((z_new >= lov) & (z_new <= hiv), z_new, 0.5 * (lov + hiv))
        z_new = np.where(g == 0.0, zv, z_new)
        done = np.abs(z_new - zv) <= _TOL * (1.0 + np.abs(zv))
        zf[idx] = z_new
        keep = ~done
        idx, yv, nv, ev, tv = idx[keep], yv[keep], nv[keep], ev[keep], tv[keep]
        lov, hiv, zv = lov[keep], hiv[keep], z_new[keep]
    z = zf.reshape(z.shape)
    e, f = _expit_pair_np(eta + tau * z)
    return z, 1.0 / np.sqrt(1.0 + tau * tau * n * e * f)


def draw_z(events, trials, eta, tau, rng: np.random.Generator) -> np.ndarray:
    """Exact draws of z_g from p(z | y_g, eta, tau) ~ exp(h(z)), vectorised over draws.

    Rejection sampling (Gilks & Wild 1992) from the envelope min(t_L, h(z*), t_R), with t_L,
    t_R the tangent lines of the concave h at z* - s and z* + s (upper bounds of h): a left
    exponential tail, a flat middle piece between the tangents' crossings of h(z*) and a right
    exponential tail (acceptance about 0.84 for a Gaussian h). Each round proposes for the
    not-yet-accepted entries only; the draws depend only on the rng's state.

    Parameters
    ----------
    events, trials : array_like, shape (G,)
        y_g and n_g.
    eta : array_like, shape (S, G) or (..., G)
        Linear predictors, one row per draw (e.g. (chain, draw, group)).
    tau : array_like, broadcastable against eta, e.g. (S, 1) or (..., 1)
        Group-effect scales, >= 0 (tau = 0 gives N(0, 1) draws).
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, the broadcast shape of the inputs
        The draws.

    Raises
    ------
    RuntimeError
        If some entry is still unaccepted after ``_MAX_ROUNDS`` rounds (non-finite inputs).
    """
    y, n, eta, tau = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                           for v in (events, trials, eta, tau)))
    shape = y.shape
    y, n, eta, tau = (np.ascontiguousarray(v).ravel() for v in (y, n, eta, tau))
    zm, s = _mode_np(y, n, eta, tau)
    h_mid = _h_np(zm, y, n, eta, tau)
    z_l, z_r = zm - s, zm + s
    h_l = _h_np(z_l, y, n, eta, tau) - h_mid  # heights relative to h(z*)
    h_r = _h_np(z_r, y, n, eta, tau) - h_mid
    slope_l = _dh_np(z_l, y, n, eta, tau)  # >= s > 0 as h'' <= -1 (up to rounding)
    slope_r = -_dh_np(z_r, y, n, eta, tau)  # >= s > 0
    # guard against rounding: a line through (z* -+ s, h(z*)) with a smaller slope than the
    # tangent's still bounds h on its tail side (the flat piece then reaches z* -+ s)
    bad_l, bad_r = slope_l < 0.5 * s, slope_r < 0.5 * s
    slope_l, h_l = np.where(bad_l, 0.5 * s, slope_l), np.where(bad_l, 0.0, h_l)
    slope_r, h_r = np.where(bad_r, 0.5 * s, slope_r), np.where(bad_r, 0.0, h_r)
    # where the tangents cross the flat line h(z*) (kept on their own sides of z*)
    z_a = np.minimum(z_l - h_l / slope_l, zm)
    z_b = np.maximum(z_r + h_r / slope_r, zm)
    t_a = h_l + slope_l * (z_a - z_l)  # the left tangent's height at z_a (<= 0)
    t_b = h_r - slope_r * (z_b - z_r)
    m_l = np.exp(t_a) / slope_l
    m_m = z_b - z_a
    m_r = np.exp(t_b) / slope_r
    c_l = m_l / (m_l + m_m + m_r)
    c_m = (m_l + m_m) / (m_l + m_m + m_r)

    out = np.empty(y.size)
    todo = np.arange(y.size)
    for _ in range(_MAX_ROUNDS):
        if todo.size == 0:
            return out.reshape(shape)
        u = rng.random((3, todo.size))
        pick, pos, acc = u[0], 1.0 - u[1], u[2]  # pos in (0, 1]
        left = pick < c_l[todo]
        mid = ~left & (pick < c_m[todo])
        za, zb = z_a[todo], z_b[todo]
        sl, sr = slope_l[todo], slope_r[todo]
        z = np.where(left, za + np.log(pos) / sl,
                     np.where(mid, za + pos * (zb - za), zb - np.log(pos) / sr))
        env = np.where(left, t_a[todo] + sl * (z - za),
                       np.where(mid, 0.0, t_b[todo] - sr * (z - zb)))
        yt, nt, et, tt = y[todo], n[todo], eta[todo], tau[todo]
        log_ratio = _h_np(z, yt, nt, et, tt) - h_mid[todo] - env
        ok = np.log(acc) <= log_ratio
        out[todo[ok]] = z[ok]
        todo = todo[~ok]
    if todo.size == 0:
        return out.reshape(shape)
    raise RuntimeError(f"draw_z: {todo.size} draws still rejected after {_MAX_ROUNDS} rounds "
                       "(non-finite eta or tau?)")
