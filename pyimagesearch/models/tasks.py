"""The task picks head, loss, metrics, label encoding and decoding together, in one place.

A head that does not match its loss and label encoding (a softmax under binary
cross-entropy, one-hot labels on a single sigmoid unit) is the classic cause of
accuracy frozen after the first epoch; building every piece from one `Task` makes
that mismatch impossible to configure.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import keras
import numpy as np
from sklearn.preprocessing import MultiLabelBinarizer

from pyimagesearch import config
from pyimagesearch.inference import decoding
from pyimagesearch.models.grouped_head import GroupSoftmax, group_exact_match, grouped_crossentropy


@keras.saving.register_keras_serializable(package="pyimagesearch")
def exact_match(y_true, y_pred, threshold: float = 0.5):
    """1.0 for an image whose labels are all right at ``threshold``, else 0.0 (subset accuracy)."""
    predicted = keras.ops.cast(y_pred >= threshold, "float32")
    correct = keras.ops.equal(predicted, keras.ops.cast(y_true, "float32"))
    return keras.ops.cast(keras.ops.all(correct, axis=-1), "float32")


@dataclass(frozen=True)
class Task:
    """Everything that depends on the kind of labelling.

    Attributes:
        name: ``"multilabel"``, ``"multiclass"`` or ``"binary"``.
        activation: The head's final activation.
        loss: The loss matching that activation and the label encoding.
        groups: For the grouped multi-label head (`grouped_task`), the label indices of each
            label group: a softmax per group, decoded to one label per group. None otherwise.
        colour_group: With ``groups``, the index of the colour group when the network reads it
            from a branch of its own (`smallervggnet.build_colour_and_shape`); None otherwise.
    """

    name: str
    activation: str
    loss: str | Callable
    groups: tuple[tuple[int, ...], ...] | None = None
    colour_group: int | None = None

    @property
    def head(self) -> str:
        """``"grouped"`` for one softmax per label group, else ``"flat"``."""
        return "flat" if self.groups is None else "grouped"

    def final_layer(self) -> keras.layers.Layer:
        """The head's last layer, named ``predictions``, in float32 even under mixed precision
        (probabilities need its resolution)."""
        if self.groups is not None:
            return GroupSoftmax(self.groups, name="predictions", dtype="float32")
        return keras.layers.Activation(self.activation, name="predictions", dtype="float32")

    def output_units(self, num_labels: int) -> int:
        """Units of the final Dense layer: one for binary, one per label otherwise."""
        return decoding.output_units(self.name, num_labels)

    def encode(self, binarizer: MultiLabelBinarizer, label_sets: Sequence[Sequence[str]]) -> np.ndarray:
        """Targets of shape (N, output_units), float32: multi-hot, one-hot, or 0/1 for binary."""
        multi_hot = binarizer.transform(label_sets).astype("float32")
        # Binary keeps the column of the second class: 1.0 means classes_[1].
        return multi_hot[:, 1:] if self.name == "binary" else multi_hot

    def label_probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Per-label probabilities of shape (N, num_labels) from the head's outputs (see `decoding.label_probabilities`)."""
        return decoding.label_probabilities(self.name, outputs)

    def decode(
        self,
        probabilities: np.ndarray,
        threshold: float | np.ndarray | None = None,
        top_k: int | None = None,
        groups: Sequence[Sequence[int]] | None = None,
    ) -> np.ndarray:
        """Predicted multi-hot labels of shape (N, num_labels) from per-label probabilities.

        By default, the decoding `decoding.resolve_decoding` gives a model of this task without
        tuned thresholds; a ``threshold``, ``top_k`` or ``groups`` replaces it (see `decoding.decode`).
        """
        if threshold is None and top_k is None and groups is None:
            default = decoding.resolve_decoding(self.name, probabilities.shape[1], groups=self.groups, head=self.head)
            return default.decide(probabilities)
        threshold = config.THRESHOLD if threshold is None else threshold
        return decoding.decode(self.name, probabilities, threshold=threshold, top_k=top_k, groups=groups)

    def metrics(self) -> list:
        """Training metrics: per-label binary accuracy and exact-match for multi-label, accuracy otherwise."""
        if self.groups is not None:
            # Exact-match as the head decodes: the most probable label of each group.
            return [
                keras.metrics.BinaryAccuracy(name="binary_accuracy", threshold=0.5),
                keras.metrics.MeanMetricWrapper(group_exact_match, name="exact_match", groups=self.groups),
            ]
        if self.name == "multilabel":
            return [
                keras.metrics.BinaryAccuracy(name="binary_accuracy", threshold=0.5),
                keras.metrics.MeanMetricWrapper(exact_match, name="exact_match"),
            ]
        if self.name == "multiclass":
            return [keras.metrics.CategoricalAccuracy(name="accuracy")]
        return [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.5)]


TASKS = {
    "multilabel": Task("multilabel", activation="sigmoid", loss="binary_crossentropy"),
    "multiclass": Task("multiclass", activation="softmax", loss="categorical_crossentropy"),
    "binary": Task("binary", activation="sigmoid", loss="binary_crossentropy"),
}


def get_task(name: str) -> Task:
    """The `Task` of a resolved task name (see `labels.resolve_task`).

    Raises:
        ValueError: For a name that is not a concrete task.
    """
    if name not in TASKS:
        raise ValueError(f"Unknown task: expected one of {', '.join(TASKS)}. Received: {name!r}")
    return TASKS[name]


def grouped_task(groups: Sequence[Sequence[int]], colour_group: int | None = None) -> Task:
    """The multi-label `Task` with the grouped head: a softmax per label group (see `grouped_head`).

    Args:
        groups: The label indices of each group, e.g. ``[[0, 1, 4], [2, 3, 5]]`` for colours
            and types; together they cover every label once.
        colour_group: Index in ``groups`` of the colour group, for a network with a colour
            branch and a shape branch (`smallervggnet.build_colour_and_shape`). Defaults to
            None: one network for every group.

    Example:
        >>> grouped_task([[0, 1, 4], [2, 3, 5]]).head
        'grouped'
    """
    return replace(
        TASKS["multilabel"],
        activation="softmax per group",
        loss=grouped_crossentropy,
        groups=tuple(tuple(int(index) for index in group) for group in groups),
        colour_group=colour_group,
    )
