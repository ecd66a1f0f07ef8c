"""binfer: exact inference for grouped binomial counts."""

from .core import Binomial, PoissonBinomial
from .homogeneity import homogeneity_test, tarone_test, trend_test
from .pooling import PooledProportionResult, pooled_proportion

__version__ = "0.1.0"

__all__ = [
    "PoissonBinomial",
    "Binomial",
    "pooled_proportion",
    "PooledProportionResult",
    "homogeneity_test",
    "tarone_test",
    "trend_test",
    "__version__",
]
