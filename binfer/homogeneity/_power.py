"""Power of the Pearson homogeneity test, and the trials per group a target power needs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import stats

from .._results import Result, fmt
from ..core._checks import (
    check_choice,
    check_count,
    check_probabilities,
    check_random_state,
    check_unit_interval,
    plain,
)
from ._tests import _batches, _pearson

__all__ = ["PowerResult", "homogeneity_power", "homogeneity_sample_size"]

_SIM_CHUNK = 2000


@dataclass(frozen=True, repr=False)
class PowerResult(Result):
    """Power of the level-``alpha`` Pearson test of a common p, at the given p and trials."""

    power: float
    ncp: float
    df: int
    alpha: float
    method: str
    power_mcse: float | None = None
    _title: ClassVar[str] = "Power of the Pearson homogeneity test"

    def _lines(self) -> list[str]:
        power = f"power: {fmt(self.power)}"
        if self.power_mcse is not None:
            power += f" (Monte Carlo SE {fmt(self.power_mcse, 2)})"
        return [f"method: {self.method}", f"alpha: {fmt(self.alpha)}, df: {self.df}",
                f"noncentrality: {fmt(self.ncp)}", power]


def _trials(trials, k: int) -> np.ndarray:
    n = np.asarray(trials, dtype=float)
    n = np.full(k, float(n)) if n.ndim == 0 else n.ravel()
    if n.size != k:
        raise ValueError(f"trials has {n.size} entries but p has {k}; give one per group or one")
    bad = ~np.isfinite(n) | (n < 1) | (n != np.floor(n))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"trials[{i}] = {plain(n[i])} is not a positive integer")
    return n.astype(np.int64)


def _noncentrality(p: np.ndarray, n: np.ndarray) -> float:
    pbar = float((n * p).sum() / n.sum())
    if pbar in (0.0, 1.0):
        return 0.0
    return float((n * (p - pbar) ** 2).sum() / (pbar * (1 - pbar)))


def homogeneity_power(
    p,
    trials,
    *,
    alpha: float = 0.05,
    method: str = "noncentral",
    n_simulations: int = 10_000,
    random_state=None,
    progress: bool = True,
) -> PowerResult:
    """Power of the Pearson chi-square test of a common proportion when the groups' p differ.

    Parameters
    ----------
    p : array-like
        The true success probability of each of the k >= 2 groups.
    trials : int or array-like
        Trials per group (one number for equal groups).
    alpha : float
        Level of the test.
    method : {"noncentral", "simulation"}
        ``"noncentral"``: X^2 ~ noncentral chi-square on k - 1 df with noncentrality
        lambda = sum n_i (p_i - pbar)^2 / (pbar (1 - pbar)), pbar = sum n_i p_i / N.
        ``"simulation"``: draw the k binomial counts ``n_simulations`` times and count how often
        the test rejects (its Monte Carlo SE in ``power_mcse``).
    n_simulations, random_state, progress
        For ``"simulation"``: number of tables, seed, progress bar (shown in a notebook or when
        stderr is a terminal, never when it is redirected).

    Returns
    -------
    PowerResult
        ``power``, ``ncp``, ``df``, ``alpha``, ``method``, ``power_mcse``.

    References
    ----------
    Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences, 2nd ed., ch. 7.
    Agresti, A. (2013). Categorical Data Analysis, 3rd ed., sec. 6.6.

    Examples
    --------
    >>> from binfer import homogeneity_power
    >>> round(homogeneity_power([0.10, 0.15, 0.20], 100).power, 4)
    0.4082
    """
    prob = check_probabilities(p, "p")
    if prob.size < 2:
        raise ValueError(f"p has {prob.size} group; the homogeneity test needs at least 2")
    n = _trials(trials, prob.size)
    alpha = check_unit_interval(alpha, "alpha")
    n_simulations = check_count(n_simulations, "n_simulations")
    df = prob.size - 1
    ncp = _noncentrality(prob, n)
    crit = stats.chi2.isf(alpha, df)
    if method == "noncentral":
        return PowerResult(float(stats.ncx2.sf(crit, df, ncp)) if ncp > 0
                           else float(stats.chi2.sf(crit, df)), ncp, df, alpha,
                           "noncentral chi-square")
    check_choice(method, "method", ("noncentral", "simulation"))
    rng = check_random_state(random_state)
    rejections = 0
    for size in _batches(n_simulations, _SIM_CHUNK, progress, "simulating"):
        x = rng.binomial(n, prob, size=(size, prob.size)).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = _pearson(x, n)
        # A table with no events (or only events) cannot reject: its X^2 is 0/0.
        rejections += int((np.nan_to_num(stat, nan=0.0) > crit).sum())
    power = rejections / n_simulations
    return PowerResult(power, ncp, df, alpha, "simulation",
                       power_mcse=math.sqrt(power * (1 - power) / n_simulations))


def homogeneity_sample_size(p, *, power: float = 0.8, alpha: float = 0.05) -> int:
    """Smallest equal number of trials per group giving the Pearson test the target power.

    Uses the noncentral chi-square approximation of :func:`homogeneity_power` (the
    noncentrality grows linearly with the common n, so the answer is found by bisection on n).

    Examples
    --------
    >>> from binfer import homogeneity_sample_size
    >>> homogeneity_sample_size([0.10, 0.15, 0.20], power=0.8)
    246
    """
    prob = check_probabilities(p, "p")
    if prob.size < 2:
        raise ValueError(f"p has {prob.size} group; the homogeneity test needs at least 2")
    alpha = check_unit_interval(alpha, "alpha")
    if not (isinstance(power, int | float) and alpha < power < 1):
        raise ValueError(f"power must be a number in (alpha, 1) = ({alpha}, 1), got "
                         f"{plain(power)}")
    per_trial = _noncentrality(prob, np.ones(prob.size))
    if per_trial == 0:
        raise ValueError("p: all groups have the same p; no sample size gives power above alpha")
    df = prob.size - 1
    crit = stats.chi2.isf(alpha, df)

    def achieved(n: int) -> float:
        return float(stats.ncx2.sf(crit, df, per_trial * n))

    hi = 1
    while achieved(hi) < power:
        hi *= 2
    lo = hi // 2  # achieved(lo) < power unless lo == 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if achieved(mid) >= power:
            hi = mid
        else:
            lo = mid
    return hi
