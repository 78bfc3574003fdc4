"""Validation metrics with scikit-learn: exact-match first, then per-label precision, recall, F1."""

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support


def evaluate_predictions(true: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Compare multi-hot truths and predictions of shape (N, num_labels).

    Returns:
        ``{"exact_match": float, "per_label": {label: {"precision", "recall", "f1", "support"}}}``.
        Exact-match (subset accuracy) counts an image right only when every label is right.
    """
    precision, recall, f1, support = precision_recall_fscore_support(true, predicted, average=None, zero_division=0)
    return {
        "exact_match": float(accuracy_score(true, predicted)),
        "per_label": {
            str(label): {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(classes)
        },
    }


def format_report(report: dict[str, Any]) -> list[str]:
    """Human-readable lines of an `evaluate_predictions` report."""
    width = max(len("label"), *(len(label) for label in report["per_label"]))
    lines = [f"exact-match: {report['exact_match']:.4f}", f"{'label':<{width}}  precision  recall  f1      support"]
    for label, scores in report["per_label"].items():
        lines.append(
            f"{label:<{width}}  {scores['precision']:.4f}     {scores['recall']:.4f}  "
            f"{scores['f1']:.4f}  {scores['support']}"
        )
    return lines
