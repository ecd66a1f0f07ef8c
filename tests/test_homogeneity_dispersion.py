"""dispersion_test: Pearson's dispersion index from first principles and scipy, the reuse of
tarone_test and beta_binomial, seeded simulations of each verdict, input paths and errors."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from binfer.homogeneity._dispersion import DispersionTestResult, dispersion_test
from binfer.homogeneity._tests import tarone_test
from binfer.pooling import beta_binomial

HOSPITALS = {"events": [0, 2, 5, 9, 1, 14, 3, 7, 4, 11],
             "trials": [20, 21, 19, 22, 18, 25, 20, 21, 19, 23]}
DAYS = [20, 19, 21, 22, 20, 18, 20, 21, 19, 20, 23, 20, 17, 21, 20]  # totals of 40 items


def _pearson(y, n):
    """X^2 = sum (y - n pbar)^2 / (n pbar (1 - pbar)): the definition."""
    y, n = np.asarray(y, float), np.asarray(n, float)
    p = y.sum() / n.sum()
    return float(((y - n * p) ** 2 / (n * p * (1 - p))).sum())


def _poisson_binomial_totals(rng, design, p, size):
    """Replicate totals Y_t = sum_g Bin(n_tg, p_g); design (G,) or (T, G)."""
    design = np.broadcast_to(np.asarray(design), (size, len(p)))
    return rng.binomial(design, p).sum(axis=1), design.sum(axis=1)


# --------------------------------------------------------------------------- reference values
@pytest.mark.parametrize(("events", "trials"), [
    (HOSPITALS["events"], HOSPITALS["trials"]),
    (DAYS, [40] * len(DAYS)),
    ([2, 9, 4, 12], [30, 31, 29, 33]),
    ([0, 1, 1, 3, 7], [1, 2, 5, 9, 12]),  # units of one trial mixed in
    ([5, 6], [10, 12]),  # two units
])
def test_statistic_interval_and_tails_from_first_principles(events, trials):
    r = dispersion_test(events=events, trials=trials)
    k = len(events)
    x2 = _pearson(events, trials)
    # independent software: scipy's Pearson test of the k x 2 table
    table = np.column_stack([events, np.subtract(trials, events)])
    ref = stats.chi2_contingency(table, correction=False)
    assert x2 == pytest.approx(ref.statistic, rel=1e-12)
    assert r.statistic == pytest.approx(x2, rel=1e-12)
    assert r.df == k - 1 == ref.dof
    assert r.variance_ratio == pytest.approx(x2 / (k - 1), rel=1e-12)
    assert r.pvalue_under == pytest.approx(stats.chi2.cdf(x2, k - 1), rel=1e-10)
    assert r.pvalue_over_pearson == pytest.approx(ref.pvalue, rel=1e-10)
    lo, hi = r.confidence_interval
    assert lo == pytest.approx(x2 / stats.chi2.ppf(0.975, k - 1), rel=1e-10)
    assert hi == pytest.approx(x2 / stats.chi2.ppf(0.025, k - 1), rel=1e-10)
    assert r.proportion == pytest.approx(sum(events) / sum(trials), rel=1e-15)
    assert r.n_units == k


def test_reuses_tarone_and_the_beta_binomial_lrt():
    for data in (HOSPITALS, {"events": DAYS, "trials": [40] * len(DAYS)}):
        r = dispersion_test(data)
        t = tarone_test(data)
        assert r.pvalue_over == t.pvalue
        assert r.statistic_tarone == t.statistic
        bb = beta_binomial(data, ci_method="wald")
        assert r.pvalue_beta_binomial == bb.lrt_pvalue
        assert r.statistic_beta_binomial == bb.lrt_statistic


def test_equal_trials_make_tarone_an_affine_map_of_pearson():
    # With n_i = n, S = n X^2, so Z = (n X^2 - k n) / sqrt(2 k n (n - 1)) (Notes of the module).
    rng = np.random.default_rng(3)
    k, n = 25, 30
    y = rng.binomial(n, 0.3, size=k)
    r = dispersion_test(events=y, trials=n)
    assert r.statistic_tarone == pytest.approx(
        (n * r.statistic - k * n) / math.sqrt(2 * k * n * (n - 1)), rel=1e-12)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_alternatives_pvalue_interval_and_verdict(alternative):
    for data in (HOSPITALS, {"events": DAYS, "trials": [40] * len(DAYS)},
                 {"events": [2, 9, 4, 12], "trials": [30, 31, 29, 33]}):
        r = dispersion_test(data, alternative=alternative, conf_level=0.9)
        x2, df, alpha = r.statistic, r.df, 0.1
        lo, hi = r.confidence_interval
        if alternative == "less":
            assert r.pvalue == r.pvalue_under
            assert lo == 0 and hi == pytest.approx(x2 / stats.chi2.ppf(alpha, df), rel=1e-10)
            assert r.verdict in ("under-dispersed", "binomial")
        elif alternative == "greater":
            assert r.pvalue == r.pvalue_over
            assert hi == math.inf
            assert lo == pytest.approx(x2 / stats.chi2.isf(alpha, df), rel=1e-10)
            assert r.verdict in ("over-dispersed", "binomial")
        else:
            assert r.pvalue == pytest.approx(min(1, 2 * min(r.pvalue_under, r.pvalue_over)))
        # the verdict is the decision of pvalue at alpha = 1 - conf_level
        assert (r.verdict != "binomial") == (r.pvalue <= alpha)
        # under-dispersed exactly when the interval lies below 1 (same chi-square quantile)
        assert (r.verdict == "under-dispersed") == (hi < 1)


# --------------------------------------------------------------------------- simulations
def test_poisson_binomial_totals_are_under_dispersed():
    rng = np.random.default_rng(20240613)
    design, p = np.array([30, 30, 40]), np.array([0.05, 0.5, 0.95])
    y, n = _poisson_binomial_totals(rng, design, p, 200)
    r = dispersion_test(totals=y, design=design)
    assert r.verdict == "under-dispersed"
    assert r.pvalue_under < 1e-10
    assert r.pvalue_over > 0.5 and r.pvalue_beta_binomial > 0.4
    # the variance ratio estimates 1 - sum_g w_g (p_g - pbar)^2 / (pbar (1 - pbar))
    w = design / design.sum()
    pbar = w @ p
    phi = 1 - w @ (p - pbar) ** 2 / (pbar * (1 - pbar))
    lo, hi = r.confidence_interval
    assert lo < phi < hi
    assert r.variance_ratio == pytest.approx(phi, abs=4 * math.sqrt(2 / 199) * phi)


def test_poisson_binomial_totals_with_a_varying_design():
    # replicates of different sizes with the same shares per line: the deficit grows with N_t
    rng = np.random.default_rng(7)
    scale = rng.integers(1, 4, size=150)
    design = np.outer(scale, [10, 15])
    y, n = _poisson_binomial_totals(rng, design, np.array([0.1, 0.85]), 150)
    r = dispersion_test(totals=y, design=design)
    assert r.verdict == "under-dispersed"
    assert r.variance_ratio < 0.6
    same = dispersion_test(events=y, trials=n)
    assert same.statistic == r.statistic and same.pvalue == r.pvalue


def test_beta_binomial_counts_are_over_dispersed():
    rng = np.random.default_rng(11)
    n = rng.integers(20, 60, size=60)
    y = rng.binomial(n, rng.beta(3, 9, size=60))
    r = dispersion_test(events=y, trials=n)
    assert r.verdict == "over-dispersed"
    assert r.pvalue_over < 1e-6 and r.pvalue_beta_binomial < 1e-6
    assert r.confidence_interval.low > 1


def test_binomial_counts_are_mostly_binomial():
    rng = np.random.default_rng(5)
    verdicts = []
    for _ in range(40):
        n = rng.integers(20, 60, size=30)
        verdicts.append(dispersion_test(events=rng.binomial(n, 0.3), trials=n).verdict)
    # about 37 expected: the two tails' chi-square and normal references put the size near
    # 0.06 at these sizes (1000 simulations outside the suite: 0.062)
    assert verdicts.count("binomial") >= 34
    assert set(verdicts) <= {"binomial", "under-dispersed", "over-dispersed"}


# --------------------------------------------------------------------------- input paths
def test_every_input_spelling_gives_the_same_test():
    y = np.array(DAYS)
    t = y.size
    reference = dispersion_test(pd.DataFrame({"events": y, "trials": 40}))
    wide = pd.DataFrame({"day": [f"d{i}" for i in range(t)], "defects": y, "line_a": 20,
                         "line_b": 20})
    spellings = [
        dispersion_test(events=y, trials=40),
        dispersion_test(events=y, trials=np.full(t, 40)),
        dispersion_test(totals=y, trials=40),
        dispersion_test(totals=y, design=[20, 20]),
        dispersion_test(totals=y, design=np.full((t, 2), 20)),
        dispersion_test({"events": y, "trials": [40] * t}),
        dispersion_test(wide, totals="defects", design=["line_a", "line_b"], group="day"),
        dispersion_test(wide.assign(n=40), events="defects", trials="n"),
    ]
    for r in spellings:
        assert r == reference


def test_outcome_rows_give_the_grouped_answer():
    rows = []
    for label, e, m in zip("abcd", [2, 9, 4, 12], [30, 31, 29, 33], strict=True):
        rows += [(label, 1)] * e + [(label, 0)] * (m - e)
    subjects = pd.DataFrame(rows, columns=["arm", "y"]).sample(frac=1, random_state=1)
    r = dispersion_test(subjects, outcome="y", group="arm")
    assert r == dispersion_test(events=[2, 9, 4, 12], trials=[30, 31, 29, 33])


def test_result_repr_and_frame():
    r = dispersion_test(totals=DAYS, trials=40)
    assert isinstance(r, DispersionTestResult)
    text = repr(r)
    assert text.startswith("Dispersion test: Pearson X^2 lower tail (under) and Tarone's Z")
    for line in ("units: 15; pooled proportion 0.5017",
                 "variance ratio: 0.221 (X^2 = 3.093 on 14 df), 95% CI [0.1184, 0.5496]",
                 "verdict: under-dispersed (two-sided, alpha = 0.05)",
                 "under-dispersion, X^2 lower tail: p = 0.001103",
                 "over-dispersion, Tarone's Z = -2.202: p = 0.9862"):
        assert line in text
    frame = r.to_frame()
    assert frame.shape[0] == 1
    for col in ("variance_ratio", "verdict", "statistic", "pvalue", "df", "pvalue_under",
                "pvalue_over", "statistic_tarone", "pvalue_beta_binomial",
                "statistic_beta_binomial", "pvalue_over_pearson", "confidence_interval_low",
                "confidence_interval_high", "note"):
        assert col in frame.columns
    assert frame.loc[0, "verdict"] == "under-dispersed"
    assert "<table>" in r._repr_html_()


def test_notes_say_where_the_approximations_are_rough():
    r = dispersion_test(HOSPITALS)
    assert "1 of 10 units expect fewer than 5 events or non-events" in r.note
    r = dispersion_test(events=[5, 6, 4], trials=[10, 12, 9])
    assert "only 3 units" in r.note
    assert dispersion_test(totals=DAYS, trials=40).note is None
    # Tarone weights the huge unit's residual, X^2 weights every unit alike: both can reject
    y, n = [10] * 60 + [5150, 4850], [20] * 60 + [10000, 10000]
    r = dispersion_test(events=y, trials=n)
    assert r.pvalue_under <= 0.025 and r.pvalue_over <= 0.025
    assert "both sides reject" in r.note
    assert r.verdict == ("under-dispersed" if r.pvalue_under < r.pvalue_over
                         else "over-dispersed")


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"events": [2, 9, 4], "trials": [30, 31, 3]},
     "column 'events', row 2 (position 2): events 4 > trials 3 (column 'trials')"),
    ({"events": [2, -1, 4], "trials": [30, 31, 30]},
     "column 'events', row 1 (position 1): -1 is negative; counts are >= 0"),
    ({"events": [2, 1.5, 4], "trials": [30, 31, 30]},
     "column 'events', row 1 (position 1): 1.5 is not a whole number"),
    ({"events": [2, float("nan"), 4], "trials": [30, 31, 30]},
     r"column 'events', row 1 \(position 1\): missing value \(NaN\)"),
    ({"events": [2, 0, 4], "trials": [30, 0, 30]},
     "column 'trials', row 1 (position 1): trials = 0"),
    ({"totals": [2, 1.5], "trials": 5}, "column 'totals', row 1 (position 1): 1.5 is not"),
    ({"events": [2], "trials": [30]}, "data has 1 group; this needs at least 2"),
    ({"events": [0, 0, 0], "trials": [5, 6, 7]},
     "column 'events': every unit has no events; the binomial variance is 0"),
    ({"totals": [3, 3], "trials": [3, 3]}, "column 'totals': every unit has only events"),
    ({"events": [0, 1, 1], "trials": 1}, "trials: every unit has one trial"),
    ({"events": [1, 2], "totals": [1, 2], "trials": 5}, "events= or as totals=, not both"),
    ({"totals": [1, 2], "trials": 5, "design": [2, 3]}, "trials= .* or design= .*not both"),
    ({"totals": [1, 2, 3], "design": np.ones((2, 2), int)},
     r"design has shape \(2, 2\) but there are 3 totals"),
    ({"totals": [1, 2], "design": [2, -3]}, "design, group 1: -3 is negative"),
    ({"totals": [1, 2], "design": [[2, 3], [2, 2.5]]},
     "design, replicate 1, group 1: 2.5 is not a whole number"),
    ({"events": "e", "trials": "n"}, "name columns of data; without data give the counts"),
    ({"events": [1, 2]}, r"give data \(a DataFrame or mapping of columns\), or the counts"),
    ({"events": [[1, 2], [3, 4]], "trials": 5}, "events must be one-dimensional"),
    ({"outcome": "y"}, "outcome= names a column of data: give data"),
    ({"events": [2, 9], "trials": [30, 31], "alternative": "greter"}, "alternative"),
    ({"events": [2, 9], "trials": [30, 31], "conf_level": 95},
     r"conf_level must be a number in \(0, 1\), got 95"),
])
def test_bad_input_is_named(kwargs, message):
    with pytest.raises(ValueError, match=message if "\\" in message or ".*" in message
                       else _literal(message)):
        dispersion_test(**kwargs)


def _literal(message):
    import re

    return re.escape(message)


def test_bad_columns_are_named():
    df = pd.DataFrame({"e": [2, 9, 45], "n": [30, 31, 40], "a": [20, 20, 20], "b": [20, 20, 20]},
                      index=["day 1", "day 2", "day 3"])
    with pytest.raises(ValueError, match="trials='trials': no such column"):
        dispersion_test(df, events="e")
    with pytest.raises(ValueError, match=_literal(
            "column 'e', row 'day 3' (position 2): events 45 > trials 40 (column 'n')")):
        dispersion_test(df, events="e", trials="n")
    with pytest.raises(ValueError, match=_literal(
            "column 'e', row 'day 3' (position 2): total 45 > 40 trials in that replicate's "
            "design")):
        dispersion_test(df, totals="e", design=["a", "b"])
    with pytest.raises(ValueError, match="design='a': give the list of the groups' trials"):
        dispersion_test(df, totals="e", design="a")
    with pytest.raises(ValueError, match="design=\\['a', 'zz'\\]|design='zz': no such column"):
        dispersion_test(df, totals="e", design=["a", "zz"])


# Binomial counts on which beta_binomial's fit ends at a + b ~ 1e8, just off rho = 0, and its
# standard errors fail (math domain error): the dispersion test still answers.
NEAR_BOUNDARY = {
    "events": [13, 12, 7, 13, 13, 10, 16, 5, 12, 14, 15, 9, 15, 18, 12, 14, 26, 19, 17, 8, 10,
               21, 8, 13, 14, 13, 8, 14, 2, 13],
    "trials": [40, 40, 31, 40, 58, 29, 50, 20, 32, 57, 54, 23, 53, 53, 38, 34, 59, 58, 47, 35,
               28, 57, 30, 42, 46, 29, 32, 49, 27, 46],
}


def test_a_failed_beta_binomial_fit_leaves_the_verdict(monkeypatch):
    r = dispersion_test(NEAR_BOUNDARY)
    assert r.verdict == "binomial"
    x2 = _pearson(NEAR_BOUNDARY["events"], NEAR_BOUNDARY["trials"])
    assert r.statistic == pytest.approx(x2, rel=1e-12)
    # beta_binomial's fit stops just inside the boundary here (a + b ~ 3e8): it reports the
    # boundary solution (it used to fail on a negative variance), and its LRT is passed on
    bb = beta_binomial(NEAR_BOUNDARY, ci_method="wald")
    assert bb.rho == 0 and bb.lrt_statistic == 0
    assert r.pvalue_beta_binomial == bb.lrt_pvalue == 1.0

    import binfer.pooling

    def fails(*args, **kwargs):
        raise ValueError("math domain error")

    monkeypatch.setattr(binfer.pooling, "beta_binomial", fails)
    r = dispersion_test(HOSPITALS)
    assert r.pvalue_beta_binomial is None and r.statistic_beta_binomial is None
    assert "beta_binomial could not fit (math domain error): no likelihood-ratio test" in r.note
    assert "beta-binomial LRT: not available (see note)" in repr(r)
    assert r.verdict == "over-dispersed" and r.pvalue_over == tarone_test(HOSPITALS).pvalue


@pytest.mark.slow
def test_size_by_simulation():
    # The figures quoted in the docstring's Notes: binomial data, 30 units of 20-60 trials.
    rng = np.random.default_rng(2026)
    under = over = 0
    n_sim = 1000
    for _ in range(n_sim):
        n = rng.integers(20, 61, size=30)
        r = dispersion_test(events=rng.binomial(n, 0.3), trials=n)
        under += r.verdict == "under-dispersed"
        over += r.verdict == "over-dispersed"
    size = (under + over) / n_sim
    se = np.sqrt(0.05 * 0.95 / n_sim)
    assert abs(size - 0.05) < 0.02 + 3 * se, (under, over)  # ~6% measured: mildly liberal
    assert 0.01 < under / n_sim < 0.045 and 0.01 < over / n_sim < 0.045, (under, over)
