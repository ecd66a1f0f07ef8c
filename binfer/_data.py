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
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .core._checks import check_choice, plain

__all__ = ["OneArm", "TwoArm", "one_arm", "two_arm", "as_frame", "describe_rows",
           "check_alternative", "ALTERNATIVES", "from_csv"]

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
