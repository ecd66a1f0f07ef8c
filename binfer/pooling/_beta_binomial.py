"""The beta-binomial model for overdispersed grouped counts: MLE of the mean and the intra-class
correlation, and the likelihood-ratio test against the binomial."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import optimize, special, stats

from .._data import one_arm
from .._results import ConfidenceInterval, Result, fmt
from ..core._checks import check_choice, check_unit_interval
from ..core._logbinom import log_choose

__all__ = ["BetaBinomialResult", "beta_binomial"]


@dataclass(frozen=True, repr=False)
class BetaBinomialResult(Result):
    """Beta-binomial fit: mean ``mu``, intra-class correlation ``rho`` = 1 / (a + b + 1)."""

    mu: float
    rho: float
    se_mu: float
    se_rho: float | None
    loglik: float
    loglik_binomial: float
    lrt_statistic: float
    lrt_pvalue: float
    alpha: float
    beta: float
    information: str
    n_groups: int
    note: str | None = None
    mu_confidence_interval: ConfidenceInterval | None = None
    rho_confidence_interval: ConfidenceInterval | None = None
    conf_level: float = 0.95
    ci_method: str = "profile"
    _title: ClassVar[str] = "Beta-binomial model (maximum likelihood)"

    def _lines(self) -> list[str]:
        se_rho = "-" if self.se_rho is None else fmt(self.se_rho)
        ci = f"{100 * self.conf_level:g}% CI"
        how = {"profile": "profile likelihood", "wald": "Wald, logit scale"}[self.ci_method]
        lines = [
            f"groups: {self.n_groups}; standard errors from the {self.information} information",
            f"mu: {fmt(self.mu)} (se {fmt(self.se_mu)}), {ci} {fmt(self.mu_confidence_interval)}",
            f"rho: {fmt(self.rho)} (se {se_rho}), {ci} {fmt(self.rho_confidence_interval)}",
            f"intervals: {how}",
            f"log-likelihood: {fmt(self.loglik, 8)} (binomial {fmt(self.loglik_binomial, 8)})",
            f"LRT vs binomial: {fmt(self.lrt_statistic)}, p = {fmt(self.lrt_pvalue)} "
            "(50:50 mixture of chi2_0 and chi2_1)",
        ]
        if self.note:
            lines.append(f"note: {self.note}")
        return lines


def _loglik(a: float, b: float, x: np.ndarray, n: np.ndarray, log_ways: float) -> float:
    return float(log_ways + (special.betaln(x + a, n - x + b) - special.betaln(a, b)).sum())


def _grad_hess_ab(a, b, x, n):
    """Gradient and Hessian of the log-likelihood in (a, b) (digamma / trigamma sums)."""
    ab, nab = a + b, n + a + b
    ga = (special.digamma(x + a) - special.digamma(nab) - special.digamma(a)
          + special.digamma(ab)).sum()
    gb = (special.digamma(n - x + b) - special.digamma(nab) - special.digamma(b)
          + special.digamma(ab)).sum()
    common = (-special.polygamma(1, nab) + special.polygamma(1, ab)).sum()
    haa = (special.polygamma(1, x + a) - special.polygamma(1, a)).sum() + common
    hbb = (special.polygamma(1, n - x + b) - special.polygamma(1, b)).sum() + common
    return np.array([ga, gb]), np.array([[haa, common], [common, hbb]])


def _expected_hess_ab(a, b, n):
    """E[Hessian] under the fitted model: the trigamma terms averaged over each group's law."""
    haa = hbb = hab = 0.0
    for size in np.unique(n):
        mult = int((n == size).sum())
        k = np.arange(size + 1)
        pmf = stats.betabinom.pmf(k, size, a, b)
        common = -special.polygamma(1, size + a + b) + special.polygamma(1, a + b)
        haa += mult * (pmf @ special.polygamma(1, k + a) - special.polygamma(1, a) + common)
        hbb += mult * (pmf @ special.polygamma(1, size - k + b) - special.polygamma(1, b)
                       + common)
        hab += mult * common
    return np.array([[haa, hab], [hab, hbb]])


# Largest a + b the profile searches before the binomial limit takes over: beyond it the betaln
# differences cancel (~1e-8 absolute per group at 1e8) and the likelihood is the binomial's to
# within sum n_i^2 / (a + b).
_MAX_SIZE = 1e8


def _profile_intervals(x, n, log_ways, mu, rho, loglik, loglik_bin, conf_level):
    """Profile-likelihood intervals for mu and rho: {theta : 2 [l_max - l_p(theta)] <= chi2_1}.

    l_p(mu) maximises over a + b (in log, bounded Brent, with the binomial rho = 0 limit as a
    candidate); l_p(rho) over logit(mu). Limits by brentq on the logit scale after stepping out
    from the MLE until the deviance passes the critical value.
    """
    crit = float(stats.chi2.isf(1 - conf_level, 1))
    log_size_hat = math.log(_MAX_SIZE) if rho == 0 else math.log((1 - rho) / rho)
    logit_mu_hat = float(special.logit(mu))

    def ll(m, size):
        return _loglik(m * size, (1 - m) * size, x, n, log_ways)

    def binomial_ll(m):
        return float(log_ways + special.xlogy(x, m).sum() + special.xlog1py(n - x, -m).sum())

    def dev_mu(t):  # deviance of the profile at logit(mu) = t, minus the critical value
        m = float(special.expit(t))
        hi = math.log(_MAX_SIZE)
        fit = optimize.minimize_scalar(lambda u: -ll(m, math.exp(u)), method="bounded",
                                       bounds=(min(log_size_hat, hi) - 25, hi),
                                       options={"xatol": 1e-10})
        return 2 * (loglik - max(-fit.fun, binomial_ll(m))) - crit

    def dev_rho(t):  # at logit(rho) = t
        size = math.exp(-t)  # (1 - rho) / rho
        fit = optimize.minimize_scalar(lambda u: -ll(float(special.expit(u)), size),
                                       method="bounded",
                                       bounds=(logit_mu_hat - 30, logit_mu_hat + 30),
                                       options={"xatol": 1e-10})
        return 2 * (loglik + fit.fun) - crit

    def limit(dev, start, step, stop):
        """The root of ``dev`` between ``start`` (dev < 0) and where it first turns positive
        stepping by ``step`` (doubling), or None if it stays negative up to ``stop``."""
        inner = start
        while True:
            outer = min(inner + step, stop) if step > 0 else max(inner + step, stop)
            if dev(outer) >= 0:
                return optimize.brentq(dev, min(inner, outer), max(inner, outer), xtol=1e-12,
                                       rtol=4 * np.finfo(float).eps)
            if outer == stop:
                return None
            inner, step = outer, 2 * step

    mu_low = limit(dev_mu, logit_mu_hat, -0.1, -40.0)
    mu_high = limit(dev_mu, logit_mu_hat, 0.1, 40.0)
    mu_ci = ConfidenceInterval(0.0 if mu_low is None else float(special.expit(mu_low)),
                               1.0 if mu_high is None else float(special.expit(mu_high)))
    logit_floor = -math.log(_MAX_SIZE)  # rho = 1 / (1 + 1e8), the binomial limit's edge
    # At rho = 0 the deviance is the LRT statistic: the lower limit is 0 when it is below crit.
    if 2 * (loglik - loglik_bin) <= crit:
        rho_low = 0.0
    else:
        t = limit(dev_rho, float(special.logit(rho)), -0.1, logit_floor)
        rho_low = 0.0 if t is None else float(special.expit(t))
    start = float(special.logit(rho)) if rho > 0 else logit_floor
    t = limit(dev_rho, start, 0.1, 30.0)
    rho_ci = ConfidenceInterval(rho_low, 1.0 if t is None else float(special.expit(t)))
    return mu_ci, rho_ci


def _wald_logit(value: float, se: float | None, z: float) -> ConfidenceInterval | None:
    """expit(logit(value) +- z se / (value (1 - value))): the delta-method SE on the logit scale."""
    if se is None or not 0 < value < 1:
        return None
    centre, half = float(special.logit(value)), z * se / (value * (1 - value))
    return ConfidenceInterval(float(special.expit(centre - half)),
                              float(special.expit(centre + half)))


def beta_binomial(
    data,
    *,
    events="events",
    trials="trials",
    information: str = "observed",
    conf_level: float = 0.95,
    ci_method: str = "profile",
    group=None,
    outcome=None,
) -> BetaBinomialResult:
    """Fit the beta-binomial model by maximum likelihood and test it against the binomial.

    Each group's p_i ~ Beta(a, b), so x_i ~ BetaBin(n_i, a, b) with mean n_i mu and variance
    n_i mu (1 - mu) [1 + (n_i - 1) rho], where mu = a / (a + b) and rho = 1 / (a + b + 1) is the
    intra-class correlation. rho = 0 is the binomial.

    Parameters
    ----------
    data : DataFrame or mapping of columns
    events, trials : str
        Column names.
    information : {"observed", "expected"}
        Which Fisher information gives the standard errors: the observed (negative Hessian at the
        MLE, default) or the expected (its mean under the fitted model; what VGAM's Fisher
        scoring reports).
    conf_level : float
        Level of the confidence intervals for mu and rho.
    ci_method : {"profile", "wald"}
        ``"profile"`` (default): profile-likelihood intervals; ``"wald"``: Wald intervals on the
        logit scale of mu and of rho, from the ``information`` standard errors (what
        ``confint()`` of VGAM's ``vglm(..., betabinomial)`` gives with expected information).
    group, outcome : str, optional
        The group label column (default: the column ``group`` if present, else the row index);
        ``outcome`` names a 0/1 column of one row per subject, aggregated by ``group``.

    Returns
    -------
    BetaBinomialResult
        ``mu``, ``rho``, ``se_mu``, ``se_rho`` (delta method from (a, b); None when rho = 0),
        ``loglik`` (with the binomial coefficients), ``loglik_binomial``, ``lrt_statistic`` =
        2 (loglik - loglik_binomial), ``lrt_pvalue``, the fitted ``alpha``, ``beta``,
        ``mu_confidence_interval`` and ``rho_confidence_interval`` (``(low, high)``; the Wald
        interval for rho is None when rho = 0), ``conf_level``, ``ci_method``.

    Notes
    -----
    rho = 0 lies on the boundary of the parameter space, so the LRT statistic's null law is the
    50:50 mixture of chi2_0 and chi2_1 (Self & Liang 1987): p = P(chi2_1 >= T) / 2 for T > 0 and
    1 for T = 0. When the likelihood is largest at rho = 0 the fit is the binomial (``note`` says
    so). The MLE is found by Newton's method with a trust region in (log a, log b), with
    analytic gradient and Hessian.

    Profile-likelihood intervals (Venzon & Moolgavkar 1988) are {theta : 2 [l(MLE) -
    max l given theta] <= chi2_1(conf_level)}: for mu the maximum is over a + b, for rho over mu,
    and the limits are solved to 1e-12 on the logit scale. They respect 0 < mu < 1 and
    0 <= rho < 1, and reach rho = 0 when the LRT statistic is below the chi2_1 quantile (the
    Wald interval cannot include 0 on the logit scale). At rho = 0 the chi2_1 calibration is
    conservative (the boundary law is the 50:50 mixture), as for the LRT above.

    References
    ----------
    Skellam, J. G. (1948). A probability distribution derived from the binomial distribution by
    regarding the probability of success as variable between the sets of trials. JRSS B 10,
    257-261. Griffiths, D. A. (1973). Maximum likelihood estimation for the beta-binomial
    distribution and an application to the household distribution of the total number of cases
    of a disease. Biometrics 29, 637-648. Self, S. G. & Liang, K.-Y. (1987). Asymptotic
    properties of maximum likelihood estimators and likelihood ratio tests under nonstandard
    conditions. JASA 82, 605-610. Venzon, D. J. & Moolgavkar, S. H. (1988). A method for
    computing profile-likelihood-based confidence intervals. Applied Statistics 37, 87-94.

    Examples
    --------
    >>> from binfer import beta_binomial
    >>> r = beta_binomial({"events": [0, 2, 5, 9, 1, 14], "trials": [20, 21, 19, 22, 18, 25]})
    >>> round(r.mu, 4), round(r.rho, 4), r.lrt_pvalue < 0.001
    (0.2273, 0.2056, True)
    """
    information = check_choice(information, "information", ("observed", "expected"))
    ci_method = check_choice(ci_method, "ci_method", ("profile", "wald"))
    conf_level = check_unit_interval(conf_level, "conf_level")
    z = float(stats.norm.isf((1 - conf_level) / 2))
    counts = one_arm(data, events=events, trials=trials, group=group, outcome=outcome,
                     min_groups=2)
    x, n = counts.events.astype(float), counts.trials.astype(float)
    if (n < 2).all():
        # With n_i = 1 every BetaBin(1, a, b) is Bernoulli(a / (a + b)): the likelihood depends on
        # mu alone, so rho (the correlation within a group) cannot be estimated.
        raise ValueError(f"column {trials!r}: every group has trials = 1, so the beta-binomial "
                         "model is not identifiable (the intra-class correlation rho needs "
                         "groups of two or more trials)")
    log_ways = float(log_choose(n, x).sum())
    p = x.sum() / n.sum()
    if p in (0.0, 1.0):
        raise ValueError(f"column {events!r}: every group has {'no' if p == 0 else 'only'} "
                         "events; the beta-binomial mean is on the boundary and rho is undefined")
    loglik_bin = float(log_ways + special.xlogy(x.sum(), p)
                       + special.xlog1py(n.sum() - x.sum(), -p))

    def negll(theta):
        return -_loglik(math.exp(theta[0]), math.exp(theta[1]), x, n, log_ways)

    def grad(theta):
        a, b = np.exp(theta)
        g, _ = _grad_hess_ab(a, b, x, n)
        return -g * np.array([a, b])

    def hess(theta):
        a, b = np.exp(theta)
        g, h = _grad_hess_ab(a, b, x, n)
        scale = np.array([a, b])
        return -(h * np.outer(scale, scale) + np.diag(g * scale))

    # Start from the method of moments (or a mild overdispersion when there is none).
    phat = x / n
    var = phat.var()
    rho0 = float(np.clip((var / (p * (1 - p)) - 1 / n.mean()) / (1 - 1 / n.mean()), 0.01, 0.9))
    s0 = (1 - rho0) / rho0
    fit = optimize.minimize(negll, np.log([p * s0, (1 - p) * s0]), jac=grad, hess=hess,
                            method="trust-exact", options={"gtol": 1e-10, "maxiter": 500})
    a, b = np.exp(fit.x)
    loglik = -float(fit.fun)
    rho = 1 / (a + b + 1)
    # The binomial is the limit a + b -> infinity: when the fit runs off there (or does no
    # better than the binomial), report the boundary solution.
    cov = None
    if not (loglik <= loglik_bin or rho < 1e-9):
        if information == "observed":
            _, h = _grad_hess_ab(a, b, x, n)
        else:
            h = _expected_hess_ab(a, b, counts.trials)
        # (mu, rho) = (a / (a + b), 1 / (a + b + 1)): delta method.
        s = a + b
        jac = np.array([[b / s**2, -a / s**2], [-1 / (s + 1) ** 2, -1 / (s + 1) ** 2]])
        with np.errstate(all="ignore"):
            try:
                cov = jac @ np.linalg.inv(-h) @ jac.T
            except np.linalg.LinAlgError:
                cov = None
        # A fit that stopped just inside the boundary (a + b ~ 1e8) has a Hessian that is not
        # negative definite in floating point: it is the boundary solution.
        if cov is not None and not (np.isfinite(cov).all() and cov[0, 0] > 0 and cov[1, 1] > 0):
            cov = None
    if cov is None:
        se_mu = math.sqrt(p * (1 - p) / n.sum())
        if ci_method == "profile":
            mu_ci, rho_ci = _profile_intervals(x, n, log_ways, p, 0.0, loglik_bin, loglik_bin,
                                               conf_level)
        else:
            mu_ci, rho_ci = _wald_logit(p, se_mu, z), None
        return BetaBinomialResult(
            mu=p, rho=0.0, se_mu=se_mu, se_rho=None, loglik=loglik_bin,
            loglik_binomial=loglik_bin, lrt_statistic=0.0, lrt_pvalue=1.0, alpha=math.inf,
            beta=math.inf, information=information, n_groups=counts.k,
            note="the likelihood is largest at rho = 0: the binomial fits as well; no "
                 "standard error for rho on the boundary",
            mu_confidence_interval=mu_ci, rho_confidence_interval=rho_ci,
            conf_level=conf_level, ci_method=ci_method)
    mu = a / (a + b)
    stat = max(0.0, 2 * (loglik - loglik_bin))
    pvalue = 1.0 if stat == 0 else 0.5 * float(stats.chi2.sf(stat, 1))
    se_mu, se_rho = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    if ci_method == "profile":
        mu_ci, rho_ci = _profile_intervals(x, n, log_ways, float(mu), float(rho), loglik,
                                           loglik_bin, conf_level)
    else:
        mu_ci, rho_ci = _wald_logit(float(mu), se_mu, z), _wald_logit(float(rho), se_rho, z)
    return BetaBinomialResult(
        mu=float(mu), rho=float(rho), se_mu=se_mu, se_rho=se_rho,
        loglik=loglik, loglik_binomial=loglik_bin, lrt_statistic=stat, lrt_pvalue=pvalue,
        alpha=float(a), beta=float(b), information=information, n_groups=counts.k,
        mu_confidence_interval=mu_ci, rho_confidence_interval=rho_ci, conf_level=conf_level,
        ci_method=ci_method)
