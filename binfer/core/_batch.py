"""Many small Poisson-binomials at once: log pmf / cdf / sf and the gradient at a few points.

For one point k of one member ``X = sum_g Bin(n_g, p_g)`` the distribution is tilted to have
mean k + 1/2 (``p'_g = expit(logit p_g + theta)``, Peres, Lee & Keich 2021), so that P'(k) and
P'(k + 1) are both near the tilted maximum, and P'(k) is read from the tilted characteristic
function on an odd grid of M points (Fernandez & Williams 2010):

    M P'(k) = sum_t phi'(t) e^(-itk),  phi'(t) = prod_g (q'_g + p'_g e^(it))^(n_g),

with ``log phi'`` summed analytically per group (``log1p`` of the modulus, ``atan2`` of the
phase: no power is formed, so the rounding does not grow with n_g).  The grid needs no
evaluation where ``|phi'(t)| <= exp(-var' (1 - cos t)) < e^-40`` (an exact bound), which leaves
about 25 + 90 / sd' points of the half grid whatever the number of trials: the cost is
O(G) per point, not O(N).  The half-width M / 2 >= 8 sd' + 32 keeps the aliases (Bernstein)
below e^-60 of the value, and below the tail weights' own decay for the tails.

Untilting: ``log P(k) = log P'(k) - theta (k - m') - sum_g n_g KL(p'_g || p_g)`` with m' the
tilted mean, every KL term non-negative and computed without the large ``theta k`` products
cancelling.  The tail on the side away from the untilted mean is the geometric-weighted sum
``sum_m P'(k + m) e^(-theta m)``, a closed-form geometric factor per grid point; the other
tail is its complement (``log1mexp``).  The gradient

    d log P(k) / d p_g = n_g [P_g(k - 1) - P_g(k)] / P(k)
                       = n_g Re sum_t w(t) D_g(t) / Re sum_t w(t),
    D_g(t) = (p'_g / p_g e^(it) - q'_g / q_g) / (q'_g + p'_g e^(it)),   w(t) = phi'(t) e^(-itk)

(P_g: one trial of group g removed) comes from the same grid in one more pass without any
transcendental function.  Groups with p = 1 shift k; groups with p = 0 or no trials drop out
(their gradients use P(k -+ 1) / P(k) from the same sums).

References
----------
N. Peres, A. R. Lee, U. Keich (2021), "Exactly computing the tail of the Poisson-binomial
distribution", ACM Trans. Math. Softw. 47(4), arXiv:2004.07429.  M. Fernandez, S. Williams
(2010), "Closed-form expression for the Poisson-binomial probability density function", IEEE
Trans. Aerosp. Electron. Syst. 46(2).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

# Grid points with |phi'(t)| below e^-_CUT (an exact bound) are skipped.
_CUT = 40.0
_TWO_PI = 2.0 * math.pi
# Batches of at least this much work (points x (groups + 8)) run on numba's threads: below it
# starting them costs more than it saves (measured: ~30 us).
_PARALLEL_MIN = 1500


@njit(cache=True, error_model="numpy")
def _log1p(x):
    """log(1 + x) for x > -1 by the rounding-corrected log (Goldberg 1991; libm's log1p costs
    ~7 x more here): ``x log(w) / (w - 1)`` with w = 1 + x rounded, accurate to a few ulp."""
    w = 1.0 + x
    if w == 1.0:
        return x
    return math.log(w) * x / (w - 1.0)


@njit(cache=True, error_model="numpy")
def _softplus(x):
    """log(1 + e^x) without overflow or loss for large |x|."""
    if x > 30.0:
        return x + _log1p(math.exp(-x))
    return _log1p(math.exp(x))


@njit(cache=True, error_model="numpy")
def _expit(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(cache=True, error_model="numpy")
def _log1m(u):
    """log(1 - u) for 0 <= u < 1: a Taylor polynomial for u < 2^-7 (truncation < 2e-18
    relative; the common case on the grid, where u = 4 p' q' sin^2(t / 2) is small), else
    :func:`_log1p`."""
    if u < 0.0078125:
        return -u * (1.0 + u * (1.0 / 2 + u * (1.0 / 3 + u * (1.0 / 4 + u * (
            1.0 / 5 + u * (1.0 / 6 + u * (1.0 / 7 + u * (1.0 / 8))))))))
    return _log1p(-u)


@njit(cache=True, error_model="numpy")
def _atan2(y, x):
    """atan2(y, x): an odd Taylor polynomial when 0 <= y < x / 16 (truncation < 1e-18
    relative; the common case on the grid), else libm's atan2."""
    if x > 0.0 and 0.0 <= y < 0.0625 * x:
        r = y / x
        z = r * r
        return r * (1.0 - z * (1.0 / 3 - z * (1.0 / 5 - z * (1.0 / 7 - z * (1.0 / 9 - z * (
            1.0 / 11 - z * (1.0 / 13 - z * (1.0 / 15))))))))
    return math.atan2(y, x)


# Below this t every trial's log|z| and arg z on the grid come from polynomials (no branch, so
# the loop over groups vectorises): u = 2 p'q' (1 - cos t) <= (1 - cos t) / 2 < 0.062 and the
# tangent of the phase, r <= tan(t / 2) < 0.256.
_T_POLY = 0.5


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _log_phi_poly(n, sw, ab, pq2, m, s, c, omc):
    """(sum_g n_g log(1 - u_g), sum_g sign_g n_g atan(r_g)) for t <= _T_POLY.

    log(1 - u) by its Taylor series to u^14 (u < 0.062: truncation < 1e-17 relative);
    atan(r) = 2 atan(h) with h = r / (1 + sqrt(1 + r^2)) <= 0.127 and atan(h) by its odd Taylor
    series to h^19 (truncation < 1e-19 relative)."""
    lr = 0.0
    li = 0.0
    for g in range(m):
        u = pq2[g] * omc
        lr -= n[g] * u * (1.0 + u * (1.0 / 2 + u * (1.0 / 3 + u * (1.0 / 4 + u * (
            1.0 / 5 + u * (1.0 / 6 + u * (1.0 / 7 + u * (1.0 / 8 + u * (1.0 / 9 + u * (
                1.0 / 10 + u * (1.0 / 11 + u * (1.0 / 12 + u * (1.0 / 13 + u * (
                    1.0 / 14))))))))))))))
        a = ab[g]
        r = a * s / ((1.0 - a) + a * c)
        h = r / (1.0 + math.sqrt(1.0 + r * r))
        z = h * h
        li += sw[g] * h * (2.0 - z * (2.0 / 3 - z * (2.0 / 5 - z * (2.0 / 7 - z * (
            2.0 / 9 - z * (2.0 / 11 - z * (2.0 / 13 - z * (2.0 / 15 - z * (
                2.0 / 17 - z * (2.0 / 19))))))))))
    return lr, li


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _grad_sums(pt, qt, m, c, s, wr, wi, num, work):
    """One grid point's share of the gradient sums (a loop without branches):
    num[g] += Re w e^(it) / z_g and work[g] += Re w / z_g, with z_g = q'_g + p'_g e^(it) and
    w / z_g = w conj(z_g) / |z_g|^2."""
    for g in range(m):
        a = pt[g]
        zr = qt[g] + a * c
        zi = a * s
        inv = 1.0 / (zr * zr + zi * zi)
        ur = (wr * zr + wi * zi) * inv
        ui = (wi * zr - wr * zi) * inv
        num[g] += ur * c - ui * s
        work[g] += ur


@njit(cache=True, error_model="numpy")
def _log1mexp(x):
    """log(1 - e^x) for x <= 0 (Maechler 2012)."""
    if x > -0.6931471805599453:
        return math.log(-math.expm1(x))
    return _log1p(-math.exp(x))


@njit(cache=True, error_model="numpy")
def _tilt(logit, n, m, n_int, target, theta):
    """theta with sum_g n_g expit(logit_g + theta) within 0.01 of target (0 < target < n_int).

    Safeguarded Newton from the given start inside the bracket
    [log(target / N) - max logit, log(N / (N - target)) - min logit], which holds the root
    (each expit(x) <= e^x, and 1 - expit(x) <= e^-x); the formulas are exact for any theta,
    the target only has to be met roughly."""
    l_min = math.inf
    l_max = -math.inf
    for g in range(m):
        if n[g] > 0.0:
            l_min = min(l_min, logit[g])
            l_max = max(l_max, logit[g])
    lo = math.log(target / n_int) - l_max
    hi = math.log(n_int / (n_int - target)) - l_min
    theta = min(max(theta, lo), hi)
    for _ in range(200):
        f = -target
        d = 0.0
        for g in range(m):
            s = _expit(logit[g] + theta)
            f += n[g] * s
            d += n[g] * s * (1.0 - s)
        if abs(f) < 0.01:
            break
        if f > 0.0:
            hi = theta
        else:
            lo = theta
        nxt = theta - f / d if d > 0.0 else math.nan
        theta = nxt if lo < nxt < hi else 0.5 * (lo + hi)
    return theta


@njit(cache=True, error_model="numpy")
def _point(logit, n, m, n_int, j, want_tail, want_grad, pt, qt, sw, ab, pq2, rp, rq, num, res,
           work):
    """log P(k), log P(X <= k), log P(X > k) (into res[0:3]) and the sums for the gradient of
    the interior part X_int (m groups with 0 < p < 1, n_int trials) at 0 <= j <= n_int.

    res[3] = P(j + 1) / P(j), res[4] = P(j - 1) / P(j); num[g] = n_g [P_g(j-1) - P_g(j)] / P(j)
    and work[g] = 1 where that difference of two terms is not known to 1e-11 of the larger
    (a term far below the tilted maximum, read next to the grid's rounding: see batch_eval).
    """
    # start Newton from the binomial with the same trials (exact when every p is equal)
    target = min(max(j + 0.5, 0.3), n_int - 0.3)
    mean = 0.0
    for g in range(m):
        mean += n[g] * _expit(logit[g])
    mean = min(max(mean, 1e-300), n_int * (1.0 - 1e-16))
    theta0 = (math.log(target) - math.log(n_int - target)) - (
        math.log(mean) - math.log(n_int - mean))
    if not math.isfinite(theta0):
        theta0 = 0.0
    theta = _tilt(logit, n, m, n_int, target, theta0)
    # Each trial's factor q' + p' e^(it) is written as e^(it) (p' + q' e^(-it)) when p' > 1/2,
    # so that every phase sums small angles: sum_g n_g arg(...) would otherwise be ~k t, whose
    # rounding (~k 1e-16) is 1e-10 at k = 1e6.  ab[g] = min(p', q'), sw[g] = +-n_g (- for p' > 1/2),
    # n_hi = trials with p' > 1/2; likewise j - m' = (j - n_hi) - sum_g sw_g ab_g (into dev).
    var = 0.0
    n_hi = 0.0
    dev = 0.0
    kl = 0.0
    for g in range(m):
        x = logit[g] + theta
        a = _expit(x)
        b = _expit(-x)
        pt[g] = a
        qt[g] = b
        var += n[g] * a * b
        if a > 0.5:
            n_hi += n[g]
            dev -= n[g] * b
            sw[g] = -n[g]
            ab[g] = b
        else:
            dev += n[g] * a
            sw[g] = n[g]
            ab[g] = a
        pq2[g] = 2.0 * a * b
        # KL(p' || p) = theta p' - log(q + p e^theta) ~ theta^2 p q / 2: near the centre
        # (|theta| < 1) from log1p(p expm1(theta)), whose rounding is relative to theta p (a
        # difference of two softplus values would leave ~1e-16 absolute per trial: 1e-9 at
        # N = 1e7); further out p' log(p' / p) + q' log(q' / q) with each log a difference of
        # softplus values of its own size
        lg = logit[g]
        if abs(theta) < 1.0:
            d = theta * a - _log1p(_expit(lg) * math.expm1(theta))
        else:
            d = a * (_softplus(-lg) - _softplus(-x)) + b * (_softplus(lg) - _softplus(x))
        kl += n[g] * max(d, 0.0)
    # half-width of the grid: aliases beyond 2h of the mean (the value) or h (the tails, whose
    # weights need not decay near the centre) are below e^-40 of what they contaminate
    sd = math.sqrt(var)
    h = int(math.ceil(8.0 * sd + 32.0)) if want_tail else int(math.ceil(4.5 * sd + 24.0))
    M = 2 * h + 1
    if M > n_int + 3:  # the whole support fits: no aliasing at all
        top = int(n_int) + 3
        M = top if top % 2 == 1 else top + 1
        h = (M - 1) // 2
    upper = theta > 0.0
    # terms of that tail: all of it when the grid covers the support, else h (the rest is below
    # e^-40 of the first term, the weights included)
    H = int(n_int - j) if upper else int(j)
    if M <= n_int:
        H = min(h, H)
    eH = math.exp(-abs(theta) * H)
    if want_grad:
        for g in range(m):
            x = logit[g]
            # p'/p and q'/q in a form that cannot overflow before the values do
            rp[g] = math.exp(_softplus(-x) - _softplus(-(x + theta)))
            rq[g] = math.exp(_softplus(x) - _softplus(x + theta))
            num[g] = 0.0  # Re sum w e^(it) / z_g: the p-term
            work[g] = 0.0  # Re sum w / z_g: the q-term
    w_abs = 0.0  # sum |w|: with max 1 / |z_g|, the scale of the sums' rounding
    omc_max = 0.0
    s0 = 0.0
    s_up = 0.0
    s_dn = 0.0
    tail = 0.0
    dt = _TWO_PI / M
    for i in range(h + 1):
        t = i * dt
        sh = math.sin(0.5 * t)
        one_minus_cos = 2.0 * sh * sh
        if var * one_minus_cos > _CUT:
            break
        c = math.cos(t)
        s = math.sin(t)
        if t <= _T_POLY:
            lr, li = _log_phi_poly(n, sw, ab, pq2, m, s, c, one_minus_cos)
        else:
            lr = 0.0
            li = 0.0
            for g in range(m):
                a = ab[g]
                lr += n[g] * _log1m(pq2[g] * one_minus_cos)
                li += sw[g] * _atan2(a * s, (1.0 - a) + a * c)
        mag = math.exp(0.5 * lr)
        ph = li + t * (n_hi - j)
        wr = mag * math.cos(ph)
        wi = mag * math.sin(ph)
        f = 1.0 if i == 0 else 2.0
        s0 += f * wr
        s_up += f * (wr * c + wi * s)
        s_dn += f * (wr * c - wi * s)
        # geometric weights of the tail away from the mean (the upper one without its factor
        # e^-theta, which would underflow when theta > 745; it joins the log scale):
        #   upper: sum_{m=1}^{H} e^(-theta (m - 1) - itm), lower: sum_{m=0}^{H} e^((theta + it) m)
        if want_tail and (H > 0 or not upper):
            if i == 0:
                if theta == 0.0:
                    gr = float(H) if upper else float(H + 1)
                elif upper:
                    gr = math.expm1(-theta * H) / math.expm1(-theta)
                else:
                    gr = math.expm1(theta * (H + 1)) / math.expm1(theta)
                gi = 0.0
            else:
                if upper:
                    # e^(-it) (1 - r^H) / (1 - r), r = e^(-theta) e^(-it)
                    er = math.exp(-theta)
                    nr = 1.0 - eH * math.cos(t * H)
                    ni = eH * math.sin(t * H)
                    ar = c * nr + s * ni
                    ai = c * ni - s * nr
                    dr = 1.0 - er * c
                    di = er * s
                else:
                    # (1 - R^(H+1)) / (1 - R), R = e^(theta) e^(it)
                    er = math.exp(theta)
                    e1 = eH * er
                    ar = 1.0 - e1 * math.cos(t * (H + 1))
                    ai = -e1 * math.sin(t * (H + 1))
                    dr = 1.0 - er * c
                    di = -er * s
                den = dr * dr + di * di
                gr = (ar * dr + ai * di) / den
                gi = (ai * dr - ar * di) / den
            tail += f * (wr * gr - wi * gi)
        if want_grad:
            _grad_sums(pt, qt, m, c, s, f * wr, f * wi, num, work)
            w_abs += f * mag
            omc_max = one_minus_cos
    scale = -theta * ((j - n_hi) - dev) - kl
    # (a probability within ~1e-15 of 1 may round above it: logs are capped at 0)
    if s0 > 0.0:
        res[0] = min(math.log(s0 / M) + scale, 0.0)
    else:
        res[0] = -math.inf
    if not want_tail:
        lsf = math.nan
        lcdf = math.nan
    elif j >= n_int:
        lsf = -math.inf
        lcdf = 0.0
    elif upper:
        lsf = min(math.log(tail / M) - theta + scale, 0.0) if tail > 0.0 else -math.inf
        lcdf = _log1mexp(lsf)
    else:
        lcdf = min(math.log(tail / M) + scale, 0.0) if tail > 0.0 else -math.inf
        lsf = _log1mexp(lcdf)
    res[1] = lcdf
    res[2] = lsf
    res[3] = (s_up / s0) * math.exp(-theta) if s0 > 0.0 else math.nan
    res[4] = (s_dn / s0) * math.exp(theta) if s0 > 0.0 else math.nan
    if want_grad:
        for g in range(m):
            tp = rp[g] * num[g]
            tq = rq[g] * work[g]
            # |z_g|^2 = 1 - 2 p'q' (1 - cos t) is smallest at the last grid point used
            z2 = 1.0 - 2.0 * pt[g] * qt[g] * omc_max
            err = 8e-16 * (rp[g] + rq[g]) * w_abs / math.sqrt(max(z2, 1e-300))
            bad = not (math.isfinite(err) and err <= 1e-11 * (abs(tp) + abs(tq)))
            num[g] = n[g] * (tp - tq) / s0
            work[g] = 1.0 if bad else 0.0


@njit(cache=True, error_model="numpy")
def _log_end(logit, n, m, top):
    """log P(X_int = 0) = sum n_g log q_g, or with ``top`` log P(X_int = n_int) =
    sum n_g log p_g."""
    sign = -1.0 if top else 1.0
    total = 0.0
    for g in range(m):
        total -= n[g] * _softplus(sign * logit[g])
    return total


@njit(cache=True, error_model="numpy")
def batch_eval(p, counts, k, want_tail, want_grad, out, grad, b0, b1):
    """Values at k[b, i] of members b0 <= b < b1 (rows of p and counts): out[0] log pmf,
    out[1] log cdf, out[2] log sf (each (B, K)); with want_grad, grad[b, i, g] =
    d log P(X_b = k) / d p[b, g] (NaN where P(X_b = k) = 0 or k is not an integer)."""
    G = p.shape[1]
    K = k.shape[1]
    logit = np.empty(G)
    n = np.empty(G)
    idx = np.empty(G, dtype=np.int64)
    pt = np.empty(G)
    qt = np.empty(G)
    rp = np.empty(G)
    rq = np.empty(G)
    num = np.empty(G)
    sw = np.empty(G)
    ab = np.empty(G)
    pq2 = np.empty(G)
    work = np.empty(G)
    res = np.empty(5)
    for b in range(b0, b1):
        m = np.int64(0)  # not the literal 0: numba would compile _point for it too
        n_sure = 0.0
        n_int = 0.0
        for g in range(G):
            c = counts[b, g]
            q = p[b, g]
            if c <= 0.0:
                continue
            if q >= 1.0:
                n_sure += c
            elif q > 0.0:
                logit[m] = math.log(q) - _log1p(-q)
                n[m] = c
                idx[m] = g
                n_int += c
                m += 1
        for i in range(K):
            kk = k[b, i]
            kf = math.floor(kk)
            j = kf - n_sure
            is_int = kf == kk
            if want_grad:
                for g in range(G):
                    grad[b, i, g] = math.nan
            if j < 0.0:
                out[0, b, i] = -math.inf
                out[1, b, i] = -math.inf
                out[2, b, i] = 0.0
                continue
            if j >= n_int and m == 0 or j > n_int:
                out[0, b, i] = 0.0 if (j == n_int and is_int) else -math.inf
                out[1, b, i] = 0.0
                out[2, b, i] = -math.inf
                if want_grad and is_int and j == n_int:
                    for g in range(G):
                        c = counts[b, g]
                        grad[b, i, g] = 0.0 if c <= 0.0 else (c if p[b, g] >= 1.0 else -c)
                continue
            grad_here = want_grad and is_int
            if j == 0.0 or j == n_int:
                # the ends of the support in closed form (the grid's rounding is absolute there:
                # log P(0) of Bin(1, 1e-300) is -1e-300)
                lp = _log_end(logit, n, m, j != 0.0)
                out[0, b, i] = lp if is_int else -math.inf
                out[1, b, i] = lp if j == 0.0 else 0.0
                out[2, b, i] = _log1mexp(lp) if j == 0.0 else -math.inf
                if grad_here:
                    # P(1) / P(0) = sum n_g p_g / q_g; P(n - 1) / P(n) = sum n_g q_g / p_g
                    ratio = 0.0
                    for g in range(m):
                        ratio += n[g] * math.exp(logit[g] if j == 0.0 else -logit[g])
                    res[3] = ratio if j == 0.0 else 0.0
                    res[4] = 0.0 if j == 0.0 else ratio
                    for g in range(m):
                        # d/dp_g: -n_g / q_g at the bottom, n_g / p_g at the top
                        x = logit[g]
                        num[g] = (-n[g] * math.exp(_softplus(x)) if j == 0.0
                                  else n[g] * math.exp(_softplus(-x)))
            else:
                _point(logit, n, m, n_int, j, want_tail, grad_here, pt, qt, sw, ab, pq2, rp, rq,
                       num, res, work)
                out[0, b, i] = res[0] if is_int else -math.inf
                out[1, b, i] = res[1]
                out[2, b, i] = res[2]
                if grad_here:
                    for g in range(m):
                        if work[g] != 0.0:
                            # a term the grid cannot resolve: NaN tells evaluate() to take
                            # this one from the PMF without one trial of g
                            num[g] = math.nan
            if grad_here and out[0, b, i] > -math.inf:
                for g in range(G):
                    c = counts[b, g]
                    if c <= 0.0:
                        grad[b, i, g] = 0.0
                    elif p[b, g] >= 1.0:
                        grad[b, i, g] = c * (1.0 - res[3])
                    elif p[b, g] <= 0.0:
                        grad[b, i, g] = c * (res[4] - 1.0)
                for g in range(m):
                    grad[b, i, idx[g]] = num[g]


@njit(cache=True, error_model="numpy", parallel=True)
def batch_eval_parallel(p, counts, k, want_tail, want_grad, out, grad, n_chunks):
    """:func:`batch_eval` over contiguous chunks of members in parallel (numba threads)."""
    B = p.shape[0]
    for i in prange(n_chunks):
        batch_eval(p, counts, k, want_tail, want_grad, out, grad, i * B // n_chunks,
                   (i + 1) * B // n_chunks)


def evaluate(p: np.ndarray, counts: np.ndarray, k: np.ndarray, *, tails: bool = True,
             grad: bool = False):
    """(out (3, B, K), grad (B, K, G) or None) for p, counts of shape (B, G), k of shape (B, K).

    The arguments must already be validated; they are converted to C-contiguous float64 (one
    compiled specialisation)."""
    # writeable too: numba compiles a separate specialisation for read-only arrays (a frozen
    # distribution's p, a broadcast k)
    p, counts, k = (np.require(x, np.float64, ("C", "W")) for x in (p, counts, k))
    B, G = p.shape
    out = np.empty((3, B, k.shape[1]))
    g_out = np.empty((B, k.shape[1], G) if grad else (1, 1, 1))
    threads = numba.get_num_threads()
    if threads > 1 and B * k.shape[1] * (G + 8) >= _PARALLEL_MIN:
        batch_eval_parallel(p, counts, k, bool(tails), bool(grad), out, g_out,
                            min(B, 4 * threads))
    else:
        batch_eval(p, counts, k, bool(tails), bool(grad), out, g_out, 0, B)
    if grad:
        _resolve(p, counts, k, out[0], g_out)
    return out, (g_out if grad else None)


@njit(cache=True, error_model="numpy")
def _resolve(p, counts, k, logpmf, grad):
    """Gradients the grid could not resolve (NaN where P(k) > 0 and the group has trials
    with 0 < p < 1: a term far below the tilted maximum, met only at extreme p such as
    1e-300), from their definition n_g [P_g(k - 1) - P_g(k)] / P(k) with P_g the member without
    one trial of g, each value on its own grid. Compiled, so that compiled callers (the
    PyTensor Op's numba implementation in ``binfer.bayes._op``) share it."""
    B, K = logpmf.shape
    G = p.shape[1]
    one_p = np.empty((1, G))
    one_c = np.empty((1, G))
    two_k = np.empty((1, 2))
    two_out = np.empty((3, 1, 2))
    dummy = np.empty((1, 1, 1))
    for b in range(B):
        for i in range(K):
            lp = logpmf[b, i]
            if lp == -np.inf:
                continue
            for g in range(G):
                if not np.isnan(grad[b, i, g]) or counts[b, g] <= 0.0 or p[b, g] <= 0.0 \
                        or p[b, g] >= 1.0:
                    continue
                for h in range(G):
                    one_p[0, h] = p[b, h]
                    one_c[0, h] = counts[b, h]
                one_c[0, g] -= 1.0
                two_k[0, 0] = k[b, i] - 1.0
                two_k[0, 1] = k[b, i]
                batch_eval(one_p, one_c, two_k, False, False, two_out, dummy, 0, 1)
                grad[b, i, g] = counts[b, g] * (np.exp(two_out[0, 0, 0] - lp)
                                                - np.exp(two_out[0, 0, 1] - lp))
