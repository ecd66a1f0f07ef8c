"""What observing only totals costs: the simulated power of the totals-only likelihood-ratio test
of :func:`binomial_vs_poisson_binomial` beside that of the G-test on the group counts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import stats

from .._data import design_array
from .._results import Result, fmt
from ..core._checks import check_count, check_flag, check_probabilities, check_random_state, plain
from ._tests import _batches, _g
from ._totals import _BOOT_RANDOM, _ZERO, _classes, _design, _fit

__all__ = ["LRTPowerResult", "lrt_power"]

_CHUNK = 25  # simulated data sets per task (fixed: the results do not depend on the executor)


@dataclass(frozen=True, repr=False)
class LRTPowerResult(Result):
    """Simulated power of the totals-only LRT and of the full-information G-test; see
    :func:`lrt_power`."""

    power: float
    power_mcse: float
    power_mixture: float
    power_full_information: float
    power_full_information_mcse: float
    critical_value: float
    alpha: float
    n_sim: int
    n_replicates: int
    pbar: float
    variance_deficit: float
    share_zero_null: float
    note: str = ""
    _title: ClassVar[str] = "Power of the binomial vs Poisson-binomial LRT (totals only)"

    def _lines(self) -> list[str]:
        return [
            f"design: {self.n_replicates} replicates; pooled p {fmt(self.pbar)}; variance "
            f"deficit sum_g n_g (p_g - pbar)^2 = {fmt(self.variance_deficit)} per replicate",
            f"power, totals only (simulated critical value {fmt(self.critical_value)}): "
            f"{fmt(self.power)} (Monte Carlo SE {fmt(self.power_mcse, 2)})",
            f"power, totals only, 50:50 mixture of chi2_0 and chi2_1: {fmt(self.power_mixture)}",
            f"power, group counts observed (G-test): {fmt(self.power_full_information)} "
            f"(Monte Carlo SE {fmt(self.power_full_information_mcse, 2)})",
            f"alpha: {fmt(self.alpha)}; simulated data sets: {self.n_sim} under H0 and "
            f"{self.n_sim} under H1; statistic 0 in {100 * self.share_zero_null:.0f}% under H0",
            *([f"note: {self.note}"] if self.note else []),
        ]


def _statistic(y, n_total, trials, constant, order, classes, rng, n_threads) -> float:
    d = _design(y, trials, constant)
    l0, l1, _, _, _ = _fit(y, n_total, d, order, classes, rng, _BOOT_RANDOM, n_threads)
    stat = 2.0 * (l1 - l0)
    return stat if stat >= _ZERO else 0.0


def _power_chunk(size, seed, trials, p, pbar, null, n_threads=1):
    """(statistics, G-test p-values) of ``size`` simulated data sets: under H0 (every trial
    with p = pbar) when ``null``, else under H1 (group g with p_g). A module-level function, so
    that any executor can run it; the serial path runs the same."""
    rng = np.random.default_rng(seed)
    T, G = trials.shape
    n_total = trials.sum(axis=1)
    constant = bool((trials == trials[0]).all())
    order = np.lexsort((np.arange(G), trials.sum(axis=0)))
    classes = _classes(trials)
    stat, pg = np.empty(size), np.full(size, np.nan)
    m = trials.sum(axis=0)
    for i in range(size):
        if null:
            y = rng.binomial(n_total, pbar)
        else:
            x = rng.binomial(trials, p)
            y = x.sum(axis=1)
            xg = x.sum(axis=0)
            pg[i] = 1.0 if xg.sum() in (0, m.sum()) else float(stats.chi2.sf(_g(xg, m), G - 1))
        stat[i] = _statistic(y, n_total, trials, constant, order, classes, rng, n_threads)
    return stat, pg


def _simulate(n_sim, seeds, args, null, executor, progress, desc):
    bar = _batches(n_sim, _CHUNK, progress, desc)
    sizes = [min(_CHUNK, n_sim - i * _CHUNK) for i in range(len(seeds))]
    if executor is None:
        parts = [_power_chunk(size, seed, *args, null=null, n_threads=None)
                 for size, seed in zip(bar, seeds, strict=True)]
    else:
        futures = [executor.submit(_power_chunk, size, seed, *args, null)
                   for size, seed in zip(sizes, seeds, strict=True)]
        parts = [f.result() for f, _ in zip(futures, bar, strict=True)]
    return np.concatenate([s for s, _ in parts]), np.concatenate([g for _, g in parts])


def lrt_power(
    trials,
    p,
    *,
    n_replicates: int,
    alpha: float = 0.05,
    n_sim: int = 1000,
    random_state=None,
    executor=None,
    progress: bool = True,
) -> LRTPowerResult:
    """Simulated power of the totals-only binomial vs Poisson-binomial likelihood-ratio test
    (:func:`binomial_vs_poisson_binomial`), beside the power of the G-test that the same
    replicates would give if the group counts were observed: what observing only totals costs.

    Parameters
    ----------
    trials : array-like of int
        The design: trials per group in each replicate, shape (G,) (the same every replicate)
        or (n_replicates, G).
    p : array-like of float
        The groups' success probabilities under the alternative, shape (G,).
    n_replicates : int
        Replicates T (totals) per data set.
    alpha : float
        Level of both tests.
    n_sim : int
        Data sets simulated under H0 (for the critical value) and as many under H1.
    random_state : None, int or numpy Generator
        Seed: one ``SeedSequence`` drawn from it is spawned into one child per chunk of 25
        data sets, so the result does not depend on ``executor``.
    executor : concurrent.futures.Executor, optional
        The chunks are submitted to it (threads, processes, a dask ``Client.get_executor()``);
        the result is identical to the serial path's.
    progress : bool
        Show a progress bar, if anyone can see it (a notebook, or stderr a terminal).

    Returns
    -------
    LRTPowerResult
        ``power`` (totals only, against the simulated critical value) with ``power_mcse``,
        ``power_mixture`` (totals only, referred to the 50:50 mixture of chi2_0 and chi2_1),
        ``power_full_information`` (G-test on the pooled group counts, chi2 with G - 1 df) with
        its SE, ``critical_value``, ``share_zero_null`` (share of H0 statistics equal to 0),
        ``pbar`` and ``variance_deficit`` sum_g n_g (p_g - pbar)^2 (per replicate, averaged over
        replicates), which drives the power.

    Notes
    -----
    H0 data: Y_t ~ Bin(N_t, pbar) with pbar = sum_tg n_tg p_g / sum_tg n_tg, the common p with
    the alternative's expected total. H1 data: the group counts X_tg ~ Bin(n_tg, p_g), of which
    the totals test sees Y_t = sum_g X_tg and the G-test the pooled counts sum_t X_tg. The
    totals statistic is computed as in the bootstrap refits of
    :func:`binomial_vs_poisson_binomial` and compared with the (1 - alpha) quantile of its
    simulated H0 distribution (rejecting when the statistic exceeds it, which at most alpha
    of the H0 data sets do):
    the power of the parametric bootstrap test with many resamples, up to the estimation of
    pbar (Davison & Hinkley 1997, ch. 4). The critical value is itself estimated, which adds
    Monte Carlo error of the order of ``power_mcse`` not included in it. The G-test uses its
    chi-square reference with G - 1 df (Agresti 2013, sec. 3.2), as :func:`homogeneity_test`
    does.

    References
    ----------
    Davison, A. C. & Hinkley, D. V. (1997). Bootstrap Methods and their Application, ch. 4.
    Cambridge University Press.
    Agresti, A. (2013). Categorical Data Analysis, 3rd ed. Wiley.

    Examples
    --------
    >>> from binfer import lrt_power
    >>> r = lrt_power([30, 60, 90], [0.1, 0.3, 0.5], n_replicates=30, n_sim=40,
    ...               random_state=1, progress=False)
    >>> round(r.variance_deficit, 2), r.power < 0.5, r.power_full_information
    (4.0, True, 1.0)

    With 30 replicates the G-test on the group counts always detects this spread; the totals
    alone rarely do (~0.1 here; use ``n_sim`` of 1000 or more for a real answer).
    """
    T = check_count(n_replicates, "n_replicates")
    if T < 2:
        raise ValueError(f"n_replicates must be at least 2, got {T}")
    n_sim = check_count(n_sim, "n_sim")
    if n_sim < 2:
        raise ValueError(f"n_sim must be at least 2, got {n_sim}")
    if not (isinstance(alpha, int | float) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number in (0, 1), got {plain(alpha)}")
    progress = check_flag(progress, "progress")
    prob = check_probabilities(p, "p")
    G = prob.size
    raw = np.asarray(trials)
    if raw.ndim == 2 and raw.shape != (T, G):
        raise ValueError(f"trials has shape {raw.shape}; give one design of shape ({G},) "
                         f"or one row per replicate, shape ({T}, {G})")
    n = design_array(raw, "trials", T, rows="n_replicates")
    if n.shape[1] != G:
        raise ValueError(f"trials has {n.shape[1]} groups but p has {G}: one of each per group")
    if G < 2:
        raise ValueError(f"p has {G} group; the test compares at least 2")
    empty = np.flatnonzero(n.sum(axis=0) == 0)
    if empty.size:
        raise ValueError(f"trials: group {int(empty[0])} has no trials in any replicate")
    pbar = float((n * prob).sum() / n.sum())
    if pbar in (0.0, 1.0):
        raise ValueError(f"p: every group has p = {plain(prob[0])}; no data set can tell the "
                         "models apart")
    deficit = float((n * (prob - pbar) ** 2).sum(axis=1).mean())
    rng = check_random_state(random_state)
    n_chunks = -(-n_sim // _CHUNK)
    seeds = np.random.SeedSequence(int(rng.integers(2**63))).spawn(2 * n_chunks)
    args = (n, prob, pbar)
    null, _ = _simulate(n_sim, seeds[:n_chunks], args, True, executor, progress,
                        "simulating under H0")
    alt, pg = _simulate(n_sim, seeds[n_chunks:], args, False, executor, progress,
                        "simulating under H1")
    # Reject when the statistic exceeds c, the (floor(alpha n_sim) + 1)-th largest H0 value:
    # at most alpha of the H0 data sets exceed it (ties at c, e.g. at 0, do not reject).
    crit = float(np.sort(null)[::-1][int(math.floor(alpha * n_sim))])
    power = float((alt > crit).mean())
    p_mix = np.where(alt > 0, 0.5 * stats.chi2.sf(alt, 1), 1.0)
    power_mix = float((p_mix <= alpha).mean())
    power_full = float((pg <= alpha).mean())
    rank = int(math.floor(alpha * n_sim)) + 1
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(rank % 10, "th")
    nth = f"{rank}{'th' if 10 <= rank % 100 <= 20 else suffix}"
    note = ("the totals test rejects when its statistic exceeds the critical value, the "
            f"{nth} largest of the {n_sim} statistics simulated under H0")
    return LRTPowerResult(
        power=power, power_mcse=math.sqrt(power * (1 - power) / n_sim),
        power_mixture=power_mix, power_full_information=power_full,
        power_full_information_mcse=math.sqrt(power_full * (1 - power_full) / n_sim),
        critical_value=crit, alpha=float(alpha), n_sim=n_sim, n_replicates=T, pbar=pbar,
        variance_deficit=deficit, share_zero_null=float((null == 0).mean()), note=note)
