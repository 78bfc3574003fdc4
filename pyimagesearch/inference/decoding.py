"""From a network's outputs to labels: per-label probabilities and decisions, in plain numpy.

Kept apart from `pyimagesearch.models.tasks` (which builds Keras heads, losses and metrics) so that
classification with an ONNX model runs without importing Keras, TensorFlow or scikit-learn.
`tasks.Task` delegates here: there is one decoding rule, whichever backend ran the network.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from pyimagesearch import config

# The concrete tasks (``config.TASKS`` adds ``"auto"``, which training resolves to one of these).
TASK_NAMES = ("multilabel", "multiclass", "binary")
# The names of the standard decodings, as train.py and evaluate.py print them (see `named_decodings`).
UNTUNED = f"threshold {config.THRESHOLD:g}"
TUNED = "tuned thresholds"
GROUPS = "one label per group"
MOST_PROBABLE = "most probable label"


def _check_task(task: str) -> None:
    if task not in TASK_NAMES:
        raise ValueError(f"Unknown task: expected one of {', '.join(TASK_NAMES)}. Received: {task!r}")


def output_units(task: str, num_labels: int) -> int:
    """Units of the network's final layer: one for ``"binary"``, one per label otherwise.

    Raises:
        ValueError: For a task not in `TASK_NAMES`.
    """
    _check_task(task)
    return 1 if task == "binary" else num_labels


def label_probabilities(task: str, outputs: np.ndarray) -> np.ndarray:
    """Per-label probabilities of shape (N, num_labels), float32, from the head's outputs.

    A binary head has one sigmoid unit scoring the second class; the first class gets one
    minus that score. Other heads already give one probability per label.

    Args:
        task: One of `TASK_NAMES`.
        outputs: The head's outputs, shape (N, output_units).

    Raises:
        ValueError: For a task not in `TASK_NAMES`.

    Example:
        >>> label_probabilities("binary", np.array([[0.2]]))
        array([[0.8, 0.2]], dtype=float32)
    """
    _check_task(task)
    outputs = np.asarray(outputs, dtype="float32")
    return np.concatenate([1.0 - outputs, outputs], axis=1) if task == "binary" else outputs


def decode(
    task: str,
    probabilities: np.ndarray,
    threshold: float | np.ndarray = 0.5,
    top_k: int | None = None,
    groups: Sequence[Sequence[int]] | None = None,
) -> np.ndarray:
    """Predicted multi-hot labels of shape (N, num_labels), int64, from per-label probabilities.

    Multi-label keeps labels at or above ``threshold``; single-label tasks keep the arg-max.

    Args:
        task: One of `TASK_NAMES`.
        probabilities: Shape (N, num_labels), as `label_probabilities` returns them.
        threshold: Multi-label only: one threshold, or one per label. Defaults to 0.5.
        top_k: Keep the ``top_k`` most probable labels instead (the tutorial's rule), for any
            task. Defaults to None.
        groups: Keep the most probable label of each group instead; each group is a list of
            label indices (e.g. the colours, the types). Defaults to None.

    Raises:
        ValueError: For a task not in `TASK_NAMES`.

    Example:
        >>> decode("multilabel", np.array([[0.9, 0.6, 0.1]]), threshold=0.5)
        array([[1, 1, 0]])
    """
    _check_task(task)
    probabilities = np.asarray(probabilities)
    predicted = np.zeros(probabilities.shape, dtype="int64")
    if groups is not None:
        for group in groups:
            group = np.asarray(group)
            best = group[np.argmax(probabilities[:, group], axis=1)]
            predicted[np.arange(len(predicted)), best] = 1
        return predicted
    if top_k is not None or task != "multilabel":
        keep = 1 if top_k is None else top_k
        top = np.argsort(-probabilities, axis=1, kind="stable")[:, :keep]
        np.put_along_axis(predicted, top, 1, axis=1)
        return predicted
    predicted[probabilities >= np.asarray(threshold)] = 1
    return predicted


def named_decodings(
    task: str,
    thresholds: np.ndarray | None = None,
    groups: Sequence[Sequence[int]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The standard decodings a model is scored under, by name, as keyword arguments of `decode`.

    Multi-label: `UNTUNED` (every label at `config.THRESHOLD`), `TUNED` with ``thresholds``, and
    `GROUPS` with ``groups``. A single-label task has one decoding whatever the threshold:
    `MOST_PROBABLE`.

    Args:
        task: One of `TASK_NAMES`.
        thresholds: The tuned per-label thresholds, or None for a model without them.
        groups: The label indices of each label group, or None for a model without groups.

    Raises:
        ValueError: For a task not in `TASK_NAMES`.

    Example:
        >>> list(named_decodings("multilabel", np.array([0.4, 0.6])))
        ['threshold 0.5', 'tuned thresholds']
    """
    _check_task(task)
    if task != "multilabel":
        return {MOST_PROBABLE: {}}
    named: dict[str, dict[str, Any]] = {UNTUNED: {"threshold": config.THRESHOLD}}
    if thresholds is not None:
        named[TUNED] = {"threshold": np.asarray(thresholds)}
    if groups is not None:
        named[GROUPS] = {"groups": [list(group) for group in groups]}
    return named
