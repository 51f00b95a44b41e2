"""The figures of a run directory, drawn with matplotlib's Agg canvas (no display needed): the
loss and accuracy per epoch, and the confusion matrix of the test rows."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.callbacks import History
from chainrule.safefile import atomic_write

MAX_CONFUSION_CLASSES = 100  # more classes than this: a matrix too large to read, not drawn


def curves(history: History, path: Path) -> None:
    """The training (and validation) loss and accuracy per epoch."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    metrics = [m for m in ("loss", "accuracy") if m in history.metrics]
    fig = Figure(figsize=(5 * len(metrics), 3.8), layout="constrained")
    epochs = np.arange(1, history.epochs + 1)
    for ax, metric in zip(fig.subplots(1, len(metrics), squeeze=False)[0], metrics, strict=True):
        ax.plot(epochs, history[metric], label="train")
        if f"val_{metric}" in history.metrics:
            ax.plot(epochs, history[f"val_{metric}"], label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


def _save(fig: Any, path: Path) -> None:
    """The figure as a PNG file, written whole or not at all."""
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    atomic_write(path, png.getvalue(), overwrite=True)


def confusion(cm: np.ndarray, classes: Sequence[Any], path: Path) -> bool:
    """C[t, p], the rows of true class t predicted as p; False (nothing drawn) for more than
    `MAX_CONFUSION_CLASSES` classes."""
    from matplotlib.figure import Figure

    k = len(classes)
    if k > MAX_CONFUSION_CLASSES:
        return False
    fig = Figure(figsize=(1.2 + 0.55 * k, 1 + 0.5 * k), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = np.arange(k)
    ax.set_xticks(ticks, [str(c) for c in classes], rotation=45, ha="right")
    ax.set_yticks(ticks, [str(c) for c in classes])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("confusion matrix (test rows)")
    if k <= 20:
        for t in range(k):
            for p in range(k):
                color = "white" if cm[t, p] > cm.max() / 2 else "black"
                ax.text(p, t, str(cm[t, p]), ha="center", va="center", color=color, fontsize=8)
    _save(fig, path)
    return True
