"""Pooled estimators of a common proportion: exact and asymptotic intervals, meta-analytic pooling
(inverse variance with DL/REML/PM/ML tau^2, GLMM, Mantel-Haenszel, Peto) and the beta-binomial."""

from ._proportion import PooledProportionResult, pooled_proportion, proportion_interval

__all__ = ["PooledProportionResult", "pooled_proportion", "proportion_interval"]
