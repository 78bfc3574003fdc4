"""Scoring a trained model on a labelled folder: every metric, confusion matrices, the mistakes."""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pyimagesearch.classification import Classifier
from pyimagesearch.data import load_labelled_images
from pyimagesearch.evaluation import confusion_matrices, evaluate_predictions

logger = logging.getLogger(__name__)


@dataclass
class FolderEvaluation:
    """A model's results on a labelled folder.

    Attributes:
        report: `evaluation.evaluate_predictions` on the images whose labels the model knows.
        confusion: Per-label confusion counts.
        misclassified: ``{"image", "true", "predicted"}`` for each image with any label wrong.
        out_of_vocabulary: ``{"image", "labels", "unknown", "predicted"}`` for each image carrying
            a label the model was never trained on; these are not in ``report``.
        skipped: ``{"image", "reason"}`` for each file that could not be read.
        true, probabilities: Truth and probabilities of the scored images, for curves.
    """

    report: dict[str, Any]
    confusion: dict[str, dict[str, int]]
    misclassified: list[dict[str, Any]]
    out_of_vocabulary: list[dict[str, Any]]
    skipped: list[dict[str, str]]
    true: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of everything but the raw arrays."""
        return {
            **self.report,
            "confusion_matrices": self.confusion,
            "misclassified": self.misclassified,
            "out_of_vocabulary": {"images": len(self.out_of_vocabulary), "list": self.out_of_vocabulary},
            "skipped": self.skipped,
        }


def _labels(classes: list[str], row: np.ndarray) -> list[str]:
    return [label for label, on in zip(classes, row) if on]


def evaluate_folder(
    classifier: Classifier,
    dataset_dir: str | os.PathLike,
    label_sep: str | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    decode: str | None = None,
    progress: Callable | None = None,
) -> FolderEvaluation:
    """Score ``classifier`` on every image under ``dataset_dir`` (the training folder layout).

    Images whose folder names a label outside the model's vocabulary cannot be scored
    against it; they are counted and listed apart, with what the model predicted for them.
    ``label_sep`` defaults to the one the model was trained with; the decoding arguments are
    those of `Classifier.decide`.

    Raises:
        ValueError: For a missing or empty folder, bad decoding arguments, or no image the
            model's vocabulary covers.
    """
    classifier.check_decoding(threshold, top_k, decode)
    label_sep = classifier.label_sep if label_sep is None else label_sep
    data = load_labelled_images(dataset_dir, classifier.image_size, label_sep=label_sep, progress=progress)
    classes = classifier.classes
    known = np.array([set(labels) <= set(classes) for labels in data.label_sets])
    probabilities = classifier.predict_probabilities(data.images)
    predicted = classifier.decide(probabilities, threshold, top_k, decode)

    out_of_vocabulary = [
        {
            "image": str(path),
            "labels": list(labels),
            "unknown": sorted(set(labels) - set(classes)),
            "predicted": _labels(classes, row),
        }
        for path, labels, row, is_known in zip(data.paths, data.label_sets, predicted, known)
        if not is_known
    ]
    if not known.any():
        unknown = sorted({label for item in out_of_vocabulary for label in item["unknown"]})
        raise ValueError(
            f"--dataset {dataset_dir}: no image carries only labels the model knows ({', '.join(classes)}); "
            f"unknown labels: {', '.join(unknown)}. Check the folder names and --model."
        )
    true = np.array([[label in labels for label in classes] for labels in data.label_sets], dtype="int64")[known]
    probabilities, predicted = probabilities[known], predicted[known]
    paths = [path for path, is_known in zip(data.paths, known) if is_known]
    misclassified = [
        {"image": str(path), "true": _labels(classes, truth), "predicted": _labels(classes, row)}
        for path, truth, row in zip(paths, true, predicted)
        if not np.array_equal(truth, row)
    ]
    return FolderEvaluation(
        report=evaluate_predictions(true, predicted, classes, probabilities),
        confusion=confusion_matrices(true, predicted, classes),
        misclassified=misclassified,
        out_of_vocabulary=out_of_vocabulary,
        skipped=[{"image": str(path), "reason": reason} for path, reason in data.skipped],
        true=true,
        probabilities=probabilities,
    )
