"""binomial_vs_poisson_binomial: the totals-only likelihood-ratio test (issue 13 §1): the fit
against an independent brute-force likelihood, recovery of p_g, inputs, the full-information
G-test, executors, reproducibility and bad input."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats

from binfer import binomial_vs_poisson_binomial, homogeneity_test

N3, P3 = np.array([30, 60, 90]), np.array([0.05, 0.4, 0.8])


def brute_loglik(p, totals, trials):
    """sum_t log P(Y_t) by convolving the groups' binomial PMFs (numpy/scipy only)."""
    total, pmfs = 0.0, {}
    for y, row in zip(totals, trials, strict=True):
        key = tuple(row)
        if key not in pmfs:
            pmf = np.array([1.0])
            for n, q in zip(row, p, strict=True):
                pmf = np.convolve(pmf, stats.binom.pmf(np.arange(n + 1), n, q))
            pmfs[key] = pmf
        total += np.log(pmfs[key][y])
    return total


def constant_data(seed=1, T=300):
    rng = np.random.default_rng(seed)
    return rng.binomial(N3, P3, size=(T, 3)).sum(axis=1)


def varying_data(seed=1, T=300):
    rng = np.random.default_rng(seed)
    trials = rng.integers(10, 100, size=(T, 3))
    return rng.binomial(trials, P3).sum(axis=1), trials


def test_fit_beats_truth_and_an_independent_optimiser():
    y = constant_data()
    trials = np.tile(N3, (y.size, 1))
    r = binomial_vs_poisson_binomial(totals=y, trials=N3, method="mixture", random_state=0)
    brute_fit = brute_loglik(r.p.to_numpy(), y, trials)
    assert r.loglik_poisson_binomial == pytest.approx(brute_fit, abs=1e-6)
    assert r.loglik_poisson_binomial >= brute_loglik(P3, y, trials) - 1e-9
    assert r.loglik_binomial == pytest.approx(
        stats.binom.logpmf(y, N3.sum(), y.sum() / (y.size * N3.sum())).sum())
    # Nelder-Mead on the brute-force likelihood (logit scale), started at the truth
    nm = optimize.minimize(lambda x: -brute_loglik(special.expit(x), y, trials),
                           special.logit(P3), method="Nelder-Mead",
                           options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 2000})
    assert r.loglik_poisson_binomial >= -nm.fun - 1e-6
    assert r.statistic == pytest.approx(2 * (r.loglik_poisson_binomial - r.loglik_binomial))
    assert r.statistic > 10 and r.pvalue < 0.001
    assert r.pvalue == r.pvalue_mixture == pytest.approx(0.5 * stats.chi2.sf(r.statistic, 1))
    assert "starts" in r.note and "reached" in r.note


def test_varying_design_recovers_p_and_beats_truth():
    y, trials = varying_data()
    r = binomial_vs_poisson_binomial(totals=y, trials=trials, method="mixture", random_state=0)
    np.testing.assert_allclose(r.p.to_numpy(), P3, atol=0.03)
    assert r.loglik_poisson_binomial >= brute_loglik(P3, y, trials) - 1e-9
    assert r.loglik_poisson_binomial == pytest.approx(
        brute_loglik(r.p.to_numpy(), y, trials), abs=1e-6)
    assert "multiset" not in r.note  # only a constant design is limited to the multiset


def test_constant_design_recovers_p_with_distinct_sizes():
    n, p = np.array([3, 6, 9]), np.array([0.05, 0.5, 0.95])
    rng = np.random.default_rng(1)
    y = rng.binomial(n, p, size=(1000, 3)).sum(axis=1)
    r = binomial_vs_poisson_binomial(totals=y, trials=n, method="mixture", random_state=0)
    np.testing.assert_allclose(r.p.to_numpy(), p, atol=0.06)


def test_equal_size_groups_are_exchangeable():
    n, p = np.array([4, 4, 8]), np.array([0.9, 0.1, 0.5])
    rng = np.random.default_rng(3)
    y = rng.binomial(n, p, size=(2000, 3)).sum(axis=1)
    r = binomial_vs_poisson_binomial(totals=y, trials=n, method="mixture", random_state=0)
    # reported in increasing order within the exchangeable pair
    assert r.p.iloc[0] <= r.p.iloc[1]
    np.testing.assert_allclose(r.p.to_numpy(), [0.1, 0.9, 0.5], atol=0.08)


def test_under_h0_statistic_small_pvalue_not_small():
    rng = np.random.default_rng(5)
    y = rng.binomial(180, 0.4, size=300)
    r = binomial_vs_poisson_binomial(totals=y, trials=N3, n_resamples=19, random_state=1,
                                     progress=False)
    assert r.statistic < 5
    assert r.pvalue > 0.1 and r.pvalue_mixture > 0.05
    assert r.pvalue_mcse == pytest.approx(np.sqrt(r.pvalue * (1 - r.pvalue) / 19))
    assert r.n_resamples == 19 and r.statistic >= 0
    if r.statistic == 0:
        assert r.pvalue == 1 and r.pvalue_mixture == 1
        assert (r.p == y.sum() / (300 * 180)).all()


def test_refits_stop_early_with_the_same_hits():
    # a refit stops once its statistic reaches the observed one: the hits, and every refit
    # that does not reach it, are exactly those of whole fits
    from binfer.homogeneity import _totals

    n = np.broadcast_to(np.asarray(N3), (40, 3))
    order, classes = np.arange(3), _totals._classes(n)
    args = (25, np.random.SeedSequence(3), n.sum(axis=1), np.ascontiguousarray(n), True, order,
            classes, 0.3, 1)
    whole = _totals._boot_chunk(*args)
    assert (whole > 0).any() and (whole == 0).any()
    threshold = float(np.quantile(whole[whole > 0], 0.5))
    early = _totals._boot_chunk(*args, stop_above=threshold)
    np.testing.assert_array_equal(early >= threshold, whole >= threshold)
    below = whole < threshold
    np.testing.assert_array_equal(early[below], whole[below])
    assert (early[~below] <= whole[~below] * (1 + 1e-12)).all()


def test_zero_statistic_gives_p_one_without_refits():
    y = np.tile([30, 78], 15)  # over-dispersed: no Poisson-binomial fits better
    r = binomial_vs_poisson_binomial(totals=y, trials=N3, n_resamples=999, progress=False)
    assert r.statistic == 0 and r.pvalue == 1 and r.pvalue_mcse == 0
    assert r.n_resamples == 999 and "p = 1 exactly" in r.note


def test_wide_long_and_arrays_agree():
    y, trials = varying_data(T=60)
    kw = dict(method="bootstrap", n_resamples=20, random_state=4, progress=False)
    a = binomial_vs_poisson_binomial(totals=y, trials=trials, **kw)
    wide = pd.DataFrame({"total": y, "a": trials[:, 0], "b": trials[:, 1], "c": trials[:, 2]})
    w = binomial_vs_poisson_binomial(wide, totals="total", trials=["a", "b", "c"], **kw)
    long = pd.DataFrame({"day": np.repeat(np.arange(60), 3), "unit": np.tile(["a", "b", "c"], 60),
                         "n": trials.ravel(), "total": np.repeat(y, 3)})
    g = binomial_vs_poisson_binomial(long, totals="total", trials="n", replicate="day",
                                     group="unit", **kw)
    assert a == w == g
    assert list(w.p.index) == list(g.p.index) == ["a", "b", "c"]
    assert list(a.p.index) == [0, 1, 2]
    np.testing.assert_array_equal(a.p.to_numpy(), w.p.to_numpy())
    np.testing.assert_array_equal(a.p.to_numpy(), g.p.to_numpy())


def test_events_is_the_g_test():
    rng = np.random.default_rng(2)
    trials = rng.integers(5, 40, size=(20, 3))
    events = rng.binomial(trials, [0.2, 0.3, 0.5])
    r = binomial_vs_poisson_binomial(totals=events.sum(axis=1), trials=trials, events=events)
    ref = homogeneity_test({"events": events.sum(axis=0), "trials": trials.sum(axis=0)},
                           method="g")
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert r.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    assert r.df == 2 and "full-information" in r.note
    assert r.statistic == pytest.approx(2 * (r.loglik_poisson_binomial - r.loglik_binomial))
    # long data with an events column gives the same
    long = pd.DataFrame({"rep": np.repeat(np.arange(20), 3), "g": np.tile([0, 1, 2], 20),
                         "n": trials.ravel(), "x": events.ravel(),
                         "y": np.repeat(events.sum(axis=1), 3)})
    r2 = binomial_vs_poisson_binomial(long, totals="y", trials="n", events="x",
                                      replicate="rep", group="g")
    assert r2.statistic == pytest.approx(r.statistic, rel=1e-12)


def test_executor_and_reproducibility():
    y = constant_data(T=80)
    kw = dict(totals=y, trials=N3, n_resamples=60, random_state=11, progress=False)
    serial = binomial_vs_poisson_binomial(**kw)
    with ThreadPoolExecutor(2) as ex:
        pooled = binomial_vs_poisson_binomial(**kw, executor=ex)
    assert serial == pooled
    again = binomial_vs_poisson_binomial(**kw)
    assert again == serial
    gen = binomial_vs_poisson_binomial(**{**kw, "random_state": np.random.default_rng(11)})
    assert gen.pvalue == serial.pvalue
    assert "Poisson-binomial" in repr(serial) and len(serial.to_frame()) == 1


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(totals=[5, 200], trials=[30, 60, 90]), r"totals, replicate 1: total 200 > 180"),
    (dict(totals=[5, -1], trials=[30, 60, 90]), r"totals, position 1: -1 is negative"),
    (dict(totals=[5, 2.5], trials=[30, 60, 90]), r"totals, position 1: 2.5 is not a whole"),
    (dict(totals=[5, np.nan], trials=[30, 60, 90]), r"totals, position 1: missing value"),
    (dict(totals=[5, 6], trials=[30, 6.5]), r"trials, group 1: 6.5 is not a whole"),
    (dict(totals=[5, 6], trials=[[3, 4], [5, -1]]), r"trials, replicate 1, group 1"),
    (dict(totals=[5, 6], trials=[30]), r"1 group; the test compares at least 2"),
    (dict(totals=[5], trials=[30, 60]), r"1 replicate; the test needs at least 2"),
    (dict(totals=[5, 6], trials=[30, 60], method="exact"), r"method must be one of"),
    (dict(totals=[5, 6], trials=[30, 60], n_resamples=0), r"n_resamples must be"),
    (dict(totals=[5, 6], trials=[[3, 1, 4], [5, 6, 1]], events=[[3, 2, 0], [5, 1, 0]]),
     r"events, replicate 0, group 1: events 2 > trials 1"),
    (dict(totals=[5, 6], trials=[[3, 4], [5, 6]], events=[[3, 2], [5, 0]]),
     r"events, replicate 1: the group counts add up to 5, not the total 6"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        binomial_vs_poisson_binomial(**kwargs)


def test_bad_frames_name_the_row():
    wide = pd.DataFrame({"y": [3, 99], "a": [10, 10], "b": [20, 20]}, index=["mon", "tue"])
    with pytest.raises(ValueError, match=r"row 'tue' \(position 1\): total 99 > 30"):
        binomial_vs_poisson_binomial(wide, totals="y", trials=["a", "b"])
    wide.loc["tue", "a"] = -2
    with pytest.raises(ValueError, match=r"column 'a', row 'tue'.*negative"):
        binomial_vs_poisson_binomial(wide, totals="y", trials=["a", "b"])
    long = pd.DataFrame({"day": [1, 1, 2, 2], "g": ["a", "b", "a", "b"], "n": [10, 20, 10, 20],
                         "y": [5, 5, 7, 8]})
    with pytest.raises(ValueError, match=r"column 'y', row 3 \(position 3\): total 8 differs "
                                         r"from the total 7 of the same replicate 2"):
        binomial_vs_poisson_binomial(long, totals="y", trials="n", replicate="day", group="g")
    long.loc[3, "y"], long.loc[3, "g"] = 7, "a"
    with pytest.raises(ValueError, match=r"replicate 2 already has group 'a'"):
        binomial_vs_poisson_binomial(long, totals="y", trials="n", replicate="day", group="g")
    with pytest.raises(ValueError, match=r"both replicate= and group="):
        binomial_vs_poisson_binomial(long, totals="y", trials="n", replicate="day")
