"""The logit-normal hierarchy: logit(theta_g) = mu + x_g' beta + tau z_g, non-centred."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._data import as_frame, one_arm
from ..core._checks import plain
from ._base import BayesModel


def _positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {plain(value)}")
    return float(value)


def covariate_matrix(data, covariates, n_rows: int) -> tuple[np.ndarray, list[str]]:
    """(n_rows, C) float matrix of the ``covariates`` columns, refusing missing columns and
    non-numeric or missing values with the column and row named."""
    if covariates is None:
        return np.zeros((n_rows, 0)), []
    names = [covariates] if isinstance(covariates, str) else list(covariates)
    frame = as_frame(data)
    cols = []
    for name in names:
        if name not in frame.columns:
            raise ValueError(f"covariates: no column {name!r} (columns: "
                             f"{', '.join(map(str, frame.columns))})")
        col = frame[name]
        try:
            x = col.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"covariates: column {name!r} is not numeric ({exc})") from exc
        bad = ~np.isfinite(x)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"covariates: column {name!r}, row {frame.index[i]!r} "
                             f"(position {i}): missing or infinite value {col.iloc[i]!r}")
        cols.append(x)
    return np.column_stack(cols), [str(n) for n in names]


class LogitNormalModel(BayesModel):
    """Logit-normal hierarchical model of grouped counts, in PyMC.

    y_g ~ Bin(n_g, p_g), logit(p_g) = mu + x_g' beta + tau z_g with z_g ~ N(0, 1) (the
    non-centred form, which NUTS samples without divergences when tau is small),
    mu ~ N(0, ``mu_sd``), tau ~ HalfNormal(``tau_sd``), beta ~ N(0, ``beta_sd``) per covariate.

    Parameters
    ----------
    data : DataFrame, mapping of columns or table
        One row per group.
    events, trials : str
        Column names of the counts.
    group : str, optional
        Column of group labels (coordinates of ``p``); default the column ``group`` if there
        is one, else the row index.
    covariates : str or list of str, optional
        Numeric columns entering the logit linearly, as given (not centred or scaled: mu is the
        logit at covariates 0).
    mu_sd, tau_sd, beta_sd : float
        Prior scales (defaults 2.5, 1 and 2.5, on the logit scale).

    Attributes
    ----------
    pymc_model : pymc.Model
        Free variables ``mu``, ``tau``, ``z`` (and ``beta``, dim ``covariate``); deterministic
        ``p`` (dim ``group``, probability scale); observed ``events``.

    References
    ----------
    Gelman, A. et al. (2013). Bayesian Data Analysis, 3rd ed., chapters 5 and 16.
    Betancourt, M. and Girolami, M. (2015). Hamiltonian Monte Carlo for hierarchical models.
    In Current Trends in Bayesian Methodology with Applications (the non-centred form).

    Examples
    --------
    >>> from binfer import bayes, datasets
    >>> bayes.LogitNormalModel(datasets.load("surgical"))
    LogitNormalModel(logit p = mu + tau z, 12 groups, not fitted)
    """

    _scalars: ClassVar[tuple[str, ...]] = ("mu", "tau")
    _vectors: ClassVar[tuple[str, ...]] = ("beta", "p")

    def __init__(self, data, *, events: str = "events", trials: str = "trials", group=None,
                 covariates=None, mu_sd: float = 2.5, tau_sd: float = 1.0,
                 beta_sd: float = 2.5) -> None:
        super().__init__()
        arm = one_arm(data, events=events, trials=trials, group=group, min_groups=2)
        self.events, self.trials = arm.events, arm.trials
        self.labels = arm.labels
        self.x, self.covariates = covariate_matrix(data, covariates, arm.k)
        self.mu_sd = _positive(mu_sd, "mu_sd")
        self.tau_sd = _positive(tau_sd, "tau_sd")
        self.beta_sd = _positive(beta_sd, "beta_sd")
        self._name = "logit p = mu + " + ("x'beta + " if self.covariates else "") + "tau z"

    @property
    def coords(self) -> dict:
        out = {"group": list(self.labels)}
        if self.covariates:
            out["covariate"] = self.covariates
        return out

    def _build(self):
        import pymc as pm

        with pm.Model(coords=self.coords) as model:
            mu = pm.Normal("mu", 0.0, self.mu_sd)
            tau = pm.HalfNormal("tau", self.tau_sd)
            z = pm.Normal("z", 0.0, 1.0, dims="group")
            eta = mu + tau * z
            if self.covariates:
                beta = pm.Normal("beta", 0.0, self.beta_sd, dims="covariate")
                eta = eta + pm.math.dot(self.x, beta)
            pm.Deterministic("p", pm.math.sigmoid(eta), dims="group")
            pm.Binomial("events", n=self.trials, logit_p=eta, observed=self.events,
                        dims="group")
        return model

    def _ppc_parts(self, idata, pick):
        return self._binomial_ppc(self.labels, self.events, self.trials,
                                  self._flat(idata, "p", pick))
