"""Exact observed-vs-expected (O/E) tests of institutions' totals against subjects' predicted risks.

Under a risk model with per-subject probabilities p_i the total O of an institution is exactly
Poisson-binomial, PB(p_1, ..., p_n); the tests here read its tails from the core (many
institutions at once through the batched core, one compiled pass per step for all of them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import special

from .._data import _column, _row, as_frame, check_alternative
from .._results import ConfidenceInterval, Result, fmt
from ..core._checks import check_flag, check_unit_interval, plain

__all__ = ["ObservedExpectedResult", "observed_vs_expected"]

# Institutions with at most this many subjects are evaluated as members of a batch (the batched
# core is O(subjects) per point and fast up to ~2048 groups per member: binfer.core's
# _CF_MAX_GROUPS); larger ones as single distributions, which are exact at any size.
_BATCH_MAX = 2048
# Members x padded width per chunk (~16 MB per float array): bounds memory and is the unit of work
# handed to an executor.
_CHUNK_CELLS = 2**21
# R's binom.test: "x with d(x) <= d(observed) * (1 + 1e-7)" are as extreme as the observation.
_LOG_REL_ERR = math.log1p(1e-7)
_LOG2 = math.log(2.0)


@dataclass(frozen=True, repr=False)
class ObservedExpectedResult(Result):
    """Exact observed-vs-expected test; see :func:`observed_vs_expected`.

    With ``group=`` the scalar fields hold the totals over all groups (``observed``,
    ``expected``, ``ratio``, ``n_subjects``) and the test fields are None: the per-group tests are
    the rows of ``table`` (and ``to_frame()`` returns it).
    """

    observed: int
    expected: float
    ratio: float
    confidence_interval: ConfidenceInterval | None
    odds_ratio_interval: ConfidenceInterval | None
    pvalue: float | None
    log_pvalue: float | None
    pvalue_doubling: float | None
    log_pvalue_doubling: float | None
    n_subjects: int
    alternative: str
    two_sided_rule: str
    mid_p: bool
    conf_level: float | None
    method: str
    table: pd.DataFrame | None = None
    _title: ClassVar[str] = "Exact observed-vs-expected test (Poisson-binomial)"

    def _lines(self) -> list[str]:
        lines = [f"method: {self.method}",
                 f"observed: {self.observed}, expected: {fmt(self.expected)}, "
                 f"O/E: {fmt(self.ratio)} ({self.n_subjects} subjects)"]
        if self.table is not None:
            lines.append(f"groups: {len(self.table)} (per-group tests in .table)")
            return lines
        if self.confidence_interval is not None:
            lines.append(f"{100 * self.conf_level:g}% CI for O/E: {fmt(self.confidence_interval)}"
                         f" (odds multiplier {fmt(self.odds_ratio_interval)})")
        side = {"two-sided": f"two-sided, {self.two_sided_rule}"}.get(
            self.alternative, self.alternative)
        lines.append(f"pvalue ({side}): {fmt(self.pvalue)} (log {fmt(self.log_pvalue)})")
        if self.pvalue_doubling is not None:
            lines.append(f"pvalue (doubling): {fmt(self.pvalue_doubling)}")
        return lines

    def to_frame(self) -> pd.DataFrame:
        """The per-group table with ``group=``; else one tidy row."""
        if self.table is not None:
            return self.table.copy()
        return super().to_frame()


# --------------------------------------------------------------------------- numerics
def _logit(p):
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def _tilt(p, theta):
    """Risks scaled on the odds scale by e^theta (one theta per member): expit(logit p + theta);
    0 and 1 stay where they are, theta = 0 returns p itself."""
    if not np.any(theta):
        return p
    out = special.expit(_logit(p) + theta[:, None])
    out[p == 0.0] = 0.0
    out[p == 1.0] = 1.0
    return out


def _evaluate(p, c, k):
    """(logpmf, logcdf, logsf), each (B, K), of members (p, c) of shape (B, G) at k (B, K)."""
    from ..core import PoissonBinomial

    k = np.asarray(k, dtype=float)
    if p.shape[1] <= _BATCH_MAX:
        # One compiled pass gives the three values together (the public logpmf / logcdf /
        # logsf of a batch would make three passes).
        from ..core import _batch

        out, _ = _batch.evaluate(p, c, k, tails=True)
        return out[0], out[1], out[2]
    res = np.empty((3,) + k.shape)
    for b in range(p.shape[0]):  # institutions larger than a batch member: one by one
        keep = c[b] > 0
        dist = PoissonBinomial(p[b][keep])
        res[0, b], res[1, b], res[2, b] = dist.logpmf(k[b]), dist.logcdf(k[b]), dist.logsf(k[b])
    return res[0], res[1], res[2]


def _log_tails(lpmf, lcdf, lsf, mid_p: bool):
    """(log P(X <= O), log P(X >= O)), less half P(O) each with mid-p."""
    lle = lcdf
    lge = np.logaddexp(lsf, lpmf)
    if mid_p:
        with np.errstate(invalid="ignore", divide="ignore"):
            lle = np.where(lpmf > -np.inf, lle + np.log1p(-0.5 * np.exp(lpmf - lle)), lle)
            lge = np.where(lpmf > -np.inf, lge + np.log1p(-0.5 * np.exp(lpmf - lge)), lge)
    return lle, lge


def _predict(p, c, obs_k, lpO, d, lo_s):
    """Saddlepoint guess of where the log-PMF comes back down to ``lpO`` on side ``d`` (+1 right
    of the mean, -1 left): Newton on the tilt theta of K(theta) - theta K'(theta)
    - log(2 pi K''(theta)) / 2 = lpO.  Only a starting point: the result is checked exactly."""
    inner = (p > 0) & (p < 1) & (c > 0)
    lg = np.where(inner, _logit(np.where(inner, p, 0.5)), 0.0)
    w = np.where(inner, c, 0.0)
    base = np.logaddexp(0.0, lg)
    mu = (w * p * inner).sum(axis=1)
    var = np.maximum((w * p * (1 - p) * inner).sum(axis=1), 1e-300)
    theta = d * np.maximum(np.abs(obs_k - lo_s - mu), 0.5) / var
    for _ in range(12):
        x = lg + theta[:, None]
        e = np.exp(-np.abs(x))
        pi = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        K = (w * (np.logaddexp(0.0, x) - base)).sum(axis=1)
        K1 = (w * pi).sum(axis=1)
        K2 = np.maximum((w * pi * (1 - pi)).sum(axis=1), 1e-300)
        F = K - theta * K1 - 0.5 * np.log(2 * math.pi * K2) - lpO
        step = np.clip(F / np.where(np.abs(theta * K2) > 1e-12, theta * K2, 1e-12), -2.0, 2.0)
        theta = theta + step
        theta = np.where(theta * d > 0, theta, d * 1e-3)
    x = lg + theta[:, None]
    e = np.exp(-np.abs(x))
    pi = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return lo_s + (w * pi).sum(axis=1)


def _min_likelihood(p, c, obs_k, lpO, mean, lo_s, hi_s):
    """log of the other side's contribution to the minimum-likelihood two-sided p-value:
    log P(X >= y) (y the smallest y > O with P(y) <= P(O) (1 + 1e-7)) when O is below the mean,
    log P(X <= y) (y the largest y < O with the same) when not.  -inf when there is no such y
    in the support.  The log-PMF is unimodal (log-concave): a saddlepoint guess, checked
    exactly at y and its neighbour, then bisection where the guess was wrong."""
    B = obs_k.size
    d = np.where(obs_k < mean, 1, -1)
    T = np.where(d > 0, hi_s + 1 - obs_k, obs_k - (lo_s - 1))  # t = T: beyond the support (f true)
    level = lpO + _LOG_REL_ERR
    guess = _predict(p, c, obs_k, lpO, d, lo_s)
    t0 = np.where(d > 0, np.ceil(guess - obs_k), np.ceil(obs_k - guess))
    t0 = np.clip(np.nan_to_num(t0, nan=1.0), 1, T).astype(np.int64)
    lo = np.zeros(B, dtype=np.int64)  # f(lo) false (t = 0 is O itself)
    hi = T.copy()  # f(hi) true
    # check the guess: points t0 - 1 and t0 (inside the support where t < T)
    pts = np.stack([obs_k + d * (t0 - 1), obs_k + d * t0], axis=1)
    lp, _, _ = _evaluate(p, c, pts)
    f_prev = (lp[:, 0] <= level) & (t0 - 1 > 0)
    f_here = (lp[:, 1] <= level) | (t0 >= T)
    lo = np.where(~f_here, t0, np.where(~f_prev, t0 - 1, lo))
    hi = np.where(f_here, np.where(f_prev, t0 - 1, t0), hi)
    active = np.flatnonzero(hi - lo > 1)
    while active.size:
        mid = (lo[active] + hi[active]) // 2
        lp, _, _ = _evaluate(p[active], c[active], (obs_k[active] + d[active] * mid)[:, None])
        f = lp[:, 0] <= level[active]
        hi[active] = np.where(f, mid, hi[active])
        lo[active] = np.where(f, lo[active], mid)
        active = active[hi[active] - lo[active] > 1]
    # the tail beyond (and including) y = O + d hi
    out = np.full(B, -np.inf)
    inside = np.flatnonzero(hi < T)
    if inside.size:
        y = obs_k[inside] + d[inside] * hi[inside]
        q = np.where(d[inside] > 0, y - 1, y)
        _, lcdf, lsf = _evaluate(p[inside], c[inside], q[:, None])
        out[inside] = np.where(d[inside] > 0, lsf[:, 0], lcdf[:, 0])
    return out


def _solve_tilt(p, c, obs_k, target, upper, mid_p):
    """theta with log P_theta(X >= O) = target (``upper``) or log P_theta(X <= O) = target
    (otherwise), per member, P_theta the risks tilted by theta on the logit scale (mid-p tails
    with ``mid_p``).  Both tails are monotone in theta (an exponential family); the roots are
    bracketed, then found by the Illinois variant of regula falsi to |log tail - target| < 1e-12.
    """
    B = obs_k.size
    sign = np.where(upper, 1.0, -1.0)  # h = sign * (log tail - target) increases with theta

    def h(idx, theta):
        lpmf, lcdf, lsf = _evaluate(_tilt(p[idx], theta), c[idx], obs_k[idx][:, None])
        lle, lge = _log_tails(lpmf[:, 0], lcdf[:, 0], lsf[:, 0], mid_p)
        return sign[idx] * (np.where(upper[idx], lge, lle) - target)

    E = (p * c).sum(axis=1)
    with np.errstate(divide="ignore"):
        theta0 = np.log((obs_k + 0.5) / (E + 0.5))
    a, b = theta0 - 1.0, theta0 + 1.0
    idx = np.arange(B)
    ha, hb = h(idx, a), h(idx, b)
    step = np.full(B, 2.0)
    for _ in range(60):  # widen until h(a) < 0 < h(b)
        bad_a = np.flatnonzero(ha >= 0)
        bad_b = np.flatnonzero(hb <= 0)
        if not bad_a.size and not bad_b.size:
            break
        if bad_a.size:
            b[bad_a], hb[bad_a] = a[bad_a], ha[bad_a]
            a[bad_a] -= step[bad_a]
            ha[bad_a] = h(bad_a, a[bad_a])
            step[bad_a] *= 2
        if bad_b.size:
            a[bad_b], ha[bad_b] = b[bad_b], hb[bad_b]
            b[bad_b] += step[bad_b]
            hb[bad_b] = h(bad_b, b[bad_b])
            step[bad_b] *= 2
    theta = np.where(np.abs(ha) < np.abs(hb), a, b)
    kept = np.zeros(B, dtype=np.int8)  # which end the last step kept: -1 a, +1 b
    active = np.flatnonzero((np.abs(ha) > 1e-12) & (np.abs(hb) > 1e-12))
    for _ in range(200):
        if not active.size:
            break
        A, Bv, HA, HB = a[active], b[active], ha[active], hb[active]
        x = Bv - HB * (Bv - A) / (HB - HA)
        x = np.where((x > A) & (x < Bv), x, 0.5 * (A + Bv))
        hx = h(active, x)
        moved_b = hx > 0  # root in [A, x]: x replaces b, a is kept
        last = kept[active]
        b[active] = np.where(moved_b, x, Bv)
        hb[active] = np.where(moved_b, hx, np.where(last == 1, 0.5 * HB, HB))
        a[active] = np.where(moved_b, A, x)
        ha[active] = np.where(moved_b, np.where(last == -1, 0.5 * HA, HA), hx)
        kept[active] = np.where(moved_b, -1, 1)
        theta[active] = x
        done = (np.abs(hx) <= 1e-12) | (b[active] - a[active] <= 1e-13 * (1 + np.abs(x)))
        active = active[~done]
    return theta


def _chunk(p, c, obs_k, alternative, mid_p, alpha):
    """Every test of one chunk of institutions: a module-level function, so that an executor
    (threads, processes, dask) can run it; the serial path runs the same."""
    B = obs_k.size
    obs_k = obs_k.astype(np.float64)
    n = c.sum(axis=1)
    E = (p * c).sum(axis=1)
    lo_s = ((p == 1.0) * c).sum(axis=1)
    hi_s = ((p > 0.0) * c).sum(axis=1)
    lpmf, lcdf, lsf = _evaluate(p, c, obs_k[:, None])
    lpO = lpmf[:, 0]
    lle, lge = _log_tails(lpO, lcdf[:, 0], lsf[:, 0], mid_p)
    res = {"n": n, "expected": E}
    nan = np.full(B, np.nan)
    res["log_doubling"] = nan
    if alternative == "less":
        res["log_p"] = lle
    elif alternative == "greater":
        res["log_p"] = lge
    else:
        res["log_doubling"] = np.minimum(0.0, _LOG2 + np.minimum(lle, lge))
        own = np.where(obs_k < E, lcdf[:, 0], np.logaddexp(lsf[:, 0], lpO))
        other = np.full(B, -np.inf)
        ok = np.flatnonzero(lpO > -np.inf)
        if ok.size:
            other[ok] = _min_likelihood(p[ok], c[ok], obs_k[ok], lpO[ok], E[ok], lo_s[ok], hi_s[ok])
        lp = np.where(lpO > -np.inf, np.logaddexp(own, other), -np.inf)
        if mid_p:
            with np.errstate(invalid="ignore", divide="ignore"):
                lp = np.where(lpO > -np.inf, lp + np.log1p(-0.5 * np.exp(lpO - lp)), lp)
        res["log_p"] = np.minimum(lp, 0.0)
    if alpha is None:
        res["theta_low"] = res["theta_high"] = nan
        res["e_low"] = res["e_high"] = nan
        return res
    a = alpha if alternative != "two-sided" else alpha / 2
    theta_low = np.full(B, -np.inf)
    theta_high = np.full(B, np.inf)
    if alternative != "less":
        idx = np.flatnonzero((obs_k > lo_s) & (obs_k <= hi_s))
        if idx.size:
            theta_low[idx] = _solve_tilt(p[idx], c[idx], obs_k[idx], math.log(a),
                                         np.ones(idx.size, bool), mid_p)
    if alternative != "greater":
        idx = np.flatnonzero((obs_k < hi_s) & (obs_k >= lo_s))
        if idx.size:
            theta_high[idx] = _solve_tilt(p[idx], c[idx], obs_k[idx], math.log(a),
                                          np.zeros(idx.size, bool), mid_p)
    outside = (obs_k < lo_s) | (obs_k > hi_s)  # P(O) = 0 whatever r: no interval
    theta_low[outside] = theta_high[outside] = np.nan
    res["theta_low"], res["theta_high"] = theta_low, theta_high
    for name, th, edge in (("e_low", theta_low, lo_s), ("e_high", theta_high, hi_s)):
        fin = np.isfinite(th)
        e = np.where(np.isnan(th), np.nan, edge.astype(float))
        if fin.any():
            e[fin] = (_tilt(p[fin], th[fin]) * c[fin]).sum(axis=1)
        res[name] = e
    return res


# --------------------------------------------------------------------------- input
def _check_risks(values: np.ndarray, where) -> None:
    bad = ~((values >= 0) & (values <= 1))
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        v = values[pos]
        why = "missing value (NaN)" if np.isnan(v) else f"{plain(v)} is outside [0, 1]"
        raise ValueError(f"{where(pos)}: {why}; risks are probabilities in [0, 1]")


def _whole(value, what: str) -> int:
    if (isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number)
            or not np.isfinite(value) or value != math.floor(value) or value < 0):
        raise ValueError(f"{what}: {plain(value)} is not a non-negative whole number")
    return int(value)


def _inputs(data, risks, observed, group):
    """(risks, codes, labels, observed totals per group, grouped?)."""
    if data is None:
        if group is not None:
            raise ValueError("group= needs data (a DataFrame with one row per subject)")
        if isinstance(risks, str):
            raise ValueError(f"risks={risks!r} is a column name but no data was given")
        r = np.asarray(risks, dtype=float).ravel() if np.ndim(risks) else np.atleast_1d(
            np.asarray(risks, dtype=float))
        if r.size == 0:
            raise ValueError("risks is empty; give one predicted risk per subject")
        _check_risks(r, lambda pos: f"risks, position {pos}")
        obs = np.array([_whole(observed, "observed")], dtype=np.int64)
        return r, np.zeros(r.size, np.int64), pd.Index(["all"]), obs, False
    frame = as_frame(data)
    col = _column(frame, risks, "risks")
    r = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    _check_risks(r, lambda pos: f"column {risks!r}, {_row(frame, pos)}")
    if r.size == 0:
        raise ValueError("data has no rows; give one row per subject")
    if group is None:
        codes, labels = np.zeros(r.size, np.int64), pd.Index(["all"])
    else:
        gcol = _column(frame, group, "group")
        missing = gcol.isna().to_numpy()
        if missing.any():
            pos = int(np.flatnonzero(missing)[0])
            raise ValueError(f"column {group!r}, {_row(frame, pos)}: missing label")
        codes, labels = pd.factorize(gcol, sort=True)  # a Categorical: its categories' order
        labels = pd.Index(labels)
    G = labels.size
    if isinstance(observed, str):
        ycol = _column(frame, observed, "observed")
        y = pd.to_numeric(ycol, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ValueError(f"column {observed!r}, {_row(frame, pos)}: outcome "
                             f"{plain(ycol.iloc[pos])} is not 0 or 1")
        obs = np.bincount(codes, weights=y, minlength=G).astype(np.int64)
    elif isinstance(observed, Mapping | pd.Series):
        if group is None:
            raise ValueError("observed as a mapping of group to total needs group=")
        m = dict(observed.items())
        extra = [key for key in m if key not in labels]
        if extra:
            raise ValueError(f"observed: group {plain(extra[0])} has no subjects in the data")
        obs = np.empty(G, np.int64)
        for i, lab in enumerate(labels):
            if lab not in m:
                raise ValueError(f"observed: no total for group {plain(lab)}")
            obs[i] = _whole(m[lab], f"observed, group {plain(lab)}")
    else:
        if group is not None:
            raise ValueError("with group=, observed must be a column of 0/1 outcomes or a "
                             "mapping of group label to observed total")
        obs = np.array([_whole(observed, "observed")], dtype=np.int64)
    return r, codes, labels, obs, group is not None


def _chunks(r, codes, G):
    """Institutions as padded member arrays, in chunks of similar size: [(index, p, c)]."""
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=G)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    rs = r[order]
    by_size = np.argsort(sizes, kind="stable")
    out = []
    i = 0
    while i < G:
        width = int(sizes[by_size[i]])
        j = i + 1
        # grow while the padded chunk stays within _CHUNK_CELLS (one member at least)
        while (j < G and sizes[by_size[j]] <= _BATCH_MAX
               and (j - i + 1) * int(sizes[by_size[j]]) <= _CHUNK_CELLS):
            j += 1
        if width > _BATCH_MAX:
            j = i + 1
        members = by_size[i:j]
        W = int(sizes[members].max())
        p = np.zeros((members.size, W))
        c = np.zeros((members.size, W))
        for row, g in enumerate(members):
            s = int(sizes[g])
            p[row, :s] = rs[starts[g]:starts[g] + s]
            c[row, :s] = 1.0
        out.append((members, p, c))
        i = j
    return out


def observed_vs_expected(
    data=None,
    *,
    risks,
    observed,
    group=None,
    alternative: str = "two-sided",
    mid_p: bool = False,
    conf_level: float | None = 0.95,
    executor=None,
) -> ObservedExpectedResult:
    """Exact test of an observed total against subjects' predicted risks (O/E, SMR).

    Under a risk model giving subject i of an institution the probability p_i of the event
    (death), the institution's total O is exactly Poisson-binomial, O ~ PB(p_1, ..., p_n), with
    mean E = sum p_i and variance sum p_i (1 - p_i) -- smaller than the Poisson variance E that
    the usual SMR test assumes. This tests O against that distribution exactly, with an exact
    confidence interval for O/E.

    Parameters
    ----------
    data : DataFrame or mapping of columns, optional
        One row per subject. Without it, ``risks`` is an array of risks and ``observed`` an
        integer: one test.
    risks : str or array-like
        With ``data``: the column of predicted risks, in [0, 1]; without: the risks.
    observed : int, str or mapping
        The observed total (an int); with ``data``, a column of 0/1 outcomes (summed per group),
        or with ``group=`` a mapping (or Series) from group label to observed total.
    group : str, optional
        Column of institution labels: one test per institution (rows of ``table``), in sorted
        label order (a pandas Categorical: its categories' order). Without it the data is one
        institution.
    alternative : {"two-sided", "less", "greater"}
        "greater": more events than predicted (O/E > 1); "less": fewer.
    mid_p : bool
        Lancaster's mid-p: every tail counts half of P(X = O) (the p-values and the interval).
    conf_level : float or None
        Level of the interval (None: no interval, which saves most of the time for many groups).
    executor : concurrent.futures.Executor, optional
        Chunks of institutions (of up to ~2 million padded subject slots) are submitted to it
        (threads, processes, a dask ``Client.get_executor()``); the results equal the serial
        path's.

    Returns
    -------
    ObservedExpectedResult
        ``observed``, ``expected`` (E = sum p_i), ``ratio`` (O/E), ``confidence_interval`` (for
        O/E), ``odds_ratio_interval`` (for the odds multiplier r, below), ``pvalue`` and
        ``log_pvalue`` (finite where the p-value underflows to 0), for two-sided tests also
        ``pvalue_doubling`` and ``log_pvalue_doubling``; ``two_sided_rule``; ``n_subjects``.
        With ``group=``: ``table``, one row per group with columns ``group n_subjects observed
        expected ratio ci_low ci_high odds_low odds_high pvalue log_pvalue pvalue_doubling
        log_pvalue_doubling``; the scalar fields then hold the totals over all groups
        (observed, expected, ratio, n_subjects) and the test fields are None.

    Notes
    -----
    **p-values.** One-sided: P(X <= O) and P(X >= O), from the core's tail-accurate log tails
    (relative accuracy ~1e-12 far below 1e-300; ``log_pvalue`` stays finite). Two-sided
    (``pvalue``), the minimum-likelihood rule of R's ``binom.test`` and ``poisson.test``: the
    sum of P(x) over every x with P(x) <= P(O) (1 + 1e-7). The PMF is log-concave, so that set
    is the own tail plus the other tail from the first x with P(x) <= P(O), found by a
    saddlepoint guess checked exactly (bisection where it misses). Doubling,
    min(1, 2 min(P(X <= O), P(X >= O))), is reported beside it. With ``mid_p`` each tail
    (and the minimum-likelihood sum) loses P(X = O) / 2.

    **Interval.** The risks are scaled on the odds scale, p_i(r) = r p_i / (1 - p_i + r p_i)
    (a common shift log r of every subject's logit: the institution effect of a logistic model
    with the risk score as offset). O is the sufficient statistic for log r, and P_r(X >= O)
    rises with r (an exponential family), so the exact (Clopper-Pearson-type) interval inverts
    the two tails: r_low with P_{r_low}(X >= O) = alpha / 2 and r_high with
    P_{r_high}(X <= O) = alpha / 2 (Cox 1970, sec. 4.2; Mehta & Patel 1995 for exact logistic
    inference on one parameter), with r_low = 0 at the support's lower end and r_high = inf at
    its upper end. ``odds_ratio_interval`` is (r_low, r_high); ``confidence_interval`` is on the
    O/E scale, E(r_low) / E and E(r_high) / E with E(r) = sum p_i(r), so that 1 is inside it
    exactly when the two-sided test at the same level by the tails (doubling) does not reject.
    One-sided alternatives give one-sided intervals at ``conf_level``.

    **Against the Poisson SMR interval.** The usual exact interval for an SMR (R's
    ``poisson.test(O, E)``; Garwood 1936, Ulm 1990) treats O as Poisson with mean E, i.e.
    variance E. The exact variance is sum p_i (1 - p_i) = E - sum p_i^2: the Poisson interval is
    too wide, and its p-values too large, by an amount that grows with the risks (negligible for
    rare events, large for high-risk case mixes such as a cardiac surgery unit with risks of
    20-50%).

    References
    ----------
    D. R. Cox (1970), The Analysis of Binary Data, Methuen. C. R. Mehta, N. R. Patel (1995),
    "Exact logistic regression: theory and examples", Statistics in Medicine 14, 2143-2160.
    F. Garwood (1936), "Fiducial limits for the Poisson distribution", Biometrika 28, 437-442.
    K. Ulm (1990), "A simple method to calculate the confidence interval of a standardized
    mortality ratio", American Journal of Epidemiology 131, 373-375. N. Peres, A. R. Lee,
    U. Keich (2021), "Exactly computing the tail of the Poisson-binomial distribution", ACM
    Trans. Math. Softw. 47(4).

    Examples
    --------
    >>> import numpy as np
    >>> import binfer
    >>> risks = np.linspace(0.05, 0.45, 40)       # 40 patients, E = 10 expected deaths
    >>> res = binfer.observed_vs_expected(risks=risks, observed=17)
    >>> round(res.expected, 6), round(res.ratio, 4)
    (10.0, 1.7)
    >>> round(res.pvalue, 6), round(res.pvalue_doubling, 6)
    (0.012445, 0.017648)
    >>> [round(x, 3) for x in res.confidence_interval]
    [1.105, 2.328]

    Many hospitals in one call, one row per subject:

    >>> import pandas as pd
    >>> df = pd.DataFrame({"hospital": np.repeat(["A", "B"], 40), "risk": np.tile(risks, 2),
    ...                    "died": np.r_[np.ones(17), np.zeros(23), np.ones(9), np.zeros(31)]})
    >>> res = binfer.observed_vs_expected(df, risks="risk", observed="died", group="hospital")
    >>> res.table[["group", "observed", "expected", "pvalue"]].round(4)
      group  observed  expected  pvalue
    0     A        17      10.0  0.0124
    1     B         9      10.0  0.8498
    """
    alternative = check_alternative(alternative)
    mid_p = check_flag(mid_p, "mid_p")
    alpha = None if conf_level is None else 1.0 - check_unit_interval(conf_level, "conf_level")
    r, codes, labels, obs, grouped = _inputs(data, risks, observed, group)
    G = labels.size
    sizes = np.bincount(codes, minlength=G)
    over = obs > sizes
    if over.any():
        i = int(np.flatnonzero(over)[0])
        where = f"group {plain(labels[i])}" if grouped else "observed"
        raise ValueError(f"{where}: observed {obs[i]} > number of subjects {sizes[i]}")
    chunks = _chunks(r, codes, G)
    jobs = [(p, c, obs[idx], alternative, bool(mid_p), alpha) for idx, p, c in chunks]
    if executor is None:
        results = [_chunk(*job) for job in jobs]
    else:
        futures = [executor.submit(_chunk, *job) for job in jobs]
        results = [f.result() for f in futures]
    cols = {}
    for (idx, _, _), res in zip(chunks, results, strict=True):
        for key, val in res.items():
            cols.setdefault(key, np.empty(G))[idx] = val
    E = cols["expected"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        odds_low, odds_high = np.exp(cols["theta_low"]), np.exp(cols["theta_high"])
        ratio = obs / E
        ci_low, ci_high = cols["e_low"] / E, cols["e_high"] / E
    lp, ld = cols["log_p"], cols["log_doubling"]
    two = alternative == "two-sided"
    rule = "minimum likelihood" if two else "one-sided"
    method = "exact Poisson-binomial" + (", mid-p" if mid_p else "")
    common = dict(alternative=alternative, two_sided_rule=rule, mid_p=bool(mid_p),
                  conf_level=conf_level, method=method)
    if not grouped:
        ci = None if alpha is None else ConfidenceInterval(float(ci_low[0]), float(ci_high[0]))
        odds = None if alpha is None else ConfidenceInterval(
            float(odds_low[0]), float(odds_high[0]))
        return ObservedExpectedResult(
            observed=int(obs[0]), expected=float(E[0]), ratio=float(ratio[0]),
            confidence_interval=ci, odds_ratio_interval=odds,
            pvalue=float(np.exp(lp[0])), log_pvalue=float(lp[0]),
            pvalue_doubling=float(np.exp(ld[0])) if two else None,
            log_pvalue_doubling=float(ld[0]) if two else None,
            n_subjects=int(sizes[0]), **common)
    table = pd.DataFrame({
        "group": labels, "n_subjects": sizes.astype(np.int64), "observed": obs,
        "expected": E, "ratio": ratio, "ci_low": ci_low, "ci_high": ci_high,
        "odds_low": odds_low, "odds_high": odds_high,
        "pvalue": np.exp(lp), "log_pvalue": lp,
        "pvalue_doubling": np.exp(ld), "log_pvalue_doubling": ld,
    })
    total_e = float(E.sum())
    return ObservedExpectedResult(
        observed=int(obs.sum()), expected=total_e,
        ratio=float(obs.sum() / total_e) if total_e > 0 else math.inf,
        confidence_interval=None, odds_ratio_interval=None, pvalue=None, log_pvalue=None,
        pvalue_doubling=None, log_pvalue_doubling=None, n_subjects=int(sizes.sum()),
        table=table, **common)
