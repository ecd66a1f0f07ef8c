"""The beta-binomial log-PMF in PyTensor, accurate at any concentration.

log BB(k | n, a, b) = log C(n, k) + R(a, k) + R(b, n - k) - R(a + b, n) with the log rising
factorial R(a, k) = log Gamma(a + k) - log Gamma(a). Written as differences of ``gammaln`` (what
PyMC's ``BetaBinomial`` and Stan's ``beta_binomial_lpmf`` do) each R loses about
eps * a log(a) absolutely, so at a + b = 1e12 the log-likelihood is off by ~1e-3 and beyond 1e15
by units: the sampler then sees noise where the binomial limit is flat. For a > 1e4 R is taken
from Stirling's series instead, whose difference form has no cancellation:

    R(a, k) = (a - 1/2) log1p(k / a) + k log(a + k) - k
              + 1/(12 (a + k)) - 1/(12 a) - 1/(360 (a + k)^3) + 1/(360 a^3)

(truncation error below 1/(1260 a^5) < 1e-23 there), which tends to the binomial limit
k log a as a grows. The two branches' arguments are masked so that neither produces a NaN that
``switch``'s gradient would carry (the "double where" rule).
"""

from __future__ import annotations

_STIRLING_FROM = 1e4  # R(a, k) by Stirling's series for a above this (error < 1e-23)


def log_rising(a, k):
    """log Gamma(a + k) - log Gamma(a) for a > 0, k >= 0, accurate for any a."""
    import pytensor.tensor as pt

    big = pt.gt(a, _STIRLING_FROM)
    ab = pt.switch(big, a, _STIRLING_FROM)  # Stirling's branch never sees a small a
    asmall = pt.switch(big, 1.0, a)
    stirling = ((ab - 0.5) * pt.log1p(k / ab) + k * pt.log(ab + k) - k
                + (1.0 / (12.0 * (ab + k)) - 1.0 / (12.0 * ab))
                - (1.0 / (360.0 * (ab + k) ** 3) - 1.0 / (360.0 * ab**3)))
    direct = pt.gammaln(asmall + k) - pt.gammaln(asmall)
    return pt.switch(big, stirling, direct)


def beta_binomial_logp(k, n, logit_mu, log_kappa):
    """log BB(k | n, a, b) with a = kappa expit(logit_mu), b = kappa expit(-logit_mu)
    (mean and concentration, each precise near 0 and 1)."""
    import pytensor.tensor as pt

    kappa = pt.exp(log_kappa)
    a = kappa * pt.sigmoid(logit_mu)
    b = kappa * pt.sigmoid(-logit_mu)
    lchoose = pt.gammaln(n + 1.0) - pt.gammaln(k + 1.0) - pt.gammaln(n - k + 1.0)
    return lchoose + log_rising(a, k) + log_rising(b, n - k) - log_rising(kappa, n)
