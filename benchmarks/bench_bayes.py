"""binfer.bayes against the same hierarchies written plainly in PyMC, on the rat tumour data
(Tarone 1982; BDA3 ch. 5: 71 groups).

Usage:  .venv/bin/python benchmarks/bench_bayes.py [--draws 1000] [--tune 1000] [--chains 4]
            [--models beta_binomial logit_normal] [--samplers pymc nutpie] [--runs 2]
            [--fresh-cache] [--totals] [--sampled-z] [--meta]

Per model family, the same posterior three ways, each with fixed seeds:

* plain: written as the PyMC example gallery does, theta sampled explicitly and centred, run
  with PyMC's NUTS. Beta-binomial: (a, b) = ``ab`` ~ HalfFlat (shape 2) with the BDA3 prior
  (a + b)^(-5/2) as a ``pm.Potential`` (the gallery's current version multiplies in a
  HalfNormal(10) on ``ab``, which would change the posterior: left out so that both sides
  sample the same one), theta ~ Beta(a, b) (71), y ~ Bin(n, theta). Logit-normal:
  logit_theta ~ N(mu, tau) (71, centred), mu ~ N(0, 2.5), tau ~ HalfNormal(1) (binfer's
  priors), y ~ Bin(n, logit_p=logit_theta);
* binfer ``BetaBinomialModel`` / ``LogitNormalModel`` with ``sampler="pymc"`` and, when nutpie
  is installed, ``sampler="nutpie"`` (``--samplers``); both models integrate the group effects
  out (the logit-normal by quadrature; ``--sampled-z`` adds its ``marginalize=False`` form,
  z sampled non-centred, with PyMC's NUTS).

Both sides use target_accept 0.9 (binfer's default; the gallery's beta-binomial uses 0.95) and
min(chains, CPUs) worker processes, as binfer's ``fit`` does (PyMC's own default is half the
CPUs, which on 2 cores would sample the plain models' chains one after another). Timed:
building the model and sampling (``pm.sample`` for plain; ``model.fit`` for binfer, which also
computes the pointwise log-likelihood, draws theta from its conjugate posterior and runs its
diagnostics). Each is timed ``--runs`` times in a row with the same seed (so the same draws):
PyTensor caches compiled C code on disk, so run 1 pays the model's compilation unless an
earlier invocation left it in the cache, and the later runs are warm (nutpie's numba callback
is compiled afresh on every fit, warm or not). ``--fresh-cache`` points PyTensor at an empty
temporary cache so that run 1 is cold. Before anything is timed a trivial model is compiled
and sampled on each backend, so run 1 pays this model's compilation, not PyTensor's or numba's
one-off start-up.

Reported: wall times, the sampling time PyMC records (``sampling_time``), bulk ESS of the
hyperparameters (beta-binomial: mu = a / (a + b) and kappa = a + b, computed from the plain
model's draws of a and b; logit-normal: mu and tau), posterior means (the sides should agree),
min bulk ESS per second of wall time, divergences, and binfer / plain ratios of wall time and
ESS/s (the issue's goals: at most 0.25 x and at least 3 x).

``--meta`` also times ``MetaAnalysisModel`` (beta-blocker and BCG trials) with delta integrated
out (the default) and sampled (``marginalize=False``).

``--totals`` also times binfer's ``TotalsModel`` (no plain counterpart exists: PyMC has no
Poisson-binomial likelihood) on the issue's design: T = 200 totals of 10 groups of 200 trials
(constant design, p_g uniform in (0.1, 0.4), ``default_rng(3)``), a default fit (``--chains``
x (``--tune`` + ``--draws``), log-likelihood included) with each sampler, against the 60 s
goal.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from importlib.util import find_spec

import numpy as np

FAMILIES = ("beta_binomial", "logit_normal")
HYPER = {"beta_binomial": ("mu", "kappa"), "logit_normal": ("mu", "tau")}
TARGET_ACCEPT = 0.9


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--models", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    ap.add_argument("--samplers", nargs="+", choices=("pymc", "nutpie"),
                    default=["pymc", "nutpie"], help="binfer's samplers (plain: PyMC's NUTS)")
    ap.add_argument("--runs", type=int, default=2, help="timed runs of each (same seed)")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--totals", action="store_true", help="also time TotalsModel")
    ap.add_argument("--meta", action="store_true",
                    help="also time MetaAnalysisModel with delta integrated out vs sampled")
    ap.add_argument("--sampled-z", action="store_true",
                    help="also time LogitNormalModel(marginalize=False) with PyMC's NUTS")
    ap.add_argument("--fresh-cache", action="store_true",
                    help="an empty temporary PyTensor cache (C and numba), so run 1 is cold")
    return ap.parse_args()


# ---------------------------------------------------------------------------- plain models
def plain_beta_binomial(y, n):
    import pymc as pm
    import pytensor.tensor as pt

    with pm.Model(coords={"obs_id": np.arange(len(y)), "param": ["alpha", "beta"]}) as model:
        ab = pm.HalfFlat("ab", dims="param", initval=np.array([1.0, 1.0]))
        pm.Potential("p(a, b)", pt.log(pt.pow(pt.sum(ab), -5 / 2)))
        pm.Deterministic("X", pt.log(ab[0] / ab[1]))
        pm.Deterministic("Z", pt.log(pt.sum(ab)))
        theta = pm.Beta("theta", alpha=ab[0], beta=ab[1], dims="obs_id")
        pm.Binomial("y", p=theta, observed=y, n=n)
    return model


def plain_logit_normal(y, n):
    import pymc as pm

    with pm.Model(coords={"obs_id": np.arange(len(y))}) as model:
        mu = pm.Normal("mu", 0.0, 2.5)
        tau = pm.HalfNormal("tau", 1.0)
        logit_theta = pm.Normal("logit_theta", mu, tau, dims="obs_id")
        pm.Binomial("y", n=n, logit_p=logit_theta, observed=y)
    return model


def hyper_draws(family: str, side: str, idata) -> dict[str, np.ndarray]:
    """(chain, draw) arrays of the two hyperparameters."""
    post = idata.posterior
    if family == "beta_binomial" and side == "plain":
        ab = np.asarray(post["ab"].values)
        a, b = ab[..., 0], ab[..., 1]
        return {"mu": a / (a + b), "kappa": a + b}
    return {v: np.asarray(post[v].values) for v in HYPER[family]}


# ---------------------------------------------------------------------------- runs
def warm_up(samplers) -> None:
    """Compile and sample a trivial model on each backend (untimed)."""
    import pymc as pm

    with pm.Model():
        pm.Normal("x", 0.0, 1.0, shape=3)
        pm.sample(draws=20, tune=20, chains=2, cores=min(2, os.cpu_count() or 1),
                  progressbar=False,
                  compute_convergence_checks=False, random_seed=0)
        if "nutpie" in samplers:
            pm.sample(draws=20, tune=20, chains=2, progressbar=False, nuts_sampler="nutpie",
                      compute_convergence_checks=False, random_seed=0)


def run_once(family: str, side: str, sampler: str, data, args):
    """(wall seconds, idata) of building the model and sampling it."""
    import pymc as pm

    from binfer import bayes

    y, n = data["events"].to_numpy(), data["trials"].to_numpy()
    t0 = time.perf_counter()
    if side == "plain":
        model = (plain_beta_binomial if family == "beta_binomial" else plain_logit_normal)(y, n)
        idata = pm.sample(draws=args.draws, tune=args.tune, chains=args.chains,
                          cores=min(args.chains, os.cpu_count() or 1), random_seed=args.seed,
                          target_accept=TARGET_ACCEPT, progressbar=False, model=model)
    else:
        if family == "beta_binomial":
            model = bayes.BetaBinomialModel(data)
        else:
            model = bayes.LogitNormalModel(data, marginalize=side == "binfer")
        idata = model.fit(draws=args.draws, tune=args.tune, chains=args.chains,
                          random_seed=args.seed, sampler=sampler, progress=False)
    return time.perf_counter() - t0, idata


def measure(family, side, sampler, data, args) -> dict:
    import arviz as az

    times, first = [], None
    for _ in range(args.runs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # divergences are counted below
            wall, idata = run_once(family, side, sampler, data, args)
        times.append(wall)
        first = hyper_draws(family, side, idata) if first is None else first
    hyper = hyper_draws(family, side, idata)
    if any(not np.array_equal(first[k], hyper[k]) for k in hyper):
        print(f"  note: {family} {side} {sampler}: the runs' draws differ despite one seed",
              file=sys.stderr)
    ess = {k: float(az.ess(v, method="bulk")) for k, v in hyper.items()}
    stats = idata.sample_stats
    div = int(np.asarray(stats["diverging"].values).sum()) if "diverging" in stats else -1
    return {"family": family, "side": side, "sampler": sampler, "times": times,
            "sampling": idata.posterior.attrs.get("sampling_time", np.nan), "ess": ess,
            "means": {k: float(v.mean()) for k, v in hyper.items()}, "div": div}


# ---------------------------------------------------------------------------- report
def report(rows, args) -> None:
    runs = args.runs
    head = (["family", "model", "sampler"] + [f"run {i + 1} s" for i in range(runs)]
            + ["sampling s", "ESS bulk (hyper)", "post. mean", "min ESS/s (warm)",
               "divergences", f"time / plain (run 1, run {runs})",
               f"ESS/s / plain (run 1, run {runs})"])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    plain = {r["family"]: r for r in rows if r["side"] == "plain"}
    for r in rows:
        names = HYPER[r["family"]]
        warm = r["times"][-1]
        eps = min(r["ess"].values()) / warm
        p = plain.get(r["family"])
        if p is None or r is p:
            rt, re = "-", "-"
        else:
            rt = f"{r['times'][0] / p['times'][0]:.2f}, {warm / p['times'][-1]:.2f}"
            # same draws in every run (same seed): ESS/s ratios are inverse time ratios
            gain = min(r["ess"].values()) / min(p["ess"].values())
            re = (f"{gain * p['times'][0] / r['times'][0]:.2f}, "
                  f"{gain * p['times'][-1] / warm:.2f}")
        label = {"plain": "plain PyMC (centred)", "binfer": "binfer",
                 "binfer_sampled": "binfer, z sampled"}[r["side"]]
        cells = ([r["family"], label,
                  "pymc" if r["side"] == "plain" else r["sampler"]]
                 + [f"{t:.1f}" for t in r["times"]]
                 + [f"{r['sampling']:.1f}",
                    ", ".join(f"{k} {r['ess'][k]:.0f}" for k in names),
                    ", ".join(f"{k} {r['means'][k]:.3g}" for k in names),
                    f"{eps:.0f}", str(r["div"]), rt, re])
        print("| " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    args = parse()
    if args.fresh_cache and "_BENCH_BAYES_CACHE" not in os.environ:
        # rerun in a child process whose PyTensor (and its samplers' workers) use an empty
        # cache; removed once the child and everything it started have exited
        cache = tempfile.mkdtemp(prefix="pytensor-bench-")
        flags = ",".join(f for f in (os.environ.get("PYTENSOR_FLAGS"),
                                     f"base_compiledir={cache}") if f)
        env = {**os.environ, "PYTENSOR_FLAGS": flags, "_BENCH_BAYES_CACHE": cache}
        try:
            code = subprocess.run([sys.executable, __file__, *sys.argv[1:]], env=env).returncode
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        sys.exit(code)
    samplers = [s for s in args.samplers if s != "nutpie" or find_spec("nutpie") is not None]
    import pymc  # noqa: F401  (it sets its logger's level on import)
    import pytensor

    for name in ("pymc", "pytensor", "nutpie"):  # PyMC's info and convergence messages
        logging.getLogger(name).setLevel(logging.ERROR)

    from binfer import datasets

    print(f"rat_tumors, {args.chains} chains x ({args.tune} tune + {args.draws} draws), "
          f"{os.cpu_count()} CPUs, PyTensor cache {pytensor.config.base_compiledir}"
          f"{' (fresh)' if args.fresh_cache else ''}; load average "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()), file=sys.stderr, flush=True)
    data = datasets.load("rat_tumors")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm_up(samplers)
    print(f"warm-up (trivial model on each backend): {time.perf_counter() - t0:.1f} s",
          file=sys.stderr, flush=True)
    rows = []
    for family in args.models:
        sides = [("plain", "pymc")] + [("binfer", s) for s in samplers]
        if family == "logit_normal" and args.sampled_z:
            sides.append(("binfer_sampled", "pymc"))
        for side, sampler in sides:
            row = measure(family, side, sampler, data, args)
            print(f"  {family} {side} {sampler}: "
                  + ", ".join(f"{t:.1f} s" for t in row["times"]),
                  file=sys.stderr, flush=True)
            rows.append(row)
    print("load average (1, 5, 15 min) at the end: "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()), file=sys.stderr)
    report(rows, args)
    if args.totals:
        totals_timing(samplers, args)
    if args.meta:
        meta_timing(args)


def meta_timing(args) -> None:
    """MetaAnalysisModel with z (and so delta) integrated out (the default) against the same
    model with z sampled non-centred (``marginalize=False``), PyMC's NUTS, default fits; the
    warm second of two runs is reported."""
    import arviz as az

    from binfer import bayes, datasets

    print("\nMetaAnalysisModel, PyMC's NUTS, 4 chains x (1000 + 1000), warm:")
    print("| data | delta | wall s | bulk ESS d, tau | min ESS/s | leapfrog steps / iteration "
          "| divergences |")
    print("|---|---|---|---|---|---|---|")
    for name in ("beta_blockers", "bcg"):
        data = datasets.load(name)
        for marginalize in (True, False):
            for _ in range(2):
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = bayes.MetaAnalysisModel(data, marginalize=marginalize)
                    idata = model.fit(draws=args.draws, tune=args.tune, chains=args.chains,
                                      random_seed=args.seed, sampler="pymc", progress=False)
                wall = time.perf_counter() - t0
            ess = [float(az.ess(idata.posterior[v])[v]) for v in ("d", "tau")]
            st = idata.sample_stats
            print(f"| {name} | {'integrated out' if marginalize else 'sampled'} | {wall:.1f} | "
                  f"{ess[0]:.0f}, {ess[1]:.0f} | {min(ess) / wall:.0f} | "
                  f"{float(st['n_steps'].mean()):.1f} | {int(st['diverging'].values.sum())} |",
                  flush=True)


def totals_timing(samplers, args) -> None:
    """A default TotalsModel fit on the issue's design, per sampler, against 60 s."""
    from binfer import bayes

    rng = np.random.default_rng(3)
    trials = np.full(10, 200)
    y = rng.binomial(np.broadcast_to(trials, (200, 10)), rng.uniform(0.1, 0.4, 10)).sum(axis=1)
    print("\nTotalsModel, T = 200 totals of 10 x 200 trials:")
    print("| sampler | wall s | x the 60 s goal | leapfrog steps / iteration | bulk ESS mu, tau "
          "| divergences |")
    print("|---|---|---|---|---|---|")
    for sampler in samplers:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = bayes.TotalsModel(totals=y, trials=trials)
            idata = model.fit(draws=args.draws, tune=args.tune, chains=args.chains,
                              random_seed=args.seed, sampler=sampler, progress=False)
        wall = time.perf_counter() - t0
        st = idata.sample_stats
        steps = float(st["n_steps"].mean()) if "n_steps" in st else float("nan")
        table = model.summary(["mu", "tau"])
        ess = ", ".join(f"{v:.0f}" for v in table["ess_bulk"])
        print(f"| {sampler} | {wall:.1f} | {wall / 60:.2f} | {steps:.1f} | {ess} | "
              f"{int(st['diverging'].values.sum())} |", flush=True)


if __name__ == "__main__":
    main()
