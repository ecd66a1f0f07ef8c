"""Smoke tests of binfer.bayes (few draws: shapes, coordinates, seeds, errors, lazy import) and
the beta-binomial log-PMF against mpmath. The posterior against numerical integration is in
tests/test_bayes_validate.py (``make validate``)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymc")
mpmath = pytest.importorskip("mpmath")

from binfer import bayes, datasets  # noqa: E402
from binfer.bayes._base import has_group  # noqa: E402

FAST = dict(draws=60, tune=60, chains=2, progress=False, sampler="pymc", cores=1)
SURGICAL = datasets.load("surgical")
BLOCKERS = datasets.load("beta_blockers").iloc[:6]


def quiet_fit(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayes.SamplingWarning)
        return model.fit(**{**FAST, **kw})


# --------------------------------------------------------------------------- import
def test_import_binfer_does_not_import_pymc():
    code = "import sys, binfer; binfer.bayes; assert 'pymc' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_missing_extra_names_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pymc" else real(name, *a))
    monkeypatch.delitem(sys.modules, "binfer.bayes")
    with pytest.raises(ImportError, match=r"needs pymc.*pip install binfer\[bayes\]"):
        importlib.import_module("binfer.bayes")
    monkeypatch.undo()
    importlib.import_module("binfer.bayes")


# --------------------------------------------------------------------------- the log-PMF
def _mp_bb(k, n, mu, kappa):
    mpmath.mp.dps = 60
    a, b = mpmath.mpf(kappa) * mpmath.mpf(mu), mpmath.mpf(kappa) * (1 - mpmath.mpf(mu))
    return float(mpmath.log(mpmath.binomial(n, k)) + mpmath.log(mpmath.rf(a, k))
                 + mpmath.log(mpmath.rf(b, n - k)) - mpmath.log(mpmath.rf(a + b, n)))


def _mp_bb_lm_lk(k, n, lm, lk):
    """log BB in mpmath as a function of (logit mu, log kappa), for derivatives."""
    kappa = mpmath.exp(lk)
    mu = 1 / (1 + mpmath.exp(-lm))
    a, b = kappa * mu, kappa * (1 - mu)
    return (mpmath.log(mpmath.binomial(n, k)) + mpmath.log(mpmath.rf(a, k))
            + mpmath.log(mpmath.rf(b, n - k)) - mpmath.log(mpmath.rf(a + b, n)))


KK = np.array([0.0, 1, 4, 8, 9, 20, 52, 3000, 0])
NN = np.array([20.0, 20, 14, 30, 30, 52, 52, 10000, 0])


@pytest.mark.parametrize("kappa", [1e-3, 0.7, 15.0, 9e3, 1.1e4, 1e6, 1e10, 1e15, 1e30])
@pytest.mark.parametrize("mu", [0.14, 1e-6, 1 - 1e-9])
def test_beta_binomial_logp_and_gradient_match_mpmath_at_any_concentration(kappa, mu):
    from scipy import special

    from binfer.bayes._logp import beta_binomial_logp_grad

    lchoose = special.gammaln(NN + 1) - special.gammaln(KK + 1) - special.gammaln(NN - KK + 1)
    lm, lk = float(special.logit(mu)), float(np.log(kappa))
    got, d_lm, d_lk = beta_binomial_logp_grad(KK, NN, lchoose, lm, lk)
    mpmath.mp.dps = 60
    for i, (k, n) in enumerate(zip(KK.astype(int), NN.astype(int), strict=True)):
        want = float(_mp_bb_lm_lk(k, n, mpmath.mpf(lm), mpmath.mpf(lk)))
        assert got[i] == pytest.approx(want, rel=1e-11, abs=1e-11)
        # exact derivatives at 60 digits (mpmath's numerical differentiation)
        want_lm = float(mpmath.diff(lambda x, k=k, n=n: _mp_bb_lm_lk(k, n, x, mpmath.mpf(lk)),
                                    lm))
        want_lk = float(mpmath.diff(lambda x, k=k, n=n: _mp_bb_lm_lk(k, n, mpmath.mpf(lm), x),
                                    lk))
        scale = 1.0 + n  # each derivative is a difference of terms of size <= n
        assert d_lm[i] == pytest.approx(want_lm, abs=1e-12 * scale)
        assert d_lk[i] == pytest.approx(want_lk, abs=1e-12 * scale)


def test_digamma_matches_scipy():
    from scipy import special

    from binfer.bayes._logp import _digamma

    x = np.concatenate([np.geomspace(1e-8, 1e8, 400), np.linspace(0.5, 30, 300)])
    got = np.array([_digamma(v) for v in x])
    np.testing.assert_allclose(got, special.psi(x), rtol=4e-15, atol=4e-15)


# --------------------------------------------------------------------------- fits
def test_beta_binomial_fit_shapes_coords_and_seed():
    model = bayes.BetaBinomialModel(SURGICAL)
    idata = quiet_fit(model, random_seed=3)
    post = idata.posterior
    assert {"mu", "kappa", "theta", "logit_mu", "log_kappa"} <= set(post.data_vars)
    assert post["theta"].shape == (2, 60, 12)
    assert list(post["theta"]["group"].values) == list(SURGICAL["group"])
    for name in ("posterior", "sample_stats", "observed_data", "log_likelihood"):
        assert has_group(idata, name)
    assert idata.log_likelihood["events"].shape == (2, 60, 12)
    theta = post["theta"].values
    assert ((theta > 0) & (theta < 1)).all()
    again = quiet_fit(bayes.BetaBinomialModel(SURGICAL), random_seed=3)
    np.testing.assert_array_equal(again.posterior["theta"].values, theta)
    np.testing.assert_array_equal(again.posterior["mu"].values, post["mu"].values)
    table = model.summary()
    assert list(table.columns) == ["parameter", "label", "mean", "sd", "q2.5", "q50", "q97.5",
                                   "mcse_mean", "ess_bulk", "ess_tail", "r_hat"]
    assert list(table["parameter"]) == ["mu", "kappa", "log_kappa"] + ["theta"] * 12
    row = table.iloc[0]
    assert row["q2.5"] < row["q50"] < row["q97.5"] and 0 < row["mean"] < 1
    assert "fitted" in repr(model) and model.pymc_model is model.pymc_model
    _check_posterior_predictive(model, idata)


def test_logit_normal_with_covariates():
    data = SURGICAL.assign(size=np.log(SURGICAL["trials"]))
    model = bayes.LogitNormalModel(data, covariates=["size"])
    idata = quiet_fit(model, random_seed=1)
    assert idata.posterior["p"].shape == (2, 60, 12)
    assert list(idata.posterior["beta"]["covariate"].values) == ["size"]
    table = model.summary(["mu", "beta"], prob=0.9)
    assert list(table["parameter"]) == ["mu", "beta"]
    assert "q5" in table.columns and "q95" in table.columns
    assert table["label"].iloc[1] == "size"


def _check_posterior_predictive(model, idata):
    """PyMC's posterior predictive runs through the model's random function: counts in
    [0, trials], one per draw and group."""
    import pymc as pm

    pp = pm.sample_posterior_predictive(idata, model=model.pymc_model, random_seed=1,
                                        progressbar=False).posterior_predictive["events"]
    assert pp.shape == idata.posterior["mu"].shape + (len(model.labels),)
    values = np.asarray(pp.values)
    assert np.all((values >= 0) & (values <= model.trials)) and np.all(values % 1 == 0)


def test_logit_normal_marginal_and_sampled():
    from scipy import special

    model = bayes.LogitNormalModel(SURGICAL)
    assert {v.name for v in model.pymc_model.free_RVs} == {"mu", "tau"}
    idata = quiet_fit(model, random_seed=3)
    post = idata.posterior
    assert post["z"].shape == post["p"].shape == (2, 60, 12)
    assert list(post["p"]["group"].values) == list(model.labels)
    eta = post["mu"].values[..., None] + post["tau"].values[..., None] * post["z"].values
    np.testing.assert_allclose(post["p"].values, special.expit(eta), rtol=1e-12)
    again = quiet_fit(bayes.LogitNormalModel(SURGICAL), random_seed=3)
    np.testing.assert_array_equal(again.posterior["z"].values, post["z"].values)
    assert idata.log_likelihood["events"].shape == (2, 60, 12)
    assert model.ppc()["p_lower"].between(0, 1).all()
    _check_posterior_predictive(model, idata)
    sampled = bayes.LogitNormalModel(SURGICAL, marginalize=False)
    assert {v.name for v in sampled.pymc_model.free_RVs} == {"mu", "tau", "z"}
    idata = quiet_fit(sampled, random_seed=3)
    assert idata.posterior["p"].shape == (2, 60, 12)


@pytest.mark.parametrize("data", [
    {"events": [0, 0, 0], "trials": [10, 20, 5]},  # no events anywhere
    {"events": [1, 0, 1, 1], "trials": [1, 1, 1, 1]},  # one trial a group
    {"events": [300_000_000, 310_000_000, 1], "trials": [10**9] * 3},  # a billion trials
])
def test_logit_normal_marginal_at_the_edges(data):
    idata = quiet_fit(bayes.LogitNormalModel(data), random_seed=1)
    p = idata.posterior["p"].values
    assert np.isfinite(idata.log_likelihood["events"].values).all()
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    rate = np.array(data["events"]) / np.array(data["trials"])
    if min(data["trials"]) == 10**9:  # the data pin each p to ~1e-5
        np.testing.assert_allclose(p.mean(axis=(0, 1)), rate, atol=1e-4)


def test_meta_analysis_outputs():
    idata = quiet_fit(bayes.MetaAnalysisModel(BLOCKERS), random_seed=2, log_likelihood=False)
    assert not has_group(idata, "log_likelihood")
    model = bayes.MetaAnalysisModel(BLOCKERS)
    idata = quiet_fit(model, random_seed=2)
    post = idata.posterior
    assert post["delta"].shape == (2, 60, 6) and post["delta_new"].shape == (2, 60)
    assert list(post["delta"]["study"].values) == list(BLOCKERS["study"])
    np.testing.assert_allclose(post["odds_ratio"].values, np.exp(post["d"].values))
    ll = idata.log_likelihood
    np.testing.assert_allclose(ll["events"].values,
                               ll["events_ctrl"].values + ll["events_treat"].values)
    assert 0 <= model.prob_d_negative <= 1
    assert model.prob_d_negative == float((post["d"].values < 0).mean())
    # z integrated out (default) and drawn afterwards, or sampled
    assert {v.name for v in model.pymc_model.free_RVs} == {"d", "tau", "baseline"}
    np.testing.assert_allclose(post["delta"].values, post["d"].values[..., None]
                               + post["tau"].values[..., None] * post["z"].values)
    sampled = bayes.MetaAnalysisModel(BLOCKERS, marginalize=False)
    assert {v.name for v in sampled.pymc_model.free_RVs} == {"d", "tau", "baseline", "z"}
    assert quiet_fit(sampled, random_seed=2).posterior["delta"].shape == (2, 60, 6)


def test_compare_pooling_ranks_three_models():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayes.SamplingWarning)
        table = bayes.compare_pooling(SURGICAL, draws=60, tune=60, chains=2, random_seed=4,
                                      progress=False, sampler="pymc", cores=1,
                                      target_accept=0.95)
    assert set(table.index) == {"complete pooling", "partial pooling", "no pooling"}
    assert {"elpd_loo", "p_loo", "weight", "pareto_k_max", "n_high_k"} <= set(table.columns)
    assert table["rank"].tolist() == [0, 1, 2]


def test_sampling_problems_warn():
    model = bayes.BetaBinomialModel(SURGICAL)
    with pytest.warns(bayes.SamplingWarning, match=r"ESS \d+ < 200 \(100 per chain"):
        model.fit(draws=20, tune=20, chains=2, random_seed=0, progress=False, sampler="pymc",
                  cores=1)


def test_nutpie_sampler_when_installed():
    pytest.importorskip("nutpie")
    model = bayes.LogitNormalModel(SURGICAL)
    a = quiet_fit(model, sampler="nutpie", random_seed=5)
    b = quiet_fit(bayes.LogitNormalModel(SURGICAL), sampler="nutpie", random_seed=5)
    np.testing.assert_array_equal(a.posterior["mu"].values, b.posterior["mu"].values)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("make", "match"), [
    (lambda: bayes.BetaBinomialModel({"events": [3, 9], "trials": [5, 5]}),
     r"events 9 > trials 5"),
    (lambda: bayes.BetaBinomialModel({"events": [0, 5], "trials": [5, 5]}),
     r"posterior is then improper"),
    (lambda: bayes.BetaBinomialModel({"events": [1], "trials": [5]}), r"1 group"),
    (lambda: bayes.BetaBinomialModel(SURGICAL, prior="flat"), r"prior must be one of"),
    (lambda: bayes.LogitNormalModel(SURGICAL, covariates=["age"]), r"no column 'age'"),
    (lambda: bayes.LogitNormalModel(SURGICAL.assign(x=[1.0] * 11 + [np.nan]), covariates="x"),
     r"column 'x', row 11 .*missing"),
    (lambda: bayes.LogitNormalModel(SURGICAL, tau_sd=0), r"tau_sd must be a positive"),
    (lambda: bayes.LogitNormalModel(SURGICAL, marginalize="yes"), r"marginalize must be True"),
    (lambda: bayes.MetaAnalysisModel(BLOCKERS, marginalize=1), r"marginalize must be True"),
    (lambda: bayes.MetaAnalysisModel(SURGICAL), r"events_treat"),
])
def test_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(sampler="gibbs"), r"sampler must be one of"),
    (dict(draws=0), r"draws must be a positive integer"),
    (dict(random_seed=-1), r"random_seed must be"),
    (dict(progress="no"), r"progress must be True or False"),
    (dict(target_accept=1.5), r"target_accept must be"),
])
def test_bad_fit_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bayes.BetaBinomialModel(SURGICAL).fit(**kwargs)


def test_summary_before_fit_and_bad_names():
    model = bayes.BetaBinomialModel(SURGICAL)
    with pytest.raises(ValueError, match=r"not been fitted"):
        model.summary()
    quiet_fit(model, random_seed=0)
    with pytest.raises(ValueError, match=r"'sigma' is not in the posterior"):
        model.summary("sigma")
    assert isinstance(model.summary("mu"), pd.DataFrame)


def test_totals_model_shapes_seed_and_long_data():
    rng = np.random.default_rng(7)
    trials = np.array([5, 8])
    y = rng.binomial(np.broadcast_to(trials, (20, 2)), [0.2, 0.6]).sum(axis=1)
    model = bayes.TotalsModel(totals=y, trials=trials)
    idata = quiet_fit(model, random_seed=8)
    assert idata.posterior["p"].shape == (2, 60, 2)
    assert idata.log_likelihood["totals"].shape == (2, 60, 20)
    again = quiet_fit(bayes.TotalsModel(totals=y, trials=trials), random_seed=8)
    np.testing.assert_array_equal(again.posterior["p"].values, idata.posterior["p"].values)
    long = pd.DataFrame({"day": np.repeat(np.arange(20), 2), "unit": np.tile(["a", "b"], 20),
                         "n": np.tile(trials, 20), "total": np.repeat(y, 2)})
    named = bayes.TotalsModel(long, totals="total", trials="n", replicate="day", group="unit")
    assert named.coords["group"] == ["a", "b"]
    labels = model.summary("p")["label"].tolist()
    assert labels == [0, 1] and all(type(v) is int for v in labels)
    with pytest.raises(ValueError, match=r"total 99 > 13"):
        bayes.TotalsModel(totals=[3, 99], trials=trials)


def _brute_pb_pmf(trials, p):
    from scipy import stats

    pmf = np.array([1.0])
    for n, q in zip(trials, p, strict=True):
        pmf = np.convolve(pmf, stats.binom.pmf(np.arange(n + 1), n, q))
    return pmf


def test_totals_ppc_and_predictive_pmf_are_exact_mixtures():
    rng = np.random.default_rng(9)
    trials = np.array([[4, 6], [7, 2], [5, 5]] * 4)
    y = rng.binomial(trials, [0.3, 0.7]).sum(axis=1)
    model = bayes.TotalsModel(totals=y, trials=trials)
    idata = quiet_fit(model, random_seed=2)
    p = idata.posterior["p"].values.reshape(-1, 2)  # 120 draws: all used
    table = model.ppc()
    assert list(table.columns) == ["label", "observed", "expected", "p_lower", "p_upper"]
    for t in (0, 1, 5):
        pmfs = np.array([_brute_pb_pmf(trials[t], q) for q in p])
        assert table["p_lower"][t] == pytest.approx(pmfs[:, : y[t] + 1].sum(axis=1).mean(),
                                                    rel=1e-10)
        assert table["p_upper"][t] == pytest.approx(pmfs[:, y[t]:].sum(axis=1).mean(),
                                                    rel=1e-10)
        assert table["expected"][t] == pytest.approx((p @ trials[t]).mean())
    new = model.predictive_pmf([3, 9])
    want = np.array([_brute_pb_pmf([3, 9], q) for q in p]).mean(axis=0)
    np.testing.assert_allclose(new, want, rtol=1e-10, atol=1e-15)
    assert new.sum() == pytest.approx(1.0)


def test_one_arm_and_meta_ppc():
    from scipy import stats

    model = bayes.BetaBinomialModel(SURGICAL)
    idata = quiet_fit(model, random_seed=6)
    table = model.ppc(max_draws=50, random_seed=1)
    assert len(table) == 12 and table["label"].tolist() == list(SURGICAL["group"])
    assert ((table["p_lower"] + table["p_upper"]) >= 1).all()
    assert table[["p_lower", "p_upper"]].stack().between(0, 1).all()
    pmf = model.predictive_pmf(20)
    lm = idata.posterior["logit_mu"].values.ravel()
    kappa = np.exp(idata.posterior["log_kappa"].values.ravel())
    mu = 1 / (1 + np.exp(-lm))
    want = np.mean([stats.betabinom.pmf(np.arange(21), 20, k * m, k * (1 - m))
                    for m, k in zip(mu, kappa, strict=True)], axis=0)
    np.testing.assert_allclose(pmf, want, rtol=1e-10)
    meta = bayes.MetaAnalysisModel(BLOCKERS)
    quiet_fit(meta, random_seed=1)
    t2 = meta.ppc()
    assert len(t2) == 12 and t2["label"][0] == (BLOCKERS["study"][0], "ctrl")


def test_container_helpers_handle_inference_data_and_datatree():
    # ArviZ 1.x returns an xarray DataTree where 0.x returns InferenceData: the helpers that
    # read and extend the groups work on both
    import arviz as az

    from binfer.bayes._base import add_posterior, group, has_group, posterior_array, set_variable

    groups = {"posterior": {"a": np.zeros((2, 10))}, "log_likelihood": {"y": np.ones((2, 10, 3))}}
    if int(az.__version__.split(".")[0]) < 1:  # ArviZ 0.x: both containers
        idata = az.from_dict(**groups)
        containers = (idata, idata.to_datatree())
    else:  # ArviZ 1.x: DataTree only
        containers = (az.from_dict(groups),)
    for data in containers:
        assert has_group(data, "log_likelihood") and not has_group(data, "sample_stats")
        add_posterior(data, "b", np.ones((2, 10, 3)), ("g",), {"g": ["x", "y", "z"]})
        assert posterior_array(data, "b").shape == (2, 10, 3)
        assert list(group(data, "posterior")["b"]["g"].values) == ["x", "y", "z"]
        set_variable(data, "log_likelihood", "z", group(data, "log_likelihood")["y"] * 2)
        assert float(group(data, "log_likelihood")["z"].sum()) == 120.0
