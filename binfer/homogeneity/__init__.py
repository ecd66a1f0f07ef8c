"""Tests of a common proportion across groups (k x 2 tables) and of a common odds ratio across
strata (2 x 2 x K tables), and the power of the homogeneity test."""

from ._tests import TrendTestResult, homogeneity_test, tarone_test, trend_test

__all__ = ["TrendTestResult", "homogeneity_test", "tarone_test", "trend_test"]
