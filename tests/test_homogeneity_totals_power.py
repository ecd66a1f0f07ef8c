"""lrt_power (issue 13 §1, Power): the simulated power of the totals-only LRT beside the G-test's,
its critical value's definition, executors (threads, processes, dask.distributed) and input."""

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from scipy import stats

import binfer.homogeneity._totals_power as tp
from binfer import binomial_vs_poisson_binomial, lrt_power

N3 = np.array([30, 60, 90])
KW = dict(n_replicates=30, n_sim=30, random_state=4, progress=False)


def test_power_is_the_rejection_rate_at_the_simulated_critical_value(monkeypatch):
    captured = {}
    simulate = tp._simulate

    def spy(n_sim, seeds, args, null, executor, progress, desc):
        out = simulate(n_sim, seeds, args, null, executor, progress, desc)
        captured["null" if null else "alt"] = out
        return out

    monkeypatch.setattr(tp, "_simulate", spy)
    r = lrt_power(N3, [0.1, 0.3, 0.5], alpha=0.1, **KW)
    null, _ = captured["null"]
    alt, pg = captured["alt"]
    # at most alpha of the H0 statistics exceed the critical value, and one more would
    assert (null > r.critical_value).sum() <= 3 < (null >= r.critical_value).sum()
    assert r.power == (alt > r.critical_value).mean()
    assert r.power_mcse == pytest.approx(np.sqrt(r.power * (1 - r.power) / 30))
    mix = np.where(alt > 0, 0.5 * stats.chi2.sf(alt, 1), 1.0)
    assert r.power_mixture == (mix <= 0.1).mean()
    assert r.power_full_information == (pg <= 0.1).mean()
    assert r.share_zero_null == (null == 0).mean()
    assert r.pbar == pytest.approx((N3 * [0.1, 0.3, 0.5]).sum() / N3.sum())
    assert r.variance_deficit == pytest.approx((N3 * (np.array([0.1, 0.3, 0.5]) - r.pbar) ** 2
                                                ).sum())
    # the H0 statistics are the test's own: the same fit as binomial_vs_poisson_binomial
    assert null.min() >= 0 and 0.2 < r.share_zero_null < 0.9
    assert "Power of the binomial vs Poisson-binomial LRT" in repr(r)
    assert "the 4th largest of the 30 statistics simulated under H0" in r.note
    assert r.to_frame().shape[0] == 1


def test_g_test_power_matches_homogeneity_test():
    # p-values of the full-information arm are homogeneity_test's G-test on the pooled counts
    rng = np.random.default_rng(0)
    x = rng.binomial(np.broadcast_to(N3, (30, 3)), [0.1, 0.3, 0.5])
    from binfer import homogeneity_test
    from binfer.homogeneity._tests import _g

    m = N3 * 30
    ref = homogeneity_test({"events": x.sum(axis=0), "trials": m}, method="g")
    assert stats.chi2.sf(_g(x.sum(axis=0), m), 2) == pytest.approx(ref.pvalue, rel=1e-12)


def test_more_spread_more_power_and_totals_cost_power():
    small = lrt_power(N3, [0.25, 0.3, 0.35], **{**KW, "n_sim": 40})
    large = lrt_power(N3, [0.02, 0.3, 0.9], **{**KW, "n_sim": 40})
    assert large.variance_deficit > 10 * small.variance_deficit
    assert large.power > 0.7 and large.power_full_information == 1.0
    assert small.power < 0.5 and small.power_full_information > small.power


def test_varying_design_and_reproducibility():
    trials = np.random.default_rng(2).integers(10, 60, size=(30, 3))
    a = lrt_power(trials, [0.1, 0.3, 0.5], **KW)
    b = lrt_power(trials, [0.1, 0.3, 0.5], **KW)
    assert a == b
    assert a.power > 0.5  # a varying design identifies the p_g far better


def _local_dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    return cluster, distributed.Client(cluster)


BOOT_KW = dict(totals=np.random.default_rng(5).binomial(N3, [0.1, 0.3, 0.5], (40, 3)).sum(1),
               trials=N3, n_resamples=30, random_state=3, progress=False)
POWER_ARGS = (N3, [0.1, 0.3, 0.5])


@pytest.fixture(scope="module")
def serial():
    # 30 data sets or resamples: two chunks of 25 and 5, so that the executors split the work
    return lrt_power(*POWER_ARGS, **KW), binomial_vs_poisson_binomial(**BOOT_KW)


@pytest.mark.parametrize("kind", ["thread", "process", "dask"])
def test_executors_give_the_serial_result(kind, serial):
    if kind == "dask":
        cluster, client = _local_dask_client()
        try:
            ex = client.get_executor()
            par = lrt_power(*POWER_ARGS, **KW, executor=ex)
            par_boot = binomial_vs_poisson_binomial(**BOOT_KW, executor=ex)
        finally:
            client.close()
            cluster.close()
    else:
        pool = ThreadPoolExecutor(2) if kind == "thread" else ProcessPoolExecutor(2)
        with pool:
            par = lrt_power(*POWER_ARGS, **KW, executor=pool)
            par_boot = binomial_vs_poisson_binomial(**BOOT_KW, executor=pool)
    assert (par, par_boot) == serial


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    ((N3, [0.1, 0.3]), {}, r"trials has 3 groups but p has 2"),
    ((N3, [0.1, 0.3, 1.5]), {}, r"p.*1.5"),
    (([30, -1, 90], [0.1, 0.3, 0.5]), {}, r"trials, group 1: -1 is negative"),
    (([30, 6.5, 90], [0.1, 0.3, 0.5]), {}, r"trials, group 1: 6.5 is not a whole"),
    (([30], [0.1]), {}, r"1 group; the test compares at least 2"),
    (([30, 0], [0.1, 0.2]), {}, r"group 1 has no trials"),
    ((N3, [0.0, 0.0, 0.0]), {}, r"no data set can tell the models apart"),
    ((np.ones((4, 3), int), [0.1, 0.3, 0.5]), {}, r"shape \(4, 3\).*\(30, 3\)"),
    ((N3, [0.1, 0.3, 0.5]), {"n_replicates": 1}, r"n_replicates must be at least 2"),
    ((N3, [0.1, 0.3, 0.5]), {"alpha": 1.5}, r"alpha must be a number in \(0, 1\)"),
    ((N3, [0.1, 0.3, 0.5]), {"n_sim": 1}, r"n_sim must be at least 2"),
    ((N3, [0.1, 0.3, 0.5]), {"progress": "yes"}, r"progress must be True or False"),
])
def test_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        lrt_power(*args, **{"n_replicates": 30, "n_sim": 10, **kwargs})
