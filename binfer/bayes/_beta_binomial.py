"""The beta-binomial hierarchy (Gelman et al., BDA3, section 5.3): y_g ~ Bin(n_g, theta_g),
theta_g ~ Beta(a, b), sampled on the mean and the log concentration with theta integrated out."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy import special

from .._data import one_arm
from ..core._checks import check_choice
from ._base import BayesModel, add_posterior, posterior_array
from ._op import beta_binomial_logp_op

PRIORS = ("bda3",)


def _random(n, logit_mu, log_kappa, rng=None, size=None):
    kappa = np.exp(log_kappa)
    theta = rng.beta(kappa * special.expit(logit_mu), kappa * special.expit(-logit_mu),
                     size=size)
    return rng.binomial(np.asarray(n).astype(np.int64), theta, size=size)


def _logp(k, n, logit_mu, log_kappa):
    """The beta-binomial log-PMF per group, one compiled Op (value and gradient)."""
    return beta_binomial_logp_op().logp(k, n, logit_mu, log_kappa)


class BetaBinomialModel(BayesModel):
    """Beta-binomial hierarchical model of grouped counts, in PyMC.

    y_g ~ Bin(n_g, theta_g), theta_g ~ Beta(a, b) with mean ``mu`` = a / (a + b) and
    concentration ``kappa`` = a + b. The sampler sees two parameters, logit(mu) and log(kappa):
    theta is integrated out (the beta-binomial likelihood) and drawn after sampling from its
    conjugate posterior Beta(a + y_g, b + n_g - y_g), one draw per posterior draw.

    Parameters
    ----------
    data : DataFrame, mapping of columns or table
        One row per group.
    events, trials : str
        Column names of the counts.
    group : str, optional
        Column of group labels (the coordinates of ``theta``); default the column ``group``
        if there is one, else the row index.
    prior : {"bda3"}
        ``"bda3"``: p(a, b) proportional to (a + b)^(-5/2) (BDA3 eq. 5.9), uniform on mu and
        proportional to kappa^(-3/2); improper, with a proper posterior when at least one group
        has 0 < y_g < n_g (checked).

    Attributes
    ----------
    pymc_model : pymc.Model
        Free variables ``logit_mu`` and ``log_kappa``; deterministics ``mu`` and ``kappa``;
        observed ``events`` (dim ``group``).
    idata : InferenceData
        The last fit's; its posterior also has ``theta`` (dim ``group``).

    Notes
    -----
    The beta-binomial log-PMF is evaluated so that it stays accurate as kappa grows toward the
    binomial limit (see ``binfer.bayes._logp``), where the usual difference of log-beta
    functions (PyMC's ``BetaBinomial``, Stan's ``beta_binomial_lpmf``) loses digits.

    References
    ----------
    Gelman, A., Carlin, J. B., Stern, H. S., Dunson, D. B., Vehtari, A. and Rubin, D. B. (2013).
    Bayesian Data Analysis, 3rd ed., section 5.3 (the rat tumour example).
    Tarone, R. E. (1982). The use of historical control information in testing for a trend in
    proportions. Biometrics 38, 215-220.

    Examples
    --------
    >>> from binfer import bayes, datasets
    >>> model = bayes.BetaBinomialModel(datasets.load("rat_tumors"))
    >>> model
    BetaBinomialModel(events ~ Bin(trials, theta), theta ~ Beta, 71 groups, not fitted)
    >>> idata = model.fit(draws=200, tune=200, chains=2, random_seed=1,
    ...                   progress=False)  # doctest: +SKIP
    >>> model.summary().head(2)  # doctest: +SKIP
    """

    _scalars: ClassVar[tuple[str, ...]] = ("mu", "kappa", "log_kappa")
    _vectors: ClassVar[tuple[str, ...]] = ("theta",)
    _name: ClassVar[str] = "events ~ Bin(trials, theta), theta ~ Beta"
    _dense_mass: ClassVar[bool] = True

    def __init__(self, data, *, events: str = "events", trials: str = "trials", group=None,
                 prior: str = "bda3") -> None:
        super().__init__()
        self.prior = check_choice(prior, "prior", PRIORS)
        arm = one_arm(data, events=events, trials=trials, group=group, min_groups=2)
        interior = (arm.events > 0) & (arm.events < arm.trials)
        if not interior.any():
            raise ValueError(
                f"columns {events!r}/{trials!r}: every group has events 0 or events = trials; "
                "with the BDA3 prior the posterior is then improper (it needs one group with "
                "0 < events < trials)")
        self.events, self.trials = arm.events, arm.trials
        self.labels = arm.labels

    def _build(self):
        import pymc as pm
        import pytensor.tensor as pt

        with pm.Model(coords=self.coords) as model:
            logit_mu = pm.Logistic("logit_mu", mu=0.0, s=1.0)  # mu ~ Uniform(0, 1)
            log_kappa = pm.Flat("log_kappa")
            # (a + b)^(-5/2) da db = kappa^(-3/2) dmu dkappa = kappa^(-1/2) dmu dlog(kappa)
            pm.Potential("bda3_prior", -0.5 * log_kappa)
            pm.Deterministic("mu", pm.math.sigmoid(logit_mu))
            pm.Deterministic("kappa", pt.exp(log_kappa))
            n = pt.as_tensor_variable(self.trials.astype(np.float64))
            pm.CustomDist("events", n, logit_mu, log_kappa, logp=_logp, random=_random,
                          observed=self.events, dims="group")
        return model

    def _after(self, idata, rng: np.random.Generator) -> None:
        """theta_g | a, b, y ~ Beta(a + y_g, b + n_g - y_g), one draw per posterior draw."""
        lm = posterior_array(idata, "logit_mu")[..., None]
        kappa = np.exp(posterior_array(idata, "log_kappa"))[..., None]
        a, b = kappa * special.expit(lm), kappa * special.expit(-lm)
        theta = rng.beta(a + self.events, b + self.trials - self.events)
        add_posterior(idata, "theta", theta, ("group",), {"group": list(self.labels)})

    def _ppc_parts(self, idata, pick):
        return self._binomial_ppc(self.labels, self.events, self.trials,
                                  self._flat(idata, "theta", pick))

    def predictive_pmf(self, trials: int) -> np.ndarray:
        """P(y_new = 0..trials) for a new group of ``trials`` trials: the beta-binomial
        BB(trials, a, b) averaged over the posterior draws of (a, b), exactly."""
        from scipy import stats

        from ..core._checks import check_count

        trials = check_count(trials, "trials")
        idata = self._fitted()
        lm = posterior_array(idata, "logit_mu").ravel()
        kappa = np.exp(posterior_array(idata, "log_kappa").ravel())
        k = np.arange(trials + 1)[:, None]
        pmf = stats.betabinom.pmf(k, trials, kappa * special.expit(lm),
                                  kappa * special.expit(-lm))
        return pmf.mean(axis=1)
