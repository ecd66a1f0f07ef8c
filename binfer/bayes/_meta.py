"""Two-arm random-effects meta-analysis with a binomial likelihood (the binomial-normal model)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._data import two_arm
from ..core._checks import check_flag
from ._base import (
    BayesModel,
    add_posterior,
    group,
    has_group,
    posterior_array,
    set_variable,
)
from ._logit_normal import LogitNormalModel, _positive, _random


class MetaAnalysisModel(BayesModel):
    """Binomial-normal random-effects meta-analysis of two-arm studies, in PyMC.

    events_ctrl_g ~ Bin(trials_ctrl_g, expit(m_g)), events_treat_g ~ Bin(trials_treat_g,
    expit(m_g + delta_g)), with baseline log-odds m_g ~ N(0, ``baseline_sd``) independent per
    study (``baseline``), log odds ratios delta_g = d + tau z_g, z_g ~ N(0, 1),
    d ~ N(0, ``d_sd``) and tau ~ HalfNormal(``tau_sd``). Exact binomial likelihoods, so zero
    cells need no continuity correction.

    By default (``marginalize=True``) z is integrated out of each study's treatment-arm
    likelihood, given its baseline (the quadrature of ``LogitNormalModel``, error below 1e-10),
    so the sampler sees d, tau and the baselines (k + 2 parameters instead of 2k + 2, and no
    funnel between tau and z); z_g, and so delta_g, is drawn afterwards from its exact
    conditional posterior, one draw per posterior draw. The per-study log-likelihood of the
    treatment arm is then the marginal one. ``marginalize=False`` samples z (non-centred).

    Parameters
    ----------
    data : DataFrame, mapping of columns or table
        One row per study.
    events_treat, trials_treat, events_ctrl, trials_ctrl : str
        Column names of the counts.
    study : str, optional
        Column of study labels (coordinates of ``delta``); default the column ``study`` if
        there is one, else the row index.
    d_sd, tau_sd, baseline_sd : float
        Prior scales (defaults 10, 1 and 10).
    marginalize : bool
        Integrate z out (default) or sample it.

    Attributes
    ----------
    pymc_model : pymc.Model
        Free variables ``d``, ``tau`` and ``baseline`` (dim ``study``), with
        ``marginalize=False`` also ``z`` and the deterministic ``delta``; observed
        ``events_ctrl`` and ``events_treat``.
    idata : InferenceData
        The last fit's; its posterior has ``delta`` (dim ``study``: the per-study, shrunken,
        log odds ratios) and ``z`` either way, and also ``delta_new`` (the log odds ratio in a new
        study, delta_new ~ N(d, tau) drawn once per posterior draw) and ``odds_ratio``
        (exp(d)); its ``log_likelihood`` also has ``events``, the two arms' sum per study
        (what ``arviz.loo`` should use).
    prob_d_negative : float
        Posterior probability that d < 0 (treatment lowers the odds), after a fit.

    References
    ----------
    Smith, T. C., Spiegelhalter, D. J. and Thomas, A. (1995). Bayesian approaches to
    random-effects meta-analysis: a comparative study. Statistics in Medicine 14, 2685-2699.
    Gelman, A. et al. (2013). Bayesian Data Analysis, 3rd ed., section 5.6 (the beta-blocker
    trials).

    Examples
    --------
    >>> from binfer import bayes, datasets
    >>> bayes.MetaAnalysisModel(datasets.load("beta_blockers"))
    MetaAnalysisModel(binomial-normal, 22 studies, not fitted)
    """

    _scalars: ClassVar[tuple[str, ...]] = ("d", "tau", "delta_new", "odds_ratio")
    _vectors: ClassVar[tuple[str, ...]] = ("delta",)
    _dim: ClassVar[str] = "study"
    _name: ClassVar[str] = "binomial-normal"

    def __init__(self, data, *, events_treat: str = "events_treat",
                 trials_treat: str = "trials_treat", events_ctrl: str = "events_ctrl",
                 trials_ctrl: str = "trials_ctrl", study=None, d_sd: float = 10.0,
                 tau_sd: float = 1.0, baseline_sd: float = 10.0,
                 marginalize: bool = True) -> None:
        super().__init__()
        arms = two_arm(data, events_treat=events_treat, trials_treat=trials_treat,
                       events_ctrl=events_ctrl, trials_ctrl=trials_ctrl, study=study,
                       min_studies=2)
        self.events_treat, self.trials_treat = arms.events_treat, arms.trials_treat
        self.events_ctrl, self.trials_ctrl = arms.events_ctrl, arms.trials_ctrl
        self.labels = arms.labels
        self.d_sd = _positive(d_sd, "d_sd")
        self.tau_sd = _positive(tau_sd, "tau_sd")
        self.baseline_sd = _positive(baseline_sd, "baseline_sd")
        self.marginalize = check_flag(marginalize, "marginalize")

    def _build(self):
        import pymc as pm

        with pm.Model(coords=self.coords) as model:
            d = pm.Normal("d", 0.0, self.d_sd)
            tau = pm.HalfNormal("tau", self.tau_sd)
            baseline = pm.Normal("baseline", 0.0, self.baseline_sd, dims="study")
            pm.Binomial("events_ctrl", n=self.trials_ctrl, logit_p=baseline,
                        observed=self.events_ctrl, dims="study")
            if self.marginalize:
                pm.CustomDist("events_treat", self.trials_treat.astype(np.float64),
                              baseline + d, tau, logp=LogitNormalModel._marginal_logp,
                              random=_random, observed=self.events_treat, dims="study")
                return model
            z = pm.Normal("z", 0.0, 1.0, dims="study")
            delta = pm.Deterministic("delta", d + tau * z, dims="study")
            pm.Binomial("events_treat", n=self.trials_treat, logit_p=baseline + delta,
                        observed=self.events_treat, dims="study")
        return model

    def _after(self, idata, rng: np.random.Generator) -> None:
        d, tau = posterior_array(idata, "d"), posterior_array(idata, "tau")
        if self.marginalize:  # z_g | d, tau, baseline_g, treatment arm, exactly
            from ._ln_kernels import draw_z

            eta = posterior_array(idata, "baseline") + d[..., None]
            z = draw_z(self.events_treat, self.trials_treat, eta, tau[..., None], rng)
            coords = {"study": list(self.labels)}
            add_posterior(idata, "z", z, ("study",), coords)
            add_posterior(idata, "delta", d[..., None] + tau[..., None] * z, ("study",),
                          coords)
        add_posterior(idata, "delta_new", d + tau * rng.standard_normal(d.shape))
        add_posterior(idata, "odds_ratio", np.exp(d))
        if has_group(idata, "log_likelihood"):
            ll = group(idata, "log_likelihood")
            set_variable(idata, "log_likelihood", "events",
                         ll["events_ctrl"] + ll["events_treat"])

    @property
    def prob_d_negative(self) -> float:
        """Posterior probability that d < 0."""
        return float((posterior_array(self._fitted(), "d") < 0).mean())

    def _ppc_parts(self, idata, pick):
        from scipy import special

        base = self._flat(idata, "baseline", pick)
        delta = self._flat(idata, "delta", pick)
        labels = [(s, arm) for arm in ("ctrl", "treat") for s in self.labels]
        events = np.concatenate([self.events_ctrl, self.events_treat])
        trials = np.concatenate([self.trials_ctrl, self.trials_treat])
        theta = np.concatenate([special.expit(base), special.expit(base + delta)], axis=1)
        return self._binomial_ppc(labels, events, trials, theta)
