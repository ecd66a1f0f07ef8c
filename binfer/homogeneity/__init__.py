"""Tests of a common proportion across groups (k x 2 tables) and of a common odds ratio across
strata (2 x 2 x K tables), and the power of the homogeneity test."""

from ._power import PowerResult, homogeneity_power, homogeneity_sample_size
from ._stratified import CMHTestResult, breslow_day_test, cmh_test
from ._tests import (
    HomogeneityTestResult,
    TrendTestResult,
    homogeneity_test,
    tarone_test,
    trend_test,
)

__all__ = [
    "CMHTestResult",
    "HomogeneityTestResult",
    "PowerResult",
    "TrendTestResult",
    "breslow_day_test",
    "cmh_test",
    "homogeneity_power",
    "homogeneity_sample_size",
    "homogeneity_test",
    "tarone_test",
    "trend_test",
]
