"""What a model gets wrong, in plain numpy: each image's loss, confusion within label groups, and
the labels and label combinations it confuses most.

Imports neither TensorFlow, Keras nor scikit-learn: evaluating an ONNX model uses it.
"""

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from pyimagesearch.inference.decoding import TASK_NAMES

# Keras' backend epsilon: its cross-entropies clip probabilities to [EPSILON, 1 - EPSILON].
EPSILON = 1e-7
# A group's cell for an image with no label of the group, or with several.
NO_LABEL = "(none)"
SEVERAL = "(several)"


def per_image_loss(task: str, head: str, true: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Each image's loss under the model's own training loss, shape (N,), float64.

    The loss the task and head train with (`tasks.Task`, `grouped_head.grouped_crossentropy`),
    computed as Keras computes it from probabilities: binary cross-entropy averaged over labels
    (flat multi-label head), the sum of the groups' categorical cross-entropies (grouped head),
    categorical cross-entropy (multiclass), binary cross-entropy of the second class (binary).

    Args:
        task: One of `decoding.TASK_NAMES`.
        head: ``"flat"`` or ``"grouped"``.
        true: Multi-hot truth, shape (N, num_labels).
        probabilities: Per-label probabilities, same shape (`decoding.label_probabilities`).

    Raises:
        ValueError: For an unknown task or head, or arrays of different shapes.
    """
    if task not in TASK_NAMES:
        raise ValueError(f"Unknown task: expected one of {', '.join(TASK_NAMES)}. Received: {task!r}")
    if head not in ("flat", "grouped"):
        raise ValueError(f"Unknown head: expected flat or grouped. Received: {head!r}")
    true, probabilities = np.asarray(true, dtype="float64"), np.asarray(probabilities, dtype="float64")
    if true.shape != probabilities.shape:
        raise ValueError(f"true and probabilities must have one shape. Received: {true.shape} and {probabilities.shape}")
    if head == "grouped":
        return -np.sum(true * np.log(np.clip(probabilities, EPSILON, 1.0)), axis=1)
    if task == "multiclass":
        normalised = np.clip(probabilities / probabilities.sum(axis=1, keepdims=True), EPSILON, 1.0 - EPSILON)
        return -np.sum(true * np.log(normalised), axis=1)
    if task == "binary":
        true, probabilities = true[:, 1:], probabilities[:, 1:]
    clipped = np.clip(probabilities, EPSILON, 1.0 - EPSILON)
    return -np.mean(true * np.log(clipped) + (1.0 - true) * np.log(1.0 - clipped), axis=1)


def group_confusion(true: np.ndarray, predicted: np.ndarray, classes: Sequence[str], group: Sequence[int]) -> dict[str, Any]:
    """The confusion matrix of one label group (the colours, say): true label against predicted.

    Each image counts once, in the cell of its true and its predicted label of the group; an
    image with no label of the group, or several, counts under `NO_LABEL` or `SEVERAL` (those rows
    and columns appear only when some image needs them: threshold decoding can predict none or two).

    Returns:
        ``{"labels": [...], "rows": [...], "columns": [...], "counts": [[...], ...]}``: counts[r][c]
        images whose true cell is rows[r] and predicted cell columns[c].
    """
    labels = [classes[index] for index in group]

    def cell(row: np.ndarray) -> str:
        found = [classes[index] for index in group if row[index]]
        return found[0] if len(found) == 1 else NO_LABEL if not found else SEVERAL

    true_cells, predicted_cells = [cell(row) for row in true], [cell(row) for row in predicted]
    rows = labels + [name for name in (NO_LABEL, SEVERAL) if name in true_cells]
    columns = labels + [name for name in (NO_LABEL, SEVERAL) if name in predicted_cells]
    counts = np.zeros((len(rows), len(columns)), dtype="int64")
    for true_cell, predicted_cell in zip(true_cells, predicted_cells):
        counts[rows.index(true_cell), columns.index(predicted_cell)] += 1
    return {"labels": labels, "rows": rows, "columns": columns, "counts": counts.tolist()}


def confused_labels(true: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> list[dict[str, Any]]:
    """The pairs of labels the model confuses, most images first.

    In an image, each true label it missed is paired with each label it predicted wrongly: a red
    dress called a blue dress counts once for (red, blue). A miss with nothing wrongly predicted
    in its place pairs with None, and so does a wrong label with nothing missed.

    Returns:
        ``[{"true": label or None, "predicted": label or None, "images": count}, ...]``, ties in
        the order first met.
    """
    pairs: Counter = Counter()
    for truth, decided in zip(np.asarray(true, dtype=bool), np.asarray(predicted, dtype=bool)):
        missed = [classes[index] for index in np.flatnonzero(truth & ~decided)] or [None]
        wrong = [classes[index] for index in np.flatnonzero(decided & ~truth)] or [None]
        pairs.update((label, other) for label in missed for other in wrong if (label, other) != (None, None))
    return [{"true": label, "predicted": other, "images": count} for (label, other), count in pairs.most_common()]


def confused_combinations(true: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> list[dict[str, Any]]:
    """The label combinations the model confuses (``red, dress`` called ``blue, dress``), most images first.

    Returns:
        ``[{"true": [labels], "predicted": [labels], "images": count}, ...]`` over the images with
        any label wrong, labels in class order, ties in the order first met.
    """

    def names(row: np.ndarray) -> tuple[str, ...]:
        return tuple(classes[index] for index in np.flatnonzero(row))

    combinations: Counter = Counter()
    for truth, decided in zip(np.asarray(true, dtype=bool), np.asarray(predicted, dtype=bool)):
        if not np.array_equal(truth, decided):
            combinations[(names(truth), names(decided))] += 1
    return [{"true": list(labels), "predicted": list(other), "images": count} for (labels, other), count in combinations.most_common()]
