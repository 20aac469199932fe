"""The loss curve of a job as a PNG (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402 - the backend is chosen before pyplot-free import


def loss_curve_png(points: Sequence[tuple[int, float]], *, title: str = "training loss") -> bytes:
    """A small line chart of (step, loss); an empty chart says so when there is nothing yet."""
    figure = Figure(figsize=(6, 3), dpi=100)
    axes = figure.add_subplot()
    if points:
        steps, losses = zip(*points, strict=True)
        axes.plot(steps, losses, marker="o", markersize=3, linewidth=1.5)
    else:
        axes.text(0.5, 0.5, "no progress events yet", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
