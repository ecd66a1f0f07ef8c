"""Homogeneity tests: brute force, mpmath and (test_homogeneity_refs.py) R references."""

import io
import itertools
import json
import math
import sys
from pathlib import Path

import mpmath as mp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

import binfer
from binfer.homogeneity._exact import ExactTooLarge, ffh_exact_pvalue


def _brute_ffh(events, trials):
    """Enumerate every table with the margins of (events, trials): the definition."""
    total = sum(events)

    def logp(xs):
        return sum(special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
                   for x, n in zip(xs, trials, strict=True))

    obs = logp(events)
    tables = [xs for xs in itertools.product(*[range(n + 1) for n in trials]) if sum(xs) == total]
    weights = np.array([logp(xs) for xs in tables])
    norm = special.logsumexp(weights)
    keep = weights <= obs + math.log1p(1e-7)
    return float(np.exp(special.logsumexp(weights[keep]) - norm))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 7), st.floats(0, 1)), min_size=2, max_size=5))
def test_exact_equals_enumeration(groups):
    trials = [n for n, _ in groups]
    events = [round(f * n) for n, f in groups]
    expected = _brute_ffh(events, trials)
    got = binfer.homogeneity_test({"events": events, "trials": trials}, method="exact").pvalue
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-15)


def test_exact_on_tables_too_big_for_enumeration_agrees_with_monte_carlo():
    # 14 centres, a few hundred subjects: where R's fisher.test runs out of workspace.
    rng = np.random.default_rng(5)
    trials = rng.multinomial(272, np.ones(14) / 14) + 2
    events = rng.binomial(trials, 0.2)
    df = {"events": events, "trials": trials}
    exact = binfer.homogeneity_test(df, method="exact")
    assert exact.note is None and exact.pvalue_mcse is None
    mc = binfer.homogeneity_test(df, method="exact", max_nodes=10, n_resamples=20000,
                                 random_state=1, progress=False)
    assert "Monte Carlo" in mc.method and "max_nodes=10" in mc.note
    assert abs(mc.pvalue - exact.pvalue) < 4 * mc.pvalue_mcse


def test_exact_budget_is_enforced():
    trials = np.full(30, 40)
    events = np.arange(30) % 7
    with pytest.raises(ExactTooLarge):
        ffh_exact_pvalue(events, trials, max_nodes=1000)


def test_exact_is_symmetric_in_outcome_and_order():
    events, trials = np.array([3, 0, 7, 2, 5]), np.array([10, 8, 12, 9, 11])
    p, _ = ffh_exact_pvalue(events, trials)
    assert ffh_exact_pvalue(trials - events, trials)[0] == pytest.approx(p, rel=1e-12)
    perm = np.array([4, 2, 0, 3, 1])
    assert ffh_exact_pvalue(events[perm], trials[perm])[0] == pytest.approx(p, rel=1e-12)


def test_monte_carlo_is_seeded_and_reports_its_error():
    df = {"events": [2, 9, 4, 12], "trials": [30, 31, 29, 33]}
    a = binfer.homogeneity_test(df, method="monte-carlo", random_state=7, progress=False)
    b = binfer.homogeneity_test(df, method="monte-carlo", random_state=7, progress=False)
    assert a.pvalue == b.pvalue
    assert a.pvalue_mcse == pytest.approx(math.sqrt(a.pvalue * (1 - a.pvalue) / 9999))
    pearson = binfer.homogeneity_test(df)
    assert a.statistic == pytest.approx(pearson.statistic)
    assert "Monte Carlo SE" in repr(a)


def test_pearson_and_g_match_scipy_at_scale():
    rng = np.random.default_rng(3)
    trials = rng.integers(1, 50, size=2000)
    events = rng.binomial(trials, 0.3)
    table = np.column_stack([events, trials - events])
    for method, power in (("pearson", 1), ("g", "log-likelihood")):
        ours = binfer.homogeneity_test({"events": events, "trials": trials}, method=method)
        ref = stats.chi2_contingency(table, correction=False, lambda_=power)
        assert ours.statistic == pytest.approx(ref.statistic, rel=1e-10)
        assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-8)
        assert ours.df == ref.dof


def test_degenerate_table_has_one_outcome():
    r = binfer.homogeneity_test({"events": [0, 0, 0], "trials": [4, 5, 6]}, method="exact")
    assert (r.statistic, r.pvalue) == (0.0, 1.0) and "no events" in r.note


def test_unknown_method():
    with pytest.raises(ValueError, match="method must be one of pearson, g, exact"):
        binfer.homogeneity_test({"events": [1, 2], "trials": [3, 4]}, method="fisher")


def test_trend_scores_are_checked():
    df = {"events": [1, 2, 3], "trials": [5, 5, 5]}
    with pytest.raises(ValueError, match="scores has 2 entries but the data has 3 groups"):
        binfer.trend_test(df, scores=[1, 2])
    with pytest.raises(ValueError, match="same score"):
        binfer.trend_test(df, scores=[2, 2, 2])
    up = binfer.trend_test(df)
    assert up.z > 0 and up.statistic == pytest.approx(up.z**2)
    assert binfer.trend_test(df, scores=[3, 2, 1]).z == pytest.approx(-up.z)


def _mp_conditional_law(n1, n2, m, psi):
    dist = {0: mp.mpf(1)}
    for a, b, mm in zip(n1, n2, m, strict=True):
        new = {}
        for s, w in dist.items():
            for x in range(max(0, mm - b), min(a, mm) + 1):
                term = w * mp.binomial(a, x) * mp.binomial(b, mm - x) * mp.mpf(psi) ** x
                new[s + x] = new.get(s + x, 0) + term
        dist = new
    z = sum(dist.values())
    return {s: w / z for s, w in dist.items()}


def test_exact_cmh_against_mpmath():
    mp.mp.dps = 40
    d = {"events_treat": [0, 0, 1, 5], "trials_treat": [6, 5, 3, 6],
         "events_ctrl": [2, 6, 4, 6], "trials_ctrl": [5, 6, 6, 6]}
    r = binfer.cmh_test(d, exact=True)
    n1, n2 = d["trials_treat"], d["trials_ctrl"]
    m = [a + c for a, c in zip(d["events_treat"], d["events_ctrl"], strict=True)]
    s_obs = sum(d["events_treat"])

    def mean(psi):
        law = _mp_conditional_law(n1, n2, m, psi)
        return sum(s * w for s, w in law.items())

    mle = mp.findroot(lambda t: mean(t) - s_obs, 0.035)
    assert r.estimate == pytest.approx(float(mle), rel=1e-10)
    null = _mp_conditional_law(n1, n2, m, 1)
    p = sum(w for w in null.values() if w <= null[s_obs] * (1 + 1e-7))
    assert r.pvalue == pytest.approx(float(p), rel=1e-10)

    def upper(psi):
        law = _mp_conditional_law(n1, n2, m, psi)
        return sum(w for s, w in law.items() if s >= s_obs)

    low = mp.findroot(lambda t: upper(t) - 0.025, 0.0006)
    assert r.confidence_interval.low == pytest.approx(float(low), rel=1e-8)
    assert r.statistic == s_obs


def test_breslow_day_equal_odds_ratio_one():
    # MH OR exactly 1: the quadratic degenerates to a linear equation.
    d = {"events_treat": [2, 3], "trials_treat": [4, 6], "events_ctrl": [2, 3],
         "trials_ctrl": [4, 6]}
    r = binfer.breslow_day_test(d)
    assert r.statistic == pytest.approx(0.0, abs=1e-12) and r.pvalue == pytest.approx(1.0)


def test_power_simulation_agrees_with_noncentral():
    p, n = [0.10, 0.15, 0.20], 200
    nc = binfer.homogeneity_power(p, n)
    sim = binfer.homogeneity_power(p, n, method="simulation", n_simulations=4000,
                                   random_state=2, progress=False)
    assert abs(sim.power - nc.power) < 4 * sim.power_mcse + 0.02
    assert binfer.homogeneity_power([0.2, 0.2], 50).power == pytest.approx(0.05)
    n80 = binfer.homogeneity_sample_size(p, power=0.8)
    assert binfer.homogeneity_power(p, n80).power >= 0.8
    assert binfer.homogeneity_power(p, n80 - 1).power < 0.8


def test_power_input_checks():
    with pytest.raises(ValueError, match="trials has 2 entries but p has 3"):
        binfer.homogeneity_power([0.1, 0.2, 0.3], [10, 20])
    with pytest.raises(ValueError, match=r"p\[1\] = 1.2 is outside"):
        binfer.homogeneity_power([0.1, 1.2], 10)
    with pytest.raises(ValueError, match="same p"):
        binfer.homogeneity_sample_size([0.3, 0.3])


def test_levels_are_checked_alike():
    d = {"events_treat": [1, 2], "trials_treat": [5, 5], "events_ctrl": [2, 3],
         "trials_ctrl": [5, 5]}
    for bad in (95, "0.95", True):
        with pytest.raises(ValueError, match=r"conf_level must be a number in \(0, 1\)"):
            binfer.cmh_test(d, conf_level=bad)
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 1\), got True"):
        binfer.homogeneity_power([0.1, 0.2], 10, alpha=True)


# ---------------------------------------------------------------------------------------------
# one row per subject (outcome=), trend scores, count-like options (issue 11)

# R: smokers <- c(83, 90, 129, 70); patients <- c(86, 93, 136, 82)
#    prop.trend.test(smokers, patients)  ->  X-squared = 8.2249, df = 1, p-value = 0.004132
SMOKERS, PATIENTS = [83, 90, 129, 70], [86, 93, 136, 82]


def _subjects(labels, events, trials, seed=None):
    """One row per subject (column ``y`` 0/1, label in ``arm``), optionally shuffled."""
    rows = [(g, int(i < x)) for g, x, n in zip(labels, events, trials, strict=True)
            for i in range(n)]
    df = pd.DataFrame(rows, columns=["arm", "y"])
    return df if seed is None else df.sample(frac=1, random_state=seed, ignore_index=True)


def _cochran_armitage(x, n, s):
    """X^2 = [sum x_i (s_i - sbar)]^2 / (p (1 - p) sum n_i (s_i - sbar)^2), by hand."""
    x, n, s = (np.asarray(v, dtype=float) for v in (x, n, s))
    p, sbar = x.sum() / n.sum(), (n * s).sum() / n.sum()
    return (x * (s - sbar)).sum() ** 2 / (p * (1 - p) * (n * (s - sbar) ** 2).sum())


def test_trend_on_subject_rows_does_not_depend_on_row_order():
    labels = ["g1", "g2", "g3", "g4"]  # sorted = intended order
    for seed in (None, 0, 1, 2):
        r = binfer.trend_test(_subjects(labels, SMOKERS, PATIENTS, seed), outcome="y",
                              group="arm")
        assert round(r.statistic, 4) == 8.2249 and round(r.pvalue, 6) == 0.004132
        assert r.scores.to_dict() == {"g1": 1.0, "g2": 2.0, "g3": 3.0, "g4": 4.0}


def test_trend_follows_an_ordered_categorical_and_score_mappings():
    names = ["none", "light", "heavy", "very heavy"]  # alphabetical order differs
    df = _subjects(names, SMOKERS, PATIENTS, seed=3)
    # plain strings: scored in sorted order heavy, light, none, very heavy
    alpha = sorted(names)
    by_name = dict(zip(names, zip(SMOKERS, PATIENTS, strict=True), strict=True))
    x, n = zip(*(by_name[g] for g in alpha), strict=True)
    r = binfer.trend_test(df, outcome="y", group="arm")
    assert r.scores.index.tolist() == alpha
    assert r.statistic == pytest.approx(_cochran_armitage(x, n, [1, 2, 3, 4]), rel=1e-12)
    assert round(r.statistic, 4) != 8.2249
    # an ordered Categorical gives the intended order
    cat = df.assign(arm=pd.Categorical(df.arm, categories=names, ordered=True))
    r = binfer.trend_test(cat, outcome="y", group="arm")
    assert round(r.statistic, 4) == 8.2249 and r.scores.index.tolist() == names
    # scores as a mapping label -> score (extra keys ignored)
    doses = {"none": 0, "light": 1, "heavy": 2, "very heavy": 4, "ex-smoker": 9}
    r = binfer.trend_test(df, outcome="y", group="arm", scores=doses)
    assert r.statistic == pytest.approx(
        _cochran_armitage(SMOKERS, PATIENTS, [0, 1, 2, 4]), rel=1e-12)
    assert r.scores.to_dict() == {g: float(doses[g]) for g in alpha}
    assert "scores: 'heavy' = 2" in repr(r)
    with pytest.raises(ValueError, match="scores: no score for the group 'very heavy'"):
        binfer.trend_test(df, outcome="y", group="arm", scores={"none": 0, "light": 1,
                                                                "heavy": 2})
    # array scores still work, in the groups' order
    r = binfer.trend_test({"events": SMOKERS, "trials": PATIENTS}, scores=[0, 1, 2, 4])
    assert r.statistic == pytest.approx(
        _cochran_armitage(SMOKERS, PATIENTS, [0, 1, 2, 4]), rel=1e-12)
    assert r.scores.tolist() == [0.0, 1.0, 2.0, 4.0]


@pytest.mark.parametrize("func", ["homogeneity_test", "tarone_test", "trend_test"])
def test_outcome_rows_give_the_grouped_answer(func):
    events, trials = [2, 9, 4, 12], [30, 31, 29, 33]
    labels = ["a", "b", "c", "d"]
    grouped = getattr(binfer, func)({"events": events, "trials": trials})
    subjects = getattr(binfer, func)(_subjects(labels, events, trials, seed=5), outcome="y",
                                     group="arm")
    assert subjects.statistic == pytest.approx(grouped.statistic, rel=1e-12)
    assert subjects.pvalue == pytest.approx(grouped.pvalue, rel=1e-12)
    if func == "homogeneity_test":  # and scipy's Pearson test of the same table
        ref = stats.chi2_contingency(np.column_stack([events, np.subtract(trials, events)]),
                                     correction=False)
        assert subjects.statistic == pytest.approx(ref.statistic, rel=1e-12)


@pytest.mark.parametrize(
    ("option", "method", "value", "shown"),
    [
        ("n_resamples", "monte-carlo", -5, "-5"),
        ("n_resamples", "monte-carlo", 0, "0"),
        ("n_resamples", "monte-carlo", 2.5, "2.5"),
        ("n_resamples", "monte-carlo", np.float64(3.5), "3.5"),  # not np.float64(3.5)
        ("n_resamples", "monte-carlo", float("nan"), "nan"),
        ("n_resamples", "exact", -1, "-1"),  # the exact test's Monte Carlo fallback
        ("max_nodes", "exact", 0, "0"),
        ("max_nodes", "exact", -1e6, "-1000000.0"),
    ],
)
def test_count_options_are_checked(option, method, value, shown):
    # issue 11: n_resamples=-5 gave p = -0.25 and n_resamples=0 a ZeroDivisionError
    df = {"events": [2, 9, 4, 12], "trials": [30, 31, 29, 33]}
    with pytest.raises(ValueError, match=f"^{option} must be a positive integer, got {shown}$"):
        binfer.homogeneity_test(df, method=method, progress=False, **{option: value})


def test_power_simulation_count_is_checked():
    for bad, shown in ((0, "0"), (-3, "-3"), (np.int64(-2), "-2"), (1.5, "1.5")):
        with pytest.raises(ValueError, match=f"^n_simulations must be a positive integer, "
                                             f"got {shown}$"):
            binfer.homogeneity_power([0.1, 0.2], 10, method="simulation", n_simulations=bad)
    with pytest.raises(ValueError, match=r"got 1.5$"):
        binfer.homogeneity_sample_size([0.1, 0.2], power=np.float64(1.5))


def test_random_state_errors_name_the_option():
    df = {"events": [2, 9, 4, 12], "trials": [30, 31, 29, 33]}
    with pytest.raises(ValueError, match="^random_state must be None, a non-negative integer"):
        binfer.homogeneity_test(df, method="monte-carlo", random_state=-1, progress=False)
    with pytest.raises(ValueError, match="^random_state must be .* got -1"):
        binfer.homogeneity_power([0.1, 0.2], 10, method="simulation", random_state=-1,
                                 progress=False)


# --- issue 11, section 3: per-group tables, alternatives, quiet progress bars ------------------
# References: tests/reference/trust_refs.json, written by tests/reference/make_trust_refs.R.

TRUST = json.loads((Path(__file__).parent / "reference" / "trust_refs.json").read_text())


@pytest.mark.parametrize("ref", TRUST["chisq_groups"], ids=lambda r: r["dataset"])
@pytest.mark.parametrize("method", ["pearson", "g"])
def test_groups_table_matches_chisq_test(ref, method):
    data = binfer.datasets.load(ref["dataset"])
    r = binfer.homogeneity_test(data, method=method)
    g = r.groups
    assert list(g.index.astype(str)) == ref["group"]
    assert list(g.columns) == ["events", "trials", "expected_events", "pearson_residual",
                               "standardized_residual"]
    np.testing.assert_array_equal(g["events"], data["events"])
    np.testing.assert_allclose(g["expected_events"], ref["expected_events"], rtol=1e-13)
    np.testing.assert_allclose(g["pearson_residual"], ref["pearson_residual"], rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(g["standardized_residual"], ref["standardized_residual"],
                               rtol=1e-12, atol=1e-14)
    # X^2 is the sum of both cells' squared residuals, the non-events' -(x - E)/sqrt(n - E)
    nonevents = -(g["events"] - g["expected_events"]) / np.sqrt(g["trials"]
                                                                - g["expected_events"])
    np.testing.assert_allclose(nonevents, ref["pearson_residual_non_events"], rtol=1e-12)
    assert ((g["pearson_residual"] ** 2).sum() + (nonevents ** 2).sum()
            == pytest.approx(ref["statistic"], rel=1e-12))
    assert "largest standardized residual" in repr(r) and "groups" in r._repr_html_()


def test_groups_table_with_every_method_and_no_events():
    df = pd.DataFrame({"events": [2, 9, 4], "trials": [30, 31, 29]}, index=["a", "b", "c"])
    pearson = binfer.homogeneity_test(df).groups
    for method in ("exact", "monte-carlo"):
        r = binfer.homogeneity_test(df, method=method, n_resamples=99, random_state=1,
                                    progress=False)
        pd.testing.assert_frame_equal(r.groups, pearson)
    none = binfer.homogeneity_test({"events": [0, 0], "trials": [5, 7]}).groups
    # observed equals expected in every cell: residuals 0, not R's NaN (0/0)
    assert (none["expected_events"] == 0).all() and (none["pearson_residual"] == 0).all()
    assert (none["standardized_residual"] == 0).all()


@pytest.mark.parametrize("ref", TRUST["cmh_alt"],
                         ids=lambda r: f"{r['dataset']}-{r['alternative']}-exact={r['exact']}"
                                       f"-{r.get('correct', '')}")
def test_cmh_alternative_matches_mantelhaen_test(ref):
    data = binfer.datasets.load(ref["dataset"])
    if ref["exact"]:
        r = binfer.cmh_test(data, exact=True, alternative=ref["alternative"])
        assert r.statistic == ref["statistic_S"]
        low, high = ref["conf_low_tight"], ref["conf_high_tight"]  # R's uniroot: ~4 digits
        assert r.estimate == pytest.approx(ref["estimate"], rel=1e-3)
    else:
        r = binfer.cmh_test(data, correction=ref["correct"], alternative=ref["alternative"])
        assert r.statistic == pytest.approx(ref["statistic"], rel=1e-10)
        low, high = ref["conf_low"], ref["conf_high"]
        assert r.estimate == pytest.approx(ref["estimate"], rel=1e-12)
    assert r.pvalue == pytest.approx(ref["pvalue"], rel=1e-9)
    low, high = (float(v) for v in (low, high))  # "inf" from the JSON
    assert r.confidence_interval.low == pytest.approx(low, rel=1e-8)
    assert r.confidence_interval.high == pytest.approx(high, rel=1e-8)


@pytest.mark.parametrize("ref", TRUST["trend_alt"], ids=lambda r: r["dataset"])
def test_trend_alternative_is_the_normal_tail_of_z(ref):
    if ref["dataset"] == "smokers":
        data, scores = {"events": ref["events"], "trials": ref["trials"]}, None
    else:
        data = binfer.datasets.load(ref["dataset"])
        scores = data["dose"].to_numpy() if ref["scores_option"] == "dose" else None
    for alternative, key in (("two-sided", "pvalue_two_sided"), ("less", "pvalue_less"),
                             ("greater", "pvalue_greater")):
        r = binfer.trend_test(data, scores=scores, alternative=alternative)
        assert r.z == pytest.approx(ref["z"], rel=1e-10)
        assert r.statistic == pytest.approx(ref["statistic"], rel=1e-10)
        assert r.pvalue == pytest.approx(ref[key], rel=1e-8)


def test_alternatives_are_checked():
    strata = {"events_treat": [0, 1], "trials_treat": [6, 5], "events_ctrl": [2, 4],
              "trials_ctrl": [5, 6]}
    with pytest.raises(ValueError, match="^alternative must be one of .*got 'two.sided'$"):
        binfer.cmh_test(strata, alternative="two.sided")
    with pytest.raises(ValueError, match="^alternative must be one of .*got 'up'$"):
        binfer.trend_test({"events": [1, 2], "trials": [5, 5]}, alternative="up")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bars_only_where_someone_watches(monkeypatch, capsys):
    df = {"events": [2, 9, 4, 12], "trials": [30, 31, 29, 33]}
    # pytest captures stderr: not a terminal, so progress=True prints nothing (tqdm's
    # disable=None), as in scripts with redirected stderr and CI logs
    binfer.homogeneity_test(df, method="monte-carlo", n_resamples=3000, random_state=1)
    binfer.homogeneity_power([0.1, 0.2], 20, method="simulation", n_simulations=2000,
                             random_state=1)
    assert capsys.readouterr().err == ""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    binfer.homogeneity_test(df, method="monte-carlo", n_resamples=3000, random_state=1)
    assert "resampling tables" in terminal.getvalue()
    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    binfer.homogeneity_test(df, method="monte-carlo", n_resamples=3000, random_state=1,
                            progress=False)
    assert quiet.getvalue() == ""
