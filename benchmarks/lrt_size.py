"""Size of the totals-only likelihood-ratio test (binomial_vs_poisson_binomial) by simulation.

Usage:  .venv/bin/python benchmarks/lrt_size.py [--n-sim 1500] [--n-resamples 99]
            [--n-sim-bootstrap 250] [--bootstrap-designs A,C] [--designs A,B,C,D]
            [--workers 2] [--seed 20261126] [--out benchmarks/lrt_size_results.csv]
            [--markdown /tmp/lrt_size.md] [--raw per_data_set.csv]

For each design, ``--n-sim`` data sets are drawn under H0 (one common p) and each is fitted once
(``method="mixture"``: both likelihoods, no resampling).  Per data set: the statistic 2 (l1 - l0),
whether it is exactly 0, the p-value of the 50:50 mixture of chi2_0 and chi2_1, and that of
chi2(G - 1).  The first ``--n-sim-bootstrap`` data sets of each of ``--bootstrap-designs`` are
instead run with ``method="bootstrap", n_resamples=--n-resamples`` (R refits each: the expensive
part), whose statistic and mixture p-value are those of the same fit (same seed), so the data are
fitted once.  With R = 99 the bootstrap p-value (1 + hits) / (R + 1) attains 0.01, 0.05 and 0.1.

Summary per design: the share of statistics equal to 0 and the rejection rate
r = #{p <= alpha} / n at alpha = 0.01, 0.05, 0.1 of the mixture, chi2(G - 1) and the bootstrap,
each with its Monte Carlo SE sqrt(r (1 - r) / n).  ``--out``: one CSV row per design x method x
alpha, plus one ``zero share`` row per design.  A markdown table (with the command line and the
wall time) is printed and, with ``--markdown``, written.

Data set i of design d is drawn from ``SeedSequence(seed).spawn(...)[d].spawn(...)[i]`` (d: the
design's place in the catalogue below), so the results depend neither on ``--workers`` nor on
``--designs``, and the first k data sets are the same whatever ``--n-sim``.  The data sets are
run in chunks on a ``ProcessPoolExecutor`` (spawned workers, one numba thread each).

``benchmarks/lrt_size_results.csv`` (quoted in the README and in the test's docstring) came from
(2026-11-26, 2 workers, 42 min):

    .venv/bin/python benchmarks/lrt_size.py --n-sim 1500 --n-resamples 99 \
        --n-sim-bootstrap 250 --bootstrap-designs A,C --designs A,B,C,D --workers 2 \
        --seed 20261126 --out benchmarks/lrt_size_results.csv
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
import pandas as pd
from scipy import stats

ALPHAS = (0.01, 0.05, 0.1)
METHODS = ("mixture", "chi2(G-1)", "bootstrap")
DESIGN_SEED = 1  # the varying design C's trials are drawn once from this seed


@dataclass(frozen=True)
class Design:
    name: str
    text: str
    trials: np.ndarray  # (G,) constant or (T, G) varying
    T: int
    p: float

    @property
    def G(self) -> int:
        return self.trials.shape[-1]

    @property
    def n_total(self) -> np.ndarray:
        if self.trials.ndim == 2:
            return self.trials.sum(axis=1)
        return np.full(self.T, self.trials.sum())


def catalogue() -> dict[str, Design]:
    c = np.random.default_rng(DESIGN_SEED).integers(10, 61, size=(100, 4))
    designs = [
        Design("A", "constant, n = (30, 60, 90), T = 100, p = 0.2", np.array([30, 60, 90]),
               100, 0.2),
        Design("B", "constant, n = (20, 20, 40, 40, 80), T = 200, p = 0.1",
               np.array([20, 20, 40, 40, 80]), 200, 0.1),
        Design("C", f"varying, G = 4, n_tg ~ U{{10..60}} (seed {DESIGN_SEED}), T = 100, p = 0.3",
               c, 100, 0.3),
        Design("D", "constant, G = 10 groups of 50, T = 300, p = 0.05", np.full(10, 50), 300,
               0.05),
    ]
    return {d.name: d for d in designs}


# --------------------------------------------------------------------------- workers
def _init_worker() -> None:
    import numba

    import binfer

    numba.set_num_threads(1)  # the parallelism is the processes'
    # load the compiled kernels before anything is timed
    binfer.binomial_vs_poisson_binomial(totals=[3, 4, 6, 2], trials=[5, 5], method="mixture")


def run_chunk(name: str, indices: list[int], seeds: list[np.random.SeedSequence],
              n_resamples: int) -> list[dict]:
    """Simulate and test the data sets ``indices`` of design ``name`` (bootstrap when
    ``n_resamples`` > 0, else the fit only)."""
    import binfer

    d = catalogue()[name]
    n_total = d.n_total
    out = []
    for i, ss in zip(indices, seeds, strict=True):
        rng = np.random.default_rng(ss)
        y = rng.binomial(n_total, d.p)
        fit_seed = int(rng.integers(2**63))
        t0 = time.perf_counter()
        if n_resamples > 0:
            r = binfer.binomial_vs_poisson_binomial(
                totals=y, trials=d.trials, method="bootstrap", n_resamples=n_resamples,
                random_state=fit_seed, progress=False)
            p_boot = r.pvalue
        else:
            r = binfer.binomial_vs_poisson_binomial(
                totals=y, trials=d.trials, method="mixture", random_state=fit_seed,
                progress=False)
            p_boot = math.nan
        seconds = time.perf_counter() - t0
        stat = float(r.statistic)
        out.append(dict(design=name, i=i, statistic=stat, zero=stat == 0.0,
                        p_mixture=float(r.pvalue_mixture),
                        p_chi2=float(stats.chi2.sf(stat, d.G - 1)), p_bootstrap=p_boot,
                        n_resamples=n_resamples, seconds=seconds))
    return out


# --------------------------------------------------------------------------- summary
def _rate(p: np.ndarray, alpha: float) -> tuple[float, float]:
    r = float((p <= alpha * (1 + 1e-9)).mean())
    return r, math.sqrt(r * (1 - r) / p.size)


def summarise(raw: pd.DataFrame, designs: dict[str, Design]) -> pd.DataFrame:
    rows = []
    for name, sub in raw.groupby("design", sort=True):
        d = designs[name]
        n = len(sub)
        z = float(sub["zero"].mean())
        base = dict(design=name, description=d.text, G=d.G)
        rows.append(dict(base, method="zero share", alpha=math.nan, n_sim=n, n_resamples=0,
                         rate=z, mcse=math.sqrt(z * (1 - z) / n)))
        boot = sub[sub["n_resamples"] > 0]
        for method, col, part in (("mixture", "p_mixture", sub), ("chi2(G-1)", "p_chi2", sub),
                                  ("bootstrap", "p_bootstrap", boot)):
            if part.empty:
                continue
            R = int(part["n_resamples"].max()) if method == "bootstrap" else 0
            for alpha in ALPHAS:
                r, se = _rate(part[col].to_numpy(), alpha)
                rows.append(dict(base, method=method, alpha=alpha, n_sim=len(part),
                                 n_resamples=R, rate=r, mcse=se))
    return pd.DataFrame(rows)


def markdown(summary: pd.DataFrame, raw: pd.DataFrame, designs: dict[str, Design],
             command: str, wall: float, workers: int) -> str:
    lines = ["| design | statistic = 0 | test | n data sets | size at 0.01 | at 0.05 | at 0.1 |",
             "|---|---|---|---|---|---|---|"]
    for name, sub in summary.groupby("design", sort=True):
        zero = sub[sub["method"] == "zero share"].iloc[0]
        first = True
        for method in METHODS:
            m = sub[sub["method"] == method].sort_values("alpha")
            if m.empty:
                continue
            cells = [f"{r.rate:.3f} ({r.mcse:.3f})" for r in m.itertuples()]
            label = method if method != "bootstrap" else f"bootstrap, R = {m.n_resamples.iloc[0]}"
            lines.append(f"| {name if first else ''} | "
                         f"{f'{zero.rate:.3f} ({zero.mcse:.3f})' if first else ''} | {label} | "
                         f"{m.n_sim.iloc[0]} | " + " | ".join(cells) + " |")
            first = False
    lines += ["", "Rejection rate (Monte Carlo SE) under H0; nominal level in the header.", "",
              "| design | description | fit only, mean s | bootstrap call, mean s |",
              "|---|---|---|---|"]
    for name in sorted(raw["design"].unique()):
        sub = raw[raw["design"] == name]
        fit = sub.loc[sub["n_resamples"] == 0, "seconds"]
        boot = sub.loc[sub["n_resamples"] > 0, "seconds"]
        lines.append(f"| {name} | {designs[name].text} | "
                     f"{fit.mean():.3f} | {boot.mean():.2f} |" if not boot.empty else
                     f"| {name} | {designs[name].text} | {fit.mean():.3f} | - |")
    lines += ["", f"Times per data set inside one worker (one numba thread); {workers} workers.",
              "", f"Command: `{command}`", "", f"Wall time: {wall / 60:.1f} min ({wall:.0f} s)."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-sim", type=int, default=1500, help="data sets per design")
    ap.add_argument("--n-resamples", type=int, default=99,
                    help="bootstrap resamples R (0: no bootstrap)")
    ap.add_argument("--n-sim-bootstrap", type=int, default=None,
                    help="how many of the data sets (the first) also get the bootstrap "
                         "(default: all)")
    ap.add_argument("--bootstrap-designs", default=None,
                    help="comma-separated designs that get the bootstrap (default: all)")
    ap.add_argument("--designs", default="A,B,C,D", help="comma-separated, of A, B, C, D")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--chunk", type=int, default=50, help="fit-only data sets per task")
    ap.add_argument("--boot-chunk", type=int, default=5, help="bootstrap data sets per task")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                  "lrt_size_results.csv"))
    ap.add_argument("--markdown", default=None, help="also write the markdown table here")
    ap.add_argument("--raw", default=None,
                    help="per-data-set results, appended as each task finishes")
    ap.add_argument("--resume", action="store_true",
                    help="keep the data sets already in --raw (same settings) and run the rest")
    args = ap.parse_args()
    command = " ".join([".venv/bin/python", "benchmarks/lrt_size.py"]
                       + [shlex.quote(a) for a in sys.argv[1:]])
    cat = catalogue()
    names = [s.strip() for s in args.designs.split(",") if s.strip()]
    unknown = [s for s in names if s not in cat]
    if unknown:
        ap.error(f"unknown design(s) {unknown}; known: {list(cat)}")
    boot_names = names if args.bootstrap_designs is None else [
        s.strip() for s in args.bootstrap_designs.split(",") if s.strip()]
    n_boot = args.n_sim if args.n_sim_bootstrap is None else min(args.n_sim_bootstrap, args.n_sim)
    if args.n_resamples <= 0:
        n_boot = 0

    done_keys: set = set()
    previous = pd.DataFrame()
    if args.resume:
        if not (args.raw and os.path.exists(args.raw)):
            ap.error("--resume needs an existing --raw file")
        previous = pd.read_csv(args.raw)
        done_keys = set(zip(previous["design"], previous["i"], previous["n_resamples"],
                            strict=True))
    elif args.raw and os.path.exists(args.raw):
        os.remove(args.raw)

    root = np.random.SeedSequence(args.seed)
    design_ss = dict(zip(cat, root.spawn(len(cat)), strict=True))
    tasks = []  # (name, indices, seeds, R); the bootstrap (long) tasks first
    for name in names:
        seeds = design_ss[name].spawn(args.n_sim)
        k = n_boot if name in boot_names else 0
        for lo in range(0, k, args.boot_chunk):
            idx = [i for i in range(lo, min(k, lo + args.boot_chunk))
                   if (name, i, args.n_resamples) not in done_keys]
            if idx:
                tasks.append((name, idx, [seeds[i] for i in idx], args.n_resamples))
        for lo in range(k, args.n_sim, args.chunk):
            idx = [i for i in range(lo, min(args.n_sim, lo + args.chunk))
                   if (name, i, 0) not in done_keys]
            if idx:
                tasks.append((name, idx, [seeds[i] for i in idx], 0))
    tasks.sort(key=lambda t: t[3] == 0)  # stable: bootstrap tasks first

    t0 = time.perf_counter()
    results = []
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn"),
                             initializer=_init_worker) as ex:
        futures = [ex.submit(run_chunk, *t) for t in tasks]
        done = 0
        for f in as_completed(futures):
            rows = f.result()
            results += rows
            if args.raw:
                pd.DataFrame(rows).to_csv(args.raw, mode="a", index=False,
                                          header=not os.path.exists(args.raw))
            done += 1
            print(f"[{time.perf_counter() - t0:7.0f} s] {done}/{len(futures)} tasks, "
                  f"{len(results)} data sets", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    raw = pd.concat([previous, pd.DataFrame(results)], ignore_index=True)
    raw = raw[raw["design"].isin(names) & (raw["i"] < args.n_sim)
              & ((raw["n_resamples"] == 0) | (raw["n_resamples"] == args.n_resamples))]
    raw = (raw.sort_values(["design", "i", "n_resamples"])
           .drop_duplicates(["design", "i"], keep="last").reset_index(drop=True))
    summary = summarise(raw, cat)
    summary.to_csv(args.out, index=False, float_format="%.6g")
    md = markdown(summary, raw, cat, command, wall, args.workers)
    if len(previous):
        md += (f"\n(Resumed: {len(previous)} data sets came from earlier runs of the same "
               "command, interrupted; the wall time is this run's.)\n")
    print(md)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(md)


if __name__ == "__main__":
    main()
