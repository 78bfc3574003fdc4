"""Scoring a trained model on a labelled folder: every metric, confusion matrices, the mistakes."""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pyimagesearch.data.dataset import load_labelled_images
from pyimagesearch.evaluation.metrics import SUMMARY_METRICS, confusion_matrices, evaluate_predictions
from pyimagesearch.evaluation.mistakes import confused_combinations, confused_labels, group_confusion, per_image_loss
from pyimagesearch.inference.classification import Classifier
from pyimagesearch.inference.decoding import Decoding, decode
from pyimagesearch.inference.unknown import is_flagged

logger = logging.getLogger(__name__)


@dataclass
class FolderEvaluation:
    """A model's results on a labelled folder.

    Attributes:
        report: `evaluation.evaluate_predictions` on the images whose labels the model knows,
            under the decoding asked for.
        decoding: The name of that decoding (`Decoding.name`).
        decodings: The summary metrics (`evaluation.SUMMARY_METRICS`) under that decoding and each
            of the model's standard ones (`Classifier.named_decodings`), by name.
        thresholds: The threshold of each label under threshold decoding (`Decoding.thresholds`:
            the tuned ones, or the one asked for); None for a single-label task.
        confusion: Per-label confusion counts.
        group_confusion: `mistakes.group_confusion` of each label group (of all the labels
            together for a single-label task); empty for multi-label labels without groups.
        most_confused: ``{"labels": mistakes.confused_labels, "combinations":
            mistakes.confused_combinations}``.
        misclassified: ``{"image", "true", "predicted", "loss", "probabilities"}`` for each image
            with any label wrong, highest loss (`mistakes.per_image_loss`) first; the probabilities
            of its true and predicted labels.
        out_of_vocabulary: ``{"image", "labels", "unknown", "predicted"}`` for each image carrying
            a label the model was never trained on (and ``"unknown_detection"``, the model's
            verdict on it, when it has unknown detection); these are not in ``report``.
        unknown: For a model with unknown detection, ``{"threshold", "images", "list"}``: each
            image it flags as unknown (the whole image or a label group), with its labels,
            prediction and verdict (`UnknownDetector.assess`); None without it.
        skipped: ``{"image", "reason"}`` for each file that could not be read.
        true, probabilities: Truth and probabilities of the scored images, for curves.
    """

    report: dict[str, Any]
    decoding: str
    decodings: dict[str, dict[str, float | None]]
    thresholds: dict[str, float] | None
    confusion: dict[str, dict[str, int]]
    group_confusion: list[dict[str, Any]]
    most_confused: dict[str, list[dict[str, Any]]]
    misclassified: list[dict[str, Any]]
    out_of_vocabulary: list[dict[str, Any]]
    unknown: dict[str, Any] | None
    skipped: list[dict[str, str]]
    true: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of everything but the raw arrays."""
        return {
            **self.report,
            "decoding": self.decoding,
            "decodings": self.decodings,
            "thresholds": self.thresholds,
            "confusion_matrices": self.confusion,
            "group_confusion": self.group_confusion,
            "most_confused": self.most_confused,
            "misclassified": self.misclassified,
            "out_of_vocabulary": {"images": len(self.out_of_vocabulary), "list": self.out_of_vocabulary},
            "unknown_detection": self.unknown,
            "skipped": self.skipped,
        }


def _labels(classes: list[str], row: np.ndarray) -> list[str]:
    return [label for label, on in zip(classes, row) if on]


def _summary(report: dict[str, Any]) -> dict[str, float | None]:
    return {metric: report[metric] for metric in SUMMARY_METRICS}


def _score_decodings(
    classifier: Classifier, true: np.ndarray, probabilities: np.ndarray, asked: str, report: dict[str, Any]
) -> dict[str, dict[str, float | None]]:
    """The summary metrics under the decoding asked for (whose ``report`` is given) and each of
    the model's standard ones, by name."""
    decodings = {asked: _summary(report)}
    for name, options in classifier.named_decodings().items():
        if name not in decodings:
            decided = decode(classifier.task, probabilities, **options)
            decodings[name] = _summary(evaluate_predictions(true, decided, classifier.classes, probabilities))
    return decodings


def evaluate_folder(
    classifier: Classifier,
    dataset_dir: str | os.PathLike,
    label_sep: str | None = None,
    decoding: Decoding | None = None,
    progress: Callable | None = None,
) -> FolderEvaluation:
    """Score ``classifier`` on every image under ``dataset_dir`` (the training folder layout).

    Images whose folder names a label outside the model's vocabulary cannot be scored
    against it; they are counted and listed apart, with what the model predicted for them.
    ``label_sep`` defaults to the one the model was trained with; ``decoding`` (see
    `Classifier.decoding`) to the model's own. Unknown detection, at the model's threshold, flags
    images without changing any metric: every image is scored on its decoded labels.

    Raises:
        ValueError: For a missing or empty folder, or no image the model's vocabulary covers.
    """
    decoding = classifier.decoding() if decoding is None else decoding
    label_sep = classifier.label_sep if label_sep is None else label_sep
    data = load_labelled_images(dataset_dir, classifier.image_size, label_sep=label_sep, progress=progress)
    classes = classifier.classes
    known = np.array([set(labels) <= set(classes) for labels in data.label_sets])
    probabilities, scores = classifier.predict_with_unknown(data.images)
    predicted = decoding.decide(probabilities)
    verdicts = [None if scores is None else classifier.unknown.assess(scores, row) for row in range(len(data.paths))]

    out_of_vocabulary = [
        {
            "image": str(path),
            "labels": list(labels),
            "unknown": sorted(set(labels) - set(classes)),
            "predicted": _labels(classes, row),
            **({} if verdict is None else {"unknown_detection": verdict}),
        }
        for path, labels, row, is_known, verdict in zip(data.paths, data.label_sets, predicted, known, verdicts)
        if not is_known
    ]
    if not known.any():
        unknown = sorted({label for item in out_of_vocabulary for label in item["unknown"]})
        raise ValueError(
            f"`dataset` {dataset_dir}: no image carries only labels the model knows ({', '.join(classes)}); "
            f"unknown labels: {', '.join(unknown)}. Check the folder names and `model`."
        )
    flagged = None
    if scores is not None:
        listed = [
            {"image": str(path), "labels": list(labels), "predicted": _labels(classes, row), "unknown_detection": verdict}
            for path, labels, row, verdict in zip(data.paths, data.label_sets, predicted, verdicts)
            if is_flagged(verdict)
        ]
        # Rounded as each verdict rounds it.
        flagged = {"threshold": round(classifier.unknown.threshold, 4), "images": len(listed), "list": listed}

    true = np.array([[label in labels for label in classes] for labels in data.label_sets], dtype="int64")[known]
    probabilities, predicted = probabilities[known], predicted[known]
    paths = [str(path) for path, is_known in zip(data.paths, known) if is_known]
    losses = per_image_loss(classifier.task, classifier.head, true, probabilities)
    misclassified = [
        {
            "image": path,
            "true": _labels(classes, truth),
            "predicted": _labels(classes, row),
            "loss": round(float(loss), 6),
            # Of its true and its predicted labels: what the gallery shows.
            "probabilities": {label: round(float(p), 6) for label, p, shown in zip(classes, row_probabilities, truth | row) if shown},
        }
        for path, truth, row, loss, row_probabilities in zip(paths, true, predicted, losses, probabilities)
        if not np.array_equal(truth, row)
    ]
    misclassified.sort(key=lambda item: -item["loss"])

    report = evaluate_predictions(true, predicted, classes, probabilities)
    thresholds = None
    if classifier.task == "multilabel":
        thresholds = {label: float(value) for label, value in zip(classes, decoding.thresholds)}
    # A single-label task's labels form one group: its confusion matrix is the classic one.
    groups = classifier.group_indices or ([list(range(len(classes)))] if classifier.task != "multilabel" else [])
    return FolderEvaluation(
        report=report,
        decoding=decoding.name,
        decodings=_score_decodings(classifier, true, probabilities, decoding.name, report),
        thresholds=thresholds,
        confusion=confusion_matrices(true, predicted, classes),
        group_confusion=[group_confusion(true, predicted, classes, group) for group in groups],
        most_confused={
            "labels": confused_labels(true, predicted, classes),
            "combinations": confused_combinations(true, predicted, classes),
        },
        misclassified=misclassified,
        out_of_vocabulary=out_of_vocabulary,
        unknown=flagged,
        skipped=[{"image": str(path), "reason": reason} for path, reason in data.skipped],
        true=true,
        probabilities=probabilities,
    )
