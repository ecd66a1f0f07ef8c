"""Shared machinery of binfer's result dataclasses: a short report as ``repr``, ``to_frame()``,
``_repr_html_``, and the ``(low, high)`` interval type.

A result is a ``@dataclass(frozen=True, repr=False)`` subclass of :class:`Result`. Scalar fields
become one tidy row in ``to_frame()`` (an interval field ``ci`` becomes ``ci_low`` and ``ci_high``);
DataFrame fields (per-group tables) stay attributes. ``repr`` reads like R's ``print.htest``:
a title, then one line per quantity.
"""

from __future__ import annotations

import dataclasses
import html
import math
from typing import ClassVar, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["ConfidenceInterval", "Result", "TestResult", "fmt"]


class ConfidenceInterval(NamedTuple):
    """A ``(low, high)`` interval."""

    low: float
    high: float


def fmt(value, digits: int = 4) -> str:
    """A number as a report shows it: 4 significant digits, p-values below 1e-4 in e-notation."""
    if value is None:
        return "-"
    if isinstance(value, ConfidenceInterval):
        return f"[{fmt(value.low, digits)}, {fmt(value.high, digits)}]"
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value != 0 and (abs(value) < 1e-4 or abs(value) >= 1e6):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def _scalar(value) -> bool:
    return value is None or isinstance(value, int | float | str | bool | np.number)


class Result:
    """Base of every result: subclasses are frozen dataclasses and set ``_title``."""

    _title: ClassVar[str] = "Result"

    def _fields(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def _lines(self) -> list[str]:
        """One ``name: value`` line per scalar or interval field (subclasses may do better)."""
        lines = []
        for name, value in self._fields().items():
            if isinstance(value, ConfidenceInterval) or (_scalar(value) and value is not None):
                lines.append(f"{name}: {fmt(value)}")
        return lines

    def _heading(self) -> str:
        """The report's first line (``repr`` and ``_repr_html_``)."""
        return self._title

    def __repr__(self) -> str:
        body = "\n".join("    " + line for line in self._lines())
        return f"{self._heading()}\n{body}"

    def to_frame(self) -> pd.DataFrame:
        """One tidy row: every scalar field, intervals split into ``<name>_low``/``<name>_high``."""
        row = {}
        for name, value in self._fields().items():
            if isinstance(value, ConfidenceInterval):
                row[f"{name}_low"] = value.low
                row[f"{name}_high"] = value.high
            elif _scalar(value):
                row[name] = value
        return pd.DataFrame([row])

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(line.split(': ', 1)[0])}</td>"
            f"<td style='text-align:left'>{html.escape(line.split(': ', 1)[-1])}</td></tr>"
            for line in self._lines()
        )
        tables = "".join(
            f"<details><summary>{html.escape(name)}</summary>{value.to_html()}</details>"
            for name, value in self._fields().items()
            if isinstance(value, pd.DataFrame)
        )
        title = html.escape(self._heading())
        return f"<div><strong>{title}</strong><table>{rows}</table>{tables}</div>"


@dataclasses.dataclass(frozen=True, repr=False)
class TestResult(Result):
    """A hypothesis test: ``statistic``, ``pvalue`` and how they were obtained.

    ``pvalue_mcse`` is the Monte Carlo standard error of a simulated p-value (None when exact or
    asymptotic); ``note`` says what the method did that a reader should know (a fallback, a
    continuity correction).
    """

    __test__ = False  # not a pytest test class

    statistic: float
    pvalue: float
    df: float | None
    method: str
    pvalue_mcse: float | None = None
    note: str | None = None

    def _heading(self) -> str:  # the method names the test, as R's print.htest does
        return self.method

    def _lines(self) -> list[str]:
        lines = [f"statistic: {fmt(self.statistic)}"]
        if self.df is not None:
            lines.append(f"df: {fmt(self.df)}")
        pv = f"pvalue: {fmt(self.pvalue)}"
        if self.pvalue_mcse is not None:
            pv += f" (Monte Carlo SE {fmt(self.pvalue_mcse, 2)})"
        lines.append(pv)
        if self.note:
            lines.append(f"note: {self.note}")
        return lines
