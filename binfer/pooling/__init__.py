"""Pooled estimators of a common proportion: exact and asymptotic intervals, meta-analytic pooling
(inverse variance with DL/REML/PM/ML tau^2, GLMM, Mantel-Haenszel, Peto) and the beta-binomial."""

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
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

__getattr__, __dir__ = attach(
    __name__,
    {
        "BetaBinomialResult": "_beta_binomial",
        "beta_binomial": "_beta_binomial",
        "MetaProportionResult": "_meta",
        "MetaTwoArmResult": "_meta_two_arm",
        "PooledProportionResult": "_proportion",
        "meta_proportion": "_meta",
        "meta_two_arm": "_meta_two_arm",
        "pooled_proportion": "_proportion",
        "proportion_interval": "_proportion",
    },
)
