"""The training curves figure (the tutorial's plot.png)."""

import os

import matplotlib

matplotlib.use("Agg")  # Files only: no display is needed or assumed.
import matplotlib.pyplot as plt  # noqa: E402

from pyimagesearch.atomic import atomic_path  # noqa: E402


def plot_history(history: dict[str, list[float]], path: str | os.PathLike, metrics: list[str]) -> None:
    """Save loss and ``metrics`` per epoch, training beside validation, to ``path`` atomically.

    Args:
        history: Keras' ``History.history``: ``loss``, ``val_loss`` and each metric with its ``val_``.
        path: Image file to write; its extension picks the format (``.png``).
        metrics: Metric names to plot beside the loss, e.g. ``["binary_accuracy", "exact_match"]``.
    """
    figure, (loss_axis, metric_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    epochs = range(1, len(history["loss"]) + 1)
    for name in ["loss", *metrics]:
        axis = loss_axis if name == "loss" else metric_axis
        for key, prefix in ((name, "training"), (f"val_{name}", "validation")):
            if key in history:
                axis.plot(epochs, history[key], label=f"{prefix} {name.replace('_', ' ')}")
    loss_axis.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    metric_axis.set(title="Accuracy", xlabel="epoch", ylabel="fraction right", ylim=(0.0, 1.02))
    for axis in (loss_axis, metric_axis):
        axis.legend(loc="best")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary)
    plt.close(figure)
