"""Validation of the core's array arguments: ValueErrors naming argument, value and position."""

from __future__ import annotations

import math
import numbers

import numpy as np


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def check_probabilities(p, name: str = "p") -> np.ndarray:
    """1-D float array with every entry in [0, 1]; errors name the first offending position."""
    try:
        arr = np.asarray(p, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers in [0, 1]; could not read {p!r}") from exc
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if ((arr >= 0.0) & (arr <= 1.0)).all():  # one pass for clean input (NaN fails it)
        return arr
    bad = ~np.isfinite(arr)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"{name}[{i}] = {arr[i].item()} is not a finite number")
    bad = (arr < 0) | (arr > 1)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"{name}[{i}] = {arr[i].item()!r} is outside [0, 1]")
    return arr


def check_counts(counts, size: int, name: str = "counts") -> np.ndarray:
    """1-D int64 array of non-negative integers of length ``size``."""
    if counts is None:
        return np.ones(size, dtype=np.int64)
    raw = np.atleast_1d(np.asarray(counts))
    if raw.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {raw.shape}")
    if raw.size != size:
        raise ValueError(f"{name} has {raw.size} entries but p has {size}; they must match")
    if raw.dtype.kind not in "iuf" and raw.dtype != object:
        raise ValueError(f"{name} must be integers, got dtype {raw.dtype}")
    if raw.dtype.kind in "iu" and raw.min() >= 0 and raw.max() <= 2**53:  # clean integers
        return raw.astype(np.int64, copy=False)
    try:
        arr = raw.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be non-negative integers; could not read {counts!r}"
        ) from exc
    bad = ~np.isfinite(arr)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"{name}[{i}] = {arr[i].item()} is not a finite number")
    bad = arr < 0
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"{name}[{i}] = {raw[i].item()!r} is negative; counts must be >= 0")
    bad = arr != np.floor(arr)
    if bad.any():
        i = _first_bad(bad)
        raise ValueError(f"{name}[{i}] = {raw[i].item()!r} is not an integer")
    if arr.max() > 2**53:
        i = int(np.argmax(arr))
        raise ValueError(f"{name}[{i}] = {raw[i].item()!r} is too large")
    return arr.astype(np.int64)


def plain(value) -> str:
    """``repr`` of a value as the user wrote it: numpy scalars and arrays shown as Python ones.

    Error messages use it so that they read ``got 3.5``, not ``got np.float64(3.5)``.
    """
    if isinstance(value, np.generic | np.ndarray):
        value = value.tolist()  # Python scalars (or lists of them)
    return repr(value)


def check_count(value, name: str, *, minimum: int = 1) -> int:
    """A Python int >= ``minimum`` (integral floats and numpy integers accepted).

    The one check of every count-like option (``n_resamples``, ``max_nodes``, ``n_simulations``,
    ``k``...): ``ValueError: n_resamples must be a positive integer, got -5``.
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value != int(value) or value < minimum):
        expected = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name} must be {expected}, got {plain(value)}")
    return int(value)


def check_random_state(random_state, name: str = "random_state") -> np.random.Generator:
    """``numpy.random.default_rng(random_state)``, its ValueError naming the option."""
    try:
        return np.random.default_rng(random_state)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be None, a non-negative integer or a numpy Generator "
                         f"(anything numpy.random.default_rng accepts), got "
                         f"{plain(random_state)}: {exc}") from exc


def check_positive_int(value, name: str) -> int:
    """A Python int >= 1 (integral floats accepted)."""
    return check_count(value, name, minimum=1)


def check_unit_interval(value, name: str) -> float:
    """A real number strictly inside (0, 1), such as a confidence level or a test's alpha."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {plain(value)}")
    return float(value)


def check_quantiles(q, name: str = "q") -> np.ndarray:
    """Float array (any shape) with every entry in [0, 1]."""
    arr = np.asarray(q, dtype=float)
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > 1)
    if bad.any():
        flat = np.flatnonzero(bad.ravel())[0]
        raise ValueError(
            f"{name} must be probabilities in [0, 1]; entry {flat} is {arr.ravel()[flat].item()!r}"
        )
    return arr


def check_flag(value, name: str) -> bool:
    """``value`` as a bool if it is True or False (Python's or numpy's), else a ValueError
    naming ``name``: a string such as "no" is truthy, so it must not pass as a flag."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {plain(value)}")
    return bool(value)


def check_choice(value, name: str, choices):
    """``value`` if it is one of ``choices`` (strings compared by value, anything else such as
    None by identity), else the one error every string option gives:
    ``ValueError: method must be one of wald, wilson, clopper-pearson; got 'exact'``.

    Returns the matching entry of ``choices`` (a plain ``str`` even for a numpy string).
    """
    for choice in choices:
        if value is choice or (isinstance(value, str) and isinstance(choice, str)
                               and value == choice):
            return choice
    shown = ", ".join(c if isinstance(c, str) else plain(c) for c in choices)
    raise ValueError(f"{name} must be one of {shown}; got {plain(value)}")


def _position(shape: tuple, flat: int) -> str:
    """``[i, j]`` of a flat index into an array of this shape."""
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat, shape)) + "]"


def read_array(value, name: str, *, dtype=float) -> np.ndarray:
    """``numpy.asarray`` with a ValueError naming the argument (ragged lists included)."""
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        if "inhomogeneous" in str(exc) or "sequence" in str(exc):
            raise ValueError(
                f"{name} is ragged (rows of different lengths): a batch needs one row of G "
                "groups per member; pad the shorter members with groups of count 0"
            ) from exc
        raise ValueError(f"{name} must be numbers; could not read {value!r}") from exc


def check_batch(p, counts) -> tuple[np.ndarray, np.ndarray]:
    """A batch of distributions: ``p`` of shape (..., G) and ``counts`` broadcast to it.

    Returns C-contiguous float64 p and int64 counts of the common shape; errors name the
    argument, the shapes and the first offending entry as ``p[3, 7]``.
    """
    arr = p if isinstance(p, np.ndarray) and p.dtype == np.float64 else read_array(p, "p")
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"p must have at least one group (last axis), got shape {arr.shape}")
    flat = arr.ravel()
    bad = ~((flat >= 0.0) & (flat <= 1.0))  # NaN fails both comparisons
    if bad.any():
        i = _first_bad(bad)
        what = "is not a finite number" if not np.isfinite(flat[i]) else "is outside [0, 1]"
        raise ValueError(f"p{_position(arr.shape, i)} = {flat[i].item()!r} {what}")
    if counts is None:
        c = np.ones(arr.shape, dtype=np.int64)
    else:
        raw = read_array(counts, "counts", dtype=None)
        if raw.dtype.kind not in "iuf" and raw.dtype != object:
            raise ValueError(f"counts must be integers, got dtype {raw.dtype}")
        if raw.ndim == 0 or raw.shape[-1] != arr.shape[-1]:
            raise ValueError(
                f"counts has shape {raw.shape} but p has shape {arr.shape}: counts must have "
                f"{arr.shape[-1]} groups on its last axis, shape {arr.shape} or "
                f"({arr.shape[-1]},)"
            )
        try:
            shape = np.broadcast_shapes(arr.shape, raw.shape)
        except ValueError:
            raise ValueError(
                f"counts of shape {raw.shape} does not broadcast against p of shape "
                f"{arr.shape}: give counts of shape {arr.shape} or ({arr.shape[-1]},)"
            ) from None
        try:
            cf = raw.astype(float)
        except (TypeError, ValueError) as exc:
            raise ValueError("counts must be non-negative integers") from exc
        flat = cf.ravel()
        for mask, what in (
            (~np.isfinite(flat), "is not a finite number"),
            (flat < 0, "is negative; counts must be >= 0"),
            (flat != np.floor(flat), "is not an integer"),
            (flat > 2**53, "is too large"),
        ):
            if mask.any():
                i = _first_bad(mask)
                raise ValueError(
                    f"counts{_position(raw.shape, i)} = {raw.ravel()[i].item()!r} {what}")
        c = np.broadcast_to(cf.astype(np.int64), shape)
        arr = np.broadcast_to(arr, shape)
    # copies: the distribution freezes its arrays and must not share the caller's
    return np.array(arr, dtype=np.float64, order="C"), np.array(c, order="C")
