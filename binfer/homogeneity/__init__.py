"""Tests of a common proportion across groups (k x 2 tables) and of a common odds ratio across
strata (2 x 2 x K tables), the power of the homogeneity test, binomial vs Poisson-binomial
totals (the likelihood-ratio test) and dispersion."""

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from ._dispersion import DispersionTestResult, dispersion_test
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
    from ._totals_power import LRTPowerResult, lrt_power

__all__ = [
    "CMHTestResult",
    "DispersionTestResult",
    "HomogeneityTestResult",
    "LRTPowerResult",
    "PowerResult",
    "TotalsLRTResult",
    "TrendTestResult",
    "binomial_vs_poisson_binomial",
    "breslow_day_test",
    "cmh_test",
    "dispersion_test",
    "homogeneity_power",
    "homogeneity_sample_size",
    "homogeneity_test",
    "lrt_power",
    "tarone_test",
    "trend_test",
]

__getattr__, __dir__ = attach(
    __name__,
    {
        "CMHTestResult": "_stratified",
        "DispersionTestResult": "_dispersion",
        "HomogeneityTestResult": "_tests",
        "LRTPowerResult": "_totals_power",
        "PowerResult": "_power",
        "TotalsLRTResult": "_totals",
        "TrendTestResult": "_tests",
        "binomial_vs_poisson_binomial": "_totals",
        "breslow_day_test": "_stratified",
        "cmh_test": "_stratified",
        "dispersion_test": "_dispersion",
        "homogeneity_power": "_power",
        "homogeneity_sample_size": "_power",
        "homogeneity_test": "_tests",
        "lrt_power": "_totals_power",
        "tarone_test": "_tests",
        "trend_test": "_tests",
    },
)
