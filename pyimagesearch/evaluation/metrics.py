"""Multi-label metrics with scikit-learn: exact-match, Hamming loss, micro and macro F1, mAP, per label."""

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    hamming_loss,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
)

# The metrics of `evaluate_predictions` that summarise a whole validation set, in display order.
SUMMARY_METRICS = ("exact_match", "hamming_loss", "micro_f1", "macro_f1", "map")


def mean_average_precision(true: np.ndarray, probabilities: np.ndarray) -> tuple[float, np.ndarray]:
    """mAP: the mean over labels of average precision (area under the precision-recall curve).

    Returns:
        ``(map, per_label)``; a label without a positive image has no AP (NaN) and is left out
        of the mean, since its precision-recall curve is undefined.
    """
    per_label = np.full(true.shape[1], np.nan)
    for i in range(true.shape[1]):
        if true[:, i].any():
            per_label[i] = average_precision_score(true[:, i], probabilities[:, i])
    return (float(np.nanmean(per_label)) if not np.isnan(per_label).all() else float("nan")), per_label


def evaluate_predictions(
    true: np.ndarray,
    predicted: np.ndarray,
    classes: Sequence[str],
    probabilities: np.ndarray | None = None,
) -> dict[str, Any]:
    """Compare multi-hot truths and predictions of shape (N, num_labels).

    Exact-match (subset accuracy) counts an image right only when every label is right;
    Hamming loss is the share of wrong (image, label) decisions; micro F1 pools every
    decision, macro F1 averages the labels' F1 so rare labels count as much as common ones
    (over the labels present in truth or predictions: a label absent from both has no F1).
    mAP needs the ``probabilities`` and does not depend on any threshold.

    Returns:
        ``{"exact_match", "hamming_loss", "micro_f1", "macro_f1", "map", "images",
        "per_label": {label: {"precision", "recall", "f1", "support", "average_precision"}}}``;
        ``map`` and ``average_precision`` are None without ``probabilities``.
    """
    true, predicted = np.asarray(true), np.asarray(predicted)
    precision, recall, f1, support = precision_recall_fscore_support(true, predicted, average=None, zero_division=0)
    present = np.flatnonzero(true.any(axis=0) | predicted.any(axis=0))
    average_map, per_label_ap = (None, [None] * len(classes))
    if probabilities is not None:
        average_map, per_label_ap = mean_average_precision(true, np.asarray(probabilities))
    return {
        "images": int(len(true)),
        "exact_match": float(accuracy_score(true, predicted)),
        "hamming_loss": float(hamming_loss(true, predicted)),
        "micro_f1": float(f1_score(true, predicted, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(true, predicted, labels=present, average="macro", zero_division=0)) if len(present) else 0.0,
        "map": average_map,
        "per_label": {
            str(label): {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
                "average_precision": None if per_label_ap[i] is None or np.isnan(per_label_ap[i]) else float(per_label_ap[i]),
            }
            for i, label in enumerate(classes)
        },
    }


def confusion_matrices(true: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per label, its 2x2 confusion matrix as counts: true/false positives and negatives."""
    matrices = multilabel_confusion_matrix(true, predicted)
    return {
        str(label): {
            "true_negatives": int(matrix[0, 0]),
            "false_positives": int(matrix[0, 1]),
            "false_negatives": int(matrix[1, 0]),
            "true_positives": int(matrix[1, 1]),
        }
        for label, matrix in zip(classes, matrices)
    }


def summary_line(report: dict[str, Any]) -> str:
    """One compact line of the whole-set metrics, e.g. for the end of each epoch."""
    parts = [
        f"exact-match {report['exact_match']:.3f}",
        f"hamming {report['hamming_loss']:.3f}",
        f"F1 micro {report['micro_f1']:.3f} macro {report['macro_f1']:.3f}",
    ]
    if report.get("map") is not None:
        parts.append(f"mAP {report['map']:.3f}")
    return " | ".join(parts)


def format_report(report: dict[str, Any]) -> list[str]:
    """Human-readable lines of an `evaluate_predictions` report: the summary, then a row per label."""
    width = max(len("label"), *(len(label) for label in report["per_label"]))
    lines = [summary_line(report), f"{'label':<{width}}  precision  recall  f1      AP      support"]
    for label, scores in report["per_label"].items():
        average_precision = "  -   " if scores["average_precision"] is None else f"{scores['average_precision']:.4f}"
        lines.append(
            f"{label:<{width}}  {scores['precision']:.4f}     {scores['recall']:.4f}  "
            f"{scores['f1']:.4f}  {average_precision}  {scores['support']}"
        )
    return lines
