"""Is p the same in every group? Pearson, G, exact and Monte Carlo tests; Tarone's overdispersion
test; the Cochran-Armitage trend test."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special, stats
from tqdm import tqdm

from .._data import check_alternative, one_arm
from .._results import ConfidenceInterval, TestResult, fmt
from ..core._checks import check_choice, check_count, check_random_state, plain
from ..core._logbinom import log_choose

__all__ = ["HomogeneityTestResult", "TrendTestResult", "homogeneity_test", "tarone_test",
           "trend_test"]

METHODS = ("pearson", "g", "exact", "monte-carlo")
# R's chisq.test/fisher.test compare simulated statistics with this slack for rounding.
_ALMOST_ONE = 1 - 64 * np.finfo(float).eps
_MC_CHUNK = 1000


@dataclass(frozen=True, repr=False)
class TrendTestResult(TestResult):
    """A trend test: a TestResult with the signed statistic ``z`` and the ``scores`` used."""

    z: float = float("nan")
    # The score of each group, indexed by the group labels (not compared: a Series has no ==).
    scores: pd.Series | None = field(default=None, compare=False)

    def _lines(self) -> list[str]:
        lines = [*super()._lines(), f"z (signed): {self.z:.4g}"]
        if self.scores is not None:
            shown = [f"{plain(label)} = {fmt(score)}"
                     for label, score in list(self.scores.items())[:8]]
            more = ", ..." if self.scores.size > 8 else ""
            lines.append(f"scores: {', '.join(shown)}{more}")
        return lines


@dataclass(frozen=True, repr=False)
class HomogeneityTestResult(TestResult):
    """A homogeneity test with its per-group table ``groups``: observed and expected events and
    the residuals (as R's ``chisq.test`` returns ``expected``, ``residuals`` and ``stdres``)."""

    groups: pd.DataFrame | None = field(default=None, compare=False)
    # exact test only: certified bounds low <= p <= high when p is not computed exactly
    pvalue_bounds: ConfidenceInterval | None = None

    def _lines(self) -> list[str]:
        lines = super()._lines()
        if self.pvalue_bounds is not None:
            i = next(i for i, line in enumerate(lines) if line.startswith("pvalue:"))
            lines.insert(i + 1, f"pvalue bounds (certified): {fmt(self.pvalue_bounds)}")
        if self.groups is not None and self.groups["standardized_residual"].abs().max() > 0:
            res = self.groups["standardized_residual"]
            label = res.abs().idxmax()
            lines.append(f"largest standardized residual: {fmt(float(res[label]))} "
                         f"(group {plain(label)})")
        return lines


def _group_table(counts) -> pd.DataFrame:
    """Observed and expected events per group, Pearson and standardized residuals.

    Under a common p = X / N the expected events are E_i = n_i X / N. ``pearson_residual`` is
    R's ``chisq.test(...)$residuals`` for the events cell, (x_i - E_i) / sqrt(E_i) (the
    non-events cell's is -(x_i - E_i) / sqrt(n_i - E_i); X^2 sums both squares).
    ``standardized_residual`` is R's ``$stdres`` (Agresti's adjusted residual),
    (x_i - E_i) / sqrt(n_i p (1 - p) (1 - n_i / N)), N(0, 1) under H0. Where a residual's
    variance is 0 (no events or only events overall, or one group holding every trial), the
    observed count equals the expected one and the residual is reported as 0.
    """
    x, n = counts.events.astype(float), counts.trials.astype(float)
    big_n = n.sum()
    p = x.sum() / big_n
    expected = n * p
    diff = x - expected
    var_std = n * p * (1 - p) * (1 - n / big_n)
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = np.where(expected > 0, diff / np.sqrt(expected), 0.0)
        std = np.where(var_std > 0, diff / np.sqrt(var_std), 0.0)
    return pd.DataFrame({"events": counts.events, "trials": counts.trials,
                         "expected_events": expected, "pearson_residual": pearson,
                         "standardized_residual": std},
                        index=counts.label_index.rename(counts.label_index.name or "group"))


def _pearson(events: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """Pearson X^2 of k x 2 tables (rows of ``events``; the same trials and total in each)."""
    p = events.sum(axis=-1, keepdims=True) / trials.sum()
    return (((events - trials * p) ** 2) / (trials * p * (1 - p))).sum(axis=-1)


def _g(events: np.ndarray, trials: np.ndarray) -> float:
    p = events.sum() / trials.sum()
    fail = trials - events
    return float(
        2 * (special.xlogy(events, events / (trials * p)).sum()
             + special.xlogy(fail, fail / (trials * (1 - p))).sum())
    )


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (the check tqdm.autonotebook makes)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _batches(total: int, size: int, progress: bool, desc: str):
    """Batch sizes adding up to ``total`` (at most ``size`` each), with a progress bar.

    ``progress=True`` shows the bar where someone watches: in a notebook, or when stderr is a
    terminal (tqdm's ``disable=None``); scripts with redirected stderr and CI logs stay clean.
    ``progress=False`` never shows it.
    """
    disable = True if not progress else False if _in_notebook() else None
    with tqdm(total=total, disable=disable, desc=desc, leave=False) as bar:
        done = 0
        while done < total:
            step = min(size, total - done)
            yield step
            done += step
            bar.update(step)


def _monte_carlo(events, trials, statistic, observed, n_resamples, rng, progress):
    """Share of tables with both margins fixed whose statistic is >= the observed one.

    Tables are drawn from the multivariate hypergeometric law (the null distribution given the
    margins); p = (1 + #{T_b >= T_obs}) / (B + 1) as R's chisq.test(simulate.p.value = TRUE).
    """
    total = int(events.sum())
    hits = 0
    for size in _batches(n_resamples, _MC_CHUNK, progress, "resampling tables"):
        tables = rng.multivariate_hypergeometric(trials, total, size=size)
        hits += int((statistic(tables) >= observed * _ALMOST_ONE).sum())
    p = (1 + hits) / (n_resamples + 1)
    return p, math.sqrt(p * (1 - p) / n_resamples)


def homogeneity_test(
    data,
    *,
    events="events",
    trials="trials",
    method: str = "pearson",
    n_resamples: int = 9999,
    random_state=None,
    progress: bool = True,
    max_nodes: int = 300_000,
    group=None,
    outcome=None,
) -> TestResult:
    """Test that every group has the same success probability (the k x 2 table's homogeneity).

    Parameters
    ----------
    data : DataFrame or mapping of columns
        One row per group (or, with ``outcome``, one row per subject and ``group``).
    events, trials : str
        Column names.
    method : {"pearson", "g", "exact", "monte-carlo"}
        ``"pearson"``: X^2 = sum (O - E)^2 / E on k - 1 df. ``"g"``: the likelihood-ratio
        statistic G^2 = 2 sum O log(O / E) on k - 1 df. ``"exact"``: the Fisher-Freeman-Halton
        conditional test (two-sided, summing the probabilities of all tables with both margins
        fixed that are no more probable than the observed one, with R's relative tolerance
        1e-7). ``"monte-carlo"``: X^2 referred to ``n_resamples`` tables drawn with both margins
        fixed.
    n_resamples : int
        Tables drawn by ``"monte-carlo"`` (and by ``"exact"`` if it has to fall back).
    random_state : None, int or numpy Generator
        Seed for the resampling.
    progress : bool
        Show a progress bar while resampling, if anyone can see it: in a notebook or when
        stderr is a terminal, never when stderr is redirected (scripts, CI logs).
    max_nodes : int
        Work budget of the exact test: partial tables one sweep of the network may hold at once
        (about 32 bytes each; the default answers each bundled dataset in a few seconds). Where
        the exact network does not fit, partial tables are merged and settled by bounds, which
        gives certified bounds on p (``pvalue_bounds``) that narrow as the budget grows; only
        if those bounds are wider than Monte Carlo's error (or nothing fits) does the test
        draw ``n_resamples`` tables instead, and ``note`` says so.
    group, outcome : str, optional
        The group label column (default: the column ``group`` if present, else the row index);
        ``outcome`` names a 0/1 column of one row per subject, aggregated by ``group``.

    Returns
    -------
    HomogeneityTestResult
        ``statistic`` (X^2, G^2, or -2 log P(observed table | margins) for the exact test),
        ``pvalue``, ``df`` (k - 1; None for the exact test), ``method``, ``pvalue_mcse`` (Monte
        Carlo standard error, simulated p-values only), ``note``, ``pvalue_bounds`` (exact test
        only: certified ``(low, high)`` around ``pvalue``, their midpoint, when p is bounded
        rather than computed exactly; None otherwise), and ``groups``: a DataFrame
        indexed by group label with ``events``, ``trials``, ``expected_events`` (n_i X / N),
        ``pearson_residual`` ((x_i - E_i) / sqrt(E_i), R's ``chisq.test()$residuals``) and
        ``standardized_residual`` (R's ``$stdres``, N(0, 1) under H0), as pingouin's
        ``chi2_independence`` returns its expected and observed tables.

    Notes
    -----
    Under H0 the events given the total follow the multivariate hypergeometric law
    P(x) = prod_i C(n_i, x_i) / C(N, X), free of the common p. The exact p-value is computed by
    a network algorithm (Mehta & Patel 1983) swept from both ends of the group sequence, with
    longest/shortest remaining-path bounds and an exact join where the two sweeps meet; it
    handles tables on which R's ``fisher.test`` runs out of workspace (e.g. 14 groups of a few
    hundred subjects in about a second). Past the budget, partial tables whose log
    probabilities are close are merged into one interval, and those whose undecided mass is
    negligible are settled by Chernoff bounds: every step keeps a certified enclosure, so the
    result is ``low <= p <= high`` (binfer/homogeneity/_exact.py). If the total is 0 or N there
    is one possible table: the statistic is 0 and the p-value 1 (R returns NaN), with a note.

    References
    ----------
    Freeman, G. H. & Halton, J. H. (1951). Note on an exact treatment of contingency, goodness of
    fit and other problems of significance. Biometrika 38, 141-149.
    Mehta, C. R. & Patel, N. R. (1983). A network algorithm for performing Fisher's exact test in
    r x c contingency tables. JASA 78, 427-434.
    Hope, A. C. A. (1968). A simplified Monte Carlo significance test procedure. JRSS B 30, 582-598.

    Examples
    --------
    >>> import pandas as pd
    >>> from binfer import homogeneity_test
    >>> df = pd.DataFrame({"events": [2, 9, 4, 12], "trials": [30, 31, 29, 33]})
    >>> r = homogeneity_test(df)
    >>> round(r.statistic, 3), r.df, round(r.pvalue, 4)
    (10.126, 3, 0.0175)
    >>> round(homogeneity_test(df, method="exact").pvalue, 4)
    0.0159
    >>> r.groups.round(3)
           events  trials  expected_events  pearson_residual  standardized_residual
    group
    0           2      30            6.585            -1.787                 -2.326
    1           9      31            6.805             0.841                  1.101
    2           4      29            6.366            -0.938                 -1.214
    3          12      33            7.244             1.767                  2.338
    """
    method = check_choice(method, "method", METHODS)
    n_resamples = check_count(n_resamples, "n_resamples")
    max_nodes = check_count(max_nodes, "max_nodes")
    counts = one_arm(data, events=events, trials=trials, group=group, outcome=outcome,
                     min_groups=2)
    x, n = counts.events, counts.trials
    total, big_n = int(x.sum()), int(n.sum())
    df = counts.k - 1
    label = {"pearson": "Pearson chi-square", "g": "likelihood-ratio G",
             "exact": "Fisher-Freeman-Halton exact",
             "monte-carlo": "Pearson chi-square, Monte Carlo"}
    table = _group_table(counts)

    def result(*args, **kwargs) -> HomogeneityTestResult:
        return HomogeneityTestResult(*args, groups=table, **kwargs)

    if total in (0, big_n):
        outcome_word = "no" if total == 0 else "only"
        return result(0.0, 1.0, None if method == "exact" else df, label[method],
                          note=f"every group has {outcome_word} events: one table fits the "
                               "margins, nothing to test")
    if method == "pearson":
        stat = float(_pearson(x.astype(float), n))
        return result(stat, float(stats.chi2.sf(stat, df)), df, label[method])
    if method == "g":
        stat = _g(x, n)
        return result(stat, float(stats.chi2.sf(stat, df)), df, label[method])
    rng = check_random_state(random_state)
    if method == "monte-carlo":
        stat = float(_pearson(x.astype(float), n))
        p, se = _monte_carlo(x, n, lambda t: _pearson(t.astype(float), n), stat,
                             n_resamples, rng, progress)
        return result(stat, p, df, label[method], pvalue_mcse=se,
                          note=f"{n_resamples} tables drawn with both margins fixed")
    log_margins = float(log_choose(big_n, total))  # log C(N, X): every table's denominator
    stat = -2 * (float(log_choose(n, x).sum()) - log_margins)
    from ._exact import ExactTooLarge, ffh_pvalue  # numba: imported only for the exact test

    try:
        bounds = ffh_pvalue(x, n, max_nodes=max_nodes)
    except ExactTooLarge as exc:
        bounds = None
        why = f"the exact test does not fit: {exc}"
    else:
        if bounds.exact:
            return result(stat, bounds.low, None, label[method])
        low, high = bounds.low, bounds.high
        # Bounds beat Monte Carlo unless they are wider than its error at p = high.
        if high - low <= 2 * max(math.sqrt(high * (1 - high) / n_resamples), 1 / n_resamples):
            return result(stat, bounds.pvalue, None, label[method],
                          pvalue_bounds=ConfidenceInterval(low, high),
                          note=f"p bounded, not computed exactly: the network was merged to "
                               f"fit max_nodes={max_nodes} (a larger budget narrows the "
                               "bounds); pvalue is their midpoint")
        why = (f"the exact network's certified bounds [{fmt(low)}, {fmt(high)}] within "
               f"max_nodes={max_nodes} are wider than Monte Carlo's error")
    # Same ordering as the exact test: tables no more probable than the observed one,
    # i.e. -2 log P(table) >= -2 log P(observed).
    def minus2logp(tables):
        return -2 * (log_choose(n, tables).sum(axis=-1) - log_margins)

    p, se = _monte_carlo(x, n, minus2logp, stat, n_resamples, rng, progress)
    return result(stat, p, None, label[method] + " (Monte Carlo)", pvalue_mcse=se,
                  note=f"{why}; p-value from {n_resamples} tables drawn with both margins fixed")


def tarone_test(data, *, events="events", trials="trials", group=None, outcome=None) -> TestResult:
    """Tarone's score test of the binomial against beta-binomial overdispersion.

    Z = (S - N) / sqrt(2 sum n_i (n_i - 1)), with S = sum (x_i - n_i p)^2 / (p (1 - p)), p the
    pooled proportion and N the total trials; one-sided (upper) p-value from N(0, 1), since
    overdispersion makes Z large.

    Parameters
    ----------
    data : DataFrame or mapping of columns
        One row per group (or, with ``outcome``, one row per subject).
    events, trials : str
        Column names.
    group, outcome : str, optional
        The group label column (default: the column ``group`` if present, else the row index);
        ``outcome`` names a 0/1 column of one row per subject, aggregated by ``group``.

    Returns
    -------
    TestResult
        ``statistic`` (Z), ``pvalue`` (upper tail), ``df`` None.

    References
    ----------
    Tarone, R. E. (1979). Testing the goodness of fit of the binomial distribution.
    Biometrika 66, 585-590.

    Examples
    --------
    >>> from binfer import tarone_test
    >>> r = tarone_test({"events": [2, 9, 4, 12], "trials": [30, 31, 29, 33]})
    >>> round(r.statistic, 3), round(r.pvalue, 4)
    (2.248, 0.0123)
    """
    counts = one_arm(data, events=events, trials=trials, group=group, outcome=outcome,
                     min_groups=2)
    x, n = counts.events.astype(float), counts.trials.astype(float)
    p = x.sum() / n.sum()
    if p in (0.0, 1.0):
        raise ValueError(f"column {events!r}: the pooled proportion is {p:g}; Tarone's test "
                         "needs events and non-events")
    denom = 2 * (n * (n - 1)).sum()
    if denom == 0:
        raise ValueError(f"column {trials!r}: every group has one trial; Tarone's test needs "
                         "groups of two or more")
    s = ((x - n * p) ** 2).sum() / (p * (1 - p))
    z = float((s - n.sum()) / math.sqrt(denom))
    return TestResult(z, float(stats.norm.sf(z)), None, "Tarone's Z test for overdispersion")


def trend_test(
    data, *, events="events", trials="trials", scores=None, alternative: str = "two-sided",
    group=None, outcome=None
) -> TrendTestResult:
    """Cochran-Armitage test for a linear trend in proportions across ordered groups.

    Identical to R's ``prop.trend.test``: the slope's sum of squares in the weighted regression
    of x_i / n_i on the scores with weights n_i / (p (1 - p)), a chi-square on 1 df.

    Parameters
    ----------
    scores : mapping or array-like, optional
        A mapping from group label to score (``{"low": 0, "mid": 1.5, "high": 4}``; labels not
        in the data are ignored), or one score per group in the groups' order (an array or a
        Series, read by position). Default 1, 2, ..., k in the groups' order: row order for
        grouped rows; with ``outcome``, the sorted group labels, or the categories' order when
        the group column is a pandas Categorical (never the order the subjects appear in).
    alternative : {"two-sided", "less", "greater"}
        ``"greater"``: proportions rise with the score (p-value P(Z >= z)); ``"less"``: they
        fall (P(Z <= z)); ``"two-sided"``: the chi-square p-value of ``prop.trend.test``.
    group, outcome : str, optional
        The group label column (default: the column ``group`` if present, else the row index);
        ``outcome`` names a 0/1 column of one row per subject, aggregated by ``group``.

    Returns
    -------
    TrendTestResult
        ``statistic`` (chi-square, 1 df), ``pvalue`` (of ``alternative``), ``df`` = 1, ``z``: the
        signed square root (positive when proportions rise with the score), and ``scores``: the
        score of each group, a Series indexed by the group labels.

    References
    ----------
    Cochran, W. G. (1954). Some methods for strengthening the common chi-square tests.
    Biometrics 10, 417-451. Armitage, P. (1955). Tests for linear trends in proportions and
    frequencies. Biometrics 11, 375-386.

    Examples
    --------
    >>> from binfer import trend_test
    >>> r = trend_test({"events": [83, 90, 129, 70], "trials": [86, 93, 136, 82]})
    >>> round(r.statistic, 4), round(r.pvalue, 5), round(r.z, 4)
    (8.2249, 0.00413, -2.8679)
    >>> r.scores.tolist()
    [1.0, 2.0, 3.0, 4.0]
    """
    alternative = check_alternative(alternative)
    counts = one_arm(data, events=events, trials=trials, group=group, outcome=outcome,
                     min_groups=2)
    x, n = counts.events.astype(float), counts.trials.astype(float)
    if scores is None:
        s = np.arange(1, counts.k + 1, dtype=float)
    elif isinstance(scores, Mapping):
        labels = counts.labels
        missing = [label for label in labels if label not in scores]
        if missing:
            shown = ", ".join(plain(label) for label in missing[:5])
            raise ValueError(f"scores: no score for the group{'s' if len(missing) > 1 else ''} "
                             f"{shown}{', ...' if len(missing) > 5 else ''}")
        s = np.empty(counts.k)
        for i, label in enumerate(labels):
            try:
                s[i] = float(scores[label])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"scores[{plain(label)}] must be a number, got "
                                 f"{plain(scores[label])}") from exc
        if not np.isfinite(s).all():
            i = int(np.flatnonzero(~np.isfinite(s))[0])
            raise ValueError(f"scores[{plain(labels[i])}] = {s[i]} is not a finite number")
    else:
        try:
            s = np.asarray(scores, dtype=float).ravel()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"scores must be numbers, got {plain(scores)}") from exc
        if s.size != counts.k:
            raise ValueError(f"scores has {s.size} entries but the data has {counts.k} groups")
        if not np.isfinite(s).all():
            i = int(np.flatnonzero(~np.isfinite(s))[0])
            raise ValueError(f"scores[{i}] = {s[i]} is not a finite number")
    p = x.sum() / n.sum()
    if p in (0.0, 1.0):
        raise ValueError(f"column {events!r}: the pooled proportion is {p:g}; the trend test "
                         "needs events and non-events")
    s_bar = (n * s).sum() / n.sum()
    sxx = (n * (s - s_bar) ** 2).sum()
    if sxx == 0:
        raise ValueError("scores: all groups have the same score; a trend needs distinct scores")
    z = float(((x - n * p) * (s - s_bar)).sum() / math.sqrt(p * (1 - p) * sxx))
    pvalue = {"two-sided": stats.chi2.sf(z * z, 1), "less": stats.norm.cdf(z),
              "greater": stats.norm.sf(z)}[alternative]
    method = "Cochran-Armitage chi-square test for trend"
    if alternative != "two-sided":
        method += f" ({alternative}: one-sided p-value from the signed z)"
    return TrendTestResult(z * z, float(pvalue), 1, method, z=z,
                           scores=pd.Series(s, index=counts.label_index, name="score"))
