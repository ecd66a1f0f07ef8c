"""Is p common when only totals are observed? The likelihood-ratio test of a binomial total against
a Poisson-binomial one (a sum of binomials with group-specific p), fitted through the exact
Poisson-binomial likelihood and its gradient (the batched core)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .._data import replicate_totals
from .._results import TestResult, fmt
from ..core._checks import check_choice, check_count, check_flag, check_random_state, plain
from ._tests import _ALMOST_ONE, _batches

__all__ = ["TotalsLRTResult", "binomial_vs_poisson_binomial"]

METHODS = ("bootstrap", "mixture")
_BOUND = 30.0  # logit bounds of every p_g (p in [9.4e-14, 1 - 9.4e-14])
# Deterministic starts: logit(pbar) + s * z_g, z_g evenly spaced in [-1, 1] by group size (starts
# that only swap exchangeable groups are run once). The observed fit and every bootstrap refit
# run the same procedure, so the bootstrap calibrates the statistic actually computed.
_SPREADS = (0.5, -0.5, 2.0, -2.0)
_MIDDLE_SPREADS = (1.0, -1.0)
_N_RANDOM = 2  # and random starts logit(pbar) + N(0, 1.5^2) (bootstrap refits: _BOOT_RANDOM)
_BOOT_RANDOM = 1
# The observed fit's random starts come from this fixed seed: the statistic is a function of the
# data alone, whatever random_state (which seeds the bootstrap).
_START_SEED = 0
_FTOL, _GTOL = 1e-10, 1e-6  # L-BFGS-B's tolerances on the mean log-likelihood per replicate
# Statistics below this are numerical noise at the nested boundary, reported as 0.
_ZERO = 1e-8
# Log-likelihoods within this of the best count as the same optimum.
_SAME = 1e-6
_BOOTSTRAP_METHOD = "binomial vs Poisson-binomial LRT (totals only), parametric bootstrap"
_CHUNK = 25  # bootstrap resamples per task (fixed: the results do not depend on the executor)


@dataclass(frozen=True, repr=False)
class TotalsLRTResult(TestResult):
    """The totals-only likelihood-ratio test; see :func:`binomial_vs_poisson_binomial`."""

    pvalue_mixture: float | None = None
    # Fitted group probabilities, indexed by the group labels (not compared: a Series has no ==).
    p: pd.Series | None = field(default=None, compare=False)
    loglik_binomial: float = float("nan")
    loglik_poisson_binomial: float = float("nan")
    n_resamples: int = 0
    _title: ClassVar[str] = "Binomial vs Poisson-binomial likelihood-ratio test"

    def _lines(self) -> list[str]:
        lines = super()._lines()
        note = [line for line in lines if line.startswith("note:")]
        lines = [line for line in lines if not line.startswith("note:")]
        if self.pvalue_mixture is not None:
            lines.append(f"pvalue (50:50 mixture of chi2_0 and chi2_1): {fmt(self.pvalue_mixture)}")
        lines.append(f"log-likelihood: binomial {fmt(self.loglik_binomial, 10)}, "
                     f"Poisson-binomial {fmt(self.loglik_poisson_binomial, 10)}")
        if self.p is not None:
            shown = [f"{plain(label)} = {fmt(value)}"
                     for label, value in list(self.p.items())[:8]]
            more = ", ..." if self.p.size > 8 else ""
            lines.append(f"p: {', '.join(shown)}{more}")
        if self.n_resamples:
            lines.append(f"bootstrap resamples: {self.n_resamples}")
        return lines + note


# --------------------------------------------------------------------------- the likelihood
@dataclass(frozen=True)
class _Design:
    """Distinct (design row, total) pairs and their multiplicities: the likelihood's data.

    ``counts`` is (G,) when every replicate has the same design (then one distribution is
    evaluated at the distinct totals ``k``), else (B, G) with one total per row."""

    counts: np.ndarray
    k: np.ndarray  # float64 totals, (K,) or (B,)
    weight: np.ndarray  # multiplicities


def _design(totals: np.ndarray, trials: np.ndarray, constant: bool) -> _Design:
    if constant:
        k, w = np.unique(totals, return_counts=True)
        return _Design(trials[0].astype(np.float64), k.astype(np.float64), w.astype(np.float64))
    rows, w = np.unique(np.column_stack([trials, totals]), axis=0, return_counts=True)
    return _Design(rows[:, :-1].astype(np.float64), rows[:, -1].astype(np.float64),
                   w.astype(np.float64))


def _loglik_grad(p: np.ndarray, d: _Design) -> tuple[float, np.ndarray]:
    """Poisson-binomial log-likelihood at group probabilities p (G,) and its gradient in p.

    Each distinct (design, total) is one member of a batch with one point, so that the compiled
    kernel spreads them over its threads."""
    from ..core import _batch

    rows = d.k.size
    counts = np.broadcast_to(d.counts, (rows, p.size))
    out, grad = _batch.evaluate(np.broadcast_to(p, (rows, p.size)), counts, d.k[:, None],
                                tails=False, grad=True)
    return float(d.weight @ out[0, :, 0]), d.weight @ grad[:, 0, :]


def _objective(theta: np.ndarray, d: _Design, scale: float):
    p = special.expit(theta)
    ll, g = _loglik_grad(p, d)
    if not math.isfinite(ll):
        return math.inf, np.zeros_like(theta)
    return -ll / scale, -(g * p * (1 - p)) / scale


def _starts(pbar: float, order: np.ndarray, classes: np.ndarray, rng,
            n_random: int) -> list[np.ndarray]:
    """logit(pbar) + s z for each spread s of ``_SPREADS`` with z evenly spaced in [-1, 1]
    along ``order`` (the groups by size: the monotone pattern), and for each spread of
    ``_MIDDLE_SPREADS`` with the groups placed from the ends inwards by size (the smallest at
    -1 and +1, the largest in the middle), keeping one of the starts that differ only by a
    swap of exchangeable groups (``classes``: equal labels for groups with identical designs),
    then ``n_random`` starts logit(pbar) + N(0, 1.5^2) per group."""
    G = order.size
    grid = np.linspace(-1.0, 1.0, G)
    z = np.empty(G)
    z[order] = grid
    ends = np.empty(G, dtype=np.int64)  # grid positions from the ends inwards: 0, G-1, 1, ...
    ends[0::2] = np.arange((G + 1) // 2)
    ends[1::2] = G - 1 - np.arange(G // 2)
    inward = np.empty(G)
    inward[order] = grid[ends]
    base = special.logit(pbar)
    out, seen = [], set()
    for pattern, spreads in ((z, _SPREADS), (inward, _MIDDLE_SPREADS)):
        for s in spreads:
            x0 = np.clip(base + s * pattern, -_BOUND, _BOUND)
            key = tuple(np.round(_canonical(x0, classes), 12))
            if key not in seen:
                seen.add(key)
                out.append(x0)
    out += [np.clip(base + rng.normal(0.0, 1.5, G), -_BOUND, _BOUND) for _ in range(n_random)]
    return out


@contextmanager
def _threads(n_threads: int | None):
    """Limit BLAS to one thread during a fit (its threads, idle between L-BFGS-B's tiny vector
    operations, contend with numba's: measured 8x slower on 2 cores), and set numba's threads
    (``None``: leave them; 1 inside an executor's tasks, where the parallelism is the tasks').
    numba's setting is per thread."""
    import numba
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads()
    if n_threads is not None:
        numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(before)


def _fit(totals, n_total, d: _Design, order, classes, rng, n_random=_N_RANDOM, n_threads=None,
         stop_above=math.inf):
    """(l0, l1, p_hat, pbar, lls of the starts): both fits of one data set.

    With a finite ``stop_above`` (a bootstrap refit) the fit stops at the first L-BFGS-B
    iterate whose 2 (l1 - l0) reaches it: the starts' maximum, which is at least that iterate's
    value (the iterates' log-likelihoods only increase), would reach it too, so whether a
    refit's statistic reaches the observed one is decided exactly as by the whole fit."""
    with _threads(n_threads):
        return _fit_inner(totals, n_total, d, order, classes, rng, n_random, stop_above)


def _fit_inner(totals, n_total, d: _Design, order, classes, rng, n_random, stop_above):
    G = order.size
    pbar = float(totals.sum() / n_total.sum())
    l0 = float(stats.binom.logpmf(totals, n_total, pbar).sum())
    if pbar in (0.0, 1.0):  # every total 0 (or N_t): both models fit perfectly
        return l0, l0, np.full(G, pbar), pbar, []
    scale = float(d.weight.sum())
    best, best_ll, lls = None, -math.inf, []
    stop_ll = l0 + stop_above / 2.0
    callback = None
    if math.isfinite(stop_above):
        def callback(intermediate_result):
            if -float(intermediate_result.fun) * scale >= stop_ll:
                raise StopIteration
    for x0 in _starts(pbar, order, classes, rng, n_random):  # every start drawn before fitting
        res = optimize.minimize(_objective, x0, args=(d, scale), jac=True, method="L-BFGS-B",
                                bounds=[(-_BOUND, _BOUND)] * G, callback=callback,
                                options={"maxiter": 1000, "ftol": _FTOL, "gtol": _GTOL})
        ll = -float(res.fun) * scale
        if ll >= stop_ll:
            return l0, ll, special.expit(res.x), pbar, lls + [ll]
        lls.append(ll)
        if ll > best_ll:
            best, best_ll = special.expit(res.x), ll
    if best_ll - l0 < _ZERO / 2:  # H0 is nested: never below its maximum
        return l0, l0, np.full(G, pbar), pbar, lls
    return l0, best_ll, best, pbar, lls


def _boot_chunk(size, seed, n_total, trials, constant, order, classes, pbar, n_threads=1,
                stop_above=math.inf):
    """Statistics of ``size`` parametric-bootstrap data sets under H0 (a module-level function,
    so that any executor can run it; the serial path runs the same). A refit stops once its
    statistic reaches ``stop_above`` (then the value returned is a lower bound that reaches
    it: whether it counts as a hit is the same as with the whole fit)."""
    rng = np.random.default_rng(seed)
    out = np.empty(size)
    for i in range(size):
        y = rng.binomial(n_total, pbar)
        d = _design(y, trials, constant)
        l0, l1, _, _, _ = _fit(y, n_total, d, order, classes, rng, _BOOT_RANDOM, n_threads,
                               stop_above)
        stat = 2.0 * (l1 - l0)
        out[i] = stat if stat >= _ZERO else 0.0
    return out


# --------------------------------------------------------------------------- the test
def _classes(trials: np.ndarray) -> np.ndarray:
    """Labels of the sets of exchangeable groups (identical trials in every replicate)."""
    return np.unique(trials.T, axis=0, return_inverse=True)[1].ravel()


def _canonical(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Exchangeable groups' values in increasing order of the groups' positions (one
    representative of the equal-likelihood relabellings)."""
    out = values.copy()
    for c in np.unique(classes):
        idx = np.flatnonzero(classes == c)
        if idx.size > 1:
            out[idx] = np.sort(values[idx])
    return out


def _mixture(stat: float) -> float:
    return 1.0 if stat == 0 else float(0.5 * stats.chi2.sf(stat, 1))


def _full_information(n, e, labels) -> TotalsLRTResult:
    """The G-test on the pooled group counts (group counts observed)."""
    from ._tests import homogeneity_test

    x, m = e.sum(axis=0), n.sum(axis=0)
    res = homogeneity_test(pd.DataFrame({"events": x, "trials": m}, index=labels), method="g")
    pbar = x.sum() / m.sum()
    p_hat = x / m
    l0 = float(stats.binom.logpmf(e, n, pbar).sum())
    l1 = float(stats.binom.logpmf(e, n, p_hat).sum())
    note = ("group counts observed (events=): the full-information case, the likelihood-ratio "
            "G-test of homogeneity on the groups' pooled counts with G - 1 df")
    if res.note:
        note += f"; {res.note}"
    return TotalsLRTResult(
        res.statistic, res.pvalue, res.df, "likelihood-ratio G (group counts observed)",
        note=note, pvalue_mixture=None, p=pd.Series(p_hat, index=labels, name="p"),
        loglik_binomial=l0, loglik_poisson_binomial=l1, n_resamples=0)


def binomial_vs_poisson_binomial(
    data=None,
    *,
    totals,
    trials,
    events=None,
    replicate=None,
    group=None,
    method: str = "bootstrap",
    n_resamples: int = 999,
    random_state=None,
    progress: bool = True,
    executor=None,
) -> TotalsLRTResult:
    """Likelihood-ratio test that replicate totals are binomial (one common p) rather than
    Poisson-binomial (a p per group), when only the totals are observed.

    Replicates t = 1..T (days, batches, runs) each report a total Y_t over a known design: group
    g contributed n_tg trials. H0: Y_t ~ Bin(N_t, p), N_t = sum_g n_tg. H1: Y_t ~ sum_g
    Bin(n_tg, p_g), the Poisson-binomial law, with the same mean as the binomial at the pooled p
    but a variance smaller by sum_g n_tg (p_g - pbar_t)^2. The statistic is 2 (l1 - l0), both
    log-likelihoods maximised.

    Parameters
    ----------
    data : DataFrame or mapping of columns, optional
        Wide: one row per replicate, ``totals`` a column and ``trials`` a list of G columns (the
        group labels are their names). Long (with ``replicate`` and ``group``): one row per
        replicate and group, ``trials`` and ``totals`` columns, the total repeated on every row
        of its replicate (a group missing from a replicate contributed 0 trials). Without data:
        arrays.
    totals : str or array-like
        The column of totals, or the T totals.
    trials : str, list of str or array-like
        The trials column (long), the G trials columns (wide), or an array: shape (G,) for the
        same design in every replicate, (T, G) for a design that varies.
    events : str, list of str or array-like, optional
        The group counts, if they were observed (shaped as ``trials``; they must add up to the
        totals). Then nothing is hidden and the likelihood-ratio test is the G-test of
        homogeneity with G - 1 df on the pooled group counts: that of :func:`homogeneity_test`
        (``method="g"``), returned with a note saying so.
    replicate, group : str, optional
        The replicate and group label columns of long data.
    method : {"bootstrap", "mixture"}
        How the statistic is referred: ``"bootstrap"``, a parametric bootstrap under H0 (draw
        Y*_t ~ Bin(N_t, pbar), refit both models, p = (1 + #{T* >= T}) / (R + 1), with Monte
        Carlo SE sqrt(p (1 - p) / R)); ``"mixture"``, the 50:50 mixture of chi2_0 and chi2_1
        (no resampling). The mixture p-value is reported with either.
    n_resamples : int
        Bootstrap data sets R. Each is refitted by the observed fit's procedure, stopping as
        soon as its statistic reaches the observed one (the p-value is the one the whole refits
        give). A statistic of 0 has p = 1 exactly, without refitting.
    random_state : None, int or numpy Generator
        Seed of the bootstrap: one ``SeedSequence`` is drawn from it and spawned, one child per
        chunk of 25 resamples (each refit's random start included). The observed fit's random
        starts come from a fixed seed, so the statistic depends on the data alone.
    progress : bool
        Show a progress bar while resampling, if anyone can see it (a notebook, or stderr a
        terminal).
    executor : concurrent.futures.Executor, optional
        The bootstrap chunks are submitted to it (threads, processes, a dask
        ``Client.get_executor()``); the result is identical to the serial path's.

    Returns
    -------
    TotalsLRTResult
        ``statistic`` (2 (l1 - l0) >= 0), ``pvalue`` (of ``method``), ``pvalue_mcse``
        (bootstrap only), ``pvalue_mixture``, ``p`` (fitted p_g, a Series indexed by the group
        labels: 0..G-1 for arrays), ``loglik_binomial`` (l0), ``loglik_poisson_binomial`` (l1),
        ``n_resamples``, ``method``, ``df`` (None; G - 1 with ``events``) and ``note`` (the
        starts of the fit and which optimum was taken).

    Notes
    -----
    **Fit.** H0 in closed form, pbar = sum Y_t / sum N_t. H1 by L-BFGS-B on logit p_g (bounded
    to [-30, 30]) with the exact log-likelihood and its gradient from one compiled pass of the
    batched Poisson-binomial core: with a constant design one distribution evaluated at the
    distinct totals, weighted by their multiplicities; with a varying one a batch of distinct
    (design, total) rows. The likelihood is not concave, and the H0 point is a stationary point
    of it whose information is singular (heterogeneity can only lower the variance, so the
    direction of any small departure is not identified to first order); so the fit starts from
    logit(pbar) + s z_g for s = 0.5, -0.5, 2, -2 (z_g evenly spaced in [-1, 1], ordered by
    group size), from logit(pbar) +- w_g (w_g the same values placed from the ends inwards by
    size: the smallest groups at -1 and +1, the largest in the middle), where a start that only
    swaps groups with identical designs is run once (with G equal groups s and -s are one
    start), and from two random starts logit(pbar) + N(0, 1.5^2) drawn from a fixed seed; it
    keeps the best; ``note`` says how many starts reached it. L-BFGS-B stops
    when the mean log-likelihood per replicate changes by less than 1e-10 (relative) or the
    projected gradient is below 1e-6. H0 is nested in H1: where the fit ends at or below l0
    (within 5e-9), or 2 (l1 - l0) < 1e-8 (numerical noise at the boundary), the statistic is 0
    and the fitted p_g are pbar. The bootstrap refits run the same procedure with one random
    start instead of two (for speed; the size simulation below includes this).

    **Identifiability.** With a constant design the law of Y_t is that of its probability
    generating function prod_g (1 - p_g + p_g z)^n_g, so only the multiset of its roots, i.e.
    the multiset of pairs (p_g, n_g), is identified: groups of equal size can swap their p_g
    (they are reported in increasing order of p within each set of exchangeable groups, which
    are groups with the same trials in every replicate). Groups of different sizes, or a design
    that varies across replicates, can identify more (each p_g in favourable designs).

    **Calibration.** With a constant design the information at H0 is singular, so 2 (l1 - l0)
    is not chi-square with G - 1 df under H0: the statistic is exactly 0 for about half of the
    data sets (those whose totals are not under-dispersed relative to the binomial). The
    parametric bootstrap is the default; the 50:50 mixture of chi2_0 and chi2_1 (Self & Liang
    1987) is the asymptotic candidate reported beside it. Simulated sizes under H0
    (``benchmarks/lrt_size.py``, 1500 data sets a design; 250 with the bootstrap, R = 99; Monte
    Carlo SE in the README), at alpha = 0.01 / 0.05 / 0.1:

    - constant designs (n = (30, 60, 90), T = 100; n = (20, 20, 40, 40, 80), T = 200; 10
      groups of 50, T = 300): the statistic is 0 in 45-48% of data sets; the mixture rejects
      1.3-1.5% / 6.3-6.6% / 12.2-12.7% (mildly liberal), chi2(G - 1) 0-0.2% / 0-1.2% /
      0-1.9% (far too conservative), the bootstrap 0.8% / 4.4% / 8.4%;
    - a design that varies across replicates (G = 4, n_tg uniform in 10..60, T = 100): the
      information is not singular, the statistic is never 0 and chi2(G - 1) is right
      (1.3% / 5.1% / 10.2%), the bootstrap too (1.2% / 5.2% / 10.0%), while the mixture is
      badly liberal (14% / 46% / 67%): ``pvalue_mixture`` does not apply there, and ``note``
      says so.

    References
    ----------
    Self, S. G. & Liang, K.-Y. (1987). Asymptotic properties of maximum likelihood estimators
    and likelihood ratio tests under nonstandard conditions. JASA 82, 605-610.
    Wang, Y. H. (1993). On the number of successes in independent trials. Statistica Sinica 3,
    295-312.
    Davison, A. C. & Hinkley, D. V. (1997). Bootstrap Methods and their Application, ch. 4.
    Cambridge University Press.

    Examples
    --------
    >>> import numpy as np
    >>> from binfer import binomial_vs_poisson_binomial
    >>> rng = np.random.default_rng(1)
    >>> n, p = np.array([30, 60, 90]), np.array([0.05, 0.4, 0.8])
    >>> y = rng.binomial(n, p, size=(300, 3)).sum(axis=1)     # 300 totals, groups hidden
    >>> r = binomial_vs_poisson_binomial(totals=y, trials=n, n_resamples=99, random_state=2)
    >>> round(r.statistic, 2), r.pvalue, f"{r.pvalue_mixture:.1e}"
    (17.05, 0.01, '1.8e-05')

    Here the best fit is p = (0.35, 0.93, 0.35), not the truth: with a constant design and
    T = 300 several configurations give almost the same law of the totals (l at the fit is
    -942.67, at another optimum, (1, 0.69, 0.29), -942.72, at the truth -943.13). A design that
    varies across replicates identifies p far better.
    """
    method = check_choice(method, "method", METHODS)
    n_resamples = check_count(n_resamples, "n_resamples")
    progress = check_flag(progress, "progress")
    rt = replicate_totals(data, totals=totals, trials=trials, events=events,
                          replicate=replicate, group=group)
    y, n, e, labels = rt.totals, rt.trials, rt.events, rt.labels
    if e is not None:
        return _full_information(n, e, labels)
    T, G = n.shape
    rng = check_random_state(random_state)
    seeds = np.random.SeedSequence(int(rng.integers(2**63)))
    n_chunks = -(-n_resamples // _CHUNK) if method == "bootstrap" else 0
    chunk_seeds = seeds.spawn(n_chunks)
    n_total = n.sum(axis=1)
    constant = bool((n == n[0]).all())
    order = np.lexsort((np.arange(G), n.sum(axis=0)))  # groups by size (ties: position)
    d = _design(y, n, constant)
    classes = _classes(n)
    l0, l1, p_hat, pbar, lls = _fit(y, n_total, d, order, classes,
                                    np.random.default_rng(_START_SEED))
    stat = 2.0 * (l1 - l0)
    if stat < _ZERO:
        stat, l1, p_hat = 0.0, l0, np.full(G, pbar)
    p_hat = _canonical(p_hat, classes)
    n_starts = len(lls)
    if not lls:
        fit_note = f"every total is {'0' if pbar == 0 else 'N_t'}: both models fit exactly"
    else:
        reached = sum(ll >= max(lls) - _SAME for ll in lls)
        fit_note = (f"H1 fitted from {n_starts} starts ({n_starts - _N_RANDOM} deterministic, "
                    f"{_N_RANDOM} random); the best optimum was reached by {reached} of "
                    f"{n_starts}")
        if stat == 0:
            fit_note += ("; it is the H0 point (no heterogeneity fits better than a common p: "
                         "the statistic is 0)")
    if constant:
        fit_note += "; constant design: only the multiset of (p_g, n_g) is identified"
    else:
        fit_note += ("; the design varies across replicates: pvalue_mixture (made for a "
                     "constant design) is far too small here, while chi2 with "
                     f"{G - 1} df was close to the null law in simulation (see Notes)")
    p_mix = _mixture(stat)
    p_series = pd.Series(p_hat, index=labels, name="p")
    common = dict(pvalue_mixture=p_mix, p=p_series, loglik_binomial=l0,
                  loglik_poisson_binomial=l1)
    if method == "mixture":
        return TotalsLRTResult(stat, p_mix, None,
                               "binomial vs Poisson-binomial LRT (totals only), 50:50 mixture "
                               "of chi2_0 and chi2_1", note=fit_note, n_resamples=0, **common)
    if stat == 0:  # every resample's statistic is >= 0: p = 1 without refitting
        return TotalsLRTResult(0.0, 1.0, None, _BOOTSTRAP_METHOD, pvalue_mcse=0.0,
                               note=f"{fit_note}; the statistic is 0, so every one of the "
                               f"{n_resamples} bootstrap resamples reaches it: p = 1 exactly, "
                               "without refitting", n_resamples=n_resamples, **common)
    sizes = [min(_CHUNK, n_resamples - i * _CHUNK) for i in range(n_chunks)]
    threshold = max(stat * _ALMOST_ONE, _ZERO)
    args = (n_total, np.ascontiguousarray(n), constant, order, classes, pbar)
    bar = _batches(n_resamples, _CHUNK, progress, "bootstrap refits")
    if executor is None:
        boot = []
        for size, seed in zip(bar, chunk_seeds, strict=True):
            boot.append(_boot_chunk(size, seed, *args, n_threads=None, stop_above=threshold))
    else:
        futures = [executor.submit(_boot_chunk, size, seed, *args, stop_above=threshold)
                   for size, seed in zip(sizes, chunk_seeds, strict=True)]
        boot = [f.result() for f, _ in zip(futures, bar, strict=True)]
    boot = np.concatenate(boot)
    hits = int((boot >= threshold).sum())
    pvalue = (1 + hits) / (n_resamples + 1)
    mcse = math.sqrt(pvalue * (1 - pvalue) / n_resamples)
    share0 = float((boot == 0).mean())
    note = (f"{fit_note}; parametric bootstrap under H0 with {n_resamples} resamples "
            f"(statistic 0 in {100 * share0:.0f}% of them; {hits} reached the observed one, "
            "each refit stopping as soon as it did)")
    return TotalsLRTResult(stat, pvalue, None, _BOOTSTRAP_METHOD, pvalue_mcse=mcse, note=note,
                           n_resamples=n_resamples, **common)
