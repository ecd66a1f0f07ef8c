"""What every figure shares: a new Axes sized to its content."""

from __future__ import annotations

__all__ = ["new_axes"]


def new_axes(width: float, height: float):
    """A new figure with one Axes, constrained layout (pyplot imported only here)."""
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return ax
