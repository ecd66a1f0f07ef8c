"""binfer: exact inference for grouped binomial counts."""

from .core import Binomial, PoissonBinomial
from .homogeneity import (
    breslow_day_test,
    cmh_test,
    homogeneity_power,
    homogeneity_sample_size,
    homogeneity_test,
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
from .profiling import funnel_limits

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
    "funnel_limits",
    "__version__",
]


def __getattr__(name: str):
    """``binfer.plot`` (and matplotlib) and ``binfer.datasets`` load on first use, so
    ``import binfer`` stays light."""
    if name in ("plot", "datasets"):
        import importlib

        return importlib.import_module(f"binfer.{name}")
    raise AttributeError(f"module 'binfer' has no attribute {name!r}")
