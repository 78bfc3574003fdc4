"""From a network's outputs to labels: per-label probabilities and decisions, in plain numpy.

Kept apart from `pyimagesearch.models.tasks` (which builds Keras heads, losses and metrics) so that
classification with an ONNX model runs without importing Keras, TensorFlow or scikit-learn.
`tasks.Task` delegates here: there is one decoding rule, whichever backend ran the network.

A model's decoding (its tuned thresholds or its label groups, or what its user asks instead) is one
`Decoding` value, resolved and checked once by `resolve_decoding`, which holds the rule of which
decoding applies when none is asked for.
"""

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Decoding:
    """How per-label probabilities become labels: one value, resolved and checked once by
    `resolve_decoding` (a classifier's by `Classifier.decoding`), then passed whole to what decides
    (`decide`) and what reports (``name``, ``thresholds``).

    Attributes:
        task: One of `TASK_NAMES`.
        kind: ``"threshold"``: the labels at or above their thresholds (a single-label task: the
            most probable label); ``"top_k"``: the ``top_k`` most probable labels; ``"groups"``: the
            most probable label of each group.
        name: As train.py and evaluate.py report it: `TUNED`, `GROUPS`, `MOST_PROBABLE`,
            ``threshold 0.3``, ``top 2``.
        thresholds: Each label's threshold under threshold decoding: the model's (tuned by
            train.py), or the one threshold asked for, for every label. Reports show them beside
            any kind.
        top_k: With ``"top_k"``, how many labels; None otherwise.
        groups: With ``"groups"``, the label indices of each group; None otherwise.
    """

    task: str
    kind: str
    name: str
    thresholds: tuple[float, ...]
    top_k: int | None = None
    groups: tuple[tuple[int, ...], ...] | None = None

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """Predicted multi-hot labels of shape (N, num_labels), int64, from per-label probabilities (see `decode`)."""
        if self.kind == "groups":
            return decode(self.task, probabilities, groups=self.groups)
        return decode(self.task, probabilities, threshold=np.asarray(self.thresholds), top_k=self.top_k)


def resolve_decoding(
    task: str,
    num_labels: int,
    thresholds: Sequence[float] | np.ndarray | None = None,
    groups: Sequence[Sequence[int]] | None = None,
    head: str = "flat",
    *,
    tuned: bool | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    decode: str | None = None,
) -> Decoding:
    """The decoding of a model, from what it stores and what its user asks for, checked: the one rule.

    Unless ``decode`` names it, the decoding is ``"groups"`` for a grouped head when neither a
    ``threshold`` nor ``top_k`` asks otherwise, and ``"threshold"`` for any other; ``top_k``
    then keeps the ``top_k`` most probable labels instead. train.py stores this decoding's report
    (with no user's choice), classify.py and evaluate.py apply it.

    Args:
        task: One of `TASK_NAMES`.
        num_labels: The number of labels.
        thresholds: Each label's threshold as the model stores it, or None (a model without
            tuned thresholds): `config.THRESHOLD` for every label.
        groups: The label indices of each label group, or None for a model without label groups.
        head: ``"grouped"`` for a softmax per label group, else ``"flat"``.
        tuned: Whether ``thresholds`` were tuned (the decoding is then named `TUNED`). Defaults to
            whether they were given.
        threshold: One threshold for every label, instead of the model's.
        top_k: Keep the ``top_k`` most probable labels instead (the tutorial's rule).
        decode: ``"threshold"`` or ``"groups"`` (one of `config.DECODINGS`), instead of the model's.

    Raises:
        ValueError: For a task not in `TASK_NAMES`, a threshold outside [0, 1], a ``top_k``
            outside 1..``num_labels``, an unknown ``decode``, or group decoding without label
            groups or with ``top_k``.

    Example:
        >>> resolve_decoding("multilabel", 4, [0.4, 0.6, 0.5, 0.5], [[0, 1], [2, 3]], "grouped").name
        'one label per group'
    """
    _check_task(task)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"`threshold` must be between 0 and 1. Received: {threshold}")
    if top_k is not None and not 1 <= top_k <= num_labels:
        raise ValueError(f"`top_k` must be between 1 and {num_labels} (the number of labels). Received: {top_k}")
    kind = decode if decode is not None else "groups" if head == "grouped" and threshold is None and top_k is None else "threshold"
    if kind not in config.DECODINGS:
        raise ValueError(f"Unknown decoding: expected one of {', '.join(config.DECODINGS)}. Received: `decode` {kind}")
    if kind == "groups":
        if groups is None:
            raise ValueError(
                "`decode` groups: this model has no label groups (its folders are not all named "
                "<colour>_<type> with one label per position); use `decode` threshold."
            )
        if top_k is not None:
            raise ValueError("`decode` groups picks one label per group: drop `top_k`.")
    # The model's as it stores them: numpy float64s, which the precision-recall plot compares as such.
    own = (config.THRESHOLD,) * num_labels if thresholds is None else tuple(np.asarray(thresholds, dtype="float64"))
    tuned = thresholds is not None if tuned is None else tuned
    if top_k is not None:
        name = f"top {top_k}"
    elif task != "multilabel":
        name = MOST_PROBABLE
    elif kind == "groups":
        name = GROUPS
    elif threshold is not None:
        name = f"threshold {threshold:g}"
    else:
        name = TUNED if tuned else f"threshold {own[0]:g}"
    return Decoding(
        task=task,
        kind="top_k" if top_k is not None else kind,
        name=name,
        thresholds=own if threshold is None else (threshold,) * num_labels,
        top_k=top_k,
        groups=tuple(tuple(int(index) for index in group) for group in groups) if kind == "groups" else None,
    )
