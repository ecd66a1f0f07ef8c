"""The exact-PMF core: sums of independent binomials (Poisson-binomial distribution)."""

from ._distribution import Binomial, PoissonBinomial

__all__ = ["PoissonBinomial", "Binomial"]
