"""Validation metrics every epoch: a Keras callback computing them with scikit-learn, and their CSV."""

import csv
import os
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pyimagesearch.atomic import write_csv
from pyimagesearch.evaluation.metrics import SUMMARY_METRICS, evaluate_predictions
from pyimagesearch.models.tasks import Task

# Per-label metrics recorded each epoch, as ``val_<metric>/<label>``.
PER_LABEL_METRICS = ("precision", "recall", "f1", "average_precision")


def metrics_csv_path(model_path: str | os.PathLike) -> Path:
    """The per-epoch metrics file beside a model: ``fashion.model`` -> ``fashion.metrics.csv``."""
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}.metrics.csv")


def read_csv_rows(path: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of a metrics CSV written by `atomic.write_csv`, numbers as floats (``epoch`` and ``phase`` as ints);
    none for a missing file."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        {key: int(float(value)) if key in ("epoch", "phase") else float(value) for key, value in row.items() if value != ""} for row in rows
    ]


class ValidationMetrics(keras.callbacks.Callback):
    """Scores the model on the validation set at the end of every epoch.

    Adds ``val_loss`` and ``val_<metric>`` for each of `SUMMARY_METRICS` to the epoch's logs, so
    they reach the history, the progress line and any later callback (early stopping,
    checkpoints). Per-label precision, recall, F1 and AP would swamp the progress line, so they
    go to `per_label_history` and the CSV only. Predicting once here replaces Keras' own
    validation pass rather than repeating it.

    Args:
        validation: Batches of validation images, unshuffled, unaugmented (targets ignored); the last
            may repeat an image to fill it (`data.full_batches`): outputs past ``targets`` are dropped.
        targets: The encoded targets of those images, as the loss sees them.
        task: The model's task, to turn outputs into label probabilities and decisions.
        classes: Label names, in output order.
        csv_path: Rewritten atomically after every epoch with every metric; None for no file.
        earlier_rows: A resumed run's rows of the epochs before it (`read_csv_rows`); the rows of
            the epochs before the first one this run trains are kept, so the CSV and the history
            stay whole. Defaults to none.
    """

    def __init__(
        self,
        validation: tf.data.Dataset,
        targets: np.ndarray,
        task: Task,
        classes: Sequence[str],
        csv_path: str | os.PathLike | None = None,
        earlier_rows: Sequence[dict[str, float]] = (),
    ):
        super().__init__()
        self.earlier_rows = list(earlier_rows)
        self.validation = validation
        self.targets = np.asarray(targets, dtype="float32")
        # Targets read as probabilities are the multi-hot truth (binary: [1 - t, t]).
        self.true = task.label_probabilities(self.targets).astype("int64")
        self.task = task
        self.classes = list(classes)
        self.csv_path = csv_path
        self.loss = keras.losses.get(task.loss)
        self.per_label_history: dict[str, list[float]] = {}
        self.rows: list[dict[str, float]] = []
        # Training phase of the coming epochs (2: fine-tuning a pretrained backbone); the rows and
        # the clock run on across phases.
        self.phase = 1
        self.started: float | None = None

    def on_train_begin(self, logs=None):
        if self.started is None:
            self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if not self.rows and self.earlier_rows:
            # The first epoch of a resumed run: `epoch` epochs were trained before it.
            self.rows = [row for row in self.earlier_rows if row["epoch"] <= epoch]
            for row in self.rows:
                for key in (key for key in row if "/" in key):
                    self.per_label_history.setdefault(key, []).append(row[key])
        outputs = self.model.predict(self.validation, verbose=0)[: len(self.targets)]
        probabilities = self.task.label_probabilities(outputs)
        report = evaluate_predictions(self.true, self.task.decode(probabilities), self.classes, probabilities)
        logs["val_loss"] = float(keras.ops.mean(self.loss(self.targets, outputs)))
        for name in SUMMARY_METRICS:
            logs[f"val_{name}"] = np.nan if report[name] is None else report[name]
        for label, scores in report["per_label"].items():
            for name in PER_LABEL_METRICS:
                value = np.nan if scores[name] is None else scores[name]
                self.per_label_history.setdefault(f"val_{name}/{label}", []).append(value)
        row = {
            "epoch": epoch + 1,
            "phase": self.phase,
            # Wall time since training started, validation included: time to a given accuracy.
            "elapsed_seconds": time.perf_counter() - self.started,
            "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
        }
        row.update({key: float(value) for key, value in logs.items()})
        row.update({key: values[-1] for key, values in self.per_label_history.items()})
        self.rows.append(row)
        if self.csv_path is not None:
            write_csv(self.rows, self.csv_path)


class SamplePredictions(keras.callbacks.Callback):
    """Shows a few validation images with their true and predicted labels in TensorBoard after every epoch.

    Args:
        log_dir: TensorBoard's folder; the samples go to its ``samples`` sub-folder.
        images: uint8 RGB images of shape (N, size, size, 3), a handful.
        targets: Their encoded targets.
        task: The model's task, to decode its outputs.
        classes: Label names, in output order.
    """

    def __init__(self, log_dir: str | os.PathLike, images: np.ndarray, targets: np.ndarray, task: Task, classes: Sequence[str]):
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(Path(log_dir) / "samples"))
        self.images = np.asarray(images)
        self.task = task
        self.classes = list(classes)
        self.true = [self._names(row) for row in task.label_probabilities(np.asarray(targets, dtype="float32")) > 0.5]

    def _names(self, multi_hot: np.ndarray) -> str:
        return ", ".join(label for label, on in zip(self.classes, multi_hot) if on) or "(none)"

    def on_epoch_end(self, epoch, logs=None):
        probabilities = self.task.label_probabilities(self.model.predict(self.images, verbose=0))
        predicted = self.task.decode(probabilities)
        lines = [
            f"{index}: true {true}; predicted {self._names(row)} ("
            + ", ".join(f"{label} {p:.2f}" for label, p in zip(self.classes, scores))
            + ")"
            for index, (true, row, scores) in enumerate(zip(self.true, predicted, probabilities))
        ]
        with self.writer.as_default():
            tf.summary.image("validation samples", self.images, step=epoch, max_outputs=len(self.images))
            tf.summary.text("validation predictions", "\n\n".join(lines), step=epoch)
        self.writer.flush()
