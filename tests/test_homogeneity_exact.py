"""The Fisher-Freeman-Halton test (binfer/homogeneity/_exact.py): exact p-values or certified
bounds low <= p <= high, on small tables against brute-force enumeration and on the bundled
datasets against tests/reference/ffh_refs.json (make_ffh_refs.py: binfer's previous numpy
network algorithm, and 1e6 permutations of the pooled outcomes with both margins fixed)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import special

import binfer
from binfer.homogeneity._exact import ExactTooLarge, ffh_pvalue

REFS = json.loads((Path(__file__).parent / "reference" / "ffh_refs.json").read_text())


def _log_choose(n, x):
    return special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)


def _enumerate(events, trials):
    """The definition: every table with the margins, summed in log space (vectorised)."""
    events, trials = np.asarray(events), np.asarray(trials)
    total = int(events.sum())
    sums, weights = np.zeros(1, np.int64), np.zeros(1)
    for n in trials:
        xs = np.arange(n + 1)
        sums = (sums[:, None] + xs).ravel()
        weights = (weights[:, None] + _log_choose(n, xs)).ravel()
        keep = sums <= total
        sums, weights = sums[keep], weights[keep]
    weights = weights[sums == total]
    observed = _log_choose(trials, events).sum()
    counted = weights <= observed + math.log1p(1e-7)
    return float(np.exp(special.logsumexp(weights[counted]) - special.logsumexp(weights)))


def _random_table(rng, k_max, n_max):
    k = int(rng.integers(2, k_max + 1))
    if rng.uniform() < 0.4:  # equal group sizes: many ties between tables
        trials = np.full(k, int(rng.integers(1, n_max + 1)))
    else:
        trials = rng.integers(1, n_max + 1, size=k)
    # group rates from a spread, so that some tables are far in the tail
    rates = np.clip(rng.uniform(0, 1) + rng.normal(0, rng.uniform(0, 0.4), k), 0, 1)
    return rng.binomial(trials, rates), trials


def test_small_tables_are_exact_and_equal_enumeration():
    rng = np.random.default_rng(11)
    for _ in range(150):
        events, trials = _random_table(rng, 6, 9)
        r = ffh_pvalue(events, trials)
        assert r.exact, (events, trials, r)
        assert r.low == pytest.approx(_enumerate(events, trials), rel=1e-12), (events, trials)


@pytest.mark.parametrize("budget", [dict(max_nodes=60), dict(max_nodes=400, rtol=1e-2),
                                    dict(rtol=0.3)])
def test_bounds_hold_when_paths_are_merged_and_settled(budget):
    """Small budgets force coarse merges and Chernoff settlements: the bounds must still hold
    (the slack: float rounding of the enumeration's own sums)."""
    rng = np.random.default_rng(12)
    for _ in range(25):
        events, trials = _random_table(rng, 7, 12)
        if np.prod(trials + 1.0) > 2e7:
            continue
        truth = _enumerate(events, trials)
        try:
            r = ffh_pvalue(events, trials, **budget)
        except ExactTooLarge:
            continue
        assert r.low * (1 - 1e-12) <= truth <= r.high * (1 + 1e-12), (events, trials, r)


def test_symmetric_in_outcome_and_group_order():
    events, trials = np.array([3, 0, 7, 2, 5, 9]), np.array([10, 8, 12, 9, 11, 13])
    p = ffh_pvalue(events, trials).low
    assert ffh_pvalue(trials - events, trials).low == pytest.approx(p, rel=1e-12)
    perm = np.array([4, 2, 0, 5, 3, 1])
    assert ffh_pvalue(events[perm], trials[perm]).low == pytest.approx(p, rel=1e-12)


def test_edges():
    assert ffh_pvalue([0, 0, 0], [3, 4, 5]).exact  # one table fits: p = 1
    assert ffh_pvalue([0, 0, 0], [3, 4, 5]).low == 1.0
    assert ffh_pvalue([3, 4, 5], [3, 4, 5]).low == 1.0
    assert ffh_pvalue([2], [5]).low == 1.0  # one group
    # all groups of one trial: the table is a permutation, every table equally likely
    assert ffh_pvalue([1, 0, 1, 0, 0], [1] * 5).low == pytest.approx(1.0)
    # the most extreme table of two large groups: only it and its mirror image count
    r = ffh_pvalue([0, 1000], [1000, 1000])
    assert r.exact and r.low == pytest.approx(2 / math.comb(2000, 1000), rel=1e-9)
    with pytest.raises(ExactTooLarge):
        ffh_pvalue(np.arange(30) % 7, np.full(30, 40), max_nodes=20)


@pytest.mark.parametrize("name", ["dose_response", "efron_morris"])
def test_bundled_datasets_exact(name):
    """Exact on these two (the previous algorithm needed max_nodes=2e7 and 7-10 s; with the
    default budget it fell back to Monte Carlo and reported dose_response's p as 1e-4)."""
    r = binfer.homogeneity_test(binfer.datasets.load(name), method="exact")
    assert r.pvalue_mcse is None and r.pvalue_bounds is None and r.note is None
    assert r.pvalue == pytest.approx(REFS["network"][name]["pvalue"], rel=1e-9)
    if name == "dose_response":
        assert r.pvalue == pytest.approx(2.9266e-57, rel=1e-4)
    else:
        # R's fisher.test returns 0.2216 on this table; 1e6 permuted tables say ~0.35
        mc = REFS["permutation"][name]
        assert abs(r.pvalue - mc["p"]) < 4 * mc["se"]
        assert abs(0.2216 - mc["p"]) > 100 * mc["se"]


# Certified relative widths (high - low) / low at the default budget, measured: surgical 3.7%,
# orange_juice 23%, rat_tumors 134%; each run takes 1.5-6 s on a 2-core machine. Many groups
# cost precision: every merge may widen an interval, and rat_tumors has 71 groups.
WIDTH = {"surgical": 0.1, "orange_juice": 0.5, "rat_tumors": 2.0}


@pytest.mark.parametrize("name", sorted(WIDTH))
def test_bundled_datasets_bounded(name):
    r = binfer.homogeneity_test(binfer.datasets.load(name), method="exact")
    low, high = r.pvalue_bounds
    assert 0 < low <= r.pvalue <= high
    assert r.pvalue == pytest.approx((low + high) / 2)
    assert (high - low) / low < WIDTH[name]
    assert r.pvalue_mcse is None and "p bounded" in r.note
    assert "pvalue bounds (certified)" in repr(r)
    row = r.to_frame().iloc[0]
    assert (row["pvalue_bounds_low"], row["pvalue_bounds_high"]) == (low, high)
    if name in REFS["permutation"]:
        mc = REFS["permutation"][name]
        assert low - 4 * mc["se"] < mc["p"] < high + 4 * mc["se"]


def test_a_larger_budget_narrows_the_bounds():
    data = binfer.datasets.load("surgical")
    small = binfer.homogeneity_test(data, method="exact", max_nodes=20_000).pvalue_bounds
    large = binfer.homogeneity_test(data, method="exact").pvalue_bounds
    assert large.high - large.low < small.high - small.low
    assert small.low <= large.high and large.low <= small.high  # both certified: they overlap


def test_bounds_wider_than_monte_carlo_error_fall_back_to_it():
    r = binfer.homogeneity_test(binfer.datasets.load("surgical"), method="exact",
                                max_nodes=2000, random_state=1, progress=False)
    assert "Monte Carlo" in r.method and r.pvalue_mcse > 0 and r.pvalue_bounds is None
    assert "certified bounds" in r.note and "wider than Monte Carlo's error" in r.note


def test_tables_too_large_for_the_network_go_to_monte_carlo():
    rng = np.random.default_rng(1)
    trials = rng.integers(5, 60, size=3000)
    r = binfer.homogeneity_test({"events": rng.binomial(trials, 0.3), "trials": trials},
                                method="exact", n_resamples=99, random_state=1, progress=False)
    assert "Monte Carlo" in r.method and "too many for the network" in r.note


def test_monte_carlo_fallback_is_seeded_and_reports_its_error():
    data = binfer.datasets.load("efron_morris")
    a, b = (binfer.homogeneity_test(data, method="exact", max_nodes=10, n_resamples=4000,
                                    random_state=5, progress=False) for _ in range(2))
    assert a.pvalue == b.pvalue and a.pvalue_mcse == b.pvalue_mcse > 0
    assert "Monte Carlo" in a.method and "max_nodes=10" in a.note and a.pvalue_bounds is None


def test_cli_budget_and_seed():
    cmd = [sys.executable, "-m", "binfer.cli", "homogeneity", "--dataset", "efron_morris",
           "--method", "exact", "--max-nodes", "10", "--seed", "3", "--n-resamples", "2000"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    same = binfer.homogeneity_test(binfer.datasets.load("efron_morris"), method="exact",
                                   max_nodes=10, random_state=3, n_resamples=2000,
                                   progress=False)
    assert f"pvalue: {binfer._results.fmt(same.pvalue)} (Monte Carlo SE" in out.stdout
    bad = subprocess.run([*cmd[:-6], "--max-nodes", "0"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "max_nodes" in bad.stderr
