"""Pooled estimators of a common proportion: exact and asymptotic intervals, meta-analytic pooling
(inverse variance with DL/REML/PM/ML tau^2, GLMM, Mantel-Haenszel, Peto) and the beta-binomial."""

from ._beta_binomial import BetaBinomialResult, beta_binomial
from ._meta import MetaProportionResult, meta_proportion
from ._meta_two_arm import MetaTwoArmResult, meta_two_arm
from ._proportion import PooledProportionResult, pooled_proportion, proportion_interval

__all__ = [
    "BetaBinomialResult",
    "beta_binomial",
    "MetaProportionResult",
    "MetaTwoArmResult",
    "PooledProportionResult",
    "meta_proportion",
    "meta_two_arm",
    "pooled_proportion",
    "proportion_interval",
]
