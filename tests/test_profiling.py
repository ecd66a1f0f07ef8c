"""binfer.profiling.funnel_limits: Spiegelhalter's (2005) exact binomial funnel limits against the
same limits built from scipy.stats.binom, the outlier flags, the input forms and the edges."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import binfer
from binfer.profiling import FunnelLimitsResult, funnel_limits

ROOT = Path(__file__).resolve().parents[1]
SURGICAL = binfer.datasets.load("surgical")


def _spiegelhalter_limit(n: int, theta: float, p: float) -> float:
    """Spiegelhalter (2005) appendix A.1.1 from scipy.stats.binom (independent of binfer)."""
    r = stats.binom.ppf(p, n, theta)
    f_r, f_before = stats.binom.cdf(r, n, theta), stats.binom.cdf(r - 1, n, theta)
    alpha = (f_r - p) / (f_r - f_before)
    return min(max((r - alpha) / n, 0.0), 1.0)


def test_limits_match_scipy_and_flag_hospital_h():
    f = funnel_limits(SURGICAL)
    assert isinstance(f, FunnelLimitsResult) and binfer.funnel_limits is funnel_limits
    theta = SURGICAL.events.sum() / SURGICAL.trials.sum()
    assert f.target == pytest.approx(theta, rel=1e-15) and f.target_source == "pooled"
    assert f.levels == (0.95, 0.998) and f.n_groups == len(SURGICAL)
    assert list(f.limits.columns) == ["trials", "level", "lower", "upper"]
    assert set(f.limits["level"]) == {0.95, 0.998}
    picks = f.limits.iloc[np.linspace(0, len(f.limits) - 1, 15).astype(int)]
    for _, row in picks.iterrows():
        n, level = int(row["trials"]), row["level"]
        assert row["lower"] == pytest.approx(
            _spiegelhalter_limit(n, theta, (1 - level) / 2), rel=1e-9, abs=1e-15)
        assert row["upper"] == pytest.approx(
            _spiegelhalter_limit(n, theta, (1 + level) / 2), rel=1e-9, abs=1e-15)
    # the grid runs from half the smallest group past the largest and holds every group's size
    grid = f.limits["trials"].unique()
    assert grid.min() == SURGICAL.trials.min() // 2 and grid.max() > SURGICAL.trials.max()
    assert set(SURGICAL.trials) <= set(grid)
    o = f.outliers
    assert list(o["label"]) == list(SURGICAL["group"])
    assert list(o.columns) == ["label", "events", "trials", "proportion", "lower_0.95",
                               "upper_0.95", "outside_0.95", "lower_0.998", "upper_0.998",
                               "outside_0.998"]
    # hospital H (31 of 215) is the only group outside the 99.8% limits
    assert o.loc[o["outside_0.998"], "label"].tolist() == ["H"]
    for _, row in o.iterrows():
        for level in f.levels:
            lo = _spiegelhalter_limit(int(row["trials"]), theta, (1 - level) / 2)
            hi = _spiegelhalter_limit(int(row["trials"]), theta, (1 + level) / 2)
            assert row[f"lower_{level:g}"] == pytest.approx(lo, rel=1e-9, abs=1e-15)
            assert row[f"outside_{level:g}"] == (row["proportion"] < lo or row["proportion"] > hi)
    # a group outside the outer limits is outside the inner ones too
    assert (o["outside_0.95"] | ~o["outside_0.998"]).all()
    text = repr(f)
    assert "outside 99.8% limits: 1 group ('H')" in text and "pooled proportion" in text


def test_arrays_target_and_levels():
    f = funnel_limits(events=[3, 9, 1], trials=[30, 31, 29], group=["x", "y", "z"],
                      target=0.05, levels=[0.998, 0.9, 0.9])
    assert f.target == 0.05 and f.target_source == "given"
    assert f.levels == (0.9, 0.998)  # sorted, duplicates dropped: the last is the outermost
    assert list(f.outliers["label"]) == ["x", "y", "z"]
    assert f.outliers["upper_0.9"].tolist() == pytest.approx(
        [_spiegelhalter_limit(n, 0.05, 0.95) for n in (30, 31, 29)], rel=1e-9)
    assert f.outliers.loc[1, "outside_0.9"]  # 9 of 31 against 5%
    same = funnel_limits(pd.DataFrame({"events": [3, 9, 1], "trials": [30, 31, 29]}),
                         target=0.05, levels=(0.9, 0.998))
    pd.testing.assert_frame_equal(same.limits, f.limits)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.target = 0.1


def test_custom_column_names_and_one_group():
    f = funnel_limits({"deaths": [4], "ops": [50]}, events="deaths", trials="ops", target=0.1)
    assert f.n_groups == 1 and not f.outliers["outside_0.998"].any()
    with pytest.raises(ValueError, match="pooled proportion is 0"):
        funnel_limits({"events": [0], "trials": [50]})


def test_edges_all_zero_all_events_one_trial_and_huge_groups():
    # no events anywhere: only with a target; 0 events is never below a lower limit
    f = funnel_limits(events=[0, 0, 0], trials=[1, 10, 1000], target=1e-12)
    assert (f.limits[["lower", "upper"]].to_numpy() >= 0).all()
    assert not f.outliers["outside_0.95"].any()
    # all events against a small target: far above the limits
    f = funnel_limits(events=[20, 40], trials=[20, 40], target=0.01)
    assert f.outliers["outside_0.998"].all()
    # groups of one trial and of 10^6 trials in one funnel; limits stay in [0, 1]
    f = funnel_limits(events=[1, 0, 70_000], trials=[1, 1, 10**6], n_grid=10)
    assert ((f.limits["lower"] >= 0) & (f.limits["upper"] <= 1)).all()
    big = f.outliers.iloc[2]
    theta = 70_001 / (10**6 + 2)
    assert big["upper_0.998"] == pytest.approx(_spiegelhalter_limit(10**6, theta, 0.999),
                                               rel=1e-9)
    assert big["lower_0.95"] < big["proportion"] < big["upper_0.95"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": {"events": [1, 9], "trials": [10, 5]}}, "events 9 > trials 5"),
        ({"data": SURGICAL, "levels": (0.95, 1.2)}, "levels must be numbers in"),
        ({"data": SURGICAL, "levels": "high"}, "levels must be numbers in"),
        ({"data": SURGICAL, "target": 1.5}, "target must be a proportion in"),
        ({"data": SURGICAL, "target": True}, "target must be a proportion in"),
        ({"data": SURGICAL, "n_grid": 2}, "n_grid must be an integer >= 4"),
        ({"events": [1, 2]}, "give data"),
        ({"events": "events", "trials": "trials"}, "name columns of data"),
        ({"events": [1], "trials": [4], "group": "g"}, "names a column of data"),
        ({"data": SURGICAL, "events": "deaths"}, "events='deaths': no such column"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        funnel_limits(**kwargs)


def test_risks_are_reserved():
    with pytest.raises(NotImplementedError, match="risks="):
        funnel_limits(SURGICAL, risks="risk")


def test_profiling_draws_nothing():
    # drawing-free: the package imports no matplotlib (checked in a fresh interpreter)
    import subprocess
    import sys

    code = ("import sys, binfer.profiling; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
    source = "".join(p.read_text() for p in (ROOT / "binfer" / "profiling").glob("*.py"))
    assert "matplotlib" not in source


def test_the_most_likely_count_is_never_flagged():
    # 10 of 10 against a target of 0.999999: P(R = 10) = 0.99999, but Spiegelhalter's
    # interpolated upper limit at n = 10, read literally, is (10 - 0.025) / 10 < 1, which put the
    # most likely count above its own limit; the upper limit is 1 there (as the lower is 0)
    f = binfer.funnel_limits(events=[10, 500], trials=[10, 1000], target=0.999999)
    assert f.outliers["upper_0.95"].iloc[0] == 1.0
    assert not f.outliers["outside_0.95"].iloc[0] and not f.outliers["outside_0.998"].iloc[0]
    # while 500 of 1000 is far below (P(R <= 500) is astronomically small)
    assert f.outliers["outside_0.998"].iloc[1]
