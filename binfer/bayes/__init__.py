"""Bayesian hierarchical models for grouped binomial counts, in PyMC (the ``bayes`` extra).

``from binfer import bayes`` checks that PyMC and ArviZ are installed (an ImportError naming
``pip install binfer[bayes]`` if not); the models load on first use.

- :class:`BetaBinomialModel`: theta_g ~ Beta, sampled on (logit mean, log concentration) with
  theta marginalised out (BDA3 ch. 5).
- :class:`LogitNormalModel`: logit(p_g) = mu + tau z_g (+ covariates), z integrated out by
  quadrature and drawn afterwards (or sampled, non-centred, with ``marginalize=False``).
- :class:`MetaAnalysisModel`: two-arm binomial-normal random-effects meta-analysis (each
  study's effect integrated out given its baseline, drawn afterwards).
- :class:`TotalsModel`: replicate totals over a known design, the exact Poisson-binomial
  likelihood as a PyTensor Op with its gradient (``_op.py``).
- :class:`CompletePoolingModel`, :class:`NoPoolingModel` and :func:`compare_pooling` (PSIS-LOO).
"""

from importlib.util import find_spec

from .._lazy import attach

_missing = [name for name in ("pymc", "arviz") if find_spec(name) is None]
if _missing:
    raise ImportError(
        f"binfer.bayes needs {' and '.join(_missing)}, which are not installed: "
        "pip install binfer[bayes]"
    )

__all__ = [
    "BetaBinomialModel",
    "LogitNormalModel",
    "MetaAnalysisModel",
    "CompletePoolingModel",
    "NoPoolingModel",
    "TotalsModel",
    "compare_pooling",
    "SamplingWarning",
]

__getattr__, __dir__ = attach(
    __name__,
    {
        "BetaBinomialModel": "_beta_binomial",
        "LogitNormalModel": "_logit_normal",
        "MetaAnalysisModel": "_meta",
        "CompletePoolingModel": "_pooling",
        "NoPoolingModel": "_pooling",
        "TotalsModel": "_totals",
        "compare_pooling": "_pooling",
        "SamplingWarning": "_base",
    },
)
