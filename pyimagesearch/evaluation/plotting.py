"""Figures: the training curves (the tutorial's plot.png), per-label precision-recall curves and
confusion heat maps."""

import io
import math
import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # Files only: no display is needed or assumed.
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import precision_recall_curve  # noqa: E402

from pyimagesearch.atomic import atomic_path  # noqa: E402


def _save(figure: plt.Figure, path: str | os.PathLike) -> None:
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary)
    plt.close(figure)


def plot_history(history: dict[str, list[float]], path: str | os.PathLike, metrics: list[str]) -> None:
    """Save loss and ``metrics`` per epoch, training beside validation, to ``path`` atomically.

    Args:
        history: Keras' ``History.history``: ``loss``, ``val_loss`` and each metric with its ``val_``;
            with a ``phase`` per epoch (fine-tuning a pretrained backbone), a line marks where phase 2 starts.
        path: Image file to write; its extension picks the format (``.png``).
        metrics: Metric names to plot beside the loss, e.g. ``["exact_match", "macro_f1"]``; each is
            drawn for training and validation where the history has it.
    """
    figure, (loss_axis, metric_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    epochs = range(1, len(history["loss"]) + 1)
    for name in ["loss", *metrics]:
        axis = loss_axis if name == "loss" else metric_axis
        for key, prefix in ((name, "training"), (f"val_{name}", "validation")):
            if key in history:
                axis.plot(epochs, history[key], label=f"{prefix} {name.replace('_', ' ')}")
    loss_axis.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    metric_axis.set(title="Accuracy and F1", xlabel="epoch", ylabel="score", ylim=(0.0, 1.02))
    phases = history.get("phase", [])
    if 2 in phases:
        for axis in (loss_axis, metric_axis):
            axis.axvline(phases.index(2) + 0.5, color="grey", linestyle="--", label="fine-tuning starts")
    for axis in (loss_axis, metric_axis):
        axis.legend(loc="best")
        axis.grid(alpha=0.3)
    _save(figure, path)


def plot_precision_recall(
    true: np.ndarray,
    probabilities: np.ndarray,
    classes: Sequence[str],
    thresholds: Sequence[float],
    path: str | os.PathLike,
) -> None:
    """Save one precision-recall curve per label, marking its decision threshold, atomically.

    Args:
        true: Multi-hot truth, shape (N, num_labels).
        probabilities: Per-label probabilities, same shape.
        classes: Label names, in column order.
        thresholds: The threshold each label is decided at; its point is marked on the curve.
        path: Image file to write.
    """
    columns = min(3, len(classes))
    rows = math.ceil(len(classes) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.6 * rows), squeeze=False)
    for axis, label, truth, scores, threshold in zip(axes.flat, classes, true.T, probabilities.T, thresholds):
        axis.set(title=label, xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
        axis.grid(alpha=0.3)
        if not truth.any():
            axis.text(0.5, 0.5, "no positive image", ha="center", va="center")
            continue
        precision, recall, _ = precision_recall_curve(truth, scores)
        axis.plot(recall, precision)
        decided = scores >= threshold
        hits = int((decided & (truth == 1)).sum())
        axis.plot(
            hits / truth.sum(),
            hits / max(int(decided.sum()), 1),
            "o",
            label=f"threshold {threshold:.2f}",
        )
        axis.legend(loc="lower left")
    for axis in list(axes.flat)[len(classes) :]:
        axis.axis("off")
    _save(figure, path)


def confusion_heatmap(counts: Sequence[Sequence[int]], rows: Sequence[str], columns: Sequence[str], title: str) -> bytes:
    """A confusion matrix drawn as a heat map, as PNG bytes (for embedding in a page).

    Each cell is coloured by its share of its row (of the images whose truth the row is), so a
    rare label's mistakes show as plainly as a common one's, and labelled with its count.

    Args:
        counts: counts[r][c], images of true ``rows[r]`` predicted ``columns[c]``.
        rows: The true labels, top to bottom.
        columns: The predicted labels, left to right.
        title: The figure's title.
    """
    counts = np.asarray(counts)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure, axis = plt.subplots(figsize=(1.5 + 0.9 * len(columns), 1.3 + 0.6 * len(rows)))
    axis.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    axis.set(title=title, xlabel="predicted", ylabel="true", xticks=range(len(columns)), yticks=range(len(rows)))
    axis.set_xticklabels(columns, rotation=30, ha="right")
    axis.set_yticklabels(rows)
    for (row, column), count in np.ndenumerate(counts):
        axis.text(column, row, str(count), ha="center", va="center", color="white" if shares[row, column] > 0.5 else "black")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()
