"""A hierarchical model of replicate totals over a known design, with the exact
Poisson-binomial likelihood (the Bayesian side of ``binomial_vs_poisson_binomial``)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._data import replicate_totals
from ._base import BayesModel, posterior_array
from ._logit_normal import _positive
from ._op import poisson_binomial_logpmf_op, solve_mean_logit_op


class TotalsModel(BayesModel):
    """Group probabilities from replicate totals only, in PyMC, with the exact likelihood.

    Replicate t reports only its total Y_t = sum_g X_tg with X_tg ~ Bin(n_tg, p_g) over a
    known design n_tg: Y_t is Poisson-binomial. The group probabilities come from a logit-normal
    hierarchy, logit(p_g) = mu + tau z_g, z_g ~ N(0, 1), mu ~ N(0, ``mu_sd``),
    tau ~ HalfNormal(``tau_sd``). The likelihood is the exact Poisson-binomial PMF of binfer's
    batched core, wrapped as a PyTensor Op with its gradient (``binfer.bayes._op``), compiled
    for both PyMC's sampler and nutpie's numba backend.

    Parameters
    ----------
    data : DataFrame, optional
        Wide (a totals column and a list of G trials columns) or long (``replicate`` and
        ``group`` columns); or None with arrays.
    totals : str or array
        The totals column, or the (T,) totals.
    trials : str, list of str or array
        The trials column(s), or a (G,) constant design or a (T, G) one.
    replicate, group : str, optional
        Columns of long data.
    mu_sd, tau_sd : float
        Prior scales (defaults 2.5 and 1, logit scale).

    Attributes
    ----------
    pymc_model : pymc.Model
        Free variables ``logit_m`` (the logit of the design-weighted mean probability
        sum_g w_g p_g, w_g the groups' shares of the trials), ``tau`` and ``z`` (dim
        ``group``); deterministics ``mu`` (solved from logit_m, tau and z) and ``p`` (dim
        ``group``); observed ``totals`` (dim ``replicate``). The prior is the one above: mu's
        normal prior enters with the Jacobian of mu -> logit_m.

    Notes
    -----
    What totals identify: with a constant design only the multiset of (p_g, n_g) is identified
    (the PGF prod_g (1 - p_g + p_g z)^n_g is symmetric in groups of equal size), so groups of
    equal size have the same marginal posterior, and chains that settle on different labellings
    show as a high R-hat for ``p`` while ``mu`` and ``tau`` mix. A design that varies across
    replicates identifies each p_g.

    Sampling: many totals pin the design-weighted mean probability far more tightly than
    anything else, a thin curved ridge in (mu, tau, z) on which NUTS took 591 leapfrog steps an
    iteration (T = 200 totals of 10 groups of 200 trials). The model therefore samples
    ``logit_m`` and solves mu from it (a compiled Newton solve whose gradient comes from the
    implicit function theorem; an exact change of variables, with the Jacobian in mu's prior):
    13 steps an iteration, and a default fit on that design in 50 s with PyMC's NUTS and 23 s
    with nutpie (2 cores, 2026-11-26; ``benchmarks/bench_bayes.py --totals``).

    References
    ----------
    Hong, Y. (2013). On computing the distribution function for the Poisson binomial
    distribution. Computational Statistics & Data Analysis 59, 41-51.

    Examples
    --------
    >>> from binfer import bayes
    >>> bayes.TotalsModel(totals=[30, 41, 35, 28], trials=[40, 60, 20])
    TotalsModel(totals ~ Poisson-binomial, 3 groups, not fitted)
    """

    _scalars: ClassVar[tuple[str, ...]] = ("mu", "tau")
    _vectors: ClassVar[tuple[str, ...]] = ("p",)
    _name: ClassVar[str] = "totals ~ Poisson-binomial"

    def __init__(self, data=None, *, totals, trials, replicate=None, group=None,
                 mu_sd: float = 2.5, tau_sd: float = 1.0) -> None:
        super().__init__()
        rt = replicate_totals(data, totals=totals, trials=trials, replicate=replicate,
                              group=group)
        self.totals, self.trials = rt.totals, rt.trials
        self.labels = np.asarray(rt.labels.tolist() + [None], dtype=object)[:-1]
        self.mu_sd = _positive(mu_sd, "mu_sd")
        self.tau_sd = _positive(tau_sd, "tau_sd")

    @property
    def coords(self) -> dict:
        return {"group": list(self.labels), "replicate": list(range(self.totals.size))}

    def _build(self):
        import pymc as pm
        import pytensor.tensor as pt

        op = poisson_binomial_logpmf_op(self.trials, self.totals)
        trials = self.trials

        def logp(value, p):
            return op(p, pt.cast(value, "float64"))[0]

        def random(p, rng=None, size=None):
            return rng.binomial(trials, p).sum(axis=-1)

        logw = np.log(self.trials.mean(axis=0) / self.trials.mean(axis=0).sum())
        with pm.Model(coords=self.coords) as model:
            tau = pm.HalfNormal("tau", self.tau_sd)
            z = pm.Normal("z", 0.0, 1.0, dims="group")
            # The totals pin the design-weighted mean probability m = sum_g w_g p_g far more
            # tightly than anything else; sampled as mu, it is a thin curved ridge in
            # (mu, tau, z). So logit(m) is sampled and mu solved from it: an exact change of
            # variables, whose Jacobian |d mu / d logit(m)| joins mu's prior below.
            logit_m = pm.Flat("logit_m")
            solve = solve_mean_logit_op(logw)
            mu = pm.Deterministic("mu", solve(pt.stack([logit_m, tau]), z)[0])
            eta = mu + tau * z
            log_m, log_1m = (pt.logsumexp(logw - pt.softplus(-s * eta)) for s in (1.0, -1.0))
            log_slope = pt.logsumexp(logw - pt.softplus(-eta) - pt.softplus(eta))
            pm.Potential("mu_prior", pm.logp(pm.Normal.dist(0.0, self.mu_sd), mu)
                         + log_m + log_1m - log_slope)
            p = pm.Deterministic("p", pm.math.sigmoid(eta), dims="group")
            pm.CustomDist("totals", p, logp=logp, random=random, observed=self.totals,
                          dims="replicate")
        return model

    def _ppc_parts(self, idata, pick):
        from ..core import PoissonBinomial

        p = self._flat(idata, "p", pick)  # (S, G)
        S, T = p.shape[0], self.trials.shape[0]
        members = PoissonBinomial(np.repeat(p, T, axis=0), np.tile(self.trials, (S, 1)))
        y = np.tile(self.totals, S)
        cdf = members.cdf(y).reshape(S, T)
        below = np.where(y > 0, members.cdf(np.maximum(y - 1, 0)), 0.0).reshape(S, T)
        mean = p @ self.trials.T
        return list(range(T)), self.totals, cdf, below, mean

    def predictive_pmf(self, trials) -> np.ndarray:
        """P(Y_new = 0..N) for a new replicate with design ``trials`` (G,): the
        Poisson-binomial PMF from binfer's core averaged over the posterior draws of p."""
        from ..core import PoissonBinomial
        from ..core._checks import check_counts

        G = self.trials.shape[1]
        trials = check_counts(trials, G, "trials")
        p = posterior_array(self._fitted(), "p").reshape(-1, G)
        k = np.arange(int(trials.sum()) + 1)
        members = PoissonBinomial(p, np.broadcast_to(trials, p.shape))
        return members.pmf(np.broadcast_to(k, (p.shape[0], k.size))).mean(axis=0)

