"""The compiled kernels of the tail-accurate engine, each against an independent reference."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import binfer.core._engine as engine
from binfer.core import _kernels as kernels

mpmath.mp.dps = 40


def _mp_logpmf(p):
    """Exact log-PMF of a sum of Bernoulli(p_i) by the mpmath recursion (40 digits)."""
    pmf = [mpmath.mpf(1)]
    for q in p:
        q = mpmath.mpf(float(q))
        new = [mpmath.mpf(0)] * (len(pmf) + 1)
        for j, v in enumerate(pmf):
            new[j] += v * (1 - q)
            new[j + 1] += v * q
        pmf = new
    return np.array([float(mpmath.log(v)) for v in pmf])


def test_fast_exp_is_correctly_rounded_to_a_few_ulp():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-700, 700, 4000), rng.uniform(-1, 1, 2000),
                        [0.0, -1e-300, 1e-12, -75.0, -40.0, 700.0, -700.0]])
    y = x.copy()
    kernels._exp_inplace(y, np.empty(x.size, dtype=np.int64))
    ref = np.array([float(mpmath.exp(mpmath.mpf(v))) for v in x])
    rel = np.abs(y - ref) / ref
    assert rel.max() < 5e-16


def test_leaf_chunks_against_mpmath_including_the_log_space_fallback():
    rng = np.random.default_rng(2)
    # a chunk spanning p from 1e-200 to 1 - 1e-12 underflows when tilted: log-space fallback
    wide = np.sort(np.concatenate([10.0 ** rng.uniform(-200, -1, 20), rng.uniform(0.4, 0.6, 10),
                                   1 - 10.0 ** rng.uniform(-12, -2, 10)]))
    M, sizes = kernels.leaf_chunks(wide, 64)
    assert sizes.tolist() == [40]
    np.testing.assert_allclose(M[0, :41], _mp_logpmf(wide), rtol=1e-13)
    assert np.all(np.isneginf(M[0, 41:]))
    plain = np.sort(rng.uniform(size=150))
    M, sizes = kernels.leaf_chunks(plain, 64)
    assert sizes.tolist() == [64, 64, 22]
    for c, lo in enumerate([0, 64, 128]):
        ref = _mp_logpmf(plain[lo : lo + sizes[c]])
        np.testing.assert_allclose(M[c, : sizes[c] + 1], ref, rtol=1e-13)


@pytest.mark.parametrize("mode", ["fft", "direct", "default"])
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), na=st.integers(1, 90), nb=st.integers(1, 90),
       spread=st.floats(0.0, 12.0))
def test_combine_tilted_against_mpmath(mode, seed, na, nb, spread):
    """Every k of a product, deep tails included, to 4e-12 relative (in the log's scale).

    Direct windows are good to ~1e-14; an FFT window keeps values down to e^-9 of its maximum,
    where its rounding (a few eps of the maximum) is up to ~e^9 * 4 eps = 3.6e-12 relative."""
    rng = np.random.default_rng(seed)
    p = 1.0 / (1.0 + np.exp(-rng.normal(0.0, spread, na + nb)))
    p = np.clip(p, 1e-300, 1 - 1e-16)
    a, b = _mp_logpmf(p[:na]), _mp_logpmf(p[na:])
    ref = _mp_logpmf(p)
    saved = engine._FFT_MIN_SD
    try:
        engine._FFT_MIN_SD = {"fft": 0.0, "direct": math.inf, "default": saved}[mode]
        got = engine.combine_tilted(a, b)
    finally:
        engine._FFT_MIN_SD = saved
    err = np.abs(got - ref) / np.maximum(1.0, np.abs(ref) / 700.0)
    assert err.max() < (4e-12 if mode != "direct" else 5e-13)  # 5e-13: 4 ulp of a log near 700


def test_direct_range_fills_only_the_asked_range():
    rng = np.random.default_rng(3)
    p = rng.uniform(size=60)
    a, b = _mp_logpmf(p[:25]), _mp_logpmf(p[25:])
    nda, ndb = np.sort(-np.diff(a)), np.sort(-np.diff(b))
    merged = np.sort(np.concatenate([nda, ndb]))
    out = np.full(61, 7.0)
    kernels.combine_direct_range(a, b, nda, ndb, merged, out, 20, 33)
    np.testing.assert_allclose(out[20:34], _mp_logpmf(p)[20:34], rtol=1e-13)
    assert np.all(out[:20] == 7.0) and np.all(out[34:] == 7.0)
