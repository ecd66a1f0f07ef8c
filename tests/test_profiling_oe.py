"""observed_vs_expected: exact O/E tests against R's PoissonBinomial (tests/reference/
make_oe_refs.R writes oe_refs.csv), the interval's defining property, groups, executors, input."""

import math
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import binfer
from binfer import observed_vs_expected

REFS = pd.read_csv(Path(__file__).parent / "reference" / "oe_refs.csv")
DESIGNS = {
    "linear40": np.linspace(0.05, 0.45, 40),
    "rare200": 0.001 + 0.02 * (np.arange(200) % 17) / 16,
    "mixed500": np.r_[np.full(200, 0.01), np.full(200, 0.2), np.full(100, 0.6)],
    "edges30": np.r_[0, 0, 1, np.linspace(0.1, 0.9, 27)],
}


def close_log(got, want, rel=1e-9):
    """Equal p-values to ``rel`` (on the log where the p-value is below 1e-300)."""
    if want == -math.inf:
        return got == -math.inf
    if want < math.log(1e-300):
        return abs(got - want) <= rel * abs(want)
    return math.isclose(math.exp(got), math.exp(want), rel_tol=rel, abs_tol=0)


@pytest.mark.parametrize("row", REFS.to_dict("records"),
                         ids=lambda r: f"{r['design']}-{r['observed']}")
def test_against_r(row):
    risks = DESIGNS[row["design"]]
    o = int(row["observed"])
    less = observed_vs_expected(risks=risks, observed=o, alternative="less", conf_level=None)
    greater = observed_vs_expected(risks=risks, observed=o, alternative="greater", conf_level=None)
    two = observed_vs_expected(risks=risks, observed=o, conf_level=None)
    assert math.isclose(two.expected, row["expected"], rel_tol=1e-12)
    assert close_log(less.log_pvalue, row["log_less"])
    assert close_log(greater.log_pvalue, row["log_greater"])
    assert math.isclose(two.pvalue, row["two_sided_minlike"], rel_tol=1e-9)
    doubled = min(0.0, math.log(2) + min(row["log_less"], row["log_greater"]))
    assert close_log(two.log_pvalue_doubling, doubled)


def test_refs_reach_far_tails():
    assert (REFS["log_greater"] < math.log(1e-20)).sum() >= 4
    assert REFS["log_greater"].min() < math.log(1e-250)


def test_far_tail_below_1e300():
    risks = np.full(300, 0.01)  # binomial: compare with the core's closed form
    res = observed_vs_expected(risks=risks, observed=290, alternative="greater", conf_level=None)
    want = float(binfer.Binomial(300, 0.01).logsf(289))
    assert res.pvalue == 0.0 and want < -1000
    assert math.isclose(res.log_pvalue, want, rel_tol=1e-10)


def test_mid_p():
    risks = DESIGNS["linear40"]
    for alt in ("less", "greater", "two-sided"):
        full = observed_vs_expected(risks=risks, observed=14, alternative=alt, conf_level=None)
        mid = observed_vs_expected(risks=risks, observed=14, alternative=alt, mid_p=True,
                                   conf_level=None)
        half = 0.5 * float(binfer.PoissonBinomial(risks).pmf(14))
        assert math.isclose(mid.pvalue, full.pvalue - half, rel_tol=1e-10)


@pytest.mark.parametrize("o", [1, 6, 17, 39])
def test_interval_inverts_tails(o):
    risks = DESIGNS["linear40"]
    res = observed_vs_expected(risks=risks, observed=o, conf_level=0.9)
    lo, hi = res.odds_ratio_interval

    def scaled(r):
        return r * risks / (1 - risks + r * risks)

    assert math.isclose(float(binfer.PoissonBinomial(scaled(lo)).sf(o - 1)), 0.05, rel_tol=1e-9)
    assert math.isclose(float(binfer.PoissonBinomial(scaled(hi)).cdf(o)), 0.05, rel_tol=1e-9)
    assert math.isclose(res.confidence_interval.low, scaled(lo).sum() / risks.sum(), rel_tol=1e-12)
    assert res.confidence_interval.low < res.ratio < res.confidence_interval.high


def test_interval_ends_and_one_sided():
    risks = DESIGNS["linear40"]
    low = observed_vs_expected(risks=risks, observed=0)
    assert low.odds_ratio_interval.low == 0 and low.confidence_interval.low == 0
    top = observed_vs_expected(risks=risks, observed=40)
    assert top.odds_ratio_interval.high == math.inf and top.confidence_interval.high == 4.0
    g = observed_vs_expected(risks=risks, observed=17, alternative="greater")
    assert g.odds_ratio_interval.high == math.inf and g.pvalue_doubling is None


def test_narrower_than_poisson_smr():
    row = REFS[(REFS.design == "mixed500") & (REFS.observed == 130)].iloc[0]
    res = observed_vs_expected(risks=DESIGNS["mixed500"], observed=130)
    lo, hi = res.confidence_interval
    assert row["poisson_low"] < lo and hi < row["poisson_high"]
    assert res.pvalue < row["poisson_p"]


def subjects(n_groups=60, seed=3):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 80, n_groups)
    hosp = np.repeat([f"H{i:03d}" for i in range(n_groups)], sizes)
    risk = rng.beta(1, 6, sizes.sum())
    died = (rng.random(sizes.sum()) < risk * rng.choice([0.5, 1, 2], sizes.sum())).astype(int)
    df = pd.DataFrame({"hospital": hosp, "risk": risk, "died": died})
    return df.sample(frac=1, random_state=1)


def test_groups_equal_single_calls():
    df = subjects()
    res = observed_vs_expected(df, risks="risk", observed="died", group="hospital")
    t = res.table
    assert list(t["group"]) == sorted(df["hospital"].unique())
    assert res.observed == df["died"].sum() and res.pvalue is None
    for i in range(0, len(t), 7):
        sub = df[df.hospital == t.group[i]]
        one = observed_vs_expected(risks=sub.risk.to_numpy(), observed=int(sub.died.sum()))
        assert math.isclose(one.pvalue, t.pvalue[i], rel_tol=1e-12)
        assert math.isclose(one.log_pvalue_doubling, t.log_pvalue_doubling[i], rel_tol=1e-12,
                            abs_tol=1e-15)
        assert math.isclose(one.confidence_interval.low, t.ci_low[i], rel_tol=1e-9, abs_tol=1e-15)
        assert math.isclose(one.confidence_interval.high, t.ci_high[i], rel_tol=1e-9)
    totals = df.groupby("hospital")["died"].sum()
    by_map = observed_vs_expected(df, risks="risk", observed=totals, group="hospital")
    pd.testing.assert_frame_equal(by_map.table, t)
    assert res.to_frame().shape == (60, 13)
    assert "groups: 60" in repr(res)


def test_categorical_order_and_frame():
    df = pd.DataFrame({"h": pd.Categorical(["b", "a", "b"], categories=["b", "a"]),
                       "r": [0.2, 0.3, 0.4], "y": [1, 0, 0]})
    res = observed_vs_expected(df, risks="r", observed="y", group="h")
    assert list(res.table.group) == ["b", "a"]
    one = observed_vs_expected(df, risks="r", observed=1)
    assert one.n_subjects == 3 and one.to_frame().shape[0] == 1


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_executor_same_results(kind, monkeypatch):
    import binfer.profiling._oe as oe

    monkeypatch.setattr(oe, "_CHUNK_CELLS", 400)  # several chunks (processes get the default)
    df = subjects(40)
    serial = observed_vs_expected(df, risks="risk", observed="died", group="hospital")
    pool = ThreadPoolExecutor(2) if kind == "thread" else ProcessPoolExecutor(max_workers=2)
    with pool:
        par = observed_vs_expected(df, risks="risk", observed="died", group="hospital",
                                   executor=pool)
    pd.testing.assert_frame_equal(serial.table, par.table, check_exact=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(risks=[0.1, np.nan], observed=1), r"risks, position 1: missing value"),
        (dict(risks=[0.1, 1.5], observed=1), r"risks, position 1: 1.5 is outside"),
        (dict(risks=[0.1, 0.5], observed=3), r"observed 3 > number of subjects 2"),
        (dict(risks=[0.1, 0.5], observed=1.5), r"observed: 1.5 is not"),
        (dict(risks=[0.1, 0.5], observed=-1), r"observed: -1 is not"),
    ],
)
def test_bad_arrays(kwargs, match):
    with pytest.raises(ValueError, match=match):
        observed_vs_expected(**kwargs)


def test_bad_frames():
    df = pd.DataFrame({"h": ["A", "A", "B"], "r": [0.1, -0.2, 0.3], "y": [1, 0, 1]},
                      index=["p1", "p2", "p3"])
    with pytest.raises(ValueError, match=r"column 'r', row 'p2' \(position 1\).*outside"):
        observed_vs_expected(df, risks="r", observed="y", group="h")
    df["r"] = [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match=r"group 'B': observed 2 > number of subjects 1"):
        observed_vs_expected(df, risks="r", observed={"A": 1, "B": 2}, group="h")
    with pytest.raises(ValueError, match=r"observed, group 'A': 0.5 is not"):
        observed_vs_expected(df, risks="r", observed={"A": 0.5, "B": 1}, group="h")
    with pytest.raises(ValueError, match=r"no total for group 'B'"):
        observed_vs_expected(df, risks="r", observed={"A": 1}, group="h")
    df["y"] = [1, 2, 0]
    with pytest.raises(ValueError, match=r"column 'y', row 'p2' \(position 1\): outcome 2"):
        observed_vs_expected(df, risks="r", observed="y", group="h")


def test_impossible_total_is_p_zero():
    res = observed_vs_expected(risks=[0.0, 0.0, 0.5], observed=2)
    assert res.pvalue == 0 and res.log_pvalue == -math.inf
    assert math.isnan(res.confidence_interval.low)


@pytest.mark.slow
def test_million_subjects():
    rng = np.random.default_rng(0)
    risks = rng.beta(1, 15, 10**6)
    o = int(risks.sum()) + 600
    res = observed_vs_expected(risks=risks, observed=o)
    want = float(binfer.PoissonBinomial(risks).logsf(o - 1))
    assert math.isclose(res.log_pvalue_doubling, math.log(2) + want, rel_tol=1e-9)
    assert res.log_pvalue >= want - 1e-9
    assert res.confidence_interval.low > 1
