"""binfer: exact inference for grouped binomial counts."""

from .core import Binomial, PoissonBinomial

__version__ = "0.1.0"

__all__ = ["PoissonBinomial", "Binomial", "__version__"]
