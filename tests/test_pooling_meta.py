"""meta_proportion and meta_two_arm against metafor (R), plus input checks and reporting.

References are written by tests/reference/make_meta_refs.R (R 4.2.2, metafor 3.8-1, metadat 1.2-0,
lme4 1.1-31) into tests/reference/meta_refs.json, input counts included. The contract: 1e-6
relative for the inverse-variance, MH and Peto methods (metafor run with threshold = tol = 1e-12);
1e-4 relative for the GLMM against a tightly converged lme4 fit (seen: <= 1e-5, the p-value
amplifying the ~4e-7 difference of the finite-difference se's), and 1e-3 against rma.glmm's
default fit where lme4 reports convergence. Values that should be 0 get a small absolute tolerance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import binfer
from binfer.pooling._meta import MetaProportionResult, meta_proportion
from binfer.pooling._meta_two_arm import MetaTwoArmResult, meta_two_arm

REF = json.loads((Path(__file__).parent / "reference" / "meta_refs.json").read_text())

# Absolute tolerances for values whose reference can sit at 0: metafor's REML/ML Fisher scoring
# halves its step at the boundary and stops at tau^2 ~ 5e-13 where the root is 0 (I^2 ~ 1e-8).
# p-values are compared relatively (an absolute slack would pass any tiny p-value)
ATOL = {"tau2": 1e-10, "i2": 1e-7, "tau2_ci_low": 1e-10, "zval": 1e-9, "estimate": 1e-12,
        "pvalue": 0.0, "q_pvalue": 0.0}


def _close(got, ref, rtol, name):
    atol = ATOL.get(name, 1e-14)
    assert got is not None, f"{name}: got None, metafor {ref}"
    assert abs(got - ref) <= rtol * abs(ref) + atol, (
        f"{name}: got {got!r}, metafor {ref!r}, rel. error {abs(got - ref) / abs(ref):.3g}"
    )


def _arr(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _close_arrays(got, ref, rtol, name):
    got, ref = np.asarray(got, dtype=float), _arr(ref)
    assert np.array_equal(np.isnan(got), np.isnan(ref)), f"{name}: NaN pattern differs"
    ok = ~np.isnan(ref)
    err = np.abs(got[ok] - ref[ok]) / (np.abs(ref[ok]) + 1e-300)
    assert np.all(np.abs(got[ok] - ref[ok]) <= rtol * np.abs(ref[ok]) + 1e-14), (
        f"{name}: worst relative error {err.max():.3g}"
    )


def _clip(v):
    return min(max(v, 0.0), 1.0)


ONE_ARM = [
    pytest.param(
        ds, case, id=f"{ds['dataset']}-{case['scale']}-{case['method']}-{case['conf_level']}"
    )
    for ds in REF["one_arm"]
    for case in ds["cases"]
]
TWO_ARM = [
    pytest.param(ds, case, id=f"{ds['dataset']}-{case['measure']}-{case['method']}")
    for ds in REF["two_arm"]
    for case in ds["cases"]
]


def _one_arm_frame(ds):
    return pd.DataFrame({"study": ds["labels"], "events": ds["events"], "trials": ds["trials"]})


def _two_arm_frame(ds):
    cols = ("events_treat", "trials_treat", "events_ctrl", "trials_ctrl")
    return pd.DataFrame({"study": ds["labels"], **{c: ds[c] for c in cols}})


@pytest.mark.parametrize(("ds", "case"), ONE_ARM)
def test_meta_proportion_matches_metafor(ds, case):
    glmm = case["method"] == "GLMM"
    rtol = 1e-4 if glmm else 1e-6
    r = meta_proportion(
        _one_arm_frame(ds),
        group="study",
        method=case["method"],
        scale=case["scale"],
        conf_level=case["conf_level"],
    )
    got = {
        "estimate": r.estimate,
        "se": r.se,
        "ci_low": r.confidence_interval.low,
        "ci_high": r.confidence_interval.high,
        "zval": r.zval,
        "pvalue": r.pvalue,
        "tau2": r.tau2,
        "q": r.q,
        "q_pvalue": r.q_pvalue,
        "i2": r.i2,
        "h2": r.h2,
        "pred": r.proportion,
        "pred_ci_low": r.proportion_ci.low,
        "pred_ci_high": r.proportion_ci.high,
    }
    for name, value in got.items():
        ref = case[name]
        if name.startswith("pred"):  # binfer clips the back-transform to [0, 1]; metafor not always
            ref = _clip(ref)
        # a tiny p-value magnifies z's 1e-6 GLMM error (log p ~ -z^2/2): the 1e-3 there
        _close(value, ref, 1e-3 if glmm and name == "pvalue" else rtol, name)
    assert r.q_df == case["q_df"]
    if case["pi_low"] is None:  # metafor's predict() has no PI for EE: it would equal the CI
        assert r.prediction_interval == r.proportion_ci
        assert r.prediction_interval_model == r.confidence_interval
    else:
        _close(r.prediction_interval.low, _clip(case["pi_low"]), rtol, "pi_low")
        _close(r.prediction_interval.high, _clip(case["pi_high"]), rtol, "pi_high")
        if case["scale"] == "logit":  # the model-scale interval is the one metafor back-transforms
            _close(special.expit(r.prediction_interval_model.low), case["pi_low"], rtol, "pi_low")
            _close(special.expit(r.prediction_interval_model.high), case["pi_high"], rtol,
                   "pi_high")
    if case.get("tau2_ci_low") is None:
        assert r.tau2_ci is None
    else:
        _close(r.tau2_ci.low, case["tau2_ci_low"], rtol, "tau2_ci_low")
        _close(r.tau2_ci.high, case["tau2_ci_high"], rtol, "tau2_ci_high")
    _close_arrays(r.groups["estimate"], case["yi"], 1e-12, "yi")
    _close_arrays(r.groups["vi"], case["vi"], 1e-12, "vi")
    if glmm:
        assert r.groups["weight"].isna().all()  # metafor has no weights() for rma.glmm
    else:
        _close_arrays(r.groups["weight"], case["weights"], rtol, "weights")
        _close_arrays(r.groups["ci_low"], case["yi_ci_low"], 1e-12, "yi_ci_low")
        _close_arrays(r.groups["ci_high"], case["yi_ci_high"], 1e-12, "yi_ci_high")
    assert list(r.groups["label"]) == ds["labels"]


@pytest.mark.parametrize("ds", REF["one_arm"], ids=lambda ds: ds["dataset"])
def test_glmm_matches_default_rma_glmm(ds):
    """Against rma.glmm's default lme4 settings, 1e-3, wherever lme4 reports convergence."""
    default = next(c for c in ds["cases"] if c["method"] == "GLMM")["default"]
    if default["lme4_warning"] is not None:
        pytest.skip(f"lme4 default fit did not converge: {default['lme4_warning']}")
    r = meta_proportion(_one_arm_frame(ds), method="GLMM")
    for name in ("estimate", "se", "tau2"):
        _close(getattr(r, name), default[name], 1e-3, name)


@pytest.mark.parametrize(("ds", "case"), TWO_ARM)
def test_meta_two_arm_matches_metafor(ds, case):
    rtol = 1e-6
    r = meta_two_arm(
        _two_arm_frame(ds),
        study="study",
        measure=case["measure"],
        method=case["method"],
        conf_level=case["conf_level"],
    )
    ratio = case["measure"] != "RD"
    got = {
        "estimate": r.estimate,
        "se": r.se,
        "ci_low": r.confidence_interval.low,
        "ci_high": r.confidence_interval.high,
        "zval": r.zval,
        "pvalue": r.pvalue,
        "tau2": r.tau2,
        "q": r.q,
        "q_pvalue": r.q_pvalue,
        "i2": r.i2,
        "h2": r.h2,
        "pred": r.estimate_exp if ratio else r.estimate,
        "pred_ci_low": (r.confidence_interval_exp if ratio else r.confidence_interval).low,
        "pred_ci_high": (r.confidence_interval_exp if ratio else r.confidence_interval).high,
    }
    for name, value in got.items():
        _close(value, case[name], rtol, name)
    assert r.q_df == case["q_df"]
    pi = r.prediction_interval_exp if ratio else r.prediction_interval
    if case["pi_low"] is None:
        assert r.prediction_interval == r.confidence_interval
    else:
        _close(pi.low, case["pi_low"], rtol, "pi_low")
        _close(pi.high, case["pi_high"], rtol, "pi_high")
    if case["tau2_ci_low"] is None:
        assert r.tau2_ci is None
    else:
        _close(r.tau2_ci.low, case["tau2_ci_low"], rtol, "tau2_ci_low")
        _close(r.tau2_ci.high, case["tau2_ci_high"], rtol, "tau2_ci_high")
    if not ratio:
        assert r.estimate_exp is None and r.confidence_interval_exp is None
    _close_arrays(r.studies["yi"], case["yi"], 1e-12, "yi")
    _close_arrays(r.studies["vi"], case["vi"], 1e-12, "vi")
    _close_arrays(r.studies["weight"], case["weights"], rtol, "weights")


# --------------------------------------------------------------------------------------------
# input checks

HAND = pd.DataFrame(
    {
        "hospital": ["A", "B", "C", "D", "E"],
        "events": [0, 5, 12, 20, 9],
        "trials": [15, 30, 12, 40, 25],
    }
)
BCG = pd.DataFrame(
    {
        "events_treat": [4, 6, 3, 62, 33],
        "trials_treat": [123, 306, 231, 13598, 5069],
        "events_ctrl": [11, 29, 11, 248, 47],
        "trials_ctrl": [139, 303, 220, 12867, 5808],
    }
)


def test_bad_counts_name_the_column():
    bad = HAND.assign(events=[0, 5, 13, 20, 9])
    with pytest.raises(ValueError, match="column 'events'.*events 13 > trials 12"):
        meta_proportion(bad)
    with pytest.raises(ValueError, match="column 'trials'.*negative"):
        meta_proportion(HAND.assign(trials=[15, -30, 12, 40, 25]))
    with pytest.raises(ValueError, match="events='deaths': no such column"):
        meta_proportion(HAND, events="deaths")
    with pytest.raises(ValueError, match="column 'events_ctrl'.*missing"):
        meta_two_arm(BCG.assign(events_ctrl=[11, None, 11, 248, 47]))
    with pytest.raises(ValueError, match="column 'trials_treat'.*trials = 0"):
        meta_two_arm(
            BCG.assign(trials_treat=[123, 0, 231, 13598, 5069], events_treat=[4, 0, 3, 62, 33])
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "reml"}, "method must be one of"),
        ({"method": "FE"}, "method must be one of"),
        ({"scale": "probit"}, "scale must be one of"),
        ({"method": "GLMM", "scale": "log"}, 'use scale="logit"'),
        ({"conf_level": 95}, "conf_level"),
        ({"conf_level": True}, "conf_level"),
    ],
)
def test_bad_options_meta_proportion(kwargs, message):
    with pytest.raises(ValueError, match=message):
        meta_proportion(HAND, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"measure": "logOR"}, "measure must be one of"),
        ({"method": "GLMM"}, "method must be one of"),
        ({"method": "Peto", "measure": "RR"}, 'use measure="OR"'),
        ({"conf_level": 0.0}, "conf_level"),
    ],
)
def test_bad_options_meta_two_arm(kwargs, message):
    with pytest.raises(ValueError, match=message):
        meta_two_arm(BCG, **kwargs)


def test_undefined_fixed_effect_estimates_raise():
    no_events = BCG.assign(events_treat=0, events_ctrl=0)
    with pytest.raises(ValueError, match="Mantel-Haenszel odds ratio is undefined"):
        meta_two_arm(no_events, method="MH")
    with pytest.raises(ValueError, match="Mantel-Haenszel risk ratio is undefined"):
        meta_two_arm(BCG.assign(events_treat=0), method="MH", measure="RR")
    with pytest.raises(ValueError, match="Peto's odds ratio is undefined"):
        meta_two_arm(no_events, method="Peto")


def test_glmm_needs_two_groups_and_some_events():
    with pytest.raises(ValueError, match="at least 2 groups"):
        meta_proportion(HAND.iloc[:1], method="GLMM")
    with pytest.raises(ValueError, match="every group has 0 events"):
        meta_proportion(HAND.assign(events=0), method="GLMM")


def test_glmm_at_the_boundary():
    # metafor/lme4 (tight fit): estimate -2.0398759451, se 0.1974007631, tau^2 = 0
    r = meta_proportion({"events": [5, 6, 5, 7, 6], "trials": [50, 50, 50, 50, 52]}, method="GLMM")
    assert r.tau2 == 0.0 and r.i2 == 0.0
    assert math.isclose(r.estimate, -2.0398759451, rel_tol=1e-6)
    assert math.isclose(r.se, 0.1974007631, rel_tol=1e-5)


# --------------------------------------------------------------------------------------------
# notes, reporting, conventions


def test_note_names_the_corrected_groups():
    r = meta_proportion(HAND, group="hospital")
    assert r.note is not None and "2 groups ('A', 'C')" in r.note and "1/2" in r.note
    # the arcsine and Freeman-Tukey transforms need no correction, nor do counts without 0 or n
    assert meta_proportion(HAND, scale="arcsine").note is None
    assert meta_proportion(HAND.iloc[[1, 3, 4]]).note is None
    assert "uncorrected counts" in meta_proportion(HAND, method="GLMM").note


def test_note_two_arm_zero_cells():
    data = BCG.assign(events_treat=[0, 6, 0, 62, 33], events_ctrl=[11, 29, 0, 248, 47])
    r = meta_two_arm(data, method="DL")
    assert "2 studies (0, 2)" in r.note and "before pooling" in r.note
    mh = meta_two_arm(data, method="MH")
    assert "1 study (0)" in mh.note and "1 study (2)" in mh.note and "left out of Q" in mh.note
    assert mh.q_df == 3 and np.isnan(mh.studies["yi"][2])
    assert meta_two_arm(BCG).note is None and meta_two_arm(BCG, method="MH").note is None


def test_i2_is_a_fraction():
    pritz = REF["one_arm"][0]
    r = meta_proportion(_one_arm_frame(pritz))
    assert 0.56 < r.i2 < 0.57  # metafor prints I^2 = 56.56%
    for method in ("EE", "DL", "REML", "PM", "ML", "GLMM"):
        assert 0.0 <= meta_proportion(HAND, method=method).i2 <= 1.0
    for method in ("EE", "REML", "MH", "Peto"):
        assert 0.0 <= meta_two_arm(BCG, method=method).i2 <= 1.0


def test_repr_reads_like_print_rma():
    text = repr(meta_proportion(HAND, group="hospital"))
    assert text.startswith("Meta-analysis of proportions")
    for piece in (
        "tau^2 estimator: REML",
        "I^2: 90.24%",
        "Q(df = 4)",
        "proportion: 0.3675",
        "note:",
    ):
        assert piece in text
    text = repr(meta_two_arm(BCG, method="MH"))
    assert "Mantel-Haenszel" in text and "OR: " in text and "tau^2" not in text
    assert "Wald Q(df = 4)" in repr(meta_proportion(HAND, method="GLMM"))
    assert "<table>" in meta_two_arm(BCG)._repr_html_()


def test_to_frame_one_row_same_columns_for_every_method():
    frames = [meta_proportion(HAND, method=m).to_frame() for m in ("EE", "REML", "GLMM")]
    assert all(f.shape[0] == 1 for f in frames)
    assert all(list(f.columns) == list(frames[0].columns) for f in frames)
    assert {"tau2_ci_low", "tau2_ci_high", "proportion_ci_low", "i2", "note"} <= set(
        frames[0].columns
    )
    frames = [
        meta_two_arm(BCG, method=m, measure=s).to_frame()
        for m, s in (("REML", "OR"), ("MH", "OR"), ("DL", "RD"))
    ]
    assert all(list(f.columns) == list(frames[0].columns) for f in frames)
    assert frames[2]["estimate_exp"].isna().all()


def test_results_are_frozen_dataclasses():
    r = meta_proportion(HAND)
    assert isinstance(r, MetaProportionResult)
    assert isinstance(meta_two_arm(BCG), MetaTwoArmResult)
    with pytest.raises(AttributeError):
        r.estimate = 0.0


def test_single_group_as_metafor_k1():
    r = meta_proportion({"events": [3], "trials": [10]}, method="DL")
    assert r.tau2 == 0.0 and r.q == 0.0 and r.q_df == 0 and r.q_pvalue == 1.0
    assert r.tau2_ci is None and r.i2 == 0.0 and r.h2 == 1.0
    assert math.isclose(r.proportion, 0.3)


def test_conf_level_changes_intervals_not_estimates():
    r95 = meta_proportion(HAND)
    r80 = meta_proportion(HAND, conf_level=0.8)
    assert r95.estimate == r80.estimate and r95.tau2 == r80.tau2
    assert r80.confidence_interval.high < r95.confidence_interval.high
    assert r80.tau2_ci.high < r95.tau2_ci.high


def test_back_transform_clips_to_unit_interval():
    # raw scale: the normal interval around a small proportion goes below 0; metafor leaves it
    r = meta_proportion({"events": [0, 1, 0, 2], "trials": [50, 40, 60, 30]}, scale="raw")
    assert r.confidence_interval.low < 0 and r.proportion_ci.low == 0.0
    assert 0.0 <= r.prediction_interval.low <= r.prediction_interval.high <= 1.0


def test_meta_proportion_takes_one_row_per_subject():
    # issue 11: meta_proportion(outcome=...) raised TypeError; the subjects of pritz1997, shuffled,
    # must give metafor's REML fit of the grouped counts
    ds = next(d for d in REF["one_arm"] if d["dataset"] == "pritz1997")
    case = next(c for c in ds["cases"] if c["method"] == "REML" and c["scale"] == "logit"
                and c["conf_level"] == 0.95)
    rows = [(label, int(i < x)) for label, x, n in zip(ds["labels"], ds["events"], ds["trials"],
                                                       strict=True) for i in range(n)]
    subjects = pd.DataFrame(rows, columns=["study", "died"]).sample(frac=1, random_state=0)
    r = meta_proportion(subjects, outcome="died", group="study", method="REML", scale="logit")
    for name, value in (("estimate", r.estimate), ("se", r.se), ("tau2", r.tau2), ("q", r.q),
                        ("i2", r.i2), ("pred", r.proportion)):
        _close(value, case[name], 1e-6, name)
    assert list(r.groups["label"]) == sorted(ds["labels"])
    yi = dict(zip(ds["labels"], case["yi"], strict=True))
    _close_arrays(r.groups["estimate"], [yi[g] for g in r.groups["label"]], 1e-12, "yi")


def test_canonical_label_columns_name_groups_and_studies():
    # issue 11: labels were the row numbers unless group=/study= was passed
    bcg = binfer.datasets.load("bcg")
    assert list(meta_two_arm(bcg).studies["label"]) == list(bcg["study"])
    surgical = binfer.datasets.load("surgical")
    assert list(meta_proportion(surgical).groups["label"]) == list(surgical["group"])
    r = meta_proportion(HAND.rename(columns={"hospital": "group"}))
    assert "2 groups ('A', 'C')" in r.note


# ---------------------------------------------------------------------------------------------
# issue 11: one per-row table for every pooled result; prediction intervals on a stated scale;
# the inverse-variance engine behind a declared interface


def test_one_table_with_one_set_of_columns_for_every_pooled_result():
    common = ["label", "estimate", "se", "ci_low", "ci_high", "weight"]
    pooled = binfer.pooled_proportion(HAND, group="hospital", method="clopper-pearson")
    meta = meta_proportion(HAND, group="hospital")
    two = meta_two_arm(BCG)
    assert list(pooled.table.columns) == ["label", "events", "trials", *common[1:]]
    assert list(meta.table.columns) == [
        "label", "events", "trials", "estimate", "se", "vi", "ci_low", "ci_high", "weight",
        "proportion", "proportion_ci_low", "proportion_ci_high"]
    assert list(two.table.columns) == [
        "label", "events_treat", "trials_treat", "events_ctrl", "trials_ctrl", "estimate", "se",
        "vi", "ci_low", "ci_high", "weight"]
    for result in (pooled, meta, two):
        table = result.table
        assert set(common) <= set(table.columns) and len(table) == len(HAND)
        assert table["weight"].sum() == pytest.approx(100.0, rel=1e-12)
        # each row's interval is its estimate +- z se, except the exact pooled_proportion ones
        if result is not pooled:
            np.testing.assert_allclose(table["se"], np.sqrt(table["vi"]), rtol=1e-15)
            z = stats.norm.isf(0.025)
            np.testing.assert_allclose(table["ci_high"] - table["estimate"], z * table["se"],
                                       rtol=1e-12)
    # pooled_proportion: x / n, Wald se, the result's own method per group, weights n / N
    x, n = HAND["events"].to_numpy(), HAND["trials"].to_numpy()
    np.testing.assert_allclose(pooled.table["estimate"], x / n, rtol=1e-15)
    np.testing.assert_allclose(pooled.table["se"], np.sqrt(x / n * (1 - x / n) / n), rtol=1e-15)
    np.testing.assert_allclose(pooled.table["ci_low"][1],
                               stats.beta.ppf(0.025, 5, 30 - 5 + 1), rtol=1e-10)
    np.testing.assert_allclose(pooled.table["weight"], 100 * n / n.sum(), rtol=1e-15)
    assert list(pooled.table["label"]) == list(HAND["hospital"])
    # meta_proportion: the groups back-transformed as the pooled estimate (expit for logit)
    np.testing.assert_allclose(meta.table["proportion"], special.expit(meta.table["estimate"]),
                               rtol=1e-14)
    np.testing.assert_allclose(meta.table["proportion"][[1, 3, 4]], (x / n)[[1, 3, 4]],
                               rtol=1e-14)  # groups with no continuity correction


def test_old_table_names_still_work():
    meta = meta_proportion(HAND, group="hospital")
    assert meta.groups is meta.table
    two = meta_two_arm(BCG)
    old = two.studies
    assert list(old.columns) == ["label", "events_treat", "trials_treat", "events_ctrl",
                                 "trials_ctrl", "yi", "vi", "ci_low", "ci_high", "weight"]
    np.testing.assert_array_equal(old["yi"], two.table["estimate"])


def test_prediction_intervals_state_their_scale():
    z = stats.norm.isf(0.025)
    r = meta_proportion(HAND, group="hospital", scale="logit")
    assert r.prediction_scale == "proportion"
    assert r.prediction_interval_outcome == r.prediction_interval
    half = z * math.sqrt(r.se**2 + r.tau2)  # metafor's predict(): estimate +- z sqrt(se^2 + tau^2)
    assert tuple(r.prediction_interval_model) == pytest.approx(
        (r.estimate - half, r.estimate + half), rel=1e-14)
    np.testing.assert_allclose(special.expit(r.prediction_interval_model),
                               r.prediction_interval, rtol=1e-14)
    frame = r.to_frame()
    assert frame["prediction_scale"][0] == "proportion"
    assert {"prediction_interval_model_low", "prediction_interval_model_high"} <= set(frame)
    for measure, scale in (("OR", "log odds ratio"), ("RR", "log risk ratio"),
                           ("RD", "risk difference")):
        t = meta_two_arm(BCG, measure=measure)
        assert t.prediction_scale == scale
        assert t.prediction_interval_model == t.prediction_interval
        half = z * math.sqrt(t.se**2 + t.tau2)
        assert tuple(t.prediction_interval) == pytest.approx(
            (t.estimate - half, t.estimate + half), rel=1e-14)
        if measure == "RD":
            assert t.prediction_interval_outcome == t.prediction_interval
        else:
            np.testing.assert_allclose(t.prediction_interval_outcome,
                                       np.exp(t.prediction_interval), rtol=1e-14)
        assert t.to_frame()["prediction_scale"][0] == scale


def test_meta_modules_use_the_engine_through_its_declared_interface():
    import ast

    from binfer.pooling import _inverse_variance

    root = Path(binfer.__file__).parent / "pooling"
    for name in ("_meta.py", "_meta_two_arm.py"):
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert node.module != "_meta", f"{name} imports from _meta"
                if node.module == "_inverse_variance":
                    names = {alias.name for alias in node.names}
                    assert names <= set(_inverse_variance.__all__), (name, names)
                    assert not any(n.startswith("_") for n in names)
