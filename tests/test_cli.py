"""The `binfer` command as a subprocess: output formats, --help, exit code 2 on bad input."""

import io
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import binfer

ROOT = Path(__file__).resolve().parent.parent
SURGICAL = ROOT / "datasets" / "surgical.csv"
EXE = shutil.which("binfer", path=str(Path(sys.executable).parent))


def run(*args, stdin=None):
    """`binfer ARGS` (the installed console script when present, else python -m binfer.cli)."""
    cmd = [EXE] if EXE else [sys.executable, "-m", "binfer.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, input=stdin,
                          timeout=120)


def test_console_script_is_installed():
    assert EXE is not None, "the `binfer` console script is not on the venv's PATH"


def test_pmf_log_table():
    out = run("pmf", "--counts", "12", "18", "--p", "0.04", "0.05", "--k", "0:5", "--log",
              "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["k"] for r in rows] == [0, 1, 2, 3, 4, 5]
    dist = binfer.PoissonBinomial([0.04, 0.05], [12, 18])
    assert [r["log_pmf"] for r in rows] == pytest.approx(dist.logpmf(np.arange(6)), rel=1e-14)
    # the seed's example: two clusters with a common p make one binomial
    out = run("pmf", "--counts", "12", "18", "--p", "0.04", "0.04", "--k", "3", "--what", "sf",
              "--csv")
    value = float(out.stdout.splitlines()[1].split(",")[1])
    assert value == pytest.approx(stats.binom.sf(3, 30, 0.04), rel=1e-12)


def test_pool_homogeneity_meta_on_a_csv():
    out = run("pool", str(SURGICAL), "--method", "clopper-pearson", "--json")
    row = json.loads(out.stdout)[0]
    assert (row["n_events"], row["n_trials"]) == (208, 2814)
    assert row["confidence_interval_low"] == pytest.approx(
        stats.beta.ppf(0.025, 208, 2814 - 208 + 1), rel=1e-10)
    out = run("homogeneity", str(SURGICAL))
    assert out.returncode == 0 and "Pearson chi-square" in out.stdout and "df: 11" in out.stdout
    out = run("meta", str(SURGICAL), "--group", "group", "--per-group", "--csv")
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("label,events,trials,estimate") and len(lines) == 13
    assert lines[1].startswith("A,0,47,")


def test_standard_input_and_column_options():
    csv = "centre,deaths,ops\nx,3,30\ny,9,31\nz,1,29\n"
    out = run("homogeneity", "-", "--events", "deaths", "--trials", "ops", "--method", "exact",
              "--csv", stdin=csv)
    assert out.returncode == 0, out.stderr
    header, values = out.stdout.strip().splitlines()
    assert header.startswith("statistic,pvalue")
    direct = binfer.homogeneity_test({"events": [3, 9, 1], "trials": [30, 31, 29]},
                                     method="exact")
    assert float(values.split(",")[1]) == pytest.approx(direct.pvalue, rel=1e-12)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("pool", str(SURGICAL), "--events", "deaths"), None, "events='deaths': no such column"),
        (("pool", "missing.csv"), None, "missing.csv: no such file"),
        (("homogeneity", "-"), "events,trials\n3,2\n", "events 3 > trials 2"),
        (("homogeneity", "-"), "events,trials\n3,x\n1,4\n", "'x' is not a finite number"),
        (("pmf", "--p", "0.3", "abc"), None, "'abc' is not a number"),
        (("pmf", "--p", "1.5"), None, "outside [0, 1]"),
        (("pool",), None, "no input"),
        (("homogeneity", "-", "--method", "fisher"), "events,trials\n1,4\n2,4\n", "method must"),
        (("homogeneity", str(SURGICAL), "--method", "monte-carlo", "--n-resamples", "-5"), None,
         "n_resamples must be a positive integer, got -5"),
        (("homogeneity", str(SURGICAL), "--method", "monte-carlo", "--n-resamples", "0"), None,
         "n_resamples must be a positive integer, got 0"),
        (("homogeneity", str(SURGICAL), "--method", "monte-carlo", "--seed", "-1"), None,
         "--seed must be a non-negative integer, got -1"),
        (("meta", "--dataset", "bcg", "--two-arm", "--outcome", "died"), None,
         "--outcome takes one-arm data"),
        # requests that cannot fit: refused with their size, not a MemoryError traceback
        (("pmf", "--p", "0.5", "--counts", "1000000000000", "--k", "0:99999999999"), None,
         "--k asks for 100000000000 values"),
        (("pmf", "--p", "0.5", "--counts", "1000000000000"), None,
         "--k asks for 1000000000001 values"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, stdin, message):
    out = run(*args, stdin=stdin)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["pool", "homogeneity", "meta", "oe", "lrt", "pmf",
                                     "datasets"])
def test_help_has_an_example(command):
    out = run(command, "--help")
    assert out.returncode == 0 and "example" in out.stdout


def test_top_level_help_and_unknown_command():
    assert "homogeneity" in run("--help").stdout
    out = run("frobnicate")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_parquet_input(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "hospitals.parquet"
    binfer.datasets.load("surgical").to_parquet(path)
    out = run("pool", str(path), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["n_trials"] == 2814


def test_bundled_dataset_listing_and_printing():
    out = run("datasets", "--csv")
    assert out.returncode == 0 and out.stdout.splitlines()[0] == "name,description"
    assert "rat_tumors" in out.stdout
    out = run("datasets", "rat_tumors")
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "group,events,trials" and len(lines) == 72
    out = run("homogeneity", "--dataset", "orange_juice", "--json")
    assert json.loads(out.stdout)[0]["df"] == 29
    out = run("datasets", "nope")
    assert out.returncode == 2 and "nope" in out.stderr


def test_meta_takes_one_row_per_subject():
    # issue 11: `binfer meta --outcome` was offered by --help and silently ignored
    subjects = "".join(f"{g},{int(i < x)}\n" for g, x, n in (("b", 3, 10), ("a", 1, 12),
                                                             ("c", 6, 9)) for i in range(n))
    out = run("meta", "-", "--outcome", "died", "--group", "centre", "--per-group", "--csv",
              stdin="centre,died\n" + subjects)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert [line.split(",")[:3] for line in lines[1:]] == [["a", "1", "12"], ["b", "3", "10"],
                                                         ["c", "6", "9"]]
    # the logit of each group's proportion, as metafor's escalc("PLO") (no zero cells here)
    yi = [float(line.split(",")[3]) for line in lines[1:]]
    assert yi == pytest.approx([np.log(1 / 11), np.log(3 / 7), np.log(6 / 3)], rel=1e-12)
    out = run("meta", "-", "--outcome", "died", "--group", "centre", "--json",
              stdin="centre,died\n" + subjects)
    assert out.returncode == 0 and json.loads(out.stdout)[0]["k"] == 3


def test_meta_labels_studies_by_the_study_column():
    # issue 11: `binfer meta --dataset bcg --two-arm --per-group` labelled the studies 0-12
    out = run("meta", "--dataset", "bcg", "--two-arm", "--per-group", "--json")
    assert out.returncode == 0, out.stderr
    labels = [row["label"] for row in json.loads(out.stdout)]
    assert labels == list(binfer.datasets.load("bcg")["study"])
    assert labels[0] == "Aronson 1948"


def test_errors_name_the_csv_line(tmp_path):
    # issue 11: a row of a CSV is named by its line in the file as well as its index label
    out = run("homogeneity", "-", stdin="events,trials\n1,4\n3,2\n")
    assert out.returncode == 2
    assert "row 1 (position 1; line 3 of standard input): events 3 > trials 2" in out.stderr
    # blank lines (skipped by the reader) and a quoted field over two lines: still the right line
    path = tmp_path / "hospitals.csv"
    path.write_text('group,events,trials\n"A\nnorth",1,10\n\n  \nB,2,12\nC,9,5\n')
    out = run("pool", str(path))
    assert out.returncode == 2, out.stderr
    assert f"row 2 (position 2; line 7 of {path}): events 9 > trials 5" in out.stderr
    out = run("pool", "-", "--outcome", "died", "--group", "g", stdin="g,died\na,1\nb,2\n")
    assert "row 1 (position 1; line 3 of standard input): outcome 2 is not 0 or 1" in out.stderr


def test_pmf_of_a_huge_binomial_in_closed_form():
    # asked for terabytes before; log P(Bin(1e12, 1/2) = 3) = log C(1e12, 3) - 1e12 log 2
    out = run("pmf", "--p", "0.5", "--counts", "1000000000000", "--k", "3", "--log", "--json")
    assert out.returncode == 0, out.stderr
    n = 10**12
    want = math.log(n * (n - 1) * (n - 2) / 6) - n * math.log(2)
    assert json.loads(out.stdout)[0]["log_pmf"] == pytest.approx(want, rel=1e-13)


def test_pool_tests_against_p0():
    # R: binom.test(208, 2814, 0.08) and prop.test(..., correct = FALSE), from
    # tests/reference/make_trust_refs.R
    refs = json.loads((Path(__file__).parent / "reference" / "trust_refs.json").read_text())
    (ref,) = [r for r in refs["binom_test"] if r["label"] == "surgical totals vs 0.08"
              and r["alternative"] == "two-sided"]
    out = run("pool", "--dataset", "surgical", "--p0", "0.08", "--json")
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    assert row["pvalue_exact"] == pytest.approx(ref["pvalue_exact"], rel=1e-10)
    assert row["pvalue_score"] == pytest.approx(ref["pvalue_score"], rel=1e-10)
    bad = run("pool", "--dataset", "surgical", "--p0", "0.08", "--alternative", "bigger")
    assert bad.returncode == 2 and "alternative" in bad.stderr


def _patients(tmp_path, risk_high=0.3):
    rng = np.random.default_rng(3)
    n = 300
    risk = rng.uniform(0.01, risk_high, n)
    frame = {"hospital": rng.choice(["A", "B", "C"], n), "risk": risk,
             "died": (rng.random(n) < 1.2 * risk).astype(int)}
    import pandas as pd

    path = tmp_path / "patients.csv"
    pd.DataFrame(frame).to_csv(path, index=False)
    return path, pd.DataFrame(frame)


def test_oe_one_test_and_per_group_csv(tmp_path):
    path, frame = _patients(tmp_path)
    out = run("oe", str(path), "--observed", "died", "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)[0]
    ref = binfer.observed_vs_expected(frame, risks="risk", observed="died")
    assert row["observed"] == ref.observed and row["pvalue"] == pytest.approx(ref.pvalue)
    out = run("oe", str(path), "--observed", "died", "--group", "hospital", "--csv")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("group,n_subjects,observed,expected,ratio") and len(lines) == 4
    table = run("oe", str(path), "--observed", "died", "--group", "hospital")
    assert table.returncode == 0 and "per-group" in table.stdout
    assert "binfer oe patients.csv" in run("oe", "--help").stdout


def test_oe_bad_input_exits_2(tmp_path):
    path, _ = _patients(tmp_path, risk_high=1.5)  # some risks above 1
    out = run("oe", str(path), "--observed", "died")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "column 'risk', row 2" in out.stderr and "outside [0, 1]" in out.stderr
    path, _ = _patients(tmp_path)
    out = run("oe", str(path), "--observed", "nope")
    assert out.returncode == 2 and "nope" in out.stderr


def _days(tmp_path):
    """40 replicates (days) of 3 groups with varying trials, only each day's total observed:
    wide (one row per day) and long (one row per day and group) CSVs of the same data."""
    import pandas as pd

    rng = np.random.default_rng(11)
    n = rng.integers(10, 40, size=(40, 3))
    frame = pd.DataFrame({"day": np.arange(40), "a": n[:, 0], "b": n[:, 1], "c": n[:, 2],
                          "positives": rng.binomial(n, [0.1, 0.4, 0.7]).sum(axis=1)})
    wide = tmp_path / "days.csv"
    frame.to_csv(wide, index=False)
    long = frame.melt(id_vars=["day", "positives"], value_vars=["a", "b", "c"], var_name="line",
                      value_name="n")
    long_path = tmp_path / "long.csv"
    long.to_csv(long_path, index=False)
    return wide, long_path, frame


def test_lrt_json_and_table_match_the_api(tmp_path):
    wide, _, frame = _days(tmp_path)
    args = (str(wide), "--totals", "positives", "--trials", "a", "b", "c", "--method", "mixture",
            "--seed", "5")
    out = run("lrt", *args, "--json")
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    ref = binfer.binomial_vs_poisson_binomial(frame, totals="positives", trials=["a", "b", "c"],
                                              method="mixture", random_state=5)
    for name in ("statistic", "pvalue", "pvalue_mixture", "loglik_binomial",
                 "loglik_poisson_binomial"):
        assert row[name] == pytest.approx(getattr(ref, name), rel=1e-12), name
    assert row["p"] == pytest.approx(ref.p.to_dict(), rel=1e-12)
    assert list(row["p"]) == ["a", "b", "c"] and row["statistic"] > 10
    assert row["n_resamples"] == 0 and row["pvalue_mcse"] is None and row["df"] is None
    assert row["method"] == ref.method and row["note"] == ref.note
    table = run("lrt", *args)
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith(ref.method) and "fitted p per group:" in table.stdout
    assert "log-likelihood: binomial" in table.stdout and "note: H1 fitted" in table.stdout
    lines = table.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[-3:]] == ["a", "b", "c"]
    assert float(lines[-1].split()[1]) == pytest.approx(ref.p["c"], abs=1e-6)


def test_lrt_long_form_csv(tmp_path):
    import pandas as pd

    wide, long, _ = _days(tmp_path)
    out = run("lrt", str(long), "--replicate", "day", "--group", "line", "--trials", "n",
              "--totals", "positives", "--method", "mixture", "--seed", "5", "--csv")
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(io.StringIO(out.stdout))
    assert list(table.columns[:4]) == ["group", "p", "statistic", "pvalue"]
    assert list(table["group"]) == ["a", "b", "c"]  # one row per group, the test's repeated
    assert table["statistic"].nunique() == 1 and (table["n_resamples"] == 0).all()
    # the same data in wide form: the same test
    (row,) = json.loads(run("lrt", str(wide), "--totals", "positives", "--trials", "a", "b", "c",
                            "--method", "mixture", "--seed", "5", "--json").stdout)
    assert table["statistic"][0] == pytest.approx(row["statistic"], rel=1e-9)
    assert list(table["p"]) == pytest.approx(list(row["p"].values()), rel=1e-6)


def test_lrt_bootstrap(tmp_path):
    wide, _, frame = _days(tmp_path)
    out = run("lrt", str(wide), "--totals", "positives", "--trials", "a", "b", "c",
              "--n-resamples", "9", "--seed", "2", "--json")
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    ref = binfer.binomial_vs_poisson_binomial(frame, totals="positives", trials=["a", "b", "c"],
                                              n_resamples=9, random_state=2, progress=False)
    assert row["n_resamples"] == 9 and "parametric bootstrap" in row["method"]
    assert row["pvalue"] == ref.pvalue and row["pvalue"] in [k / 10 for k in range(1, 11)]
    assert row["pvalue_mcse"] == pytest.approx(ref.pvalue_mcse)
    assert out.stderr == ""  # no progress bar when stderr is not a terminal


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("--totals", "positives", "--trials", "a", "b", "zz"), None,
         "trials='zz': no such column"),
        (("--trials", "a", "b", "c"), None, "totals='totals': no such column"),
        (("--totals", "positives", "--trials", "a"), None, "the design has 1 group"),
        (("-", "--totals", "t", "--trials", "a", "b"), "a,b,t\n3,4,5\n2,2,9\n",
         "line 3 of standard input): total 9 > 4 trials in that replicate"),
        (("--totals", "positives", "--trials", "a", "b", "--replicate", "day"), None,
         "--replicate and --group go together"),
        (("--totals", "positives", "--trials", "a", "b", "--replicate", "day", "--group", "x"),
         None, "--trials: long data (--replicate and --group) takes one column, got 2"),
        (("--totals", "positives", "--trials", "a", "b", "--method", "exact"), None,
         "method must be one of bootstrap, mixture"),
        (("--totals", "positives", "--trials", "a", "b", "--seed", "-1"), None,
         "--seed must be a non-negative integer, got -1"),
    ],
)
def test_lrt_bad_input_exits_2_with_one_line(tmp_path, args, stdin, message):
    wide, _, _ = _days(tmp_path)
    out = run("lrt", *(args if args[0] == "-" else (str(wide), *args)), stdin=stdin)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_lrt_help():
    out = run("lrt", "--help")
    assert out.returncode == 0
    assert "binfer lrt days.csv --totals positives --trials a b c" in out.stdout
    assert "--replicate day --group line" in out.stdout
    assert "lrt" in run("--help").stdout
