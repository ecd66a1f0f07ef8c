"""Every table binfer reads goes through here: DataFrame, dict or arrays -> checked numpy arrays.

One place for all input checks, so every entry point reports bad input the same way: a
``ValueError`` naming the column, the row (its index label and position) and what was expected,
e.g. ``column 'events', row 'Hospital C' (position 2): events 9 > trials 5``. Nothing is dropped.
A table the CLI read from a CSV also names the row's line in the file (:func:`from_csv`):
``row 2 (position 2; line 4 of hospitals.csv)``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .core._checks import check_choice, plain

__all__ = ["OneArm", "TwoArm", "one_arm", "two_arm", "as_frame", "describe_rows",
           "check_alternative", "ALTERNATIVES", "from_csv", "ReplicateTotals",
           "replicate_totals", "whole_array", "design_array"]

ALTERNATIVES = ("two-sided", "less", "greater")


def check_alternative(alternative) -> str:
    """``alternative`` of a test with a direction: one of scipy's three spellings."""
    return check_choice(alternative, "alternative", ALTERNATIVES)


def _objects(index: pd.Index) -> np.ndarray:
    """A 1-D object array of the labels (the extra None keeps tuple labels from becoming 2-D)."""
    return np.asarray(index.tolist() + [None], dtype=object)[:-1]


@dataclass(frozen=True)
class OneArm:
    """Grouped one-arm counts: ``events[i]`` successes of ``trials[i]`` in group ``labels[i]``."""

    events: np.ndarray  # int64
    trials: np.ndarray  # int64
    label_index: pd.Index  # group labels (the group column, or the row index)

    @property
    def labels(self) -> np.ndarray:
        """Group labels as Python objects (made on demand: costly for millions of rows)."""
        return _objects(self.label_index)

    @property
    def k(self) -> int:
        return int(self.events.size)


@dataclass(frozen=True)
class TwoArm:
    """Two-arm studies: ``events_treat / trials_treat`` against ``events_ctrl / trials_ctrl``."""

    events_treat: np.ndarray
    trials_treat: np.ndarray
    events_ctrl: np.ndarray
    trials_ctrl: np.ndarray
    label_index: pd.Index

    @property
    def labels(self) -> np.ndarray:
        """Study labels as Python objects (made on demand)."""
        return _objects(self.label_index)

    @property
    def k(self) -> int:
        return int(self.events_treat.size)


def as_frame(data) -> pd.DataFrame:
    """A pandas DataFrame from a DataFrame, a mapping of columns, or an interchange table."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame({key: np.asarray(value) for key, value in data.items()})
        except ValueError as exc:
            lengths = {key: len(np.atleast_1d(value)) for key, value in data.items()}
            raise ValueError(f"data: columns have different lengths {lengths}") from exc
    if hasattr(data, "to_pandas"):  # polars, pyarrow
        return data.to_pandas()
    if hasattr(data, "__dataframe__"):
        return pd.api.interchange.from_dataframe(data)
    raise ValueError(
        f"data must be a pandas DataFrame or a mapping of column name to values, "
        f"got {type(data).__name__}"
    )


class _CsvLines:
    """The file a frame was read from, and on demand the line each of its rows starts on.

    The lines are found only when an error needs one (a second pass over the file with Python's
    csv module, which splits records as pandas' default reader does): a quoted field may span
    lines, and pandas skips blank lines, so the line is not always position + 2.
    """

    def __init__(self, name: str, *, path=None, text: str | None = None):
        self.name, self._path, self._text = name, path, text
        self._starts: list[int] | None = None

    def __deepcopy__(self, memo):  # pandas deep-copies attrs into every derived frame
        return self

    def _records(self):
        if self._text is not None:
            return io.StringIO(self._text)
        return open(self._path, newline="", encoding="utf-8-sig", errors="replace")  # noqa: SIM115

    def line(self, pos: int, n_rows: int) -> int | None:
        """The 1-based line of the file on which data row ``pos`` (0-based, after the header)
        starts; None if it cannot be told (the file's records are not the frame's ``n_rows``)."""
        if self._starts is None:
            starts = []
            try:
                with self._records() as stream:
                    reader = csv.reader(stream)
                    end = 0  # the line the previous record ended on
                    for record in reader:
                        if record and not (len(record) == 1 and not record[0].strip()):
                            starts.append(end + 1)  # pandas skips blank lines
                        end = reader.line_num
            except (OSError, csv.Error):
                starts = []
            self._starts = starts[1:]  # the first record is the header
        return self._starts[pos] if len(self._starts) == n_rows else None


def from_csv(frame: pd.DataFrame, name: str, *, path=None, text: str | None = None):
    """Mark ``frame`` as read by ``pandas.read_csv`` (default options, one header line) from
    ``path`` or ``text``, so that errors about its rows also give the line in ``name``."""
    frame.attrs["binfer_csv"] = _CsvLines(name, path=path, text=text)
    return frame


def _row(frame: pd.DataFrame, pos: int) -> str:
    where = f"position {pos}"
    source = frame.attrs.get("binfer_csv")
    if isinstance(source, _CsvLines) and isinstance(frame.index, pd.RangeIndex):
        line = source.line(pos, len(frame))
        if line is not None:
            where += f"; line {line} of {source.name}"
    return f"row {plain(frame.index[pos])} ({where})"


def _column(frame: pd.DataFrame, name, role: str) -> pd.Series:
    if not isinstance(name, str | int):
        raise ValueError(f"{role} must be a column name, got {name!r}")
    if name not in frame.columns:
        cols = ", ".join(repr(c) for c in frame.columns)
        raise ValueError(f"{role}={name!r}: no such column; the data has columns {cols}")
    return frame[name]


def _counts(frame: pd.DataFrame, name, role: str) -> np.ndarray:
    """Column ``name`` as int64, refusing missing, non-numeric, negative and fractional values."""
    col = _column(frame, name, role)
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu":
        # Plain integer column: no NaN, no fractions possible; only the sign to check.
        values = col.to_numpy()
        if values.size and values.min() < 0:
            pos = int(np.flatnonzero(values < 0)[0])
            raise ValueError(
                f"column {name!r}, {_row(frame, pos)}: {values[pos]} is negative; counts are >= 0"
            )
        return values.astype(np.int64, copy=False)
    missing = col.isna().to_numpy()
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise ValueError(f"column {name!r}, {_row(frame, pos)}: missing value (NaN)")
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"column {name!r}, {_row(frame, pos)}: {plain(col.iloc[pos])} is not a finite number"
        )
    bad = values < 0
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"column {name!r}, {_row(frame, pos)}: {plain(col.iloc[pos])} is negative; "
            "counts are >= 0"
        )
    bad = values != np.floor(values)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"column {name!r}, {_row(frame, pos)}: {plain(col.iloc[pos])} is not a whole number"
        )
    if values.size and values.max() > 2**53:
        pos = int(np.argmax(values))
        raise ValueError(
            f"column {name!r}, {_row(frame, pos)}: {plain(col.iloc[pos])} is too large"
        )
    return values.astype(np.int64)


def _pair(frame, events, trials, *, allow_zero_trials: bool) -> tuple[np.ndarray, np.ndarray]:
    e = _counts(frame, events, "events")
    n = _counts(frame, trials, "trials")
    bad = e > n
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"column {events!r}, {_row(frame, pos)}: events {e[pos]} > trials {n[pos]} "
            f"(column {trials!r})"
        )
    if not allow_zero_trials and (n == 0).any():
        pos = int(np.flatnonzero(n == 0)[0])
        raise ValueError(
            f"column {trials!r}, {_row(frame, pos)}: trials = 0; every group needs at least one"
        )
    return e, n


def _labels(frame: pd.DataFrame, group, role: str) -> pd.Index:
    """The labels: column ``group``; if None, the canonical column named ``role`` (``"group"``
    for one-arm data, ``"study"`` for two-arm data) when the data has one; else the row index."""
    if group is None:
        if role not in frame.columns:
            return frame.index
        group = role
    col = _column(frame, group, role)
    missing = col.isna().to_numpy()
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise ValueError(f"column {group!r}, {_row(frame, pos)}: missing label")
    return pd.Index(col)


def _min_groups(size: int, min_groups: int, what: str) -> None:
    if size < min_groups:
        plural = {"group": "groups", "study": "studies"}[what]
        raise ValueError(
            f"data has {size} {what if size == 1 else plural}; this needs at least {min_groups}"
        )


def describe_rows(labels, mask: np.ndarray, what: str) -> str:
    """'2 groups ('A', 'C')' for the rows in ``mask`` (at most five labels shown), for notes."""
    idx = np.flatnonzero(mask)
    shown = [labels[i] for i in idx[:5]]
    names = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in shown)
    names += ", ..." if idx.size > 5 else ""
    plural = {"group": "groups", "study": "studies"}[what]
    return f"{idx.size} {what if idx.size == 1 else plural} ({names})"


def one_arm(
    data,
    *,
    events="events",
    trials="trials",
    group=None,
    outcome=None,
    min_groups: int = 1,
    allow_zero_trials: bool = False,
) -> OneArm:
    """Validated one-arm counts from grouped rows, or from one row per subject.

    ``group=None`` uses the column ``group`` if the data has one, else the row index.
    With ``outcome`` set, each row is one subject: ``outcome`` is 0/1 (or False/True) and ``group``
    names its group (no ``group`` and no column ``group``: one group, ``"all"``); the rows are
    aggregated per group, groups in sorted label order, or in the order of the categories when
    the group column is a pandas Categorical (so the row order never changes a result, and an
    ordered factor orders the groups as a trend test expects).
    """
    frame = as_frame(data)
    if outcome is not None:
        return _aggregate(frame, outcome, group, min_groups)
    e, n = _pair(frame, events, trials, allow_zero_trials=allow_zero_trials)
    labels = _labels(frame, group, "group")
    _min_groups(e.size, min_groups, "group")
    return OneArm(events=e, trials=n, label_index=labels)


def _aggregate(frame: pd.DataFrame, outcome, group, min_groups: int) -> OneArm:
    y = _counts(frame, outcome, "outcome")
    bad = y > 1
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"column {outcome!r}, {_row(frame, pos)}: outcome {y[pos]} is not 0 or 1"
        )
    if group is None and "group" not in frame.columns:  # every subject in one group
        labels = pd.Index(np.full(y.size, "all", dtype=object))
    else:
        labels = _labels(frame, group, "group")
    # Sorted labels (a Categorical: its categories' order, unused ones dropped), not the order of
    # first appearance: shuffling the subjects must not change the groups' order.
    codes, uniques = pd.factorize(labels, sort=True)
    e = np.bincount(codes, weights=y, minlength=uniques.size).astype(np.int64)
    n = np.bincount(codes, minlength=uniques.size).astype(np.int64)
    _min_groups(e.size, min_groups, "group")
    return OneArm(events=e, trials=n, label_index=pd.Index(uniques))


def two_arm(
    data,
    *,
    events_treat="events_treat",
    trials_treat="trials_treat",
    events_ctrl="events_ctrl",
    trials_ctrl="trials_ctrl",
    study=None,
    min_studies: int = 1,
) -> TwoArm:
    """Validated two-arm counts, one row per study (trials must be >= 1 in both arms).

    ``study=None`` uses the column ``study`` if the data has one, else the row index.
    """
    frame = as_frame(data)
    et, nt = _pair(frame, events_treat, trials_treat, allow_zero_trials=False)
    ec, nc = _pair(frame, events_ctrl, trials_ctrl, allow_zero_trials=False)
    labels = _labels(frame, study, "study")
    _min_groups(et.size, min_studies, "study")
    return TwoArm(et, nt, ec, nc, labels)


# --------------------------------------------------------------------------- replicate totals
def whole_array(values, what: str, where) -> np.ndarray:
    """int64 copy of ``values`` (any shape), refusing NaN, negative and fractional entries;
    ``where(flat position)`` names the entry."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be numbers, got {plain(values)}") from exc
    flat = arr.ravel()
    for mask, why in ((np.isnan(flat), "missing value (NaN)"),
                      (~np.isfinite(flat) & ~np.isnan(flat), "is not a finite number"),
                      (flat < 0, "is negative; counts are >= 0"),
                      (flat != np.floor(flat), "is not a whole number")):
        if mask.any():
            pos = int(np.flatnonzero(mask)[0])
            v = flat[pos]
            shown = "" if why.startswith("missing") else (
                f"{int(v) if np.isfinite(v) and v == np.floor(v) else plain(v)} ")
            raise ValueError(f"{where(pos)}: {shown}{why}")
    return arr.astype(np.int64)


def design_array(values, role: str, n_rows: int, rows: str = "T") -> np.ndarray:
    """A design as a C-contiguous int64 array of shape (n_rows, G): ``values`` of shape (G,)
    (the same trials in every replicate) or (n_rows, G); ``role`` names the argument in errors,
    ``rows`` the replicate count in the message about a wrong number of dimensions."""
    raw = np.asarray(values)
    if raw.ndim == 1:
        n = whole_array(raw, role, lambda i: f"{role}, group {i}")
        return np.ascontiguousarray(np.broadcast_to(n, (n_rows, n.size)))
    if raw.ndim == 2:
        if raw.shape[0] != n_rows:
            raise ValueError(f"{role} has shape {raw.shape} but there are {n_rows} totals: give "
                             f"one row of trials per replicate, shape ({n_rows}, G), or one "
                             "design of shape (G,)")
        G = raw.shape[1]
        return whole_array(raw, role, lambda i: f"{role}, replicate {i // G}, group {i % G}")
    raise ValueError(f"{role} must have shape (G,) or ({rows}, G), got shape {raw.shape}")


def _from_arrays(totals, trials, events):
    if isinstance(totals, str) or isinstance(trials, str):
        raise ValueError("totals and trials are column names but no data was given")
    y = whole_array(np.atleast_1d(totals), "totals", lambda i: f"totals, position {i}")
    if y.ndim != 1:
        raise ValueError(f"totals must be one-dimensional (one total per replicate), "
                         f"got shape {y.shape}")
    T = y.size
    n = design_array(trials, "trials", T)
    e = None
    if events is not None:
        e = np.asarray(events)
        if e.shape != n.shape:
            raise ValueError(f"events has shape {e.shape}; it must have the shape of the "
                             f"design, ({T}, {n.shape[1]}): one count per replicate and group")
        G = n.shape[1]
        e = whole_array(e, "events", lambda i: f"events, replicate {i // G}, group {i % G}")
    labels = pd.RangeIndex(n.shape[1], name="group")
    return y, np.ascontiguousarray(n), e, labels, lambda t: f"replicate {t}"


def _names(value, role: str) -> list:
    if isinstance(value, str | int) or value is None:
        raise ValueError(f"{role}: with wide data give a list of the groups' columns, "
                         f"got {plain(value)}")
    return list(value)


def _from_wide(frame, totals, trials, events):
    y = _counts(frame, totals, "totals")
    cols = _names(trials, "trials")
    n = np.column_stack([_counts(frame, c, "trials") for c in cols]) if cols else np.empty(
        (len(frame), 0), np.int64)
    e = None
    if events is not None:
        ecols = _names(events, "events")
        if len(ecols) != len(cols):
            raise ValueError(f"events names {len(ecols)} columns but trials names {len(cols)}: "
                             "one events column per group")
        e = np.column_stack([_counts(frame, c, "events") for c in ecols])
    labels = pd.Index(cols, name="group")
    return y, n, e, labels, lambda t: _row(frame, t)


def _from_long(frame, totals, trials, events, replicate, group):
    for value, role in ((totals, "totals"), (trials, "trials"), (events, "events")):
        if value is not None and not isinstance(value, str | int):
            raise ValueError(f"{role}: with long data (replicate= and group=) give one column "
                             f"name, got {plain(value)}")
    rep_col, grp_col = _column(frame, replicate, "replicate"), _column(frame, group, "group")
    for col, name in ((rep_col, replicate), (grp_col, group)):
        missing = col.isna().to_numpy()
        if missing.any():
            pos = int(np.flatnonzero(missing)[0])
            raise ValueError(f"column {name!r}, {_row(frame, pos)}: missing label")
    y_rows = _counts(frame, totals, "totals")
    n_rows = _counts(frame, trials, "trials")
    e_rows = None if events is None else _counts(frame, events, "events")
    r_codes, r_labels = pd.factorize(rep_col, sort=False)  # replicates in order of appearance
    g_codes, g_labels = pd.factorize(grp_col, sort=True)
    T, G = r_labels.size, g_labels.size
    cell = r_codes * G + g_codes
    _, first, inverse = np.unique(cell, return_index=True, return_inverse=True)
    dup = np.flatnonzero(first[inverse] != np.arange(cell.size))
    if dup.size:
        pos, prev = int(dup[0]), int(first[inverse[dup[0]]])
        raise ValueError(f"column {group!r}, {_row(frame, pos)}: replicate "
                         f"{plain(rep_col.iloc[pos])} already has group "
                         f"{plain(grp_col.iloc[pos])} ({_row(frame, prev)})")
    first_row = np.full(T, -1)
    for pos in range(r_codes.size - 1, -1, -1):
        first_row[r_codes[pos]] = pos
    y = y_rows[first_row]
    bad = np.flatnonzero(y_rows != y[r_codes])
    if bad.size:
        pos = int(bad[0])
        ref = int(first_row[r_codes[pos]])
        raise ValueError(f"column {totals!r}, {_row(frame, pos)}: total {y_rows[pos]} differs "
                         f"from the total {y_rows[ref]} of the same replicate "
                         f"{plain(rep_col.iloc[pos])} ({_row(frame, ref)}); the total must be "
                         "constant within a replicate")
    n = np.zeros((T, G), np.int64)
    n[r_codes, g_codes] = n_rows
    e = None
    if e_rows is not None:
        over = np.flatnonzero(e_rows > n_rows)
        if over.size:
            pos = int(over[0])
            raise ValueError(f"column {events!r}, {_row(frame, pos)}: events {e_rows[pos]} > "
                             f"trials {n_rows[pos]} (column {trials!r})")
        e = np.zeros((T, G), np.int64)
        e[r_codes, g_codes] = e_rows
    labels = pd.Index(g_labels, name=group)
    return y, n, e, labels, lambda t: (f"replicate {plain(r_labels[t])} "
                                       f"({_row(frame, int(first_row[t]))})")


@dataclass(frozen=True)
class ReplicateTotals:
    """Replicate totals over a known design: ``totals[t]`` events of replicate t, whose group g
    had ``trials[t, g]`` trials (and ``events[t, g]`` events, when the group counts were observed);
    ``where(t)`` names replicate t in error messages."""

    totals: np.ndarray  # (T,) int64
    trials: np.ndarray  # (T, G) int64
    events: np.ndarray | None  # (T, G) int64
    labels: pd.Index  # the G group labels
    where: Callable[[int], str]


def replicate_totals(data=None, *, totals, trials, events=None, replicate=None,
                     group=None) -> ReplicateTotals:
    """Validated replicate totals from arrays, a wide table (a totals column and a list of G
    trials columns, one row per replicate) or a long one (``replicate`` and ``group`` columns,
    one row per replicate and group, the total repeated on every row of its replicate).

    At least 2 replicates and 2 groups, every group with trials somewhere, totals <= N_t, and
    events (if given) <= trials and adding up to the totals; otherwise a ValueError naming the
    argument or column and the replicate (its row)."""
    if data is None:
        if replicate is not None or group is not None:
            raise ValueError("replicate= and group= name columns of long data: give data")
        y, n, e, labels, where = _from_arrays(totals, trials, events)
    else:
        frame = as_frame(data)
        if (replicate is None) != (group is None):
            raise ValueError("long data needs both replicate= and group= (columns); wide data "
                             "neither")
        if replicate is None:
            y, n, e, labels, where = _from_wide(frame, totals, trials, events)
        else:
            y, n, e, labels, where = _from_long(frame, totals, trials, events, replicate, group)
    T, G = n.shape
    if G < 2:
        raise ValueError(f"trials: the design has {G} group{'s' if G != 1 else ''}; the test "
                         "compares at least 2")
    if T < 2:
        raise ValueError(f"totals: {T} replicate{'s' if T != 1 else ''}; the test needs at "
                         "least 2")
    empty = np.flatnonzero(n.sum(axis=0) == 0)
    if empty.size:
        raise ValueError(f"trials: group {plain(labels[int(empty[0])])} has no trials in any "
                         "replicate; its p is not defined")
    big_n = n.sum(axis=1)
    over = np.flatnonzero(y > big_n)
    if over.size:
        t = int(over[0])
        raise ValueError(f"totals, {where(t)}: total {y[t]} > {big_n[t]} trials in that "
                         "replicate")
    if e is not None:
        over = np.argwhere(e > n)
        if over.size:
            t, g = (int(v) for v in over[0])
            raise ValueError(f"events, {where(t)}, group {plain(labels[g])}: events {e[t, g]} > "
                             f"trials {n[t, g]}")
        off = np.flatnonzero(e.sum(axis=1) != y)
        if off.size:
            t = int(off[0])
            raise ValueError(f"events, {where(t)}: the group counts add up to "
                             f"{int(e[t].sum())}, not the total {y[t]}")
    return ReplicateTotals(y, n, e, labels, where)
