"""Complete and no pooling (the baselines of a hierarchy) and their comparison with partial
pooling by PSIS-LOO (Vehtari, Gelman and Gabry 2017, through ArviZ)."""

from __future__ import annotations

import inspect
import warnings
from typing import ClassVar

import numpy as np
import pandas as pd

from .._data import one_arm
from ..core._checks import check_choice
from ._base import BayesModel, _seeds
from ._beta_binomial import BetaBinomialModel
from ._logit_normal import LogitNormalModel, _positive

PARTIAL = {"beta_binomial": BetaBinomialModel, "logit_normal": LogitNormalModel}


class _OneArmModel(BayesModel):
    def __init__(self, data, *, events: str = "events", trials: str = "trials", group=None,
                 prior_a: float = 1.0, prior_b: float = 1.0) -> None:
        super().__init__()
        arm = one_arm(data, events=events, trials=trials, group=group, min_groups=1)
        self.events, self.trials = arm.events, arm.trials
        self.labels = arm.labels
        self.prior_a = _positive(prior_a, "prior_a")
        self.prior_b = _positive(prior_b, "prior_b")

    def _ppc_parts(self, idata, pick):
        theta = self._flat(idata, "theta", pick)
        if theta.ndim == 1:  # complete pooling: one theta for every group
            theta = np.broadcast_to(theta[:, None], (theta.size, self.events.size))
        return self._binomial_ppc(self.labels, self.events, self.trials, theta)


class CompletePoolingModel(_OneArmModel):
    """Complete pooling: one theta for every group, y_g ~ Bin(n_g, theta), theta ~
    Beta(``prior_a``, ``prior_b``) (uniform by default). The baseline that ignores differences
    between groups.

    Examples
    --------
    >>> from binfer import bayes, datasets
    >>> bayes.CompletePoolingModel(datasets.load("surgical"))
    CompletePoolingModel(one theta, 12 groups, not fitted)
    """

    _scalars: ClassVar[tuple[str, ...]] = ("theta",)
    _name: ClassVar[str] = "one theta"

    def _build(self):
        import pymc as pm

        with pm.Model(coords=self.coords) as model:
            theta = pm.Beta("theta", self.prior_a, self.prior_b)
            pm.Binomial("events", n=self.trials, p=theta, observed=self.events, dims="group")
        return model


class NoPoolingModel(_OneArmModel):
    """No pooling: an independent theta_g ~ Beta(``prior_a``, ``prior_b``) per group,
    y_g ~ Bin(n_g, theta_g). The baseline that shares nothing between groups.

    Examples
    --------
    >>> from binfer import bayes, datasets
    >>> bayes.NoPoolingModel(datasets.load("surgical"))
    NoPoolingModel(a theta per group, 12 groups, not fitted)
    """

    _vectors: ClassVar[tuple[str, ...]] = ("theta",)
    _name: ClassVar[str] = "a theta per group"

    def _build(self):
        import pymc as pm

        with pm.Model(coords=self.coords) as model:
            theta = pm.Beta("theta", self.prior_a, self.prior_b, dims="group")
            pm.Binomial("events", n=self.trials, p=theta, observed=self.events, dims="group")
        return model


def compare_pooling(data, *, events: str = "events", trials: str = "trials", group=None,
                    partial: str = "beta_binomial", draws: int = 1000, tune: int = 1000,
                    chains: int = 4, random_seed=None, sampler: str = "auto",
                    progress: bool = True, **fit_kwargs) -> pd.DataFrame:
    """Rank complete, partial and no pooling of grouped counts by PSIS-LOO.

    Fits :class:`CompletePoolingModel`, the ``partial`` hierarchy and :class:`NoPoolingModel`
    and compares their expected log predictive densities (``arviz.compare`` with
    ``ic="loo"``). Each observation is a whole group, so LOO asks how well each model predicts
    a group's count from the other groups. With no pooling a group's own count is all that
    informs its theta, so its Pareto k is often high: the ``pareto_k_max`` and ``n_high_k``
    columns (k > 0.7, where PSIS is unreliable) say so rather than hide it.

    Parameters
    ----------
    data, events, trials, group
        As for :class:`BetaBinomialModel`.
    partial : {"beta_binomial", "logit_normal"}
        The partial-pooling model.
    draws, tune, chains, random_seed, sampler, progress, **fit_kwargs
        As for ``fit`` (``target_accept=``, ...); one ``random_seed`` seeds the three fits.

    Returns
    -------
    DataFrame
        ``arviz.compare``'s table (index: ``"complete pooling"``, ``"partial pooling"``,
        ``"no pooling"``, best first; ``rank``, ``elpd_loo``, ``p_loo``, ``elpd_diff``,
        ``weight``, ``se``, ``dse``, and with ArviZ 0.x ``warning`` and ``scale``, with
        ArviZ 1.x ``p_worse``, ``diag_diff`` and ``diag_elpd``) with ``pareto_k_max`` and
        ``n_high_k``. The fitted models are in ``.attrs["models"]``.

    References
    ----------
    Vehtari, A., Gelman, A. and Gabry, J. (2017). Practical Bayesian model evaluation using
    leave-one-out cross-validation and WAIC. Statistics and Computing 27, 1413-1432.

    Examples
    --------
    >>> from binfer import bayes, datasets
    >>> table = bayes.compare_pooling(datasets.load("rat_tumors"), random_seed=1,
    ...                               progress=False)  # doctest: +SKIP
    >>> list(table.index)  # doctest: +SKIP
    ['partial pooling', 'complete pooling', 'no pooling']
    """
    import arviz as az

    partial = check_choice(partial, "partial", tuple(PARTIAL))
    cols = dict(events=events, trials=trials, group=group)
    models = {"complete pooling": CompletePoolingModel(data, **cols),
              "partial pooling": PARTIAL[partial](data, **cols),
              "no pooling": NoPoolingModel(data, **cols)}
    seed, _ = _seeds(random_seed)
    children = np.random.SeedSequence(seed).spawn(len(models))
    fits, ks = {}, {}
    for (name, model), child in zip(models.items(), children, strict=True):
        fits[name] = model.fit(draws=draws, tune=tune, chains=chains,
                               random_seed=int(child.generate_state(1)[0] % 2**31),
                               sampler=sampler, progress=progress, **fit_kwargs)
    with warnings.catch_warnings():
        # the high Pareto k's are reported in the table's columns
        warnings.filterwarnings("ignore", message=".*(Pareto|pareto)")
        for name, idata in fits.items():
            ks[name] = np.asarray(az.loo(idata, pointwise=True).pareto_k.values)
        if "ic" in inspect.signature(az.compare).parameters:  # ArviZ 0.x
            table = az.compare(fits, ic="loo")
        else:  # ArviZ 1.x: PSIS-LOO only, unrounded, its elpd and p under 0.x's names
            table = az.compare(fits, round_to="none").rename(
                columns={"elpd": "elpd_loo", "p": "p_loo"})
    table["pareto_k_max"] = [float(ks[name].max()) for name in table.index]
    table["n_high_k"] = [int((ks[name] > 0.7).sum()) for name in table.index]
    table.attrs["models"] = models
    return table
