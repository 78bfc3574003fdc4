"""The tutorial's simplest multi-label network: a fully connected MLP over feature vectors.

Input = the feature dimension, hidden layers of 500 and 100 ReLU units, one output per label
through the task's final layer (a sigmoid per label under binary cross-entropy for multi-label;
`tasks.Task` also gives the softmax of multi-class, the single sigmoid of binary and the grouped
head). ``train.py --arch mlp`` trains it on image features (`features`) or on a feature table
(`feature_table`).
"""

from collections.abc import Sequence

import keras
import numpy as np

from pyimagesearch import config
from pyimagesearch.models.registry import MLP

# Layer names: the standardisation right after the input, and the head's Dense layer.
STANDARDIZE = "standardize_features"
LOGITS = "logits"
# A feature that never varies in the training rows would be divided by ~0 and blow up on any
# other row: its standard deviation is floored here (on the feature's own scale).
_MIN_STD = 1e-6


def feature_standardization(train_features: np.ndarray) -> keras.layers.Layer:
    """A layer mapping each feature to zero mean and unit variance over ``train_features``.

    A ``Rescaling`` with per-feature ``scale`` (1 / std) and ``offset`` (-mean / std), as
    `normalization.input_normalization` does for image channels: the statistics are part of the
    saved model, so classification standardises exactly as training did.

    Args:
        train_features: The training rows, shape (N, D), N > 0: never validation rows, whose
            statistics would leak into training.

    Raises:
        ValueError: For an empty array or one that is not (N, D).
    """
    features = np.asarray(train_features[:], dtype=np.float64)
    if features.ndim != 2 or not len(features):
        raise ValueError(f"Feature standardisation needs training rows of shape (N, D), N > 0. Received: shape {features.shape}")
    mean = features.mean(axis=0)
    std = np.maximum(features.std(axis=0), _MIN_STD)
    # Plain lists: the layer's config is JSON, and safe-mode loading rebuilds it from there.
    return keras.layers.Rescaling(scale=(1.0 / std).tolist(), offset=(-mean / std).tolist(), name=STANDARDIZE)


def build_mlp(
    input_size: int,
    units: int,
    final_layer: str | keras.layers.Layer = "sigmoid",
    hidden: Sequence[int] = config.MLP_HIDDEN,
    dropout: float = 0.0,
    preprocessing: Sequence[keras.layers.Layer] = (),
    kernel_initializer: str = "glorot_uniform",
) -> keras.Model:
    """The MLP: INPUT => [FC => ReLU => DROPOUT] per hidden layer => FC ``units`` => ``final_layer``.

    Args:
        input_size: Length of the feature vector.
        units: Units of the head's Dense layer (one per label; one for binary).
        final_layer: The final activation, a name or a layer such as `tasks.Task.final_layer`'s.
            Defaults to ``"sigmoid"``, the tutorial's multi-label head.
        hidden: Units of each hidden layer. Defaults to (500, 100).
        dropout: Dropout rate after each hidden layer, in [0, 1); 0 for none. Defaults to 0.
        preprocessing: Layers right after the input, e.g. `feature_standardization`. Defaults to none.
        kernel_initializer: Keras initializer of every Dense kernel. Defaults to ``"glorot_uniform"``.

    Returns:
        An uncompiled model from (N, ``input_size``) to (N, ``units``).

    Raises:
        ValueError: For a size below 1, an empty or non-positive ``hidden``, or a rate outside [0, 1).

    Example:
        >>> model = build_mlp(2052, 6)  # 2052 -> 500 -> 100 -> 6 sigmoids
    """
    if input_size < 1 or units < 1:
        raise ValueError(f"The MLP needs at least one input and one output. Received: input_size {input_size}, units {units}")
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden must give one or more layer sizes, each at least 1, e.g. (500, 100). Received: {tuple(hidden)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a rate in [0, 1), 0 for none. Received: {dropout}")
    inputs = keras.Input(shape=(input_size,), name="features")
    x = inputs
    for layer in preprocessing:
        x = layer(x)
    for number, size in enumerate(hidden, start=1):
        x = keras.layers.Dense(size, activation="relu", kernel_initializer=kernel_initializer, name=f"hidden_{number}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{number}")(x)
    x = keras.layers.Dense(units, kernel_initializer=kernel_initializer, name=LOGITS)(x)
    if isinstance(final_layer, str):
        final_layer = keras.layers.Activation(final_layer, name="predictions")
    return keras.Model(inputs, final_layer(x), name=MLP)
