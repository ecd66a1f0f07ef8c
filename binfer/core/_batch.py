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

import numpy as np
from numba import njit

# Grid points with |phi'(t)| below e^-_CUT (an exact bound) are skipped.
_CUT = 40.0
_TWO_PI = 2.0 * math.pi


@njit(cache=True)
def _softplus(x):
    """log(1 + e^x) without overflow or loss for large |x|."""
    if x > 30.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@njit(cache=True)
def _expit(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(cache=True)
def _log1p(x):
    """log(1 + x) for x > -1 by the rounding-corrected log (Goldberg 1991; libm's log1p costs
    ~7 x more here): ``x log(w) / (w - 1)`` with w = 1 + x rounded, accurate to a few ulp."""
    w = 1.0 + x
    if w == 1.0:
        return x
    return math.log(w) * x / (w - 1.0)


@njit(cache=True)
def _log1mexp(x):
    """log(1 - e^x) for x <= 0 (Maechler 2012)."""
    if x > -0.6931471805599453:
        return math.log(-math.expm1(x))
    return math.log1p(-math.exp(x))


@njit(cache=True)
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


@njit(cache=True)
def _point(logit, n, m, n_int, j, want_tail, want_grad, pt, qt, rp, rq, num, res, work):
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
    var = 0.0
    mt = 0.0
    kl = 0.0
    for g in range(m):
        x = logit[g] + theta
        a = _expit(x)
        b = _expit(-x)
        pt[g] = a
        qt[g] = b
        var += n[g] * a * b
        mt += n[g] * a
        # KL(p' || p) = theta p' - softplus(logit + theta) + softplus(logit) >= 0
        kl += n[g] * max(theta * a - _softplus(x) + _softplus(logit[g]), 0.0)
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
            num[g] = 0.0  # Re sum w e^(it) / z_g: M P'_g(j - 1) / p'_g-ish
            work[g] = 0.0  # Re sum w / z_g: the q-term
            work[m + g] = 0.0  # sum |w| / |z_g|: the scale of their rounding
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
        lr = 0.0
        li = 0.0
        for g in range(m):
            a = pt[g]
            b = qt[g]
            lr += n[g] * _log1p(-2.0 * a * b * one_minus_cos)
            li += n[g] * math.atan2(a * s, b + a * c)
        mag = math.exp(0.5 * lr)
        ph = li - t * j
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
            # w / z_g = w conj(z_g) / |z_g|^2 and w e^(it) / z_g, z_g = q'_g + p'_g e^(it)
            wa = f * mag
            for g in range(m):
                a = pt[g]
                zr = qt[g] + a * c
                zi = a * s
                inv = 1.0 / (zr * zr + zi * zi)
                ur = (wr * zr + wi * zi) * inv
                ui = (wi * zr - wr * zi) * inv
                num[g] += f * (ur * c - ui * s)
                work[g] += f * ur
                work[m + g] += wa * math.sqrt(inv)
    scale = -theta * (j - mt) - kl
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
            err = 8e-16 * (rp[g] + rq[g]) * work[m + g]
            bad = not (math.isfinite(err) and err <= 1e-11 * (abs(tp) + abs(tq)))
            num[g] = n[g] * (tp - tq) / s0
            work[g] = 1.0 if bad else 0.0


@njit(cache=True)
def _log_value(logit, n, m, n_int, x, pt, qt, res):
    """log P(X_int = x) alone: closed form at the ends of the support, else one grid."""
    if x < 0 or x > n_int:
        return -math.inf
    if n_int == 0:
        return 0.0
    if x == 0 or x == n_int:
        sign = 1.0 if x == 0 else -1.0
        total = 0.0
        for g in range(m):
            total -= n[g] * _softplus(sign * logit[g])  # log q_g or log p_g
        return total
    _point(logit, n, m, n_int, x, False, False, pt, qt, pt, qt, pt, res, pt)
    return res[0]


@njit(cache=True)
def batch_eval(p, counts, k, want_tail, want_grad, out, grad):
    """Values at k[b, i] of member b (rows of p and counts): out[0] log pmf, out[1] log cdf,
    out[2] log sf (each (B, K)); with want_grad, grad[b, i, g] = d log P(X_b = k) / d p[b, g]
    (NaN where P(X_b = k) = 0 or k is not an integer)."""
    B, G = p.shape
    K = k.shape[1]
    logit = np.empty(G)
    n = np.empty(G)
    idx = np.empty(G, dtype=np.int64)
    pt = np.empty(G)
    qt = np.empty(G)
    rp = np.empty(G)
    rq = np.empty(G)
    num = np.empty(G)
    work = np.empty(2 * G)
    res = np.empty(5)
    res2 = np.empty(5)
    for b in range(B):
        m = 0
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
                logit[m] = math.log(q) - math.log1p(-q)
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
                lp = _log_value(logit, n, m, n_int, j, pt, qt, res)
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
                _point(logit, n, m, n_int, j, want_tail, grad_here, pt, qt, rp, rq, num, res,
                       work)
                out[0, b, i] = res[0] if is_int else -math.inf
                out[1, b, i] = res[1]
                out[2, b, i] = res[2]
                if grad_here:
                    for g in range(m):
                        if work[g] == 0.0:
                            continue
                        # a term the grid cannot resolve: n_g [P_g(j-1) - P_g(j)] / P(j) from
                        # the PMF without one trial of g, each point on its own grid
                        n[g] -= 1.0
                        lo = _log_value(logit, n, m, n_int - 1, j - 1, pt, qt, res2)
                        hi = _log_value(logit, n, m, n_int - 1, j, pt, qt, res2)
                        n[g] += 1.0
                        num[g] = n[g] * (math.exp(lo - res[0]) - math.exp(hi - res[0]))
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


def evaluate(p: np.ndarray, counts: np.ndarray, k: np.ndarray, *, tails: bool = True,
             grad: bool = False):
    """(out (3, B, K), grad (B, K, G) or None) for p, counts of shape (B, G), k of shape (B, K).

    The arguments must already be validated; they are converted to C-contiguous float64 (one
    compiled specialisation)."""
    p = np.ascontiguousarray(p, dtype=np.float64)
    counts = np.ascontiguousarray(counts, dtype=np.float64)
    k = np.ascontiguousarray(k, dtype=np.float64)
    B, G = p.shape
    out = np.empty((3, B, k.shape[1]))
    g_out = np.empty((B, k.shape[1], G) if grad else (1, 1, 1))
    batch_eval(p, counts, k, bool(tails), bool(grad), out, g_out)
    return out, (g_out if grad else None)
