"""Tests of a common proportion across groups (k x 2 tables) and of a common odds ratio across
strata (2 x 2 x K tables), and the power of the homogeneity test."""

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from ._power import PowerResult, homogeneity_power, homogeneity_sample_size
    from ._stratified import CMHTestResult, breslow_day_test, cmh_test
    from ._tests import (
        HomogeneityTestResult,
        TrendTestResult,
        homogeneity_test,
        tarone_test,
        trend_test,
    )
    from ._totals import TotalsLRTResult, binomial_vs_poisson_binomial

__all__ = [
    "CMHTestResult",
    "HomogeneityTestResult",
    "PowerResult",
    "TotalsLRTResult",
    "TrendTestResult",
    "binomial_vs_poisson_binomial",
    "breslow_day_test",
    "cmh_test",
    "homogeneity_power",
    "homogeneity_sample_size",
    "homogeneity_test",
    "tarone_test",
    "trend_test",
]

__getattr__, __dir__ = attach(
    __name__,
    {
        "CMHTestResult": "_stratified",
        "HomogeneityTestResult": "_tests",
        "PowerResult": "_power",
        "TotalsLRTResult": "_totals",
        "TrendTestResult": "_tests",
        "binomial_vs_poisson_binomial": "_totals",
        "breslow_day_test": "_stratified",
        "cmh_test": "_stratified",
        "homogeneity_power": "_power",
        "homogeneity_sample_size": "_power",
        "homogeneity_test": "_tests",
        "tarone_test": "_tests",
        "trend_test": "_tests",
    },
)
