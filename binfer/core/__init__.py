"""The exact-PMF core: sums of independent binomials (Poisson-binomial distribution)."""

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:
    from ._distribution import Binomial, PoissonBinomial

__all__ = ["PoissonBinomial", "Binomial"]

# loaded on first use, so the light helpers (``core._checks``, ...) come without numba
__getattr__, __dir__ = attach(
    __name__, {"PoissonBinomial": "_distribution", "Binomial": "_distribution"}
)
