"""The logit-normal hierarchy: logit(p_g) = mu + x_g' beta + tau z_g, z_g ~ N(0, 1): by
default with z integrated out of the likelihood (quadrature centred at the mode, one compiled
Op) and drawn afterwards from its exact conditional posterior; or sampled, non-centred."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy import special

from .._data import as_frame, one_arm
from ..core._checks import check_flag, plain
from ._base import BayesModel, add_posterior, posterior_array


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


def _random(n, eta, tau, rng=None, size=None):
    z = rng.standard_normal(size=size if size is not None else np.shape(eta))
    return rng.binomial(np.asarray(n).astype(np.int64), special.expit(eta + tau * z),
                        size=size)


class LogitNormalModel(BayesModel):
    """Logit-normal hierarchical model of grouped counts, in PyMC.

    y_g ~ Bin(n_g, p_g), logit(p_g) = mu + x_g' beta + tau z_g with z_g ~ N(0, 1),
    mu ~ N(0, ``mu_sd``), tau ~ HalfNormal(``tau_sd``), beta ~ N(0, ``beta_sd``) per covariate.

    By default (``marginalize=True``) the sampler sees only mu, tau and beta: each group's
    likelihood is the binomial integrated over z_g, log int Bin(y_g | n_g, expit(eta_g + tau z))
    phi(z) dz with eta_g = mu + x_g' beta, by quadrature centred and scaled at the mode of the
    integrand, which is log-concave (as adaptive Gauss-Hermite quadrature is: Liu and Pierce
    1994; here the trapezoid rule, with a step that also resolves the logistic "wall" of
    groups with y = 0 or y = n at large tau; error below 1e-10 against mpmath over a stress
    grid), its gradient by the same quadrature, in one compiled Op. After sampling, z_g is
    drawn from its exact conditional posterior given (mu, tau, beta, y_g), one draw per
    posterior draw, by rejection from a tangent envelope (Gilks and Wild 1992), and p_g
    follows. The posterior is the same as the sampled model's (both are tested against
    numerical integration); the pointwise log-likelihood, and so LOO, is then per group with
    its effect integrated out.
    ``marginalize=False`` samples z as a free variable instead (non-centred: NUTS has no
    divergences when tau is small).

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
    marginalize : bool
        Integrate z out (default) or sample it.

    Attributes
    ----------
    pymc_model : pymc.Model
        Free variables ``mu``, ``tau`` (and ``beta``, dim ``covariate``; and ``z``, dim
        ``group``, with ``marginalize=False``); observed ``events``; with
        ``marginalize=False`` also the deterministic ``p`` (dim ``group``).
    idata : InferenceData
        The last fit's; its posterior has ``z`` and ``p`` (dim ``group``, probability scale)
        either way.

    References
    ----------
    Gelman, A. et al. (2013). Bayesian Data Analysis, 3rd ed., chapters 5 and 16.
    Liu, Q. and Pierce, D. A. (1994). A note on Gauss-Hermite quadrature. Biometrika 81,
    624-629.
    Trefethen, L. N. and Weideman, J. A. C. (2014). The exponentially convergent trapezoidal
    rule. SIAM Review 56, 385-458.
    Gilks, W. R. and Wild, P. (1992). Adaptive rejection sampling for Gibbs sampling. Applied
    Statistics 41, 337-348.
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
                 beta_sd: float = 2.5, marginalize: bool = True) -> None:
        super().__init__()
        arm = one_arm(data, events=events, trials=trials, group=group, min_groups=2)
        self.events, self.trials = arm.events, arm.trials
        self.labels = arm.labels
        self.x, self.covariates = covariate_matrix(data, covariates, arm.k)
        self.mu_sd = _positive(mu_sd, "mu_sd")
        self.tau_sd = _positive(tau_sd, "tau_sd")
        self.beta_sd = _positive(beta_sd, "beta_sd")
        self.marginalize = check_flag(marginalize, "marginalize")
        self._dense_mass = self.marginalize  # mu, tau and beta only
        self._name = "logit p = mu + " + ("x'beta + " if self.covariates else "") + "tau z"

    @property
    def coords(self) -> dict:
        out = {"group": list(self.labels)}
        if self.covariates:
            out["covariate"] = self.covariates
        return out

    def _build(self):
        import pymc as pm
        import pytensor.tensor as pt

        with pm.Model(coords=self.coords) as model:
            mu = pm.Normal("mu", 0.0, self.mu_sd)
            tau = pm.HalfNormal("tau", self.tau_sd)
            eta = mu
            if self.covariates:
                beta = pm.Normal("beta", 0.0, self.beta_sd, dims="covariate")
                eta = eta + pm.math.dot(self.x, beta)
            if self.marginalize:
                eta = eta + pt.zeros(len(self.labels))
                pm.CustomDist("events", self.trials.astype(np.float64), eta, tau,
                              logp=self._marginal_logp, random=_random,
                              observed=self.events, dims="group")
                return model
            z = pm.Normal("z", 0.0, 1.0, dims="group")
            eta = eta + tau * z
            pm.Deterministic("p", pm.math.sigmoid(eta), dims="group")
            pm.Binomial("events", n=self.trials, logit_p=eta, observed=self.events,
                        dims="group")
        return model

    @staticmethod
    def _marginal_logp(k, n, eta, tau):
        from ._op import logit_normal_marginal_op

        return logit_normal_marginal_op().logp(k, n, eta, tau)

    def _eta(self, idata) -> np.ndarray:
        """(chain, draw, group) draws of mu + x' beta."""
        eta = posterior_array(idata, "mu")[..., None] + np.zeros(len(self.labels))
        if self.covariates:
            eta = eta + posterior_array(idata, "beta") @ self.x.T
        return eta

    def _after(self, idata, rng: np.random.Generator) -> None:
        """z_g | mu, tau, beta, y_g exactly (one draw per posterior draw), and p_g."""
        if not self.marginalize:
            return
        from ._ln_kernels import draw_z

        eta = self._eta(idata)
        tau = posterior_array(idata, "tau")[..., None]
        z = draw_z(self.events, self.trials, eta, tau, rng)  # (chain, draw, group)
        coords = {"group": list(self.labels)}
        add_posterior(idata, "z", z, ("group",), coords)
        add_posterior(idata, "p", special.expit(eta + tau * z), ("group",), coords)

    def _ppc_parts(self, idata, pick):
        return self._binomial_ppc(self.labels, self.events, self.trials,
                                  self._flat(idata, "p", pick))
