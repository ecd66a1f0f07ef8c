"""pooled_proportion, homogeneity tests, beta_binomial, CMH, Breslow-Day and power against R.

Values from tests/reference/stats_refs.json, written by tests/reference/make_stats_refs.R
(R 4.2.2 base stats, VGAM, metafor; see that file's `meta` for versions and conventions).
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import binfer

REFS = json.loads((Path(__file__).parent / "reference" / "stats_refs.json").read_text())
RTOL = 1e-6  # the bar for deterministic methods; most agree to ~1e-12


def _value(v):
    return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}.get(v, v) if isinstance(v, str) \
        else v


def _data(name: str) -> pd.DataFrame:
    spec = REFS["datasets"][name]
    cols = [c for c in spec if c not in ("type", "source", "dose")]
    return pd.DataFrame({c: spec[c] for c in cols})


def _records(key: str, **match):
    return [r for r in REFS[key] if all(r.get(k) == v for k, v in match.items())]


@pytest.mark.parametrize("ref", REFS["pooled_proportion"],
                         ids=lambda r: f"{r['dataset']}-{r['method']}-{r['conf_level']}")
def test_pooled_proportion_intervals(ref):
    x, n = ref["x"], ref["n"]
    df = {"events": [x], "trials": [n]}
    if ref["dataset"] in REFS["datasets"]:
        df = _data(ref["dataset"])  # the pooled totals of the real groups
    r = binfer.pooled_proportion(df, method=ref["method"], conf_level=ref["conf_level"])
    assert (r.n_events, r.n_trials) == (x, n)
    assert r.estimate == pytest.approx(ref["estimate"], rel=1e-14, abs=0)
    assert r.se == pytest.approx(ref["se"], rel=1e-12, abs=1e-15)
    low, high = r.confidence_interval
    assert low == pytest.approx(ref["low"], rel=RTOL, abs=1e-12)
    assert high == pytest.approx(ref["high"], rel=RTOL, abs=1e-12)


@pytest.mark.parametrize("ref", [r for r in REFS["homogeneity"]
                                 if r["test"] != "fisher-exact" or r["status"] == "ok"],
                         ids=lambda r: f"{r['dataset']}-{r['test']}")
def test_homogeneity_against_r(ref):
    method = {"pearson": "pearson", "g-test": "g", "fisher-exact": "exact"}[ref["test"]]
    r = binfer.homogeneity_test(_data(ref["dataset"]), method=method)
    assert r.pvalue == pytest.approx(ref["pvalue"], rel=RTOL, abs=0)
    if method != "exact":
        assert r.statistic == pytest.approx(ref["statistic"], rel=RTOL, abs=0)
        assert r.df == ref["df"]
    else:
        assert r.note is None  # computed exactly, no fallback


@pytest.mark.parametrize("name", ["surgical", "rat_tumors"])
def test_exact_where_fisher_test_gives_up(name):
    """R's fisher.test fails (surgical: FEXACT error 7) or runs for minutes (rat tumours):
    binfer bounds the exact p-value (certified low <= p <= high), no Monte Carlo needed.
    The bounds themselves are checked in test_homogeneity_exact.py."""
    (ref,) = _records("homogeneity", dataset=name, test="fisher-exact")
    assert ref["status"] in ("error", "timeout")
    r = binfer.homogeneity_test(_data(name), method="exact", n_resamples=2000, random_state=3,
                                progress=False)
    assert r.pvalue_mcse is None and "max_nodes" in r.note
    low, high = r.pvalue_bounds
    assert low <= r.pvalue <= high
    pearson = _records("homogeneity", dataset=name, test="pearson")[0]["pvalue"]
    # The FFH and Pearson orderings differ, but both p-values are small on these tables.
    assert high < 0.01 and pearson < 0.01


@pytest.mark.parametrize("ref", REFS["tarone"], ids=lambda r: r["dataset"])
def test_tarone(ref):
    r = binfer.tarone_test(_data(ref["dataset"]))
    assert r.statistic == pytest.approx(ref["statistic"], rel=RTOL, abs=0)
    assert r.pvalue == pytest.approx(ref["pvalue"], rel=RTOL, abs=0)


@pytest.mark.parametrize("ref", REFS["trend"],
                         ids=lambda r: f"{r['dataset']}-{r['scores_option']}")
def test_trend(ref):
    scores = None if ref["scores_option"] == "default" else ref["scores"]
    r = binfer.trend_test(_data(ref["dataset"]), scores=scores)
    assert r.statistic == pytest.approx(ref["statistic"], rel=RTOL, abs=0)
    assert r.pvalue == pytest.approx(ref["pvalue"], rel=RTOL, abs=0)
    assert r.z == pytest.approx(ref["z_signed"], rel=RTOL, abs=0)


@pytest.mark.parametrize("ref", REFS["beta_binomial"], ids=lambda r: r["dataset"])
def test_beta_binomial_against_vgam(ref):
    data = _data(ref["dataset"])
    expected = binfer.beta_binomial(data, information="expected")
    for field in ("mu", "rho", "se_mu", "se_rho", "loglik", "loglik_binomial", "lrt_statistic",
                  "lrt_pvalue"):
        assert getattr(expected, field) == pytest.approx(ref[field], rel=RTOL, abs=0), field
    assert expected.alpha == pytest.approx(ref["shape_a"], rel=RTOL, abs=0)
    observed = binfer.beta_binomial(data)
    assert observed.se_mu == pytest.approx(ref["se_mu_observed_info"], rel=RTOL, abs=0)
    assert observed.se_rho == pytest.approx(ref["se_rho_observed_info"], rel=RTOL, abs=0)


@pytest.mark.parametrize("ref", _records("cmh", method="asymptotic"),
                         ids=lambda r: f"{r['dataset']}-correct={r['correct']}")
def test_cmh_asymptotic(ref):
    r = binfer.cmh_test(_data(ref["dataset"]), correction=ref["correct"])
    assert r.statistic == pytest.approx(ref["statistic"], rel=RTOL, abs=0)
    assert r.pvalue == pytest.approx(ref["pvalue"], rel=RTOL, abs=0)
    assert r.estimate == pytest.approx(ref["estimate"], rel=RTOL, abs=0)
    assert r.confidence_interval.low == pytest.approx(ref["conf_low"], rel=RTOL, abs=0)
    assert r.confidence_interval.high == pytest.approx(ref["conf_high"], rel=RTOL, abs=0)


@pytest.mark.parametrize("ref", _records("cmh", method="exact"), ids=lambda r: r["dataset"])
def test_cmh_exact(ref):
    r = binfer.cmh_test(_data(ref["dataset"]), exact=True)
    assert r.statistic == ref["statistic_S"]
    # R's p-value sums the same probabilities; its estimate and limits come from uniroot's
    # default tolerance (about 4 digits), so those are checked against the tight re-solve.
    assert r.pvalue == pytest.approx(ref["pvalue"], rel=1e-6, abs=0)
    assert r.pvalue == pytest.approx(_value(ref["pvalue_tight"]), rel=1e-8, abs=0)
    assert r.estimate == pytest.approx(_value(ref["estimate_tight"]), rel=1e-8, abs=0)
    assert r.estimate == pytest.approx(ref["estimate"], rel=1e-3, abs=0)
    low, high = r.confidence_interval
    assert low == pytest.approx(_value(ref["conf_low_tight"]), rel=1e-8, abs=0)
    assert high == pytest.approx(_value(ref["conf_high_tight"]), rel=1e-8, abs=0)


@pytest.mark.parametrize("ref", REFS["breslow_day"],
                         ids=lambda r: f"{r['dataset']}-tarone={r['tarone_correction']}")
def test_breslow_day(ref):
    r = binfer.breslow_day_test(_data(ref["dataset"]), study="study",
                                tarone_correction=ref["tarone_correction"])
    assert r.statistic == pytest.approx(ref["statistic"], rel=RTOL, abs=0)
    assert r.pvalue == pytest.approx(ref["pvalue"], rel=RTOL, abs=0)
    assert r.df == ref["df"]
    if ref["strata_dropped"]:
        assert r.note and all(repr(s) in r.note for s in ref["strata_dropped"])


@pytest.mark.parametrize("ref", REFS["power"], ids=lambda r: f"{r['kind']}")
def test_power(ref):
    if ref["kind"] == "power":
        r = binfer.homogeneity_power(ref["p"], ref["trials_per_group"], alpha=ref["alpha"])
        assert r.ncp == pytest.approx(ref["lambda"], rel=1e-12, abs=0)
        assert r.power == pytest.approx(ref["power"], rel=RTOL, abs=0)
        assert r.df == ref["df"]
    else:
        n = binfer.homogeneity_sample_size(ref["p"], power=ref["target_power"],
                                           alpha=ref["alpha"])
        assert n == ref["n_per_group"]


def test_reference_datasets_are_consistent():
    for name, spec in REFS["datasets"].items():
        cols = {"one-arm": ("events", "trials")}.get(spec["type"],
                                                    ("events_treat", "trials_treat"))
        assert np.all(np.asarray(spec[cols[0]]) <= np.asarray(spec[cols[1]])), name


def _subjects(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """One row per subject (0/1 column ``y``) of a grouped table, shuffled."""
    rows = [(g, int(i < x)) for g, x, n in zip(frame["group"], frame["events"], frame["trials"],
                                               strict=True) for i in range(n)]
    return pd.DataFrame(rows, columns=["group", "y"]).sample(frac=1, random_state=seed)


def test_pooled_proportion_of_subject_rows_against_r():
    ref = _records("pooled_proportion", dataset="surgical", method="clopper-pearson",
                   conf_level=0.95)[0]
    r = binfer.pooled_proportion(_subjects(_data("surgical"), 1), outcome="y",
                                 method="clopper-pearson")
    assert (r.n_events, r.n_trials, r.n_groups) == (ref["x"], ref["n"], 12)
    assert r.confidence_interval.low == pytest.approx(ref["low"], rel=RTOL)
    assert r.confidence_interval.high == pytest.approx(ref["high"], rel=RTOL)


@pytest.mark.parametrize("ref", REFS["beta_binomial"], ids=lambda r: r["dataset"])
def test_beta_binomial_of_subject_rows_against_vgam(ref):
    r = binfer.beta_binomial(_subjects(_data(ref["dataset"]), 2), outcome="y",
                             information="expected")  # the column `group` by default
    assert r.mu == pytest.approx(ref["mu"], rel=RTOL)
    assert r.rho == pytest.approx(ref["rho"], rel=RTOL)
    assert r.n_groups == len(_data(ref["dataset"]))


def test_beta_binomial_with_single_trials_is_not_identifiable():
    # issue 11: ended in scipy's "array must not contain infs or NaNs"
    with pytest.raises(ValueError, match=r"column 'trials': every group has trials = 1.*not "
                                         r"identifiable.*intra-class correlation"):
        binfer.beta_binomial({"events": [0, 1, 1, 0, 1], "trials": [1, 1, 1, 1, 1]})
