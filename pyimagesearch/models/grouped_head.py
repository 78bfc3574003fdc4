"""The grouped head: one softmax per label group (one colour, one type), as one output vector.

A flat sigmoid head scores each label on its own, so nothing stops it from answering "black,
jeans, dress" or no colour at all. With label groups (see `labels.infer_label_groups`), a softmax
per group makes the labels of a group compete and always sum to one: exactly one colour, one type.
The group softmaxes are written back into the binarizer's class order, so the model keeps a
single output of one probability per label: classification, thresholds, Grad-CAM and the ONNX
export work on it unchanged.
"""

from collections.abc import Sequence

import keras

from pyimagesearch import config

# Keeps log() finite for a probability that underflowed to zero.
_EPSILON = 1e-7


def resolve_head(head: str, task: str, label_groups: Sequence[Sequence[str]] | None) -> str:
    """The concrete ``--head``: ``auto`` is ``grouped`` for a multi-label task with label groups, else ``flat``.

    Args:
        head: One of `config.HEADS`.
        task: The resolved task name.
        label_groups: The groups `labels.infer_label_groups` found, or None.

    Raises:
        ValueError: For an unknown head, or ``grouped`` where the labels have no groups.
    """
    if head not in config.HEADS:
        raise ValueError(f"`head` must be one of {', '.join(config.HEADS)}. Received: `head` {head}")
    grouped_possible = task == "multilabel" and label_groups is not None
    if head == "auto":
        return "grouped" if grouped_possible else "flat"
    if head == "grouped" and not grouped_possible:
        raise ValueError(
            "`head` grouped needs label groups: every folder named with one label per position, e.g. "
            f"<colour>_<type> (this {task} data set has none); use `head` flat or `head` auto."
        )
    return head


@keras.saving.register_keras_serializable(package="pyimagesearch")
class GroupSoftmax(keras.layers.Softmax):
    """A softmax over each group of units, the results placed back at the units' own positions.

    A `keras.layers.Softmax`, so Grad-CAM and the health check treat it as one: Grad-CAM explains
    the logit of a label, the health check sees a softmax head.

    Args:
        groups: Unit indices of each group; together they cover every unit exactly once.

    Example:
        >>> layer = GroupSoftmax(groups=[[0, 2], [1, 3, 4]])   # colours 0, 2; types 1, 3, 4
    """

    def __init__(self, groups: Sequence[Sequence[int]], **kwargs):
        super().__init__(axis=-1, **kwargs)
        self.groups = [[int(unit) for unit in group] for group in groups]
        order = [unit for group in self.groups for unit in group]
        if sorted(order) != list(range(len(order))):
            raise ValueError(f"GroupSoftmax groups must cover units 0..N-1 once each. Received: groups={self.groups}")
        # Position of each unit in the concatenation of the groups' softmaxes.
        self._inverse = [order.index(unit) for unit in range(len(order))]

    def call(self, inputs, mask=None):
        grouped = [keras.ops.softmax(keras.ops.take(inputs, group, axis=-1), axis=-1) for group in self.groups]
        return keras.ops.take(keras.ops.concatenate(grouped, axis=-1), self._inverse, axis=-1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("axis", None)
        return {**config, "groups": self.groups}


@keras.saving.register_keras_serializable(package="pyimagesearch")
class ClassOrder(keras.layers.Layer):
    """Puts the concatenated logits of each group, in group order, back into label order.

    Args:
        groups: Label indices of each group, as `GroupSoftmax` takes them.
    """

    def __init__(self, groups: Sequence[Sequence[int]], **kwargs):
        super().__init__(**kwargs)
        self.groups = [[int(unit) for unit in group] for group in groups]
        order = [unit for group in self.groups for unit in group]
        self._inverse = [order.index(unit) for unit in range(len(order))]

    def call(self, inputs):
        return keras.ops.take(inputs, self._inverse, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="pyimagesearch")
def grouped_crossentropy(y_true, y_pred):
    """The sum over label groups of each group's categorical cross-entropy, per image.

    ``y_true`` is multi-hot with one label per group; ``y_pred`` holds each group's softmax
    (`GroupSoftmax`). A group's cross-entropy is minus the log-probability of its true label,
    so their sum is minus the sum of the true labels' log-probabilities.
    """
    y_true = keras.ops.cast(y_true, y_pred.dtype)
    return -keras.ops.sum(y_true * keras.ops.log(keras.ops.clip(y_pred, _EPSILON, 1.0)), axis=-1)


@keras.saving.register_keras_serializable(package="pyimagesearch")
def group_exact_match(y_true, y_pred, groups: Sequence[Sequence[int]] = ()):
    """1.0 for an image whose most probable label in each group is its true one, else 0.0."""
    right = [
        keras.ops.equal(
            keras.ops.argmax(keras.ops.take(y_true, group, axis=-1), axis=-1),
            keras.ops.argmax(keras.ops.take(y_pred, group, axis=-1), axis=-1),
        )
        for group in groups
    ]
    return keras.ops.cast(keras.ops.all(keras.ops.stack(right, axis=-1), axis=-1), "float32")
