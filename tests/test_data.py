"""The input layer: every bad table is refused with a ValueError naming column and row."""

import re

import numpy as np
import pandas as pd
import pytest

import binfer
from binfer._data import one_arm, two_arm

HOSPITALS = pd.DataFrame(
    {"hospital": ["A", "B", "C"], "deaths": [1, 4, 9], "patients": [10, 20, 5]},
    index=["Hospital A", "Hospital B", "Hospital C"],
)


def test_events_above_trials_names_row_and_columns():
    with pytest.raises(ValueError, match=r"'deaths', row 'Hospital C' \(position 2\): "
                                         r"events 9 > trials 5 \(column 'patients'\)"):
        one_arm(HOSPITALS, events="deaths", trials="patients")


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("deaths", -1, r"'deaths', row 'Hospital B' \(position 1\): -1 is negative"),
        ("deaths", 2.5, r"'deaths', row 'Hospital B' \(position 1\): 2.5 is not a whole number"),
        ("deaths", np.nan, r"'deaths', row 'Hospital B' \(position 1\): missing value"),
        ("deaths", "four", r"'deaths', row 'Hospital B' \(position 1\): 'four' is not a finite"),
        ("patients", 0, r"'patients', row 'Hospital B' \(position 1\): trials = 0"),
        ("patients", np.inf, r"'patients', row 'Hospital B' \(position 1\): inf is not a finite"),
    ],
)
def test_bad_cells(column, value, message):
    df = HOSPITALS.astype(object).copy()
    df.loc["Hospital B", column] = value
    df.loc["Hospital C", "deaths"] = 2
    if column == "patients":
        df.loc["Hospital B", "deaths"] = 0
    with pytest.raises(ValueError, match=message):
        one_arm(df, events="deaths", trials="patients")


def test_missing_column_lists_the_columns():
    with pytest.raises(ValueError, match=r"events='events': no such column; the data has "
                                         r"columns 'hospital', 'deaths', 'patients'"):
        binfer.pooled_proportion(HOSPITALS)


def test_nothing_is_dropped_and_labels_come_through():
    df = pd.DataFrame({"g": ["x", "y", "z"], "events": [0, 3, 7], "trials": [4, 3, 9]})
    counts = one_arm(df, group="g")
    assert counts.events.tolist() == [0, 3, 7]
    assert counts.trials.tolist() == [4, 3, 9]
    assert counts.labels.tolist() == ["x", "y", "z"]
    assert one_arm(df).labels.tolist() == [0, 1, 2]  # the index when no group column


def test_dict_input_and_unequal_lengths():
    assert one_arm({"events": [1, 2], "trials": [3, 4]}).k == 2
    with pytest.raises(ValueError, match="different lengths"):
        one_arm({"events": [1, 2], "trials": [3, 4, 5]})
    with pytest.raises(ValueError, match="data must be a pandas DataFrame"):
        one_arm([[1, 2], [3, 4]])


def test_individual_level_rows_are_aggregated():
    subjects = pd.DataFrame(
        {"centre": ["b", "a", "b", "b", "a", "c"], "died": [1, 0, 0, 1, 1, 0]}
    )
    counts = one_arm(subjects, outcome="died", group="centre")
    assert counts.labels.tolist() == ["a", "b", "c"]  # sorted, not the order of appearance
    assert counts.events.tolist() == [1, 2, 0]
    assert counts.trials.tolist() == [2, 3, 1]
    assert binfer.pooled_proportion(subjects, outcome="died").n_trials == 6
    bad = subjects.assign(died=[1, 0, 2, 1, 1, 0])
    with pytest.raises(ValueError, match=r"'died', row 2 \(position 2\): outcome 2 is not 0 or 1"):
        one_arm(bad, outcome="died", group="centre")


def test_missing_group_label():
    df = pd.DataFrame({"g": ["x", None], "events": [1, 2], "trials": [3, 4]})
    with pytest.raises(ValueError, match=r"column 'g', row 1 \(position 1\): missing label"):
        one_arm(df, group="g")


def test_single_group_where_a_test_needs_two():
    with pytest.raises(ValueError, match="data has 1 group; this needs at least 2"):
        binfer.homogeneity_test({"events": [3], "trials": [10]})
    with pytest.raises(ValueError, match="data has 1 study; this needs at least 2"):
        binfer.breslow_day_test({"events_treat": [1], "trials_treat": [5],
                                 "events_ctrl": [2], "trials_ctrl": [5]})


def test_two_arm_checks_each_arm():
    df = pd.DataFrame({"events_treat": [1, 2], "trials_treat": [5, 5],
                       "events_ctrl": [6, 2], "trials_ctrl": [5, 5]})
    with pytest.raises(ValueError, match=r"'events_ctrl', row 0 \(position 0\): events 6 > "
                                         r"trials 5 \(column 'trials_ctrl'\)"):
        two_arm(df)
    df.loc[0, "events_ctrl"] = 1
    assert two_arm(df, study=None).k == 2


def test_zero_and_all_event_groups_are_legal():
    r = binfer.pooled_proportion({"events": [0, 5], "trials": [7, 5]})
    assert r.n_events == 5 and r.n_trials == 12


def test_polars_and_pyarrow_tables_are_accepted():
    pl = pytest.importorskip("polars")
    pa = pytest.importorskip("pyarrow")
    columns = {"centre": ["a", "b", "c"], "events": [1, 4, 2], "trials": [10, 20, 5]}
    expected = binfer.homogeneity_test(pd.DataFrame(columns))
    for table in (pl.DataFrame(columns), pa.table(columns)):
        got = binfer.homogeneity_test(table)
        assert got.statistic == expected.statistic
        assert one_arm(table, group="centre").labels.tolist() == ["a", "b", "c"]
    bad = pl.DataFrame({"events": [1, None], "trials": [3, 4]})
    with pytest.raises(ValueError, match=r"column 'events', row 1 \(position 1\): missing"):
        one_arm(bad)


def test_negative_count_in_an_integer_column():
    df = pd.DataFrame({"events": [1, -2], "trials": [3, 4]})
    with pytest.raises(ValueError, match=r"column 'events', row 1 \(position 1\): -2 is negative"):
        one_arm(df)


def test_empty_table():
    empty = pd.DataFrame({"events": [], "trials": []})
    with pytest.raises(ValueError, match="data has 0 groups; this needs at least 1"):
        binfer.pooled_proportion(empty)
    with pytest.raises(ValueError, match="data has 0 studies; this needs at least 1"):
        binfer.meta_two_arm({"events_treat": [], "trials_treat": [], "events_ctrl": [],
                             "trials_ctrl": []})


def test_individual_level_group_order_does_not_depend_on_row_order():
    subjects = pd.DataFrame({"centre": ["b", "a", "b", "c", "a", "c", "c"],
                             "died": [1, 0, 0, 1, 1, 0, 1]})
    for seed in range(3):
        shuffled = subjects.sample(frac=1, random_state=seed)
        counts = one_arm(shuffled, outcome="died", group="centre")
        assert counts.labels.tolist() == ["a", "b", "c"]
        assert counts.events.tolist() == [1, 1, 2] and counts.trials.tolist() == [2, 2, 3]
    # a Categorical orders the groups by its categories (unused categories are dropped)
    order = ["c", "a", "b", "unused"]
    cat = subjects.assign(centre=pd.Categorical(subjects.centre, categories=order, ordered=True))
    counts = one_arm(cat.iloc[::-1], outcome="died", group="centre")
    assert counts.labels.tolist() == ["c", "a", "b"]
    assert counts.events.tolist() == [2, 1, 1] and counts.trials.tolist() == [3, 2, 2]


def test_canonical_label_columns_are_used_by_default():
    df = pd.DataFrame({"group": ["x", "y"], "events": [1, 2], "trials": [3, 4]})
    assert one_arm(df).labels.tolist() == ["x", "y"]
    subjects = pd.DataFrame({"group": ["y", "x", "y"], "outcome": [1, 0, 1]})
    counts = one_arm(subjects, outcome="outcome")
    assert counts.labels.tolist() == ["x", "y"] and counts.events.tolist() == [0, 2]
    bcg = binfer.datasets.load("bcg")
    assert two_arm(bcg).labels.tolist() == bcg["study"].tolist()
    assert two_arm(bcg.drop(columns="study")).labels.tolist() == list(range(len(bcg)))


def test_error_text_shows_no_numpy_reprs():
    floats = pd.DataFrame({"events": [1.0, 2.5], "trials": [3, 4]})
    with pytest.raises(ValueError, match=r"row 1 \(position 1\): 2.5 is not a whole number$"):
        one_arm(floats)
    labelled = pd.DataFrame({"events": [1, 5], "trials": [3, 4]}, index=pd.Index([10, 20]))
    with pytest.raises(ValueError, match=r"row 20 \(position 1\): events 5 > trials 4") as err:
        one_arm(labelled)
    assert "np." not in str(err.value)
    with pytest.raises(ValueError, match=r"conf_level must be a number in \(0, 1\), got 1.5$"):
        binfer.pooled_proportion({"events": [1], "trials": [3]}, conf_level=np.float64(1.5))


def test_rows_read_from_a_csv_name_their_line():
    # issue 11: the CLI marks what it read, and errors give the line as well as the label
    import io

    from binfer._data import from_csv

    text = "events,trials\n1,4\n\n2,\"5\"\n9,5\n"
    frame = from_csv(pd.read_csv(io.StringIO(text)), "h.csv", text=text)
    with pytest.raises(ValueError, match=r"row 2 \(position 2; line 5 of h.csv\): events 9 > "):
        binfer.pooled_proportion(frame)
    # a frame derived from it (rows dropped) no longer matches the file: no line is claimed
    with pytest.raises(ValueError, match=r"row 2 \(position 1\): events 9 > trials 5"):
        binfer.pooled_proportion(frame.iloc[1:])


def test_one_check_for_every_string_option():
    # issue 11: six hand-written "must be one of" checks became core._checks.check_choice
    from pathlib import Path

    from binfer.core._checks import check_choice

    assert check_choice(np.str_("wald"), "method", ("wald", "wilson")) == "wald"
    assert type(check_choice(np.str_("wald"), "method", ("wald",))) is str
    assert check_choice(None, "scale", (None, "model")) is None
    for bad, shown in ((np.array(["wald"]), "['wald']"), (1, "1"), (np.float64(0.5), "0.5"),
                       ("Wald", "'Wald'")):
        with pytest.raises(ValueError, match=rf"^method must be one of wald, wilson; got "
                                             rf"{re.escape(shown)}$"):
            check_choice(bad, "method", ("wald", "wilson"))
    with pytest.raises(ValueError, match=r"^scale must be one of None, model; got 'x'$"):
        check_choice("x", "scale", (None, "model"))
    root = Path(binfer.__file__).parent
    copies = [p.relative_to(root) for p in root.rglob("*.py") if "must be one of" in p.read_text()]
    assert [str(p) for p in copies] == ["core/_checks.py"]


def test_replicate_totals_wide_long_and_arrays_agree():
    from binfer._data import replicate_totals

    wide = pd.DataFrame({"day": ["mon", "tue"], "y": [5, 7], "a": [10, 12], "b": [20, 0]})
    w = replicate_totals(wide, totals="y", trials=["a", "b"])
    long = pd.DataFrame({"day": ["mon", "mon", "tue"], "line": ["a", "b", "a"],
                         "n": [10, 20, 12], "y": [5, 5, 7]})
    lo = replicate_totals(long, totals="y", trials="n", replicate="day", group="line")
    arr = replicate_totals(totals=[5, 7], trials=[[10, 20], [12, 0]])
    for r in (w, lo, arr):
        np.testing.assert_array_equal(r.totals, [5, 7])
        np.testing.assert_array_equal(r.trials, [[10, 20], [12, 0]])
        assert r.events is None and r.trials.dtype == np.int64
    assert list(w.labels) == ["a", "b"] == list(lo.labels)
    assert w.where(1) == "row 1 (position 1)" and "replicate 'tue'" in lo.where(1)
    with pytest.raises(ValueError, match=r"column 'y', row 1 \(position 1\): total 6 differs "
                       r"from the total 5 of the same replicate 'mon' \(row 0"):
        replicate_totals(long.assign(y=[5, 6, 7]), totals="y", trials="n", replicate="day",
                         group="line")
