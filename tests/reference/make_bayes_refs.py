"""Reference posterior summaries, by deterministic numerical integration, for four Bayesian
hierarchical binomial models (used to test MCMC output: estimates must lie within a few Monte
Carlo standard errors of these values, so the integration error is made far smaller).

Standalone: numpy and scipy only (binfer is not imported).  Run from the project root with

    .venv/bin/python tests/reference/make_bayes_refs.py

It takes a few minutes on 2 cores and writes tests/reference/bayes_refs.json (deterministic:
rerunning gives the same numbers up to floating-point noise of ~1e-14).
For debugging, ``... make_bayes_refs.py --one MODEL DATASET base|fine`` runs one task and
prints it (DATASET is "-" for the totals model).

Data are read from datasets/*.csv.  For every scalar quantity the JSON records the posterior
mean, sd and quantiles q025, q50, q975; for per-group vectors the same statistics as lists in
file order.

Models
------
1. beta_binomial (rat_tumors, surgical; BDA3 ch. 5):
   y_g ~ Bin(n_g, theta_g), theta_g ~ Beta(a, b), p(a, b) ~ (a + b)^(-5/2).
   Reported: mu = a/(a+b), kappa = a+b, log_kappa, theta (per group).
   theta is integrated out analytically (beta-binomial likelihood, evaluated as
   mu^y (1-mu)^(n-y) prod(1 + i/a) prod(1 + i/b) / prod(1 + i/kappa), which equals the betaln
   difference but stays exact for kappa ~ 1e25).  The posterior of (u, v) = (logit mu,
   log kappa) is p(u, v | y) ~ mu (1-mu) kappa^(-1/2) L(a, b) (prior kappa^(-3/2) in (mu, kappa)
   times the Jacobians mu(1-mu) and kappa).  theta_g | a, b, y ~ Beta(a + y_g, b + n_g - y_g):
   its first two moments are averaged over the grid, its quantiles come from the mixture CDF
   (scipy.special.betainc) by bracketed Newton iterations.
   NOTE: p(kappa | y) has a kappa^(-3/2) tail (the likelihood tends to a positive constant as
   kappa -> infinity), so the posterior mean and sd of kappa are infinite; they are recorded as
   null and only kappa's quantiles are given.  log_kappa has finite moments.
2. logit_normal (rat_tumors, surgical):
   y_g ~ Bin(n_g, p_g), logit(p_g) = mu + tau z_g, z_g ~ N(0, 1), mu ~ N(0, 2.5),
   tau ~ HalfNormal(1).  Reported: mu, tau, p (per group).
   Grid on (mu, log tau) with the Jacobian tau.  Each group's marginal likelihood
   int Bin(y_g | n_g, expit(eta)) N(eta; mu, tau) d eta and E[p_g], E[p_g^2] given (mu, tau)
   are computed by adaptive Gauss-Hermite quadrature (centred at the Newton mode of the
   integrand, scaled by its curvature; exact for any tau, including tau -> 0).
   Quantiles of p_g come from the marginal density of eta_g = logit p_g (see "mixtures" below).
3. meta_analysis (beta_blockers, bcg; two-arm binomial-normal model):
   events_ctrl ~ Bin(trials_ctrl, expit(m_g)), events_treat ~ Bin(trials_treat,
   expit(m_g + delta_g)), m_g ~ N(0, 10), delta_g ~ N(d, tau), d ~ N(0, 10), tau ~ HalfNormal(1).
   Reported: d, tau, prob_d_negative = P(d < 0 | y), delta_new ~ N(d, tau) (predictive effect in
   a new trial), delta (per trial).
   For each trial L_g(delta) = int Bin(yc | expit(m)) Bin(yt | expit(m + delta)) N(m; 0, 10) dm
   is computed by adaptive Gauss-Hermite in m on a fine delta grid on [-30, 30] and interpolated
   by a cubic spline in log scale.  On a (d, log tau) grid, M_g(d, tau) = int L_g(delta)
   N(delta; d, tau) d delta and E[delta_g], E[delta_g^2] | d, tau are computed by Gauss-Hermite
   quadrature centred on the product of N(d, tau) and a Gaussian fit of L_g; this stays exact when
   tau is much smaller than any grid spacing.  delta_new's mean and sd are exact mixture moments.
4. totals (a Poisson-binomial example; data made here): rng = numpy.random.default_rng(2026),
   y1 = rng.binomial(5, 0.2, 20), y2 = rng.binomial(8, 0.6, 20), Y_t = y1_t + y2_t
   (recorded in the JSON under totals.data).  Model: Y_t ~ Bin(5, p_1) + Bin(8, p_2)
   (independent), logit(p_g) = mu + tau z_g, z_g ~ N(0, 1), mu ~ N(0, 2.5),
   tau ~ HalfNormal(1).  Reported: mu, tau, p (p_1, p_2).
   The likelihood of (eta_1, eta_2) = logit(p_1, p_2) is the brute-force convolution of the two
   binomial pmfs (checked against scipy.stats.binom.pmf).  mu is integrated out analytically:
   given tau, (eta_1, eta_2) has density N(eta_1 - eta_2; 0, sqrt(2) tau) N((eta_1 + eta_2)/2;
   0, sqrt(2.5^2 + tau^2/2)), and mu | eta, tau ~ N(c s, v) with s = (eta_1 + eta_2)/2,
   c = 2.5^2 / (2.5^2 + tau^2/2), v = 2.5^2 tau^2 / (2 2.5^2 + tau^2).  The remaining 3-D integral
   is done three times as a 2-D grid on (x, log tau) with the third coordinate y integrated by
   Gauss-Hermite quadrature centred on the product of the Gaussian prior factors and a Laplace fit
   of the likelihood in y (the likelihood is a narrow curved ridge 5 p_1 + 8 p_2 ~ mean total):
   (x, y) = (eta_1, eta_2) gives p_1, (eta_2, eta_1) gives p_2, and (s, eta_1 - eta_2) gives tau
   and mu.  The three slices must agree on everything they share (checked).

Common numerics
---------------
* Hyperparameter grids: a pilot grid grows a box until every point with weight > 1e-13 of the
  maximum lies inside (the edge weights are recorded, all < 1e-12 of the max).  The grid spacing
  is (the smaller of a robust scale of the marginal and the narrowest conditional sd) / ppsd,
  re-measured on the final grid.  Log tau grids extend down to where the tau -> 0 tail
  (density ~ tau) is negligible.
* Integrals over the grids use the trapezoid rule, which is spectrally accurate for these smooth,
  rapidly decaying integrands.  Quantiles of a marginal are found by root finding on the CDF of
  the sinc (band-limited) interpolant of the density samples,
  F(t) = sum_i f_i h (1/2 + Si(pi (t - x_i)/h)/pi), which is also spectrally accurate.
* mixtures: marginal densities of quantities that are normal given the hyperparameters (eta_g in
  logit_normal, delta_g and delta_new in meta_analysis, mu in totals) are evaluated on a fine
  t grid as sum_j int R_j(x) N(t; c_j x, s_j) dx over the log tau rows j, with R_j the posterior
  row (log-spline interpolated) and Gauss-Hermite quadrature centred on the product of a Gaussian
  fit of R_j and the normal kernel (accurate even when s_j -> 0); their means and sds agree with
  the exact moments to < 1e-8 sd (recorded).
* Convergence: everything is computed twice, a "fine" run (reported) and a "base" run with half
  as many grid points per posterior sd in every grid dimension (so the grids are twice as coarse),
  half the Gauss-Hermite nodes and coarser inner grids.  convergence_check holds the max absolute
  change of every statistic and that change divided by the posterior sd; spot checks compare the
  quadrature building blocks with scipy.integrate.quad.

Sanity checks: rat tumours beta-binomial agrees with BDA3 (E[a/(a+b)] ~ 0.144, median a+b ~ 15);
beta blockers d ~ -0.25 (log odds ratio), tau ~ 0.13.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import scipy
from scipy import special, stats
from scipy.interpolate import CubicSpline
from scipy.optimize import brentq

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "datasets"
OUT = HERE / "bayes_refs.json"

LOG2PI = math.log(2.0 * math.pi)
SQRT2 = math.sqrt(2.0)
QUANTS = (0.025, 0.5, 0.975)
QKEYS = ("q025", "q50", "q975")
EDGE_REL = 1e-13  # grid boxes keep every point whose weight exceeds EDGE_REL * max
PRIOR_SD_MU = 2.5  # logit-normal and totals: mu ~ Normal(0, 2.5)
PRIOR_SD_META = 10.0  # meta-analysis: m_g ~ Normal(0, 10), d ~ Normal(0, 10)

# Resolution settings.  "base" and "fine" differ only in resolution: the fine run has twice
# as many grid points per posterior sd in every grid dimension, finer inner grids and more
# Gauss-Hermite nodes.  The JSON holds the fine values; convergence_check holds |fine - base|.
RES = {
    "base": {"ppsd": 3.0, "gh": 20, "gh_inner": 24, "dgrid": 0.01, "scan": 0.05},
    "fine": {"ppsd": 6.0, "gh": 40, "gh_inner": 48, "dgrid": 0.005, "scan": 0.025},
}


# ----------------------------------------------------------------------------- helpers


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def read_csv(name):
    with open(DATA / name, newline="") as fh:
        return list(csv.DictReader(fh))


def softplus(x):
    """log(1 + exp(x)), stable."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def log_halfnormal(tau, s=1.0):
    return math.log(2.0) - 0.5 * LOG2PI - math.log(s) - 0.5 * (tau / s) ** 2


def log_normal(x, m, s):
    return -0.5 * LOG2PI - np.log(s) - 0.5 * ((x - m) / s) ** 2


def gh_nodes(k):
    """Physicists' Gauss-Hermite nodes x and log(weight) + x^2, so that for any smooth f,
    int f(c + sqrt(2) s x) dx-type integrals are sum exp(lw + log f(node)) * sqrt(2) s."""
    x, w = special.roots_hermite(k)
    return x, np.log(w) + x * x


def lse(a, axis=None):
    return special.logsumexp(a, axis=axis)


def uniform_grid(lo, hi, h):
    n = int(math.ceil((hi - lo) / h)) + 1
    return np.linspace(lo, hi, n)


def robust_scale(x, dens):
    """min(sd, IQR/1.349) of a density given on a uniform grid."""
    w = dens / dens.sum()
    m = w @ x
    sd = math.sqrt(max(w @ (x - m) ** 2, 0.0))
    c = np.cumsum(w)
    iqr = np.interp(0.75, c, x) - np.interp(0.25, c, x)
    return min(sd, iqr / 1.349) if iqr > 0 else sd


def find_box(logpost, box, n=(56, 56), rel=EDGE_REL, max_iter=40):
    """Grow a box [x0, x1] x [y0, y1] until every point of an n-grid with weight above
    rel * max lies strictly inside it, then shrink it to those points plus one cell.
    logpost(X, Y) takes broadcastable arrays.  Returns (box, x, y, lp) of the last pilot."""
    box = list(map(float, box))
    lr = math.log(rel)
    for _ in range(max_iter):
        x = np.linspace(box[0], box[1], n[0])
        y = np.linspace(box[2], box[3], n[1])
        lp = logpost(x[:, None], y[None, :])
        mask = lp >= np.nanmax(lp) + lr
        ix = np.flatnonzero(mask.any(axis=1))
        iy = np.flatnonzero(mask.any(axis=0))
        wx, wy = box[1] - box[0], box[3] - box[2]
        grown = False
        if ix[0] == 0:
            box[0] -= 0.5 * wx
            grown = True
        if ix[-1] == n[0] - 1:
            box[1] += 0.5 * wx
            grown = True
        if iy[0] == 0:
            box[2] -= 0.5 * wy
            grown = True
        if iy[-1] == n[1] - 1:
            box[3] += 0.5 * wy
            grown = True
        if grown:
            continue
        if ix[-1] - ix[0] < 12 or iy[-1] - iy[0] < 12:  # too coarse: zoom in and retry
            box = [
                x[max(ix[0] - 1, 0)],
                x[min(ix[-1] + 1, n[0] - 1)],
                y[max(iy[0] - 1, 0)],
                y[min(iy[-1] + 1, n[1] - 1)],
            ]
            continue
        new = [x[ix[0] - 1], x[ix[-1] + 1], y[iy[0] - 1], y[iy[-1] + 1]]
        return new, x, y, lp
    raise RuntimeError("find_box did not converge")


def _narrowest_conditional_sd(x, w, floor=0.0):
    """smallest sd of x given y over the columns y carrying at least 1e-4 of the mass
    (w: weights on the grid x (axis 0) by y (axis 1)); sds are floored at floor."""
    col = w.sum(axis=0)
    big = col >= 1e-4 * col.sum()
    ww = w[:, big] / col[big]
    m = x @ ww
    v = (x * x) @ ww - m * m
    return float(np.maximum(np.sqrt(np.maximum(v, 0.0)), floor).min())


def grid_scales(x, y, lp, floor_x=0.0, floor_y=0.0):
    """(scale_x, scale_y): the smaller of the robust scale of each marginal and the narrowest
    conditional sd (over rows / columns with non-negligible mass)."""
    w = np.exp(lp - lp.max())
    sx = min(robust_scale(x, w.sum(axis=1)), _narrowest_conditional_sd(x, w, floor_x))
    sy = min(robust_scale(y, w.sum(axis=0)), _narrowest_conditional_sd(y, w.T, floor_y))
    return sx, sy


def evaluate_on_grid(pilot, ppsd, evaluate):
    """Uniform grids on the pilot box with spacing = scale / ppsd in each dimension (scales from
    grid_scales), so that trapezoid sums and sinc-interpolated CDFs are spectrally accurate.
    The scales are re-measured on the evaluated grid, and the grid is refined if they turn out
    smaller than the pilot suggested.  evaluate(xg, yg) returns (lp, *extras)."""
    box, px, py, plp = pilot
    sx, sy = grid_scales(px, py, plp, px[1] - px[0], py[1] - py[0])
    for _ in range(4):
        xg = uniform_grid(box[0], box[1], sx / ppsd)
        yg = uniform_grid(box[2], box[3], sy / ppsd)
        res = evaluate(xg, yg)
        sx2, sy2 = grid_scales(xg, yg, res[0])
        if sx2 >= 0.7 * sx and sy2 >= 0.7 * sy:
            break
        sx, sy = min(sx, sx2), min(sy, sy2)
    return (
        xg,
        yg,
        res,
        {
            "scale_over_h": [float(sx2 * ppsd / sx), float(sy2 * ppsd / sy)],
            "grid": [len(xg), len(yg)],
            "box": [float(b) for b in box],
        },
    )


def edge_ratio(lp):
    """max weight on the boundary of a 2-D grid relative to the max weight."""
    m = lp.max()
    e = max(lp[0].max(), lp[-1].max(), lp[:, 0].max(), lp[:, -1].max())
    return float(math.exp(e - m))


def normalise(lp):
    w = np.exp(lp - lp.max())
    return w / w.sum()


def sinc_cdf(x, dens, t):
    """CDF at t of the density whose samples on the uniform grid x are dens (normalised to
    sum(dens) * h = 1), integrating the sinc (band-limited) interpolant exactly:
    F(t) = sum_i dens_i h (1/2 + Si(pi (t - x_i) / h) / pi).  For a smooth density that is
    negligible at the grid ends this is spectrally accurate, like the trapezoid rule."""
    h = x[1] - x[0]
    si, _ = special.sici(np.pi * (t - x) / h)
    return float(np.sum(dens * h * (0.5 + si / np.pi)))


def summary_from_density(x, dens, fn=None):
    """mean, sd and quantiles of fn(X) where X has (unnormalised) density dens on the uniform
    grid x (negligible at both ends) and fn is increasing.  Moments by the trapezoid rule and
    quantiles by root finding on the sinc-interpolated CDF (both spectrally accurate)."""
    h = x[1] - x[0]
    tot = dens.sum()
    w = dens / tot
    v = x if fn is None else fn(x)
    mean = float(w @ v)
    sd = float(math.sqrt(max(w @ (v - mean) ** 2, 0.0)))
    dn = w / h
    cum = np.cumsum(w)
    out = {"mean": mean, "sd": sd}
    for q, key in zip(QUANTS, QKEYS):
        i = int(np.searchsorted(cum, q))
        lo, hi = x[max(i - 4, 0)], x[min(i + 4, len(x) - 1)]

        def g(t, q=q):
            return sinc_cdf(x, dn, t) - q

        if g(lo) > 0 or g(hi) < 0:
            lo, hi = x[0], x[-1]
        r = brentq(g, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=200)
        out[key] = float(r if fn is None else fn(np.array(r)))
    return out


def cdf_from_density(x, dens, t):
    return sinc_cdf(x, dens / (dens.sum() * (x[1] - x[0])), t)


def moments(w, v, v2=None):
    """posterior mean and sd of a quantity with conditional mean v (and conditional second
    moment v2, default v**2) at grid points with normalised weights w."""
    m = float(np.sum(w * v))
    s2 = float(np.sum(w * (v * v if v2 is None else v2))) - m * m
    return m, math.sqrt(max(s2, 0.0))


def spline_rows(x, logR):
    """cubic spline coefficients of each row of logR over the uniform grid x."""
    return CubicSpline(x, logR, axis=1).c  # (4, nx - 1, nrows)


def eval_rows(coef, x, X, rows):
    """evaluate row splines: X (..., ) points, rows (...) row index (broadcast with X).
    Returns -inf outside the grid."""
    x0, h, nx = x[0], x[1] - x[0], len(x)
    pos = (X - x0) / h
    idx = np.clip(np.floor(pos).astype(np.int64), 0, nx - 2)
    dx = X - (x0 + idx * h)
    rows = np.broadcast_to(rows, X.shape)
    val = coef[0][idx, rows]
    for j in (1, 2, 3):
        val = val * dx + coef[j][idx, rows]
    return np.where((pos >= -1e-9) & (pos <= nx - 1 + 1e-9), val, -np.inf)


def mix_logdensity(t, x, logR, c, sig, k_nodes, maxel=1_500_000):
    """log f(t) for f(t) = sum_j int R_j(x) N(t; c_j x, sig_j) dx, where R_j = exp(logR[j]) is
    known on the uniform grid x (log cubic-spline interpolation, zero outside the grid).
    Each integral is done by Gauss-Hermite quadrature centred on the product of a Gaussian fit
    to R_j and the normal kernel, so it is accurate for any sig_j (however small compared with
    the grid spacing).  This gives smooth, accurate marginal densities of mixtures of narrow
    normals (for quantiles)."""
    h = x[1] - x[0]
    lmax = float(logR.max())
    lr = logR - lmax
    rowlog = lse(lr, axis=1)
    keep = rowlog > rowlog.max() - 46.0
    lr, c, sig = lr[keep], np.asarray(c, float)[keep], np.asarray(sig, float)[keep]
    wr = np.exp(lr - lr.max(axis=1, keepdims=True))
    wr /= wr.sum(axis=1, keepdims=True)
    m = wr @ x
    s = np.sqrt(np.maximum(wr @ (x * x) - m * m, h * h))
    lr = np.maximum(lr, lr.max(axis=1, keepdims=True) - 700.0)
    coef = spline_rows(x, lr)
    gx, glw = gh_nodes(k_nodes)
    nrow, nt = len(c), len(t)
    out = np.full(nt, -np.inf)
    step = max(1, maxel // (nt * k_nodes))
    for j0 in range(0, nrow, step):
        sl = slice(j0, min(j0 + step, nrow))
        cj, sj, mj, gj = c[sl, None], sig[sl, None], m[sl, None], s[sl, None]
        P = 1.0 / gj**2 + cj**2 / sj**2
        sqP = np.sqrt(P)
        cen = (mj / gj**2 + cj * t[None, :] / sj**2) / P  # (J, T)
        X = cen[:, :, None] + (SQRT2 / sqP)[:, :, None] * gx
        z0 = (t[None, :] - cj * mj) / (gj**2 * P * sj)
        Z = z0[:, :, None] - (cj * SQRT2 / (sqP * sj))[:, :, None] * gx
        rows = np.arange(sl.start, sl.stop)[:, None, None]
        val = eval_rows(coef, x, X, rows)
        term = (
            val
            - 0.5 * Z * Z
            + glw
            - np.log(sj)[:, :, None]
            + np.log(SQRT2 / sqP)[:, :, None]
            - 0.5 * LOG2PI
        )
        out = np.logaddexp(out, lse(term, axis=(0, 2)))
    return out + lmax


def density_summary_on_t(make_logf, center, scale, h, fn=None, extra=None, rel=1e-11):
    """Evaluate a log density (make_logf(t) + extra(t)) on a uniform t grid of spacing h from
    center - 10 scale to center + 10 scale, widened until both ends are below rel * max, and
    summarise it."""
    lo, hi = center - 10.0 * scale, center + 10.0 * scale
    for _ in range(40):
        t = np.arange(lo, hi + 0.5 * h, h)
        lf = make_logf(t)
        if extra is not None:
            lf = lf + extra(t)
        mx = lf.max()
        ok_lo = lf[0] < mx + math.log(rel)
        ok_hi = lf[-1] < mx + math.log(rel)
        if ok_lo and ok_hi:
            break
        lo -= 0 if ok_lo else 5.0 * scale
        hi += 0 if ok_hi else 5.0 * scale
    else:
        raise RuntimeError("t grid did not converge")
    dens = np.exp(lf - lf.max())
    return summary_from_density(t, dens, fn=fn), t, dens


def unique_pairs(y, n):
    pairs, inv, mult = np.unique(
        np.stack([y, n], 1), axis=0, return_inverse=True, return_counts=True
    )
    return pairs[:, 0].astype(float), pairs[:, 1].astype(float), inv.ravel(), mult


def stat_dict(d):
    return {k: d[k] for k in ("mean", "sd", *QKEYS) if k in d}


def vector_stats(list_of_dicts, inv):
    """per-group lists (file order) from per-unique-pair summaries."""
    keys = [k for k in ("mean", "sd", *QKEYS) if k in list_of_dicts[0]]
    return {k: [list_of_dicts[i][k] for i in inv] for k in keys}


# ----------------------------------------------------------------------------- 1. beta-binomial


def _sum_log1p_ratio(scale, ms):
    """{m: sum_{i=1}^{m-1} log1p(i / scale)} for each m in ms (running sums)."""
    inv = 1.0 / scale
    acc = np.zeros_like(scale)
    out = {}
    i = 1
    for m in sorted(set(int(v) for v in ms)):
        while i < m:
            acc += np.log1p(i * inv)
            i += 1
        out[m] = acc.copy()
    return out


def bb_logpost(u, v, ys, ns, mult):
    """log p(u = logit mu, v = log kappa | y) up to a constant.  The beta-binomial likelihood
    B(a + y, b + n - y) / B(a, b) is written as
    mu^y (1 - mu)^(n - y) prod_{i<y}(1 + i/a) prod_{i<n-y}(1 + i/b) / prod_{i<n}(1 + i/kappa)
    which is exact and free of cancellation even for kappa ~ 1e30."""
    u, v = np.broadcast_arrays(np.asarray(u, float), np.asarray(v, float))
    shape = u.shape
    u, v = u.ravel(), v.ravel()
    if len(u) > 200_000:
        return np.concatenate(
            [
                bb_logpost(u[i : i + 200_000], v[i : i + 200_000], ys, ns, mult)
                for i in range(0, len(u), 200_000)
            ]
        ).reshape(shape)
    logmu, log1m = -softplus(-u), -softplus(u)
    a, b, k = np.exp(logmu + v), np.exp(log1m + v), np.exp(v)
    sa = _sum_log1p_ratio(a, ys)
    sb = _sum_log1p_ratio(b, ns - ys)
    sk = _sum_log1p_ratio(k, ns)
    ll = np.zeros_like(u)
    for y, n, c in zip(ys, ns, mult):
        ll += c * (y * logmu + (n - y) * log1m + sa[int(y)] + sb[int(n - y)] - sk[int(n)])
    # prior p(a, b) ~ (a + b)^(-5/2)  =>  p(mu, kappa) ~ kappa^(-3/2)
    # => p(u, v) ~ mu (1 - mu) kappa^(-1/2)   (Jacobians dmu/du = mu(1-mu), dkappa/dv = kappa)
    lp = ll + logmu + log1m - 0.5 * v
    return lp.reshape(shape)


def _beta_pdf_approx(t, alpha, beta):
    """Beta pdf for the Newton slope only: exact formula, normal approximation when
    alpha + beta > 1e10 (where betaln loses all its digits)."""
    k = alpha + beta
    big = k > 1e10
    a_, b_ = np.where(big, 2.0, alpha), np.where(big, 2.0, beta)
    lpdf = (a_ - 1) * np.log(t) + (b_ - 1) * np.log1p(-t) - special.betaln(a_, b_)
    m = alpha / k
    sd = np.sqrt(m * (1 - m) / (k + 1))
    lnorm = -0.5 * ((t - m) / sd) ** 2 - np.log(sd) - 0.5 * LOG2PI
    return np.exp(np.minimum(np.where(big, lnorm, lpdf), 700.0))


def beta_mixture_quantiles(w, alpha, beta, init, q=QUANTS, tol=1e-13):
    """quantiles of sum_i w_i Beta(alpha_i, beta_i) by bracketed Newton (vectorised over q)."""
    q = np.asarray(q)
    t = np.clip(np.asarray(init, float), 1e-12, 1 - 1e-12)
    lo, hi = np.zeros_like(q), np.ones_like(q)
    for _ in range(100):
        F = w @ special.betainc(alpha[:, None], beta[:, None], t[None, :])
        err = F - q
        if np.max(np.abs(err)) < tol:
            break
        lo = np.where(err < 0, t, lo)
        hi = np.where(err > 0, t, hi)
        f = w @ _beta_pdf_approx(t[None, :], alpha[:, None], beta[:, None])
        tn = t - err / np.where(f > 0, f, np.inf)
        bad = ~((tn > lo) & (tn < hi)) | (f <= 0)
        t = np.where(bad, 0.5 * (lo + hi), tn)
    else:
        raise RuntimeError("beta mixture quantile did not converge")
    return t


def one_arm_counts(name):
    """(y, n, and unique_pairs(y, n)) of a one-arm dataset's CSV."""
    rows = read_csv(f"{name}.csv")
    y = np.array([int(r["events"]) for r in rows], float)
    n = np.array([int(r["trials"]) for r in rows], float)
    return (y, n, *unique_pairs(y, n))


def run_beta_binomial(name, res):
    y, n, ys, ns, inv, mult = one_arm_counts(name)
    cfg = RES[res]

    def lpf(U, V):
        return bb_logpost(U, V, ys, ns, mult)

    u0 = float(special.logit(y.sum() / n.sum()))
    pilot = find_box(lpf, [u0 - 2, u0 + 2, 0.0, 8.0])
    # twice the usual density: the theta quantiles converge more slowly than the rest because
    # the Beta(a + y, b + n - y) components become narrower than the grid spacing in the
    # kappa^(-1/2) tail (an error proportional to the tail mass beyond kappa ~ 1 / h^2)
    ug, vg, (lp,), gdiag = evaluate_on_grid(
        pilot, 2 * cfg["ppsd"], lambda xg, yg: (lpf(xg[:, None], yg[None, :]),)
    )
    U, V = np.meshgrid(ug, vg, indexing="ij")
    w = normalise(lp)
    out = {}
    out["mu"] = summary_from_density(ug, w.sum(axis=1), fn=special.expit)
    lk = summary_from_density(vg, w.sum(axis=0))
    out["log_kappa"] = lk
    out["kappa"] = {
        "mean": None,
        "sd": None,
        **{k: float(math.exp(lk[k])) for k in QKEYS},
        "note": "posterior mean and sd of kappa are infinite: p(kappa | y) decays "
        "like kappa^(-3/2) because the likelihood tends to a positive "
        "constant as kappa -> infinity; use log_kappa or the quantiles",
    }
    mu = special.expit(U)
    kap = np.exp(V)
    a = mu * kap
    b = special.expit(-U) * kap
    # points carrying all but 1e-12 of the mass, for the quantiles of theta
    order = np.argsort(w.ravel())[::-1]
    csum = np.cumsum(w.ravel()[order])
    keep = order[: int(np.searchsorted(csum, 1 - 1e-11)) + 1]
    wk = w.ravel()[keep]
    wk = wk / wk.sum()
    ak, bk = a.ravel()[keep], b.ravel()[keep]
    theta = []
    for yy, nn in zip(ys, ns):
        e1 = (a + yy) / (kap + nn)
        e2 = e1 * (a + yy + 1) / (kap + nn + 1)
        m, s = moments(w, e1, e2)
        # start from the quantiles of the moment-matched beta distribution
        nu = m * (1 - m) / s**2 - 1
        init = stats.beta.ppf(QUANTS, m * nu, (1 - m) * nu)
        qs = beta_mixture_quantiles(wk, ak + yy, bk + nn - yy, init)
        theta.append({"mean": m, "sd": s, **dict(zip(QKEYS, map(float, qs)))})
    out["theta"] = vector_stats(theta, inv)
    diag = {"edge_ratio": edge_ratio(lp), **gdiag, "theta_quantile_points": int(len(keep))}
    return out, diag


# ----------------------------------------------------------------------------- 2. logit-normal


def ln_group_integrals(mu, tau, ys, ns, k_nodes, want_moments=False, maxel=3_000_000):
    """For points (mu, tau) (1-D arrays) and groups (ys, ns): log of
    int expit(eta)^y (1 - expit(eta))^(n - y) N(eta; mu, tau) d eta   (no binomial coefficient)
    by Gauss-Hermite quadrature centred at the mode of the integrand (Newton) with the scale from
    its curvature.  Optionally E[p], E[p^2], E[eta], E[eta^2] given (mu, tau, y_g)."""
    gx, glw = gh_nodes(k_nodes)
    P, G = len(mu), len(ys)
    logL = np.empty((P, G))
    mom = np.empty((4, P, G)) if want_moments else None
    step = max(1, maxel // (G * k_nodes))
    yb, nb = ys[None, :], ns[None, :]
    eta_b = np.log((yb + 0.5) / (nb - yb + 0.5))
    prec_b = (yb + 0.5) * (nb - yb + 0.5) / (nb + 1.0)
    for p0 in range(0, P, step):
        sl = slice(p0, min(p0 + step, P))
        m, t = mu[sl, None], tau[sl, None]
        t2 = t * t
        # Newton for the offset e = eta - mu (kept separate for accuracy when tau is tiny)
        e = prec_b * t2 * (eta_b - m) / (prec_b * t2 + 1.0)
        for _ in range(200):
            s = special.expit(m + e)
            g = (yb - nb * s) * t2 - e  # gradient * tau^2
            H = nb * s * (1 - s) * t2 + 1.0  # -hessian * tau^2
            d = np.clip(g / H, -1.0, 1.0)
            e = e + d
            if np.max(np.abs(d)) < 1e-13 * max(1.0, float(np.max(np.abs(e)))):
                break
        s = special.expit(m + e)
        rat = 1.0 / np.sqrt(nb * s * (1 - s) * t2 + 1.0)  # sigma / tau
        sig = rat * t
        E = e[:, :, None] + (SQRT2 * sig)[:, :, None] * gx
        Z = (e / t)[:, :, None] + (SQRT2 * rat)[:, :, None] * gx
        eta = m[:, :, None] + E
        lf = yb[:, :, None] * eta - nb[:, :, None] * softplus(eta) - 0.5 * Z * Z
        lt = lf + glw
        mx = lt.max(axis=2, keepdims=True)
        ww = np.exp(lt - mx)
        sw = ww.sum(axis=2)
        logL[sl] = np.log(sw) + mx[:, :, 0] + np.log(SQRT2 * rat) - 0.5 * LOG2PI
        if want_moments:
            pr = special.expit(eta)
            mom[0, sl] = (ww * pr).sum(axis=2) / sw
            mom[1, sl] = (ww * pr * pr).sum(axis=2) / sw
            mom[2, sl] = (ww * eta).sum(axis=2) / sw
            mom[3, sl] = (ww * eta * eta).sum(axis=2) / sw
    return logL, mom


def run_logit_normal(name, res):
    y, n, ys, ns, inv, mult = one_arm_counts(name)
    cfg = RES[res]

    def logprior(M, LT):
        return log_normal(M, 0.0, PRIOR_SD_MU) + log_halfnormal(np.exp(LT)) + LT

    def lpf(M, LT, k=24):
        M, LT = np.broadcast_arrays(M, LT)
        L, _ = ln_group_integrals(M.ravel(), np.exp(LT.ravel()), ys, ns, k)
        return (L @ mult).reshape(M.shape) + logprior(M, LT)

    u0 = float(special.logit(y.sum() / n.sum()))

    def evaluate(xg, yg):
        M, LT = np.meshgrid(xg, yg, indexing="ij")
        L, mom = ln_group_integrals(M.ravel(), np.exp(LT.ravel()), ys, ns, cfg["gh"], True)
        return (L @ mult).reshape(M.shape) + logprior(M, LT), L, mom

    pilot = find_box(lpf, [u0 - 1.5, u0 + 1.5, -4.0, 1.0])
    mg, ltg, (lp, L, mom), gdiag = evaluate_on_grid(pilot, cfg["ppsd"], evaluate)
    M, LT = np.meshgrid(mg, ltg, indexing="ij")
    w = normalise(lp)
    narrow = _narrowest_conditional_sd(mg, w)
    out = {"mu": summary_from_density(mg, w.sum(axis=1))}
    out["tau"] = summary_from_density(ltg, w.sum(axis=0), fn=np.exp)
    taus = np.exp(ltg)
    pstats, checks = [], []
    for gi, (yy, nn) in enumerate(zip(ys, ns)):
        mp, sp = moments(w.ravel(), mom[0, :, gi], mom[1, :, gi])
        me, se = moments(w.ravel(), mom[2, :, gi], mom[3, :, gi])
        # posterior density of eta_g: B_g(t) sum_j int [w / L_g](mu, tau_j) N(t; mu, tau_j) dmu
        logR = (lp - L[:, gi].reshape(M.shape)).T  # rows = tau_j, columns = mu

        def make(t, logR=logR):
            return mix_logdensity(t, mg, logR, np.ones(len(taus)), taus, cfg["gh"])

        def extra(t, yy=yy, nn=nn):
            return yy * t - nn * softplus(t)

        sm, _, _ = density_summary_on_t(
            make, me, se, min(se, narrow) / cfg["ppsd"], fn=special.expit, extra=extra
        )
        checks.append(max(abs(sm["mean"] - mp), abs(sm["sd"] - sp)) / sp)
        pstats.append({"mean": mp, "sd": sp, **{k: sm[k] for k in QKEYS}})
    out["p"] = vector_stats(pstats, inv)
    diag = {
        "edge_ratio": edge_ratio(lp),
        **gdiag,
        "p_density_vs_moments_max_rel": float(max(checks)),
    }
    return out, diag


# ----------------------------------------------------------------------------- 3. meta-analysis


def meta_inner_logL(delta, yc, nc, yt, nt, k_nodes):
    """log L(delta) = log int Bin(yc | nc, expit(m)) Bin(yt | nt, expit(m + delta)) N(m; 0, 10) dm
    (without binomial coefficients), adaptive Gauss-Hermite in m around the mode (Newton)."""
    gx, glw = gh_nodes(k_nodes)
    dl = delta[:, None]
    m = np.full_like(delta, math.log((yc + 0.5) / (nc - yc + 0.5)))[:, None]
    pm = 1.0 / PRIOR_SD_META**2
    for _ in range(200):
        s1, s2 = special.expit(m), special.expit(m + dl)
        g = yc - nc * s1 + yt - nt * s2 - pm * m
        H = nc * s1 * (1 - s1) + nt * s2 * (1 - s2) + pm
        d = np.clip(g / H, -2.0, 2.0)
        m = m + d
        if np.max(np.abs(d)) < 1e-12:
            break
    s1, s2 = special.expit(m), special.expit(m + dl)
    sig = 1.0 / np.sqrt(nc * s1 * (1 - s1) + nt * s2 * (1 - s2) + pm)
    mk = m + SQRT2 * sig * gx
    lf = (
        yc * mk
        - nc * softplus(mk)
        + yt * (mk + dl)
        - nt * softplus(mk + dl)
        + log_normal(mk, 0.0, PRIOR_SD_META)
    )
    return lse(lf + glw, axis=1) + np.log(SQRT2 * sig[:, 0])


class TrialLik:
    """log L_g(delta) on a fine delta grid, cubic-spline interpolated; Gaussian fit at its mode."""

    def __init__(self, yc, nc, yt, nt, h, k_nodes, lim=30.0):
        self.x = uniform_grid(-lim, lim, h)
        self.ll = meta_inner_logL(self.x, yc, nc, yt, nt, k_nodes)
        self.cs = CubicSpline(self.x, self.ll, extrapolate=False)
        i = int(np.argmax(self.ll))
        d1, d2 = self.cs.derivative(1), self.cs.derivative(2)
        x = self.x[i]
        for _ in range(50):
            x = x - float(d1(x)) / float(d2(x))
        self.mode, self.curv = float(x), float(-d2(x))

    def __call__(self, d):
        v = self.cs(d)
        return np.where(np.isnan(v), -np.inf, v)


def meta_marginal(trial, d, tau, k_nodes, want_moments=False, maxel=3_000_000):
    """log M(d, tau) = log int L(delta) N(delta; d, tau) d delta by Gauss-Hermite centred on the
    product of N(d, tau) and the Gaussian fit of L; optionally E[delta], E[delta^2] | d, tau."""
    gx, glw = gh_nodes(k_nodes)
    P = len(d)
    out = np.empty(P)
    mom = np.empty((2, P)) if want_moments else None
    c, dh = trial.curv, trial.mode
    step = max(1, maxel // k_nodes)
    for p0 in range(0, P, step):
        sl = slice(p0, min(p0 + step, P))
        dd, tt = d[sl, None], tau[sl, None]
        den = c * tt * tt + 1.0
        rat = 1.0 / np.sqrt(den)  # sigma / tau
        off = c * tt * tt * (dh - dd) / den  # centre - d
        Z = (c * tt * (dh - dd) / den) + SQRT2 * rat * gx  # (delta - d) / tau
        D = dd + off + SQRT2 * rat * tt * gx
        lt = trial(D) - 0.5 * Z * Z + glw
        mx = lt.max(axis=1, keepdims=True)
        ww = np.exp(lt - mx)
        sw = ww.sum(axis=1)
        out[sl] = np.log(sw) + mx[:, 0] + np.log(SQRT2 * rat[:, 0]) - 0.5 * LOG2PI
        if want_moments:
            mom[0, sl] = (ww * D).sum(axis=1) / sw
            mom[1, sl] = (ww * D * D).sum(axis=1) / sw
    return out, mom


def run_meta(name, res):
    rows = read_csv(f"{name}.csv")
    yt = [int(r["events_treat"]) for r in rows]
    nt = [int(r["trials_treat"]) for r in rows]
    yc = [int(r["events_ctrl"]) for r in rows]
    nc = [int(r["trials_ctrl"]) for r in rows]
    cfg = RES[res]
    trials = [TrialLik(*args, cfg["dgrid"], cfg["gh_inner"]) for args in zip(yc, nc, yt, nt)]

    def logprior(D, LT):
        return log_normal(D, 0.0, PRIOR_SD_META) + log_halfnormal(np.exp(LT)) + LT

    def lpf(D, LT, k=24):
        D, LT = np.broadcast_arrays(D, LT)
        tot = logprior(D, LT).ravel()
        for tr in trials:
            tot = tot + meta_marginal(tr, D.ravel(), np.exp(LT.ravel()), k)[0]
        return tot.reshape(D.shape)

    d0 = float(np.mean([tr.mode for tr in trials]))

    def evaluate(xg, yg):
        D, LT = np.meshgrid(xg, yg, indexing="ij")
        Df, Tf = D.ravel(), np.exp(LT.ravel())
        logM, moms = [], []
        for tr in trials:
            lm, mo = meta_marginal(tr, Df, Tf, cfg["gh"], True)
            logM.append(lm)
            moms.append(mo)
        return (logprior(D, LT).ravel() + np.sum(logM, axis=0)).reshape(D.shape), logM, moms

    pilot = find_box(lpf, [d0 - 1.0, d0 + 1.0, -4.0, 1.0])
    dg, ltg, (lp, logM, moms), gdiag = evaluate_on_grid(pilot, cfg["ppsd"], evaluate)
    D, LT = np.meshgrid(dg, ltg, indexing="ij")
    w = normalise(lp)
    narrow = _narrowest_conditional_sd(dg, w)
    wd = w.sum(axis=1)
    out = {"d": summary_from_density(dg, wd)}
    out["tau"] = summary_from_density(ltg, w.sum(axis=0), fn=np.exp)
    out["prob_d_negative"] = cdf_from_density(dg, wd, 0.0)
    taus = np.exp(ltg)
    # predictive effect delta_new ~ N(d, tau): moments exactly, quantiles from the mixture density
    m_d, s_d = moments(w, D)
    m_t2 = float(np.sum(w * np.exp(2 * LT)))
    dn_sd = math.sqrt(m_t2 + s_d**2)

    def make_new(t):
        return mix_logdensity(t, dg, lp.T, np.ones(len(taus)), taus, cfg["gh"])

    sm, _, _ = density_summary_on_t(make_new, m_d, dn_sd, min(dn_sd, narrow) / cfg["ppsd"])
    chk = [abs(sm["mean"] - m_d) / dn_sd, abs(sm["sd"] - dn_sd) / dn_sd]
    out["delta_new"] = {"mean": m_d, "sd": dn_sd, **{k: sm[k] for k in QKEYS}}
    dstats = []
    for tr, lm, mo in zip(trials, logM, moms):
        me, se = moments(w.ravel(), mo[0], mo[1])
        logR = (lp - lm.reshape(D.shape)).T

        def make(t, logR=logR):
            return mix_logdensity(t, dg, logR, np.ones(len(taus)), taus, cfg["gh"])

        sm, _, _ = density_summary_on_t(make, me, se, min(se, narrow) / cfg["ppsd"], extra=tr)
        chk += [abs(sm["mean"] - me) / se, abs(sm["sd"] - se) / se]
        dstats.append({"mean": me, "sd": se, **{k: sm[k] for k in QKEYS}})
    out["delta"] = {k: [s[k] for s in dstats] for k in ("mean", "sd", *QKEYS)}
    diag = {"edge_ratio": edge_ratio(lp), **gdiag, "density_vs_moments_max_rel": float(max(chk))}
    return out, diag


# ----------------------------------------------------------------------------- 4. totals


TOT_N = (5, 8)
TOT_P = (0.2, 0.6)
TOT_T = 20


def totals_data():
    rng = np.random.default_rng(2026)
    y1 = rng.binomial(TOT_N[0], TOT_P[0], size=TOT_T)
    y2 = rng.binomial(TOT_N[1], TOT_P[1], size=TOT_T)
    return (y1 + y2).astype(int)


class TotalsLik:
    """log-likelihood of (eta1, eta2) = logit(p1, p2) for totals Y_t = Bin(5, p1) + Bin(8, p2),
    by brute-force convolution of the two binomial pmfs."""

    def __init__(self, totals):
        vals, cnt = np.unique(totals, return_counts=True)
        self.vals, self.cnt = vals, cnt.astype(float)
        n1, n2 = TOT_N
        self.j1, self.j2 = np.arange(n1 + 1), np.arange(n2 + 1)
        self.lc1 = (
            special.gammaln(n1 + 1)
            - special.gammaln(self.j1 + 1)
            - special.gammaln(n1 - self.j1 + 1)
        )
        self.lc2 = (
            special.gammaln(n2 + 1)
            - special.gammaln(self.j2 + 1)
            - special.gammaln(n2 - self.j2 + 1)
        )

    def pmfs(self, e1, e2):
        """binomial pmfs (explicitly: C(n, j) p^j (1 - p)^(n - j), computed in log space)."""
        n1, n2 = TOT_N
        lp1, lq1 = -softplus(-e1)[..., None], -softplus(e1)[..., None]
        lp2, lq2 = -softplus(-e2)[..., None], -softplus(e2)[..., None]
        b1 = np.exp(self.lc1 + self.j1 * lp1 + (n1 - self.j1) * lq1)
        b2 = np.exp(self.lc2 + self.j2 * lp2 + (n2 - self.j2) * lq2)
        return b1, b2

    def __call__(self, e1, e2):
        e1, e2 = np.broadcast_arrays(np.asarray(e1, float), np.asarray(e2, float))
        b1, b2 = self.pmfs(e1, e2)
        ll = np.zeros(e1.shape)
        n1, n2 = TOT_N
        for k, c in zip(self.vals, self.cnt):
            pk = np.zeros(e1.shape)
            for j in range(max(0, k - n2), min(n1, k) + 1):
                pk += b1[..., j] * b2[..., k - j]
            ll += c * np.log(np.maximum(pk, 1e-300))
        return ll

    def check_scipy(self, rng):
        """the explicit pmfs equal scipy.stats.binom.pmf, and the convolution sums to 1."""
        e = rng.normal(0, 4, size=(2, 2000))
        b1, b2 = self.pmfs(e[0], e[1])
        r1 = stats.binom.pmf(self.j1, TOT_N[0], special.expit(e[0])[:, None])
        r2 = stats.binom.pmf(self.j2, TOT_N[1], special.expit(e[1])[:, None])
        conv = np.array([np.convolve(x1, x2) for x1, x2 in zip(r1, r2)])
        err = max(
            np.max(np.abs(b1 - r1)), np.max(np.abs(b2 - r2)), np.max(np.abs(conv.sum(axis=1) - 1))
        )
        ll_ref = np.log(conv[:, self.vals]) @ self.cnt
        err = max(err, float(np.max(np.abs(self(e[0], e[1]) - ll_ref) / np.abs(ll_ref))))
        return float(err)


def sigma_s(tau):
    return np.sqrt(PRIOR_SD_MU**2 + 0.5 * tau * tau)


class TotalsSlice:
    """Marginal posterior density on (x, log tau) with the other coordinate y integrated out.
    case "A": x = eta1, y = eta2;  "B": x = eta2, y = eta1;  "C": x = s = (eta1 + eta2)/2,
    y = d = eta1 - eta2.  After integrating mu analytically, the prior of (eta1, eta2) given tau is
    N(eta1 - eta2; 0, sqrt(2) tau) N((eta1 + eta2)/2; 0, sqrt(2.5^2 + tau^2/2)) (all three maps
    have unit Jacobian).  The y-integral is Gauss-Hermite quadrature centred on the product of the
    prior's Gaussian factors in y and a Laplace fit of the likelihood in y at fixed x (from a scan
    on a y grid)."""

    def __init__(self, lik, case, scan_h):
        self.lik, self.case, self.scan_h = lik, case, scan_h
        self.cache = {}

    def eta(self, x, y):
        if self.case == "A":
            return x, y
        if self.case == "B":
            return y, x
        return x + 0.5 * y, x - 0.5 * y

    def laplace(self, xs):
        """(mode, curvature) of y -> log L at each x in xs (curvature 0 if no interior max)."""
        ys = uniform_grid(-80.0, 80.0, self.scan_h)
        h = ys[1] - ys[0]
        modes, curv = np.zeros(len(xs)), np.zeros(len(xs))
        step = max(1, 300_000 // len(ys))
        for i0 in range(0, len(xs), step):
            xx = xs[i0 : i0 + step, None]
            ll = self.lik(*self.eta(xx, ys[None, :]))
            i = np.argmax(ll, axis=1)
            inner = (i > 0) & (i < len(ys) - 1)
            ii = np.clip(i, 1, len(ys) - 2)
            r = np.arange(len(xx))
            f0, fm, fp = ll[r, ii], ll[r, ii - 1], ll[r, ii + 1]
            c2 = (fp - 2 * f0 + fm) / h**2
            ok = inner & (c2 < 0)
            shift = np.where(ok, -0.5 * h * (fp - fm) / np.where(ok, fp - 2 * f0 + fm, 1.0), 0.0)
            modes[i0 : i0 + step] = ys[ii] + shift
            curv[i0 : i0 + step] = np.where(ok, -c2, 0.0)
        return modes, curv

    def integrate(self, X, TAU, k_nodes, want_moments=False, maxel=300_000):
        """log of int p(x, y | tau) L dy (prior of (eta1, eta2) | tau times likelihood) at
        points (X, TAU); optionally E[p1], E[p1^2], E[p2], E[p2^2], E[s], E[s^2] | x, tau."""
        gx, glw = gh_nodes(k_nodes)
        ux, inv = np.unique(X, return_inverse=True)
        yl, cl = self.laplace(ux)
        yl, cl = yl[inv], cl[inv]
        P = len(X)
        out = np.empty(P)
        mom = np.empty((6, P)) if want_moments else None
        step = max(1, maxel // k_nodes)
        for p0 in range(0, P, step):
            sl = slice(p0, min(p0 + step, P))
            x, t, ym, c = X[sl, None], TAU[sl, None], yl[sl, None], cl[sl, None]
            lam1 = 1.0 / (2.0 * t * t)  # narrow factor N(y; mu1, sqrt(2) tau)
            if self.case == "C":
                mu1, lam3, mu3 = 0.0, 0.0, 0.0
            else:
                mu1, lam3, mu3 = x, 1.0 / (4.0 * sigma_s(t) ** 2), -x
            P_ = c + lam1 + lam3
            off = (c * (ym - mu1) + lam3 * (mu3 - mu1)) / P_  # centre - mu1
            sq = np.sqrt(P_)
            Y = mu1 + off + (SQRT2 / sq) * gx
            Z = off / (SQRT2 * t) + (1.0 / (sq * t)) * gx  # (y - mu1) / (sqrt(2) tau)
            e1, e2 = self.eta(x, Y)
            sbar = 0.5 * (e1 + e2)
            lt = (
                self.lik(e1, e2)
                - 0.5 * Z * Z
                - np.log(SQRT2 * t)
                + log_normal(sbar, 0.0, sigma_s(t))
                - 0.5 * LOG2PI
                + glw
            )
            mx = lt.max(axis=1, keepdims=True)
            ww = np.exp(lt - mx)
            sw = ww.sum(axis=1)
            out[sl] = np.log(sw) + mx[:, 0] + np.log(SQRT2 / sq[:, 0])
            if want_moments:
                p1, p2 = special.expit(e1), special.expit(e2)
                for i, v in enumerate((p1, p1 * p1, p2, p2 * p2, sbar, sbar * sbar)):
                    mom[i, sl] = (ww * v).sum(axis=1) / sw
        return out, mom

    def check_against_trapezoid(self, xs, taus):
        """relative difference between the GH inner integral and a brute-force trapezoid rule on a
        fine y grid (for moderate tau where the trapezoid is reliable)."""
        ys = uniform_grid(-80.0, 80.0, 0.005)
        X, T = np.meshgrid(xs, taus, indexing="ij")
        gh, _ = self.integrate(X.ravel(), T.ravel(), 60)
        worst = 0.0
        for x, t, g in zip(X.ravel(), T.ravel(), gh):
            e1, e2 = self.eta(x, ys)
            mu1 = 0.0 if self.case == "C" else x
            lt = (
                self.lik(e1, e2)
                + log_normal(ys, mu1, SQRT2 * t)
                + log_normal(0.5 * (e1 + e2), 0.0, sigma_s(t))
            )
            tr = lse(lt) + math.log(ys[1] - ys[0])
            if g > -600:
                worst = max(worst, abs(math.expm1(tr - g)))
        return worst


def run_totals(res):
    cfg = RES[res]
    totals = totals_data()
    lik = TotalsLik(totals)
    rng = np.random.default_rng(1)
    checks = {"explicit_vs_scipy_binom": lik.check_scipy(rng)}

    def logprior(LT):
        return log_halfnormal(np.exp(LT)) + LT  # tau ~ HalfNormal(1), Jacobian tau

    res_slices = {}
    for case in ("A", "B", "C"):
        sl = TotalsSlice(lik, case, cfg["scan"])

        def lpf(X, LT, sl=sl):
            X, LT = np.broadcast_arrays(X, LT)
            v, _ = sl.integrate(X.ravel(), np.exp(LT.ravel()), 24)
            return v.reshape(X.shape) + logprior(LT)

        def evaluate(xg, yg, sl=sl):
            X, LT = np.meshgrid(xg, yg, indexing="ij")
            v, mom = sl.integrate(X.ravel(), np.exp(LT.ravel()), cfg["gh"], True)
            return v.reshape(X.shape) + logprior(LT), mom

        pilot = find_box(lpf, [-2.0, 2.0, -3.0, 1.0])
        box = pilot[0]
        xg, ltg, (lp, mom), gdiag = evaluate_on_grid(pilot, cfg["ppsd"], evaluate)
        w = normalise(lp)
        res_slices[case] = (xg, ltg, lp, w, mom, box)
        checks[f"edge_ratio_{case}"] = edge_ratio(lp)
        checks[f"grid_{case}"] = gdiag
        if res == "fine":
            xs = np.array([box[0] * 0.3 + box[1] * 0.7, 0.5 * (box[0] + box[1])])
            checks[f"gh_vs_trapezoid_{case}"] = sl.check_against_trapezoid(
                xs, np.array([0.3, 1.0, 3.0])
            )
    out = {}
    xg, ltg, lp, w, mom, _ = res_slices["C"]
    taus = np.exp(ltg)
    out["tau"] = summary_from_density(ltg, w.sum(axis=0), fn=np.exp)
    # mu | s, tau ~ N(c s, v): c = 2.5^2 / (2.5^2 + tau^2/2), v = 2.5^2 tau^2 / (2 2.5^2 + tau^2)
    A2 = PRIOR_SD_MU**2
    cc = A2 / (A2 + 0.5 * taus**2)
    vv = A2 * taus**2 / (2 * A2 + taus**2)
    S = xg[:, None]
    m_mu = float(np.sum(w * cc[None, :] * S))
    s_mu = math.sqrt(float(np.sum(w * (cc[None, :] ** 2 * S * S + vv[None, :]))) - m_mu**2)

    def make_mu(t):
        return mix_logdensity(t, xg, lp.T, cc, np.sqrt(vv), 2 * cfg["gh"])

    narrow = _narrowest_conditional_sd(xg, w)
    sm, _, _ = density_summary_on_t(make_mu, m_mu, s_mu, min(s_mu, narrow) / cfg["ppsd"])
    checks["mu_density_vs_moments"] = max(abs(sm["mean"] - m_mu), abs(sm["sd"] - s_mu)) / s_mu
    out["mu"] = {"mean": m_mu, "sd": s_mu, **{k: sm[k] for k in QKEYS}}
    wf = w.ravel()
    p_moms = [moments(wf, mom[0], mom[1]), moments(wf, mom[2], mom[3])]
    p_stats = []
    for g, case in enumerate(("A", "B")):
        xg_, ltg_, lp_, w_, mom_, _ = res_slices[case]
        sm = summary_from_density(xg_, w_.sum(axis=1), fn=special.expit)
        mC, sC = p_moms[g]
        checks[f"p{g + 1}_slice_vs_C"] = max(abs(sm["mean"] - mC), abs(sm["sd"] - sC)) / sC
        p_stats.append(sm)
    tA = summary_from_density(res_slices["A"][1], res_slices["A"][3].sum(axis=0), fn=np.exp)
    checks["tau_A_vs_C"] = (
        max(abs(tA[k] - out["tau"][k]) for k in ("mean", "sd", *QKEYS)) / out["tau"]["sd"]
    )
    out["p"] = {k: [s[k] for s in p_stats] for k in ("mean", "sd", *QKEYS)}
    data = {
        "trials": list(TOT_N),
        "totals": [int(v) for v in totals],
        "generation": "rng = numpy.random.default_rng(2026); y1 = rng.binomial(5, 0.2, 20); "
        "y2 = rng.binomial(8, 0.6, 20); totals = y1 + y2",
        "true_p": list(TOT_P),
    }
    return {"data": data, **out}, checks


# ----------------------------------------------------------------------------- spot checks


def spot_checks():
    """Compare the quadrature building blocks with scipy.integrate.quad (adaptive, 1e-13) and the
    beta-binomial likelihood with betaln differences, at a few points (incl. tiny and large tau).
    Returns the largest absolute error of each building block (log scale)."""
    from scipy.integrate import quad

    def sp(x):
        return float(softplus(np.array(x)))

    def quad_log(h, centre, half):
        c0 = h(centre)
        val = quad(
            lambda z: math.exp(h(z) - c0),
            centre - half,
            centre + half,
            points=[centre],
            epsabs=0.0,
            epsrel=1e-13,
            limit=500,
        )[0]
        return math.log(val) + c0

    out = {}
    err = 0.0
    for mu, tau, y, n in [
        (-2.5, 0.4, 46, 810),
        (-2.5, 1e-6, 0, 47),
        (-1.8, 3.0, 4, 14),
        (-7.0, 5.0, 46, 810),
        (2.0, 0.01, 18, 148),
    ]:
        lg, _ = ln_group_integrals(
            np.array([mu]), np.array([tau]), np.array([float(y)]), np.array([float(n)]), 40
        )

        def h(z, mu=mu, tau=tau, y=y, n=n):
            return y * (mu + tau * z) - n * sp(mu + tau * z) - 0.5 * z * z

        zs = np.linspace(-12, 12, 24001)
        z0 = float(zs[np.argmax([h(z) for z in zs])])
        ref = quad_log(h, z0, 12.0) - 0.5 * LOG2PI
        err = max(err, abs(float(lg[0, 0]) - ref))
    out["logit_normal_group_integral"] = err
    err = 0.0
    for d, yc, nc, yt, nt in [
        (-0.3, 3, 39, 3, 38),
        (2.0, 248, 12867, 62, 13598),
        (-8.0, 11, 139, 4, 123),
    ]:
        v = float(meta_inner_logL(np.array([d]), yc, nc, yt, nt, 48)[0])

        def h(m, d=d, yc=yc, nc=nc, yt=yt, nt=nt):
            return (
                yc * m - nc * sp(m) + yt * (m + d) - nt * sp(m + d) - 0.5 * (m / PRIOR_SD_META) ** 2
            )

        ms = np.linspace(-30, 30, 6001)
        m0 = float(ms[np.argmax([h(m) for m in ms])])
        ref = quad_log(h, m0, 15.0) - math.log(PRIOR_SD_META) - 0.5 * LOG2PI
        err = max(err, abs(v - ref))
    out["meta_inner_integral"] = err
    err = 0.0
    tr = TrialLik(3, 39, 3, 38, 0.005, 48)
    for d, tau in [(-0.25, 0.1), (-0.25, 1e-7), (1.0, 2.0)]:
        v = float(meta_marginal(tr, np.array([d]), np.array([tau]), 40)[0][0])

        def h(x, d=d, tau=tau):  # x = (delta - d) / tau
            return (
                float(meta_inner_logL(np.array([d + tau * x]), 3, 39, 3, 38, 48)[0]) - 0.5 * x * x
            )

        ref = quad_log(h, 0.0 if tau < 0.5 else (tr.mode - d) / tau, 12.0) - 0.5 * LOG2PI
        err = max(err, abs(v - ref))
    out["meta_trial_marginal"] = err
    err = 0.0
    ys, ns, mult = np.array([0.0, 3, 10]), np.array([20.0, 25, 30]), np.array([1, 2, 1])
    for u, v in [(-1.5, 1.0), (0.3, 4.0), (-2.0, -2.0)]:
        lp = float(bb_logpost(np.array(u), np.array(v), ys, ns, mult))
        mu, k = special.expit(u), math.exp(v)
        a, b = mu * k, (1 - mu) * k
        ref = (
            sum(
                c * (special.betaln(a + y, b + n - y) - special.betaln(a, b))
                for y, n, c in zip(ys, ns, mult)
            )
            + math.log(mu * (1 - mu))
            - 0.5 * v
        )
        err = max(err, abs(lp - ref))
    out["beta_binomial_loglik_vs_betaln"] = err
    return out


# ----------------------------------------------------------------------------- driver


TASKS = [
    ("beta_binomial", "rat_tumors"),
    ("beta_binomial", "surgical"),
    ("logit_normal", "rat_tumors"),
    ("logit_normal", "surgical"),
    ("meta_analysis", "beta_blockers"),
    ("meta_analysis", "bcg"),
    ("totals", None),
]


def run_task(model, dataset, res):
    t0 = time.perf_counter()
    if model == "beta_binomial":
        out, diag = run_beta_binomial(dataset, res)
    elif model == "logit_normal":
        out, diag = run_logit_normal(dataset, res)
    elif model == "meta_analysis":
        out, diag = run_meta(dataset, res)
    else:
        out, diag = run_totals(res)
    dt = time.perf_counter() - t0
    log(f"{model}/{dataset or '-'} [{res}] done in {dt:.1f} s")
    return model, dataset, res, out, diag, dt


def diff_tree(a, b):
    """max |a - b| for every statistic (max over groups for vectors)."""
    if isinstance(a, dict):
        return {k: diff_tree(a[k], b[k]) for k in a if k not in ("note", "data")}
    if isinstance(a, list):
        return float(max(abs(x - y) for x, y in zip(a, b)))
    if a is None:
        return None
    return float(abs(a - b))


def rel_tree(a, b):
    """max |a - b| / posterior sd over all statistics of a quantity."""
    worst = 0.0
    for k, v in a.items():
        if not isinstance(v, dict) or v.get("sd") is None:
            continue
        sd = np.asarray(v["sd"], float)
        for s in ("mean", "sd", *QKEYS):
            if s in v:
                d = np.abs(np.asarray(v[s], float) - np.asarray(b[k][s], float)) / sd
                worst = max(worst, float(d.max()))
    return worst


def main(workers=2):
    t0 = time.perf_counter()
    jobs = [(m, d, r) for r in ("fine", "base") for m, d in TASKS]
    results = {}
    with ProcessPoolExecutor(max_workers=workers) as ex:
        futs = [ex.submit(run_task, *j) for j in jobs]
        spots = ex.submit(spot_checks)
        for f in futs:
            m, d, r, out, diag, dt = f.result()
            results[(m, d, r)] = (out, diag, dt)
    ref, conv, diags = {}, {}, {}
    worst_rel = 0.0
    for m, d in TASKS:
        fine, dfine, _ = results[(m, d, "fine")]
        base, dbase, _ = results[(m, d, "base")]
        rel = rel_tree(fine, base)
        worst_rel = max(worst_rel, rel)
        if d is None:
            ref[m] = fine
            conv[m] = {**diff_tree(fine, base), "max_change_over_sd": rel}
            diags[m] = {"fine": dfine, "base": dbase}
        else:
            ref.setdefault(m, {})[d] = fine
            conv.setdefault(m, {})[d] = {**diff_tree(fine, base), "max_change_over_sd": rel}
            diags.setdefault(m, {})[d] = {"fine": dfine, "base": dbase}
    conv["max_change_over_sd_all"] = worst_rel
    conv["diagnostics"] = diags
    conv["spot_checks_vs_quad"] = spots.result()
    conv["software"] = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "run_time_s": round(time.perf_counter() - t0),
    }
    conv["description"] = (
        "max absolute change of each reported statistic (max over groups for vectors) between "
        "the reported fine run and a base run with half as many grid points per posterior sd in "
        "every grid dimension and half the quadrature nodes; max_change_over_sd is the largest "
        "change divided by the posterior sd of that quantity; diagnostics hold the grid sizes, "
        "the boxes, the largest edge weight relative to the maximum and internal cross-checks."
    )
    ref["convergence_check"] = conv
    ref["method"] = METHOD
    OUT.write_text(json.dumps(ref, indent=1) + "\n")
    log(f"wrote {OUT} in {time.perf_counter() - t0:.1f} s; max change/sd = {worst_rel:.2e}")


METHOD = (
    "Deterministic numerical integration (no Monte Carlo); see the module docstring of "
    "tests/reference/make_bayes_refs.py.  Group/trial parameters are integrated out analytically "
    "(beta-binomial) or by adaptive Gauss-Hermite quadrature centred at the mode of each "
    "integrand; the two hyperparameters (logit mu, log kappa), (mu, log tau) or (d, log tau) are "
    "integrated on uniform grids covering all points with weight > 1e-13 of the maximum, by the "
    "trapezoid rule, with quantiles from the sinc-interpolated CDF of each marginal density.  The "
    "totals model integrates mu analytically and the last of (eta_1, eta_2) by Gauss-Hermite on "
    "(x, log tau) grids, with the likelihood from the convolution of the two binomial pmfs.  "
    "Reported values come from the fine run; convergence_check compares with a run twice as "
    "coarse with half the quadrature nodes.  kappa has infinite posterior mean and sd (null)."
)

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":  # debugging: one task, one resolution
        model, dataset, res = sys.argv[2], sys.argv[3], sys.argv[4]
        _, _, _, out, diag, _ = run_task(model, None if dataset == "-" else dataset, res)
        print(json.dumps({"out": out, "diag": diag}, indent=1))
    else:
        main()
