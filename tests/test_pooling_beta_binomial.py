"""beta_binomial's intervals for mu and rho against VGAM and an independent profile in R.

References: tests/reference/trust_refs.json (``bb_ci``), written by
tests/reference/make_trust_refs.R: VGAM's ``confint()`` of ``vglm(cbind(x, n - x) ~ 1,
betabinomial)`` (Wald on the logit links; ``method = "profile"``, which VGAM interpolates on a
grid, good to ~3e-4), and a profile likelihood solved in R with optimize/uniroot to 1e-12 on
Griffiths' exact product form of the likelihood.
Fit values (mu, rho, SEs, LRT) are checked in test_stats_refs.py.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import binfer
from binfer.pooling import proportion_interval

TRUST = json.loads((Path(__file__).parent / "reference" / "trust_refs.json").read_text())


FITTED = [r for r in TRUST["bb_ci"] if "wald_mu" in r]  # the bundled datasets, VGAM too
(BOUNDARY,) = [r for r in TRUST["bb_ci"] if r["dataset"] == "underdispersed"]


@pytest.mark.parametrize("ref", FITTED, ids=lambda r: r["dataset"])
def test_profile_intervals_match_r(ref):
    r = binfer.beta_binomial(binfer.datasets.load(ref["dataset"]))
    assert r.ci_method == "profile" and r.conf_level == ref["conf_level"]
    np.testing.assert_allclose(r.mu_confidence_interval, ref["profile_mu"], rtol=1e-9)
    np.testing.assert_allclose(r.rho_confidence_interval, ref["profile_rho"], rtol=1e-9)
    np.testing.assert_allclose(r.mu_confidence_interval, ref["vgam_profile_mu"], rtol=1e-3)
    np.testing.assert_allclose(r.rho_confidence_interval, ref["vgam_profile_rho"], rtol=1e-3)
    row = r.to_frame().iloc[0]
    assert row["mu_confidence_interval_low"] == r.mu_confidence_interval.low
    assert "95% CI" in repr(r) and "profile likelihood" in repr(r)


@pytest.mark.parametrize("ref", FITTED, ids=lambda r: r["dataset"])
def test_wald_intervals_match_vgam_confint(ref):
    # VGAM's SEs are from the expected information; its fit stops at ~1e-8 relative
    r = binfer.beta_binomial(binfer.datasets.load(ref["dataset"]), information="expected",
                             ci_method="wald")
    np.testing.assert_allclose(r.mu_confidence_interval, ref["wald_mu"], rtol=2e-6)
    np.testing.assert_allclose(r.rho_confidence_interval, ref["wald_rho"], rtol=2e-6)
    assert "Wald, logit scale" in repr(r)


def test_profile_at_the_binomial_boundary():
    # Underdispersed groups: the MLE is the binomial (rho = 0), the LRT statistic is below the
    # chi2_1 quantile, so rho's interval starts at 0. The tolerance is the fit's: near rho = 0
    # the betaln differences of the likelihood cancel (a + b ~ 1e8), leaving ~1e-6 of noise
    # in the log-likelihood, which R's exact product form does not have.
    data = {"events": BOUNDARY["events"], "trials": BOUNDARY["trials"]}
    r = binfer.beta_binomial(data)
    assert r.rho < 1e-7
    np.testing.assert_allclose(r.mu_confidence_interval, BOUNDARY["profile_mu"], rtol=1e-5)
    assert r.rho_confidence_interval.low == 0 == BOUNDARY["profile_rho"][0]
    assert r.rho_confidence_interval.high == pytest.approx(BOUNDARY["profile_rho"][1], rel=1e-5)
    # the profile of mu lets rho grow away from the MLE: wider than the binomial LR interval
    lr = proportion_interval(40, 160, method="likelihood-ratio")
    assert r.mu_confidence_interval.high > lr.high
    wald = binfer.beta_binomial(data, ci_method="wald")
    assert wald.mu_confidence_interval.low < r.mu < wald.mu_confidence_interval.high


def test_interval_levels_nest_and_options_are_checked():
    data = binfer.datasets.load("rat_tumors")
    narrow = binfer.beta_binomial(data, conf_level=0.8)
    wide = binfer.beta_binomial(data, conf_level=0.99)
    for name in ("mu", "rho"):
        (a, b), (c, d) = (getattr(narrow, f"{name}_confidence_interval"),
                          getattr(wide, f"{name}_confidence_interval"))
        assert c < a < getattr(narrow, name) < b < d
    with pytest.raises(ValueError, match="^ci_method must be one of .*profile.*wald.*got 'exact'"):
        binfer.beta_binomial(data, ci_method="exact")
    with pytest.raises(ValueError, match="conf_level"):
        binfer.beta_binomial(data, conf_level=95)


def test_a_fit_that_stops_just_inside_the_boundary_is_the_boundary_solution():
    # Binomial-looking counts where trust-exact stops at a + b ~ 3e8 (rho ~ 3e-9, above the
    # 1e-9 cut-off) with a Hessian that is not negative definite in floating point: it used to
    # take the square root of a negative variance ("math domain error").
    data = {"events": [13, 12, 7, 13, 13, 10, 16, 5, 12, 14, 15, 9, 15, 18, 12, 14, 26, 19, 17,
                       8, 10, 21, 8, 13, 14, 13, 8, 14, 2, 13],
            "trials": [40, 40, 31, 40, 58, 29, 50, 20, 32, 57, 54, 23, 53, 53, 38, 34, 59, 58,
                       47, 35, 28, 57, 30, 42, 46, 29, 32, 49, 27, 46]}
    pbar = sum(data["events"]) / sum(data["trials"])
    for ci_method in ("wald", "profile"):
        for information in ("observed", "expected"):
            r = binfer.beta_binomial(data, ci_method=ci_method, information=information)
            assert r.rho == 0 and r.se_rho is None
            assert r.lrt_statistic == 0 and r.lrt_pvalue == 1
            assert r.mu == pytest.approx(pbar, rel=1e-12)
            assert r.se_mu == pytest.approx(math.sqrt(pbar * (1 - pbar) / 1237), rel=1e-12)
