"""Accuracy assertions shared by the core's tests."""

from __future__ import annotations

import numpy as np


def assert_log_accurate(got, ref, rtol=1e-10, what=""):
    """|log got - log ref| <= rtol where log ref >= -700 (relative error of P); below, relative
    error of the log itself <= rtol; -inf exactly where the reference is -inf."""
    got, ref = np.asarray(got), np.asarray(ref)
    zero = np.isneginf(ref)
    assert np.array_equal(np.isneginf(got), zero), f"{what}: zero pattern differs"
    ok = ~zero
    err = np.abs(got[ok] - ref[ok]) / np.maximum(1.0, np.abs(ref[ok]) / 700.0)
    worst = err.max() if err.size else 0.0
    assert worst <= rtol, f"{what}: worst error {worst:.3g}"
    return worst
