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
