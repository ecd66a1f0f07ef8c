"""binfer.plot: every figure rendered to PNG (Agg) and its content checked against the result it
draws; the funnel limits against scipy.stats.binom's quantiles; import binfer stays matplotlib-free.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import binfer
from binfer import plot as bplot
from binfer.pooling import proportion_interval

matplotlib.use("Agg")  # before any figure exists: pyplot picks its backend lazily

ROOT = Path(__file__).resolve().parents[1]
# the bundled copy (package data) or the repository's datasets/ link to it
SURGICAL = pd.read_csv(
    next(
        path
        for path in (ROOT / "binfer" / "datasets" / "data", ROOT / "datasets")
        if (path / "surgical.csv").exists()
    )
    / "surgical.csv"
)
_BCG = next(
    d
    for d in json.loads((ROOT / "tests" / "reference" / "meta_refs.json").read_text())["two_arm"]
    if d["dataset"] == "bcg"
)
BCG = pd.DataFrame(
    {
        key: _BCG[key]
        for key in ("labels", "events_treat", "trials_treat", "events_ctrl", "trials_ctrl")
    }
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _render(ax, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    ax.figure.savefig(path, dpi=60)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _gid(ax, prefix: str) -> list:
    return [a for a in ax.get_children() if (a.get_gid() or "").startswith(prefix)]


def _one(ax, gid: str):
    found = _gid(ax, gid)
    assert len(found) == 1, f"{gid}: {found}"
    return found[0]


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def _diamond_x(ax) -> tuple[float, float, float]:
    """(low, estimate, high) of the pooled diamond."""
    xy = _one(ax, "forest-diamond").get_xy()
    return float(xy[0, 0]), float(xy[1, 0]), float(xy[2, 0])


def test_import_binfer_does_not_import_matplotlib():
    code = "import binfer, sys; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# forest


def test_forest_meta_proportion(tmp_path):
    r = binfer.meta_proportion(SURGICAL, group="group")
    ax = bplot.forest(r)
    _render(ax, tmp_path, "forest")
    k = len(SURGICAL)
    assert len(_one(ax, "forest-ci").get_segments()) == k
    assert len(_one(ax, "forest-estimates").get_offsets()) == k
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [*SURGICAL["group"], "Random-effects model (REML)"]
    assert ax.get_xlabel() == "Proportion (pooled on the logit scale)"
    # group estimates back-transformed to proportions (no 0/all-events group: x / n exactly)
    inner = (SURGICAL.events > 0).to_numpy()
    est = _one(ax, "forest-estimates").get_offsets()[:, 0]
    np.testing.assert_allclose(est[inner], (SURGICAL.events / SURGICAL.trials)[inner], rtol=1e-12)
    # the diamond spans the back-transformed CI; the prediction interval is drawn around it
    np.testing.assert_allclose(
        _diamond_x(ax), (r.proportion_ci.low, r.proportion, r.proportion_ci.high), rtol=1e-12
    )
    pi = _one(ax, "forest-prediction").get_xdata()
    np.testing.assert_allclose(pi, tuple(r.prediction_interval), rtol=1e-12)
    assert not _gid(ax, "forest-ref")  # no null line for proportions
    weights = [float(t[:-1]) for t in _texts(ax) if t.endswith("%") and t != "100%"]
    assert len(weights) == k and abs(sum(weights) - 100) <= 0.05 * k  # rounding
    assert "Weight" in _texts(ax) and "Proportion [95% CI]" in _texts(ax)
    assert any(t.startswith("95% PI [") for t in _texts(ax))
    assert any(t.startswith("Q = ") and "I\u00b2" in t for t in _texts(ax))


def test_forest_model_scale_and_ref():
    r = binfer.meta_proportion(SURGICAL, group="group", method="DL")
    ax = bplot.forest(r, scale="model", ref=-2.5)
    assert ax.get_xlabel() == "Logit of the proportion"
    low, est, high = _diamond_x(ax)
    assert (low, est, high) == pytest.approx(
        (*r.confidence_interval[:1], r.estimate, r.confidence_interval.high), rel=1e-12
    )
    np.testing.assert_allclose(
        _one(ax, "forest-ci").get_segments()[0][:, 0],
        r.groups.loc[0, ["ci_low", "ci_high"]].to_numpy(float),
    )
    assert _one(ax, "forest-ref").get_xdata()[0] == -2.5
    assert "Logit [95% CI]" in _texts(ax)


def test_forest_equal_effects_has_no_prediction_interval():
    ax = bplot.forest(binfer.meta_proportion(SURGICAL, method="EE"), heterogeneity=False)
    assert not _gid(ax, "forest-prediction")
    assert not any(t.startswith("Q = ") for t in _texts(ax))


def test_forest_glmm_has_no_weights():
    ax = bplot.forest(binfer.meta_proportion(SURGICAL, group="group", method="GLMM"))
    assert "Weight" not in _texts(ax)
    sizes = _one(ax, "forest-estimates").get_sizes()
    assert np.all(sizes == sizes[0])
    assert any(t.startswith("Wald Q = ") for t in _texts(ax))


def test_forest_two_arm_ratio_on_log_axis(tmp_path):
    r = binfer.meta_two_arm(BCG, study="labels", measure="RR")
    ax = bplot.forest(r)
    _render(ax, tmp_path, "forest_rr")
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "Risk ratio (log scale)"
    assert len(_one(ax, "forest-ci").get_segments()) == len(BCG)
    assert [t.get_text() for t in ax.get_yticklabels()][:-1] == _BCG["labels"]
    np.testing.assert_allclose(
        _diamond_x(ax),
        (r.confidence_interval_exp.low, r.estimate_exp, r.confidence_interval_exp.high),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        _one(ax, "forest-prediction").get_xdata(), tuple(r.prediction_interval_exp), rtol=1e-12
    )
    assert _one(ax, "forest-ref").get_xdata()[0] == 1.0
    est = _one(ax, "forest-estimates").get_offsets()[:, 0]
    np.testing.assert_allclose(est, np.exp(r.studies["yi"]), rtol=1e-12)
    # the text column shows the exponentiated pooled estimate with 2 decimals
    assert (
        f"{r.estimate_exp:.2f} [{r.confidence_interval_exp.low:.2f}, "
        f"{r.confidence_interval_exp.high:.2f}]" in _texts(ax)
    )


def test_forest_two_arm_difference_and_model_scale():
    rd = binfer.meta_two_arm(BCG, study="labels", measure="RD")
    ax = bplot.forest(rd)
    assert ax.get_xscale() == "linear" and ax.get_xlabel() == "Risk difference"
    assert _one(ax, "forest-ref").get_xdata()[0] == 0.0
    assert not any(t.startswith("-") or "-0.000" in t for t in _texts(ax))  # true minus signs
    lor = binfer.meta_two_arm(BCG, study="labels")
    ax = bplot.forest(lor, scale="model", ref=None)
    assert ax.get_xscale() == "linear" and ax.get_xlabel() == "Log odds ratio"
    assert _diamond_x(ax)[1] == pytest.approx(lor.estimate, rel=1e-12)
    assert not _gid(ax, "forest-ref")
    with pytest.raises(ValueError, match="one-arm"):
        bplot.forest(lor, scale="proportion")


def test_forest_keeps_a_study_without_estimate():
    data = pd.DataFrame(
        {
            "events_treat": [4, 0, 6],
            "trials_treat": [120, 30, 300],
            "events_ctrl": [11, 0, 29],
            "trials_ctrl": [140, 28, 300],
        }
    )
    r = binfer.meta_two_arm(data, method="MH")
    ax = bplot.forest(r)
    assert len(ax.get_yticklabels()) == 4  # 3 studies + the pooled row
    assert len(_one(ax, "forest-ci").get_segments()) == 2
    assert "not estimable" in _texts(ax)


def _check_pooled_groups(ax, r):
    """One row per SURGICAL group: its own Clopper-Pearson interval, weight n / N, its label."""
    segments = _one(ax, "forest-ci").get_segments()
    assert len(segments) == len(SURGICAL)
    for seg, (x, n) in zip(
        segments, zip(SURGICAL.events, SURGICAL.trials, strict=True), strict=True
    ):
        ci = proportion_interval(int(x), int(n), method="clopper-pearson")
        np.testing.assert_allclose(seg[:, 0], tuple(ci))
    weights = [float(t[:-1]) for t in _texts(ax) if t.endswith("%") and t != "100%"]
    np.testing.assert_allclose(weights, np.round(100 * SURGICAL.trials / SURGICAL.trials.sum(), 1))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [*SURGICAL["group"], "Pooled (clopper-pearson)"]
    np.testing.assert_allclose(
        _diamond_x(ax), (r.confidence_interval.low, r.estimate, r.confidence_interval.high)
    )


def test_forest_pooled_proportion(tmp_path):
    # issue 11: the result carries its per-group table, so no data= is needed (it drew a lone
    # diamond without one)
    r = binfer.pooled_proportion(SURGICAL, method="clopper-pearson")
    ax = bplot.forest(r)
    _render(ax, tmp_path, "forest_pooled")
    _check_pooled_groups(ax, r)
    # data= still works (checked against the result's totals)
    _check_pooled_groups(bplot.forest(r, data=SURGICAL, group="group"), r)
    with pytest.raises(ValueError, match="events in"):
        bplot.forest(r, data=SURGICAL.iloc[:5])


def test_forest_bad_input():
    with pytest.raises(ValueError, match="result must be"):
        bplot.forest(SURGICAL)
    with pytest.raises(ValueError, match="data= is only for pooled_proportion"):
        bplot.forest(binfer.meta_proportion(SURGICAL), data=SURGICAL)
    with pytest.raises(ValueError, match="scale"):
        bplot.forest(binfer.meta_proportion(SURGICAL), scale="logit")


def test_forest_draws_on_a_given_axes():
    fig, ax = plt.subplots()
    assert bplot.forest(binfer.meta_proportion(SURGICAL), ax=ax) is ax


# ---------------------------------------------------------------------------------------------
# pmf


def test_pmf_bars_against_matching_binomial(tmp_path):
    X = binfer.PoissonBinomial([0.04, 0.10], counts=[12, 18])
    ax = bplot.pmf(X)
    _render(ax, tmp_path, "pmf")
    bars = ax.patches
    assert len(bars) == 31  # N = 30 is small: the whole support
    np.testing.assert_allclose([b.get_height() for b in bars], X.pmf_all(), rtol=1e-12)
    binom = _one(ax, "pmf-binomial")
    np.testing.assert_allclose(binom.get_ydata(), X.matching_binomial().pmf_all(), rtol=1e-12)
    legend = ax.get_legend()
    assert f"{X.variance_deficit():.4g}" in legend.get_title().get_text()
    names = [t.get_text() for t in legend.get_texts()]
    assert names[0].startswith("Poisson-binomial") and f"Var = {X.var():.4g}" in names[0]
    assert names[1].startswith("Bin(30, 0.076)")
    assert ax.get_ylabel() == "P(X = k)" and ax.get_xlabel().startswith("k")


def test_pmf_default_range_and_step():
    X = binfer.PoissonBinomial(SURGICAL.events / SURGICAL.trials, counts=SURGICAL.trials)
    ax = bplot.pmf(X, kind="step")
    k = _one(ax, "pmf-poisson-binomial").get_xdata()
    above = np.flatnonzero(np.maximum(X.pmf_all(), X.matching_binomial().pmf_all()) > 1e-12)
    assert (k[0], k[-1]) == (above[0], above[-1])
    assert k.size < X.n_trials / 5  # the default range is the bulk, not all 2815 values


def test_pmf_log_shows_the_far_tails(tmp_path):
    X = binfer.PoissonBinomial(SURGICAL.events / SURGICAL.trials, counts=SURGICAL.trials)
    ax = bplot.pmf(X, log=True)
    _render(ax, tmp_path, "pmf_log")
    assert ax.get_ylabel() == "log10 P(X = k)" and ax.get_yscale() == "linear"
    binom = _one(ax, "pmf-binomial")
    y = binom.get_ydata()
    assert np.all(np.isfinite(y)) and binom.get_xdata()[-1] == X.n_trials
    assert y.min() < -308  # far below the smallest double: plotted as a number, not underflowed
    lp = X.pmf_all(log=True) / math.log(10)
    heights, edges, baseline = _one(ax, "pmf-poisson-binomial").get_data()  # 2768 bars, 1 patch
    np.testing.assert_allclose(heights, lp[: X.support()[1] + 1], rtol=1e-12)
    assert np.isfinite(baseline) and baseline < heights.min()
    # group A has 0 events (p = 0): the support ends 47 below N, the binomial's does not
    assert edges[-1] == X.support()[1] + 0.5 == X.n_trials - 47 + 0.5
    assert ax.get_ylim()[0] < lp[X.support()[1]] < -3000
    ax = bplot.pmf(X, log=True, kind="step", compare_binomial=False)
    assert not _gid(ax, "pmf-binomial")
    np.testing.assert_allclose(
        _one(ax, "pmf-poisson-binomial").get_ydata(), lp[: X.support()[1] + 1], rtol=1e-12
    )


def test_pmf_bad_input():
    with pytest.raises(ValueError, match="PoissonBinomial"):
        bplot.pmf([0.1, 0.2])
    with pytest.raises(ValueError, match="kind"):
        bplot.pmf(binfer.Binomial(10, 0.3), kind="line")


def test_pmf_of_a_binomial(tmp_path):
    # issue 11: the legend read dist.p.size, and a Binomial's p is a float (AttributeError)
    ax = bplot.pmf(binfer.Binomial(30, 0.3))
    _render(ax, tmp_path, "pmf_binomial")
    np.testing.assert_allclose([b.get_height() for b in ax.patches],
                               stats.binom.pmf(np.arange(31), 30, 0.3), rtol=1e-12)
    names = [t.get_text() for t in ax.get_legend().get_texts()]
    assert names[0] == f"Bin(30, 0.3): Var = {30 * 0.3 * 0.7:.4g}"
    one_group = bplot.pmf(binfer.PoissonBinomial([0.3], counts=[30]), compare_binomial=False)
    legend = one_group.get_legend().get_texts()[0].get_text()
    assert legend == "Poisson-binomial (1 group): Var = 6.3"


def test_forest_labels_studies_from_the_study_column():
    # issue 11: `binfer meta --dataset bcg --two-arm` and its forest plot labelled studies 0-12
    bcg = binfer.datasets.load("bcg")
    ax = bplot.forest(binfer.meta_two_arm(bcg))
    assert [t.get_text() for t in ax.get_yticklabels()][:-1] == list(bcg["study"])


# ---------------------------------------------------------------------------------------------
# funnel


def _spiegelhalter_limit(n: int, theta: float, p: float) -> float:
    """Spiegelhalter (2005) appendix A.1.1 from scipy.stats.binom (independent of binfer)."""
    r = stats.binom.ppf(p, n, theta)
    f_r, f_before = stats.binom.cdf(r, n, theta), stats.binom.cdf(r - 1, n, theta)
    alpha = (f_r - p) / (f_r - f_before)
    return min(max((r - alpha) / n, 0.0), 1.0)


def test_funnel_surgical(tmp_path):
    ax = bplot.funnel(SURGICAL, group="group")
    _render(ax, tmp_path, "funnel")
    lines = _gid(ax, "funnel-limit")
    assert len(lines) == 4  # 95% and 99.8%, lower and upper
    theta = SURGICAL.events.sum() / SURGICAL.trials.sum()
    assert _one(ax, "funnel-target").get_ydata()[0] == pytest.approx(theta)
    for line in lines:
        _, _, level, side = line.get_gid().split("-")
        p = (1 + float(level)) / 2 if side == "upper" else (1 - float(level)) / 2
        n = line.get_xdata()
        picks = np.linspace(0, n.size - 1, 9).astype(int)
        expected = [_spiegelhalter_limit(int(n[i]), theta, p) for i in picks]
        np.testing.assert_allclose(line.get_ydata()[picks], expected, rtol=1e-9, atol=1e-15)
    # hospital H (31 of 215) is above the 99.8% limit, and the only group outside it
    out = _one(ax, "funnel-outliers").get_offsets()
    assert out.shape == (1, 2) and tuple(out[0]) == pytest.approx((215, 31 / 215))
    assert _texts(ax) == ["H"]
    assert len(_one(ax, "funnel-points").get_offsets()) == len(SURGICAL) - 1
    assert ax.get_xlabel() == "Group size (trials)"


def test_funnel_options():
    ax = bplot.funnel(SURGICAL, target=0.05, levels=[0.9], annotate="all")
    assert len(_gid(ax, "funnel-limit")) == 2
    assert _one(ax, "funnel-target").get_ydata()[0] == 0.05
    assert len(ax.texts) == len(SURGICAL)
    outside = _one(ax, "funnel-outliers").get_offsets()
    props = SURGICAL.events / SURGICAL.trials
    # around 0.05, Bin(n, 0.05) limits at 90%: every marked group is beyond its own limits
    for n, y in outside:
        lo = _spiegelhalter_limit(int(n), 0.05, 0.05)
        hi = _spiegelhalter_limit(int(n), 0.05, 0.95)
        assert y < lo or y > hi
    assert len(outside) + len(_one(ax, "funnel-points").get_offsets()) == len(props)


def test_funnel_bad_input():
    with pytest.raises(ValueError, match="events 9 > trials 5"):
        bplot.funnel({"events": [1, 9], "trials": [10, 5]})
    with pytest.raises(ValueError, match="levels"):
        bplot.funnel(SURGICAL, levels=(0.95, 1.2))
    with pytest.raises(ValueError, match="target"):
        bplot.funnel(SURGICAL, target=1.5)
    with pytest.raises(ValueError, match="no events"):
        bplot.funnel({"events": [0, 0], "trials": [10, 5]})


def test_funnel_draws_what_funnel_limits_returns():
    # issue 11: the limits are computed by binfer.funnel_limits; the plot only draws them
    limits = binfer.funnel_limits(SURGICAL, target=0.06, levels=(0.9, 0.99))
    ax = bplot.funnel(limits)
    for level in limits.levels:
        at = limits.limits[limits.limits["level"] == level]
        for side in ("lower", "upper"):
            line = _one(ax, f"funnel-limit-{level:g}-{side}")
            np.testing.assert_array_equal(line.get_xdata(), at["trials"])
            np.testing.assert_array_equal(line.get_ydata(), at[side])
    flagged = limits.outliers[limits.outliers["outside_0.99"]]
    np.testing.assert_array_equal(_one(ax, "funnel-outliers").get_offsets(),
                                  flagged[["trials", "proportion"]].to_numpy(float))
    assert sorted(_texts(ax)) == sorted(flagged["label"])
    # the same figure as from the data
    same = bplot.funnel(SURGICAL, target=0.06, levels=(0.9, 0.99))
    np.testing.assert_array_equal(_one(same, "funnel-outliers").get_offsets(),
                                  _one(ax, "funnel-outliers").get_offsets())


# ---------------------------------------------------------------------------------------------
# layout


def test_plot_modules_use_only_public_names_of_other_packages():
    # issue 11: plot.py imported private names from pooling._meta and recomputed statistics
    import ast

    root = Path(binfer.__file__).parent / "plot"
    assert not (root.parent / "plot.py").exists()
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                package = (node.module or "").split(".")[0]
                assert package in ("pooling", "profiling", "core", "_results"), (path, package)
                if package in ("pooling", "profiling"):
                    assert node.module == package, f"{path.name} imports {node.module}"
    assert set(bplot.__all__) == {"forest", "pmf", "funnel"}
