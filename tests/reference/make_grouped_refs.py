"""Reference log pmf / cdf / sf at chosen k for grouped sums of binomials, in mpmath (40 digits).

Independent of binfer: an exponentially tilted characteristic-function inversion (the DFT-CF of
Fernandez & Williams 2010, tilted as in Peres, Lee & Keich 2021) evaluated in mpmath, which is
O(G M) per point for G groups and needs no convolution of the whole PMF, so N = 10^6 in 10 groups
is cheap.  For each k:

* theta solves sum_g n_g p'_g = k with p'_g = p_g e^theta / (q_g + p_g e^theta) (the tilted mean);
* P'(k) = (1/M) sum_t phi'(t) e^(-itk), phi'(t) = prod_g (q'_g + p'_g e^(it))^(n_g), on
  M = 2 (40 sd' + J) + 1 points, so that aliasing is below e^-800;
* log P(k) = log P'(k) - theta k + sum_g n_g log(q_g + p_g e^theta);
* sf(k) = P(X > k) = sum_{j=k+1}^{k+J} P(j) + (negligible): the finite geometric sum over j is
  folded into the inversion, (1/M) sum_t phi'(t) e^(-itk) w (1 - w^J) / (1 - w), w = e^(-theta-it),
  with theta > 0 chosen for a point above the mean (so the terms decay like e^-theta);
  J is set so that e^(-theta J) < 1e-40.  Lower tails use cdf(k) = sf of N - X at N - k - 1.
* The script checks the method against exact dynamic programming on a small case first.

Run:  .venv/bin/python tests/reference/make_grouped_refs.py   (about a minute)
Writes tests/reference/grouped_refs.json.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import mpmath as mp

mp.mp.dps = 40
OUT = Path(__file__).with_name("grouped_refs.json")


def tilt_for(p, n, target):
    """theta with tilted mean = target (mpmath, bisection then Newton)."""
    def mean(th):
        return mp.fsum(ni * pi * mp.e**th / (1 - pi + pi * mp.e**th) for pi, ni in zip(p, n))
    lo, hi = mp.mpf(-50), mp.mpf(50)
    while mean(lo) > target:
        lo *= 2
    while mean(hi) < target:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if mean(mid) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def tilted(p, n, theta):
    pt = [pi * mp.e**theta / (1 - pi + pi * mp.e**theta) for pi in p]
    var = mp.fsum(ni * q * (1 - q) for q, ni in zip(pt, n))
    lognorm = mp.fsum(ni * mp.log(1 - pi + pi * mp.e**theta) for pi, ni in zip(p, n))
    return pt, var, lognorm


def phi_grid(pt, n, M):
    out = []
    for j in range(M):
        t = 2 * mp.pi * j / M
        e = mp.expj(t)
        out.append(mp.exp(mp.fsum(ni * mp.log((1 - q) + q * e) for q, ni in zip(pt, n))))
    return out


def log_pmf_and_sf(p, n, k, want_sf=True):
    """(log P(X = k), log P(X > k)) with the tilt centred at k (pmf) and at k + 1 (sf)."""
    N = sum(n)
    p = [mp.mpf(x) for x in p]
    res = {}
    # pmf: tilt to mean k (clipped inside the support)
    th = tilt_for(p, n, min(max(mp.mpf(k), mp.mpf("0.3")), N - mp.mpf("0.3")))
    pt, var, lognorm = tilted(p, n, th)
    sd = mp.sqrt(var)
    M = min(2 * int(40 * sd + 200) + 1, N + 1)
    ph = phi_grid(pt, n, M)
    s = mp.fsum(ph[j] * mp.expj(-2 * mp.pi * j * k / M) for j in range(M)) / M
    res["logpmf"] = mp.log(mp.re(s)) - th * k + lognorm
    if want_sf and k < N:
        # tilt to a mean just above k so the terms j > k decay geometrically (theta > 0 needed)
        th = tilt_for(p, n, min(mp.mpf(k) + mp.mpf("0.5"), N - mp.mpf("0.3")))
        pt, var, lognorm = tilted(p, n, th)
        if th <= 0:
            raise ValueError("sf reference needs a point above the mean")
        J = min(int(mp.ceil(95 / th)) + 1, N - k)
        sd = mp.sqrt(var)
        M = 2 * int(40 * sd + J + 200) + 1
        ph = phi_grid(pt, n, M)
        acc = []
        for j in range(M):
            t = 2 * mp.pi * j / M
            w = mp.exp(-th - 1j * t)
            acc.append(ph[j] * mp.expj(-t * k) * w * (1 - w**J) / (1 - w))
        s = mp.fsum(acc) / M
        # s = sum_m P'(k + m) e^(-theta m) and P(j) = P'(j) e^(-theta j) Z: sf = s e^(-theta k) Z
        res["logsf"] = mp.log(mp.re(s)) - th * k + lognorm
    return res


def exact_dp(p, n):
    pmf = [mp.mpf(1)]
    for pi, ni in zip(p, n):
        pi = mp.mpf(pi)
        for _ in range(ni):
            new = [mp.mpf(0)] * (len(pmf) + 1)
            for i, v in enumerate(pmf):
                new[i] += v * (1 - pi)
                new[i + 1] += v * pi
            pmf = new
    return pmf


def self_check():
    p, n = [0.01, 0.3, 0.9, 0.5], [20, 30, 10, 40]
    exact = exact_dp(p, n)
    N = sum(n)
    worst = mp.mpf(0)
    mean = sum(a * b for a, b in zip(p, n))
    for k in [0, 3, 17, 40, 55, 80, 95, 99]:
        r = log_pmf_and_sf(p, n, k, want_sf=k > mean)
        worst = max(worst, abs(r["logpmf"] - mp.log(exact[k])))
        if "logsf" in r:
            worst = max(worst, abs(r["logsf"] - mp.log(mp.fsum(exact[k + 1 : N + 1]))))
    print("self-check against exact DP: worst |log error| =", mp.nstr(worst, 3))
    assert worst < mp.mpf("1e-30")


def case(name, p, n, zs, extra_k=()):
    N = sum(n)
    mean = sum(a * b for a, b in zip(p, n))
    sd = math.sqrt(sum(b * a * (1 - a) for a, b in zip(p, n)))
    ks = sorted({int(round(mean + z * sd)) for z in zs} | set(extra_k))
    ks = [k for k in ks if 0 <= k <= N]
    rows = []
    for k in ks:
        t = time.time()
        r = {"k": k}
        # tails (|z| >= 2.5) get cdf/sf references; near the centre the folded series would need
        # tens of thousands of terms and the values are not tail values anyway
        tail = abs(k - mean) >= 2.5 * sd
        if k > mean:
            v = log_pmf_and_sf(p, n, k, want_sf=tail)
            r["logpmf"] = mp.nstr(v["logpmf"], 20)
            if "logsf" in v:
                r["logsf"] = mp.nstr(v["logsf"], 20)
        else:
            v = log_pmf_and_sf(p, n, k, want_sf=False)
            r["logpmf"] = mp.nstr(v["logpmf"], 20)
            if k > 0 and tail:
                # cdf(k) = P(X <= k) = P(N - X >= N - k) = sf of the mirrored sum at N - k - 1
                w = log_pmf_and_sf([1 - mp.mpf(x) for x in p], n, N - k - 1)
                r["logcdf"] = mp.nstr(w["logsf"], 20)
        rows.append(r)
        print(name, k, r, f"{time.time() - t:.1f}s", flush=True)
    return {"name": name, "p": p, "counts": n, "points": rows}


def main():
    t0 = time.time()
    self_check()
    cases = [
        case("grouped10x1e5", [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 0.95],
             [100_000] * 10, [-40, -20, -8, -3, -1, 0, 1, 3, 8, 20, 40], extra_k=(3, 250)),
        case("mixed_sizes", [1e-6, 0.001, 0.25, 0.5, 0.999999],
             [1_000_000, 50_000, 3_000, 7, 20_000], [-30, -10, -2, 0, 2, 10, 30]),
    ]
    OUT.write_text(json.dumps({"mpmath": mp.__version__, "dps": mp.mp.dps, "cases": cases},
                              indent=1) + "\n")
    print(f"wrote {OUT} in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
