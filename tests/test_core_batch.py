"""Batches of distributions: p of shape (B, G), one compiled pass (binfer.core._batch).

Checked against mpmath (tests/reference/make_batch_refs.py), against the exact log-space
convolution member by member (hypothesis), and against the single-distribution path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _accuracy import assert_log_accurate
from hypothesis import given, settings
from hypothesis import strategies as st

from binfer import Binomial, PoissonBinomial

REFS_FILE = Path(__file__).parent / "reference" / "batch_refs.json"
WHAT = ("logpmf", "logcdf", "logsf")


def _arr(values):
    return np.array([float(v) for v in values])


def _padded_points(members):
    """(B, K) points: each member's k, repeated at the end to the longest member's length."""
    K = max(len(m["k"]) for m in members)
    return np.array([m["k"] + [m["k"][-1]] * (K - len(m["k"])) for m in members], dtype=float)


def test_batch_against_mpmath_values_and_gradients():
    REFS = json.loads(REFS_FILE.read_text())
    X = PoissonBinomial(REFS["p"], REFS["counts"])
    members = REFS["members"]
    assert X.batch_shape == (len(members),)
    k = _padded_points(members)
    grad = X.logpmf_grad(k)
    assert grad.shape == k.shape + (len(REFS["p"][0]),)
    for what in WHAT:
        got = getattr(X, what)(k)
        assert got.shape == k.shape
        for b, m in enumerate(members):
            n = len(m["k"])
            assert_log_accurate(got[b, :n], _arr(m[what]), what=f"member {b} {what}")
            # the single distribution gives the same numbers
            single = getattr(X[b], what)(np.array(m["k"]))
            assert_log_accurate(single, _arr(m[what]), what=f"single {b} {what}")
    for b, m in enumerate(members):
        ref = np.array([_arr(row) for row in m["grad"]])
        got = grad[b, : len(m["k"])]
        assert np.array_equal(np.isnan(got), np.isnan(ref)), f"member {b}: NaN pattern"
        ok = ~np.isnan(ref)
        size = np.abs(np.nan_to_num(ref))
        scale = np.maximum(size, size.max(axis=1, keepdims=True) * 1e-6)
        err = np.abs(got[ok] - ref[ok]) / scale[ok]
        assert err.max() < 1e-9, f"member {b}: gradient error {err.max():.3g}"


P_VALUES = st.one_of(
    st.sampled_from([0.0, 1.0, 5e-324, 1e-300, 1e-12, 0.5, 1 - 1e-12, 1 - 2**-53]),
    st.floats(0.0, 1.0),
)


@st.composite
def batches(draw):
    """(p, counts) of shape (B, G): members of very different sizes, zero-count padding,
    p = 0 and p = 1 groups."""
    B = draw(st.integers(1, 4))
    G = draw(st.integers(1, 5))
    p = np.array([[draw(P_VALUES) for _ in range(G)] for _ in range(B)])
    counts = np.array([[draw(st.sampled_from([0, 0, 1, 2, 7, 30, 120])) for _ in range(G)]
                       for _ in range(B)])
    return p, counts


@settings(max_examples=40, deadline=None)
@given(batches())
def test_batch_equals_members_and_the_exact_convolution(pc):
    p, counts = pc
    X = PoissonBinomial(p, counts)
    N = counts.sum(axis=1)
    k = np.arange(-1, N.max() + 2, dtype=float)  # every k of every member, and beyond
    values = {what: getattr(X, what)(k[None, :]) for what in WHAT}
    grad = X.logpmf_grad(k[None, :])
    for b in range(p.shape[0]):
        exact = PoissonBinomial(p[b], counts[b], method="direct")
        for what in WHAT:
            assert_log_accurate(values[what][b], getattr(exact, what)(k),
                                what=f"member {b} {what}")
        member = PoissonBinomial(p[b], counts[b])
        assert np.array_equal(grad[b], member.logpmf_grad(k), equal_nan=True)
        # one point at a time (the single path: closed form or characteristic function)
        for kk in (0, int(N[b]) // 2, int(N[b])):
            assert_log_accurate(values["logpmf"][b, kk + 1], member.logpmf(kk), 1e-12)


def test_gradient_of_a_binomial_member_is_closed_form():
    # d/dp log Bin(k; n, p) = k / p - (n - k) / (1 - p), also far in both tails
    n, p = 2000, 0.013
    X = PoissonBinomial(np.array([[p, 0.3], [p, 0.7]]), np.array([[n, 0], [n, 0]]))
    k = np.array([[0, 5, 26, 400, 1999, 2000], [1, 2, 3, 1000, 1500, 1998]], dtype=float)
    grad = X.logpmf_grad(k)
    ref = k / p - (n - k) / (1 - p)
    assert np.allclose(grad[..., 0], ref, rtol=1e-10, atol=1e-9)
    assert np.all(grad[..., 1] == 0.0)  # no trials: gradient 0


def test_many_trials_per_member_against_the_whole_pmf():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.05, 0.6, (3, 4))
    counts = rng.integers(20_000, 30_000, (3, 4))
    X = PoissonBinomial(p, counts)
    for b in range(3):
        whole = PoissonBinomial(p[b], counts[b], method="tilted")
        lpmf = whole.pmf_all(log=True)
        mean, sd = whole.mean(), whole.std()
        k = np.unique(np.clip(np.round(mean + sd * np.array([-30, -8, -1, 0, 2, 9, 25])), 0,
                              whole.n_trials)).astype(float)
        assert_log_accurate(X.logpmf(np.broadcast_to(k, (3, k.size)))[b], lpmf[k.astype(int)],
                            what="logpmf")
        for what in ("logcdf", "logsf"):
            got = getattr(X, what)(np.broadcast_to(k, (3, k.size)))[b]
            assert_log_accurate(got, getattr(whole, what)(k), what=what)


@pytest.mark.parametrize("bshape", [(4,), (2, 3)])
def test_shapes(bshape):
    rng = np.random.default_rng(0)
    G = 3
    p = rng.uniform(0, 1, bshape + (G,))
    X = PoissonBinomial(p, [4, 5, 6])
    assert X.batch_shape == bshape
    assert X.counts.shape == p.shape
    assert X.logpmf(7).shape == bshape
    k1 = np.full(bshape, 7.0)
    assert X.logpmf(k1).shape == bshape
    assert X.logpmf_grad(k1).shape == bshape + (G,)
    kK = np.zeros(bshape + (5,))
    assert X.logcdf(kK).shape == bshape + (5,)
    assert X.logpmf_grad(kK).shape == bshape + (5, G)
    # a leading axis of length 1 broadcasts over the batch
    one = np.arange(5.0).reshape((1,) * len(bshape) + (5,))
    assert np.array_equal(X.logsf(one), X.logsf(np.broadcast_to(one, bshape + (5,))))
    assert X.mean().shape == X.var().shape == X.std().shape == bshape
    assert X.n_trials.tolist() == np.full(bshape, 15).tolist()
    assert X.pmf_all().shape == bshape + (16,)
    assert X.rvs(size=(7,), random_state=1).shape == (7,) + bshape
    index = (1,) * len(bshape)
    member = X[index]
    assert member.batch_shape == ()
    assert np.isclose(member.logpmf(7), X.logpmf(7)[index], rtol=1e-14)


def test_single_distribution_has_empty_batch_shape():
    assert PoissonBinomial([0.1, 0.2], [3, 4]).batch_shape == ()
    assert Binomial(5, 0.3).batch_shape == ()


def test_counts_and_p_broadcast():
    p = np.array([0.1, 0.4, 0.7])
    counts = np.array([[1, 2, 3], [0, 5, 1]])
    X = PoissonBinomial(p, counts)  # p (G,) against counts (B, G)
    assert X.batch_shape == (2,)
    for b in range(2):
        assert np.isclose(X.logpmf(3)[b], PoissonBinomial(p, counts[b]).logpmf(3), rtol=1e-13)


def test_batch_methods_agree_with_members():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, (5, 4))
    p[0, 1], p[2, 3] = 0.0, 1.0
    counts = rng.integers(0, 9, (5, 4))
    X = PoissonBinomial(p, counts)
    q = np.array([0.0, 0.01, 0.5, 0.99, 1.0])
    pmf_all = X.pmf_all()
    lo, hi = X.support()
    for b in range(5):
        m = PoissonBinomial(p[b], counts[b])
        assert np.isclose(X.mean()[b], m.mean()) and np.isclose(X.var()[b], m.var())
        assert np.allclose(X.stats("mvsk")[2][b], m.stats("s"), equal_nan=True)
        assert np.allclose(pmf_all[b, : m.n_trials + 1], m.pmf_all(), rtol=1e-13, atol=0)
        assert np.all(pmf_all[b, m.n_trials + 1 :] == 0.0)
        assert (lo[b], hi[b]) == m.support()
        assert np.array_equal(X.ppf(q[None, :])[b], m.ppf(q))
        assert np.array_equal(X.isf(q[None, :])[b], m.isf(q))
        assert np.isclose(X.pgf(0.3)[b], m.pgf(0.3), rtol=1e-13)
        assert np.isclose(X.variance_deficit()[b], m.variance_deficit(), atol=1e-12)
        assert np.isclose(X.matching_binomial().mean()[b], m.mean())
    small = counts.sum(axis=1).argmin()
    assert np.all(np.isneginf(X.pmf_all(log=True)[small, counts[small].sum() + 1 :]))
    draws = X.rvs(size=20000, random_state=7)
    assert np.allclose(draws.mean(axis=0), X.mean(), atol=0.1)
    assert np.array_equal(draws, X.rvs(size=20000, random_state=7))


@pytest.mark.parametrize("name", ["__add__", "deconvolve", "decompose"])
def test_operations_without_meaning_for_a_batch_say_so(name):
    X = PoissonBinomial([[0.1, 0.2], [0.3, 0.4]], [2, 3])
    arg = 1 if name == "decompose" else X
    with pytest.raises(ValueError, match=r"not defined for a batch.*batch_shape=\(2,\)"):
        getattr(X, name)(arg)


@pytest.mark.parametrize(
    "args,kwargs,match",
    [
        (([[0.1, 0.2], [0.3]],), {}, "p is ragged"),
        (([[0.1, 0.2], [0.3, 1.5]],), {}, r"p\[1, 1\] = 1.5 is outside \[0, 1\]"),
        (([[0.1, np.nan]],), {}, r"p\[0, 1\] = nan is not a finite number"),
        ((np.full((2, 3), 0.5),), {"counts": np.ones((2, 5))},
         r"counts has shape \(2, 5\) but p has shape \(2, 3\)"),
        ((np.full((2, 3), 0.5),), {"counts": np.ones((4, 3))},
         r"counts of shape \(4, 3\) does not broadcast against p of shape \(2, 3\)"),
        ((np.full((2, 3), 0.5),), {"counts": [[1, 2, 3], [1, -2, 3]]},
         r"counts\[1, 1\] = -2 is negative"),
        ((np.full((2, 3), 0.5),), {"counts": [[1, 2, 3], [1, 2.5, 3]]},
         r"counts\[1, 1\] = 2.5 is not an integer"),
        ((np.full((2, 3), 0.5),), {"counts": [[1, 2], [1]]}, "counts is ragged"),
        ((np.full((2, 3), 0.5),), {"counts": [[1, 2, 3], [1, np.nan, 3]]},
         r"counts\[1, 1\] = nan is not a finite number"),
    ],
)
def test_bad_batches_raise_clear_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        PoissonBinomial(*args, **kwargs)


def test_bad_points_name_their_shape():
    X = PoissonBinomial(np.full((5, 3), 0.5), [1, 2, 3])
    with pytest.raises(ValueError, match=r"k has shape \(3,\) but the batch_shape is \(5,\)"):
        X.logpmf([1, 2, 3])
    with pytest.raises(ValueError, match=r"shape \(5, K\)"):
        X.logpmf_grad(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="k contains NaN"):
        X.logcdf(np.array([1, 2, np.nan, 4, 5]))
    with pytest.raises(ValueError, match="q must be probabilities"):
        X.ppf(1.5)
    with pytest.raises(ValueError, match=r"k must be a scalar or one-dimensional"):
        PoissonBinomial([0.1, 0.2]).logpmf_and_grad(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="cannot be indexed"):
        PoissonBinomial([0.1, 0.2])[0]


def test_members_beyond_ten_million_trials_take_the_single_path():
    p = np.array([[0.3, 0.6], [0.3, 0.6]])
    counts = np.array([[10**7, 10**7], [100, 100]])
    X = PoissonBinomial(p, counts)
    big = PoissonBinomial(p[0], counts[0])
    k = np.array([[9_000_000, 9_001_000], [80, 95]], dtype=float)
    for what in WHAT:
        got = getattr(X, what)(k)
        assert_log_accurate(got[0], getattr(big, what)(k[0]), 1e-12, what=what)


def test_logpmf_and_grad_in_one_pass():
    rng = np.random.default_rng(11)
    X = PoissonBinomial(rng.uniform(0.05, 0.9, (6, 5)), rng.integers(0, 40, (6, 5)))
    k = np.floor(X.mean())[:, None] + np.array([[-3.0, 0.0, 4.0]])
    value, grad = X.logpmf_and_grad(k)
    assert np.array_equal(value, X.logpmf(k))
    assert np.array_equal(grad, X.logpmf_grad(k), equal_nan=True)
    single = X[2]
    v1, g1 = single.logpmf_and_grad(k[2])
    assert np.allclose(v1, single.logpmf(k[2]), rtol=1e-12, atol=0)
    assert np.array_equal(g1, single.logpmf_grad(k[2]), equal_nan=True)
    v0, g0 = single.logpmf_and_grad(k[2, 0])
    assert np.ndim(v0) == 0 and g0.shape == (5,)


def test_large_batches_on_threads_equal_the_serial_pass():
    from binfer.core import _batch

    rng = np.random.default_rng(17)
    p = rng.uniform(0, 1, (300, 10))
    counts = rng.integers(0, 50, (300, 10))
    k = np.floor((p * counts).sum(axis=1))[:, None] + np.array([[-2.0, 0.0, 3.0]])
    assert 300 * 3 * (10 + 8) >= _batch._PARALLEL_MIN
    out, grad = _batch.evaluate(p, counts, k, grad=True)
    ref = np.empty_like(out)
    ref_grad = np.empty_like(grad)
    _batch.batch_eval(p, counts.astype(float), k, True, True, ref, ref_grad, 0, 300)
    _batch._resolve(p, counts.astype(float), k, ref[0], ref_grad)
    assert np.array_equal(out, ref)
    assert np.array_equal(grad, ref_grad, equal_nan=True)


def test_a_billion_trials_and_p_within_1e300_of_zero():
    # member 0: two groups of 5e8 at a common p: the sum is Bin(1e9, 0.3), whose gradient per
    # group is half of k / p - (N - k) / (1 - p); member 1: p = 1e-300 over 1e9 trials beside
    # one fair trial, at the ends of its support and next to them
    N, p = 10**9, 0.3
    X = PoissonBinomial(np.array([[p, p], [1e-300, 0.5]]), np.array([[N // 2, N // 2], [N, 1]]))
    k = np.array([[3e8, 3e8 + 5e4, 0.0, 1e9], [0.0, 1.0, 1e9, 1e9 + 1]])
    value = X.logpmf(k)
    assert_log_accurate(value[0], Binomial(N, p).logpmf(k[0]), 1e-12)
    # P(0) = (1 - 1e-300)^1e9 / 2; P(1) = (1e9 p1 q1^(1e9 - 1) + q1^1e9) / 2 = 1/2 + O(1e-291)
    assert_log_accurate(value[1, :2], np.log([0.5, 0.5]), 1e-15)
    assert_log_accurate(value[1, 3:], [1e9 * np.log(1e-300) + np.log(0.5)], 1e-12)
    grad = X.logpmf_grad(k)
    ref = 0.5 * (k[0] / p - (N - k[0]) / (1 - p))
    assert np.allclose(grad[0], ref[:, None], rtol=1e-9, atol=1e-6)
    assert grad[1, 0].tolist() == [-1e9, -2.0]  # -n_g / q_g at the bottom of the support
    assert abs(grad[1, 1, 0]) < 1e-12 * 2e9 and grad[1, 1, 1] == pytest.approx(2.0, rel=1e-12)
    assert np.isposinf(grad[1, 3, 0]) and grad[1, 3, 1] == pytest.approx(2.0)  # n / p overflows
    assert_log_accurate(X.logsf(k)[1, 1], np.log(1e9 * 1e-300 / 2), 1e-9)  # P(X >= 2)
