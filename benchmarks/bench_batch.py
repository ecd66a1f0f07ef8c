"""Many small distributions: binfer's batched pointwise core against its peers, same run.

Usage:  .venv/bin/python benchmarks/bench_batch.py [--repeat 5] [--members 1000]

Design: G = 20 groups of 50..149 trials (N ~ 2000), p uniform in (0.02, 0.5), one point per
member near its mean (drawn at +-1 sd).  Times (best of --repeat, construction included):

1. one distribution, construction + logpmf at one k: binfer; fast-poibin on the expanded p
   (construction + lookup; inexact FFT); scipy.stats.binom.logpmf (one call, one binomial);
   scipy.stats.poisson_binom.logpmf on the expanded p;
2. the same + logpmf_grad at that k (binfer; no peer has a gradient);
3. a batch of B members with different designs and p, value and gradient at one point each
   (binfer: one ``logpmf_and_grad`` call) against a Python loop of fast-poibin (value only);
4. the same batch with ~1e5 trials per member (fast-poibin timed on a subset, per member).

Every timed binfer value is checked in the same run against an independent reference: the
exact log-space direct convolution (``method="direct"``) for values, the gradient's definition
n_g [P_g(k-1) - P_g(k)] / P(k) from direct convolutions for gradients (N ~ 2000), and the banded
tilted windows (binfer.core._point, validated against mpmath) at 1e5 trials.  Also measured:
``import binfer`` and the first result in a fresh installation (empty NUMBA_CACHE_DIR), each in
a fresh interpreter.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time

import fast_poibin
import numpy as np
import scipy.stats as st

import binfer
from binfer.core._point import PointEvaluator

G = 20


def best_of(fn, repeat: int, number: int = 1) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def design(rng, members: int, low: int, high: int):
    p = rng.uniform(0.02, 0.5, (members, G))
    counts = rng.integers(low, high, (members, G))
    mean = (p * counts).sum(axis=1)
    sd = np.sqrt((p * (1 - p) * counts).sum(axis=1))
    k = np.floor(mean + rng.uniform(-1, 1, members) * sd)
    return p, counts, k


def direct_reference(p, counts, k):
    """log P(k) and its gradient from exact log-space direct convolutions."""
    lp = binfer.PoissonBinomial(p, counts, method="direct").pmf_all(log=True)
    grad = np.empty(G)
    for g in range(G):
        c = counts.copy()
        c[g] -= 1
        lg = binfer.PoissonBinomial(p, c, method="direct").pmf_all(log=True)
        grad[g] = counts[g] * (math.exp(lg[k - 1] - lp[k]) - math.exp(lg[k] - lp[k]))
    return lp[k], grad


def rel_log_error(got, ref) -> float:
    return float(np.max(np.abs(np.asarray(got) - np.asarray(ref))))


def rel_grad_error(got, ref) -> float:
    scale = np.maximum(np.abs(ref), np.abs(ref).max() * 1e-6)
    return float(np.max(np.abs(got - ref) / scale))


def fresh_interpreter(code: str, env: dict | None = None) -> float:
    """Wall time of ``code`` in a new interpreter (it prints its own elapsed time)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--members", type=int, default=1000)
    args = ap.parse_args()
    rng = np.random.default_rng(20261126)
    rows = []

    # -- 1 and 2: one small distribution
    p, counts, k = design(rng, 1, 50, 150)
    p, counts, k = p[0], counts[0], int(k[0])
    pe = np.repeat(p, counts)
    N, pbar = int(counts.sum()), float(p @ counts / counts.sum())
    ref_v, ref_g = direct_reference(p, counts, k)

    def ours():
        return binfer.PoissonBinomial(p, counts).logpmf([k])

    def ours_grad():
        X = binfer.PoissonBinomial(p, counts)
        return X.logpmf([k]), X.logpmf_grad([k])

    ours(), ours_grad()  # load the compiled kernels
    t_ours = best_of(ours, args.repeat, 200)
    t_grad = best_of(ours_grad, args.repeat, 200)
    t_fp = best_of(lambda: math.log(fast_poibin.PoiBin(pe).pmf[k]), args.repeat, 50)
    t_binom = best_of(lambda: st.binom.logpmf(k, N, pbar), args.repeat, 200)
    t_spb = best_of(lambda: st.poisson_binom.logpmf(k, pe), args.repeat, 20)
    err_v = rel_log_error(ours()[0], ref_v)
    err_g = rel_grad_error(ours_grad()[1][0], ref_g)
    print(f"# one distribution: G = {G}, N = {N}, k = {k} (mean {p @ counts:.1f})")
    print(f"{'call':58} {'time':>10} {'ratio':>8}")
    for name, t, base in [
        ("binfer construct + logpmf(k)", t_ours, None),
        ("  vs fast-poibin construct + lookup (expanded p)", t_fp, t_ours),
        ("  vs scipy.stats.binom.logpmf (one call)", t_binom, t_ours),
        ("  vs scipy.stats.poisson_binom.logpmf (expanded p)", t_spb, t_ours),
        ("binfer construct + logpmf(k) + logpmf_grad(k)", t_grad, None),
        ("  vs fast-poibin (value only)", t_fp, t_grad),
    ]:
        ratio = f"{base / t:8.3f}" if base else ""
        print(f"{name:58} {t * 1e6:8.1f}us {ratio}")
    print(f"binfer / fast-poibin = {t_ours / t_fp:.3f} (goal <= 0.1); binfer / scipy binom = "
          f"{t_ours / t_binom:.2f} (goal <= 3); with gradient / fast-poibin = "
          f"{t_grad / t_fp:.3f} (goal <= 0.2)")
    print(f"accuracy against the direct convolution: log P error {err_v:.1e}, "
          f"gradient relative error {err_g:.1e}")
    rows.append(("single", t_ours, t_fp))

    # -- 3: a batch of small members
    B = args.members
    pb, cb, kb = design(rng, B, 50, 150)
    X = binfer.PoissonBinomial(pb, cb)
    X.logpmf_and_grad(kb)
    t_batch = best_of(lambda: binfer.PoissonBinomial(pb, cb).logpmf_and_grad(kb), args.repeat)
    expanded = [np.repeat(pb[b], cb[b]) for b in range(B)]
    kb_int = kb.astype(int)

    def fp_loop():
        return [math.log(fast_poibin.PoiBin(expanded[b]).pmf[kb_int[b]]) for b in range(B)]

    t_fploop = best_of(fp_loop, max(1, args.repeat // 2))
    value, grad = X.logpmf_and_grad(kb)
    check = rng.choice(B, 20, replace=False)
    errs_v, errs_g = [], []
    for b in check:
        rv, rg = direct_reference(pb[b], cb[b], int(kb[b]))
        errs_v.append(rel_log_error(value[b], rv))
        errs_g.append(rel_grad_error(grad[b], rg))
    per = t_batch / B
    print(f"\n# batch: B = {B} members, G = {G}, N ~ {int(cb.sum(axis=1).mean())} each, "
          f"value and gradient at one point each (threads: {binfer_threads()})")
    print(f"binfer logpmf_and_grad, one call           {t_batch * 1e3:9.2f} ms "
          f"({per * 1e6:.2f} us a member)")
    print(f"fast-poibin Python loop (value only)       {t_fploop * 1e3:9.2f} ms "
          f"({t_fploop / B * 1e6:.1f} us a member)")
    print(f"binfer / fast-poibin loop = {t_batch / t_fploop:.4f} (goal <= 0.02, stretch 0.01); "
          f"{per * 1e6 / 1.5:.1f} x the ~1.5 us physical limit")
    print(f"accuracy (20 members against direct convolutions): log P error <= "
          f"{max(errs_v):.1e}, gradient relative error <= {max(errs_g):.1e}")
    rows.append(("batch", t_batch, t_fploop))

    # -- 4: a batch with ~1e5 trials per member
    B2 = max(B // 10, 10)
    pl, cl, kl = design(rng, B2, 4000, 6000)
    XL = binfer.PoissonBinomial(pl, cl)
    XL.logpmf_and_grad(kl)
    t_large = best_of(lambda: binfer.PoissonBinomial(pl, cl).logpmf_and_grad(kl), args.repeat)
    sub = min(10, B2)
    t_fpl = best_of(lambda: [fast_poibin.PoiBin(np.repeat(pl[b], cl[b])).pmf[int(kl[b])]
                             for b in range(sub)], 2) / sub
    value_l, _ = XL.logpmf_and_grad(kl)
    errs = []
    for b in range(min(5, B2)):
        Xb = binfer.PoissonBinomial(pl[b], cl[b])
        errs.append(abs(value_l[b] - PointEvaluator(*Xb._interior).evaluate(int(kl[b]))[0]))
    print(f"\n# batch with ~{int(cl.sum(axis=1).mean())} trials per member: B = {B2}")
    print(f"binfer logpmf_and_grad: {t_large / B2 * 1e6:.2f} us a member "
          f"({t_large / B2 / per:.2f} x the ~2000-trial members: sub-linear in N); "
          f"fast-poibin {t_fpl * 1e6:.0f} us a member; ratio {t_large / B2 / t_fpl:.4f}")
    print(f"accuracy (5 members against the banded tilted windows): log P error <= "
          f"{max(errs):.1e}")

    # -- import and first use in fresh interpreters
    code_import = ("import time; t = time.perf_counter(); import binfer; "
                   "print(time.perf_counter() - t)")
    t_imp = min(fresh_interpreter(code_import) for _ in range(3))
    code_first = ("import time; t = time.perf_counter(); import numpy as np, binfer; "
                  "X = binfer.PoissonBinomial(np.linspace(0.02, 0.5, 20), np.full(20, 100)); "
                  "X.logpmf(500); print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        t_cold = fresh_interpreter(code_first, {"NUMBA_CACHE_DIR": cache})
        t_warm = fresh_interpreter(code_first, {"NUMBA_CACHE_DIR": cache})
    print(f"\nimport binfer: {t_imp:.3f} s (goal <= 0.5); first logpmf in a fresh installation "
          f"(empty numba cache): {t_cold:.2f} s (goal <= 5); with the cache: {t_warm:.2f} s")


def binfer_threads() -> int:
    import numba

    return numba.get_num_threads()


if __name__ == "__main__":
    main()
