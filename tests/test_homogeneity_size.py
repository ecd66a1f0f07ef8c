"""Sizes by simulation (slow: `make validate`): under H0 each test rejects at alpha = 0.05 within
Monte Carlo error (plus a stated allowance for asymptotic tests), and the exact tests never exceed
alpha beyond Monte Carlo error."""

import math

import numpy as np
import pytest

import binfer

pytestmark = pytest.mark.slow

ALPHA = 0.05
TRIALS = np.array([20, 35, 25, 40, 30, 45])


def _rate(pvalues):
    pvalues = np.asarray(pvalues)
    rate = float((pvalues <= ALPHA).mean())
    return rate, math.sqrt(ALPHA * (1 - ALPHA) / pvalues.size)


@pytest.mark.parametrize("method", ["pearson", "g", "exact", "monte-carlo"])
def test_homogeneity_size(method):
    rng = np.random.default_rng(11)
    reps = 400 if method == "monte-carlo" else 2000
    pvalues = []
    for _ in range(reps):
        events = rng.binomial(TRIALS, 0.25)
        r = binfer.homogeneity_test({"events": events, "trials": TRIALS}, method=method,
                                    n_resamples=499, random_state=rng, progress=False)
        pvalues.append(r.pvalue)
    rate, se = _rate(pvalues)
    # asymptotic tests: chi-square approximation error of about 0.01 allowed at these sizes
    slack = 0.01 if method in ("pearson", "g") else 0.0
    assert rate <= ALPHA + 3 * se + slack, rate
    if method in ("pearson", "g", "monte-carlo"):
        assert rate >= ALPHA - 3 * se - slack, rate


def test_tarone_and_trend_size():
    rng = np.random.default_rng(12)
    tarone, trend = [], []
    for _ in range(3000):
        events = rng.binomial(TRIALS, 0.3)
        df = {"events": events, "trials": TRIALS}
        tarone.append(binfer.tarone_test(df).pvalue)
        trend.append(binfer.trend_test(df).pvalue)
    for pvalues in (tarone, trend):
        rate, se = _rate(pvalues)
        assert abs(rate - ALPHA) <= 3 * se + 0.015, rate


def test_cmh_and_breslow_day_size():
    rng = np.random.default_rng(13)
    n1 = np.array([30, 40, 25, 50, 35])
    n2 = np.array([30, 35, 30, 45, 40])
    p_ctrl = np.array([0.2, 0.3, 0.25, 0.35, 0.3])
    odds = p_ctrl / (1 - p_ctrl)
    cmh, cmh_exact, bd = [], [], []
    for _ in range(1500):
        # H0 of the CMH test: OR = 1 in every stratum
        data = {"events_treat": rng.binomial(n1, p_ctrl), "trials_treat": n1,
                "events_ctrl": rng.binomial(n2, p_ctrl), "trials_ctrl": n2}
        cmh.append(binfer.cmh_test(data, correction=False).pvalue)
        cmh_exact.append(binfer.cmh_test(data, exact=True).pvalue)
        # H0 of Breslow-Day: one common OR (= 2) across strata
        p_treat = 2 * odds / (1 + 2 * odds)
        data["events_treat"] = rng.binomial(n1, p_treat)
        bd.append(binfer.breslow_day_test(data).pvalue)
    for pvalues in (cmh, bd):
        rate, se = _rate(pvalues)
        assert abs(rate - ALPHA) <= 3 * se + 0.01, rate
    rate, se = _rate(cmh_exact)
    assert rate <= ALPHA + 3 * se, rate
