"""binfer: exact inference for grouped binomial counts."""

from typing import TYPE_CHECKING

from ._lazy import attach

if TYPE_CHECKING:  # for static analysers; at run time the names load on first use (below)
    from .core import Binomial, PoissonBinomial
    from .homogeneity import (
        binomial_vs_poisson_binomial,
        breslow_day_test,
        cmh_test,
        dispersion_test,
        homogeneity_power,
        homogeneity_sample_size,
        homogeneity_test,
        lrt_power,
        tarone_test,
        trend_test,
    )
    from .pooling import (
        PooledProportionResult,
        beta_binomial,
        meta_proportion,
        meta_two_arm,
        pooled_proportion,
    )
    from .profiling import funnel_limits, observed_vs_expected

__version__ = "0.1.0"

__all__ = [
    "PoissonBinomial",
    "Binomial",
    "pooled_proportion",
    "PooledProportionResult",
    "meta_proportion",
    "meta_two_arm",
    "beta_binomial",
    "homogeneity_test",
    "homogeneity_power",
    "homogeneity_sample_size",
    "cmh_test",
    "breslow_day_test",
    "tarone_test",
    "trend_test",
    "binomial_vs_poisson_binomial",
    "dispersion_test",
    "lrt_power",
    "funnel_limits",
    "observed_vs_expected",
    "__version__",
]

# ``import binfer`` imports none of the subpackages, nor scipy.stats, pandas, numba, statsmodels
# or matplotlib: each public name, and each subpackage (``binfer.plot``, ``binfer.datasets``, ...),
# loads on first use.
__getattr__, __dir__ = attach(
    __name__,
    {
        "PoissonBinomial": "core",
        "Binomial": "core",
        "pooled_proportion": "pooling",
        "PooledProportionResult": "pooling",
        "meta_proportion": "pooling",
        "meta_two_arm": "pooling",
        "beta_binomial": "pooling",
        "homogeneity_test": "homogeneity",
        "homogeneity_power": "homogeneity",
        "homogeneity_sample_size": "homogeneity",
        "cmh_test": "homogeneity",
        "breslow_day_test": "homogeneity",
        "tarone_test": "homogeneity",
        "trend_test": "homogeneity",
        "binomial_vs_poisson_binomial": "homogeneity",
        "dispersion_test": "homogeneity",
        "lrt_power": "homogeneity",
        "funnel_limits": "profiling",
        "observed_vs_expected": "profiling",
    },
    submodules=("bayes", "core", "datasets", "homogeneity", "plot", "pooling", "profiling"),
)
