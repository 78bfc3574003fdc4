"""Input normalisation and weight initialisation: the choices behind ``--normalize`` and ``--init``.

The network takes RGB values 0-255 and normalises them itself, with layers right after its
input, so the statistics learned from the training set are saved inside the model and
classification cannot preprocess differently from training. Keras loads when layers are built:
train.py checks ``--normalize`` and ``--init`` before it has loaded.
"""

from typing import TYPE_CHECKING

import numpy as np

from pyimagesearch import config

if TYPE_CHECKING:
    import keras

# --normalize (config.NORMALIZATIONS): [0, 1] as in the tutorial; per-channel zero mean; per-channel
# zero mean and unit variance. The last two learn their statistics from the training images.
NORMALIZATIONS = config.NORMALIZATIONS
# The layer that subtracts the training set's channel means, by --normalize mode.
CENTRING_LAYERS = {"center": "center_channels", "standardize": "standardize_channels"}
# --init: the user-facing name and the Keras initializer of every convolution and dense kernel.
INITIALIZERS = dict(zip(config.INITS, ("glorot_uniform", "he_normal")))

# Images per chunk when computing statistics: bounds the float64 copy to ~14 MB at 96 pixels.
_CHUNK_IMAGES = 64
# A channel that hardly varies in the training set would be divided by ~0 and blow up on any
# other image; its standard deviation is floored at one grey level on the [0, 1] scale.
_MIN_STD = 1.0 / 255.0


def channel_statistics(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and variance of images on the [0, 1] scale.

    Accumulates sums in float64 over chunks of images, so a uint8 array of thousands of images
    is never copied whole to floating point.

    Args:
        images: Array of shape (N, height, width, channels), values 0-255 (uint8 or float), or
            an array-like with ``shape`` that returns arrays when sliced (`data.IndexedRows`).

    Returns:
        ``(mean, variance)``, each float64 of shape (channels,).

    Raises:
        ValueError: For an empty array or one that is not (N, height, width, channels).
    """
    if not hasattr(images, "shape"):
        images = np.asarray(images)
    if len(images.shape) != 4 or images.shape[0] == 0:
        raise ValueError(
            f"Normalisation statistics need training images of shape (N, height, width, channels), N > 0. Received: shape {images.shape}"
        )
    channels = images.shape[-1]
    total = np.zeros(channels, dtype=np.float64)
    total_squares = np.zeros(channels, dtype=np.float64)
    for start in range(0, len(images), _CHUNK_IMAGES):
        chunk = images[start : start + _CHUNK_IMAGES].reshape(-1, channels).astype(np.float64) / 255.0
        total += chunk.sum(axis=0)
        total_squares += np.square(chunk).sum(axis=0)
    count = int(np.prod(images.shape[:-1]))
    mean = total / count
    # Values lie in [0, 1], so E[x^2] - E[x]^2 in float64 loses nothing that matters here.
    variance = np.maximum(total_squares / count - np.square(mean), 0.0)
    return mean, variance


def input_normalization(mode: str, train_images: np.ndarray | None = None) -> list["keras.layers.Layer"]:
    """The layers that go right after the model's input, which receives RGB values 0-255.

    - ``"unit"``: ``Rescaling(1/255)`` to [0, 1], as in the tutorial (layer ``rescale_to_unit``).
    - ``"center"``: the same, then each channel's training-set mean subtracted (layer
      ``center_channels``).
    - ``"standardize"``: the same, then each channel's training-set mean subtracted and divided
      by its standard deviation (layer ``standardize_channels``), as an adapted
      ``keras.layers.Normalization(axis=-1)`` would. Standard deviations below one grey level
      are raised to it.

    The statistics are the per-channel ``scale`` (1 / std) and ``offset`` (-mean / std) of a
    ``Rescaling`` layer, so they are part of the saved model, loading it (safe mode included)
    restores them, and they export as constants: a ``Normalization`` layer's statistics
    become extra graph inputs in the ONNX export.

    Args:
        mode: One of `NORMALIZATIONS`.
        train_images: Training images of shape (N, height, width, channels), values 0-255,
            uint8 or float. Required by ``"center"`` and ``"standardize"``; never the
            validation images, whose statistics would leak into training. Defaults to None.

    Returns:
        A list of layers, to pass as ``SmallerVGGNet.build(preprocessing=...)``.

    Raises:
        ValueError: For an unknown mode, or missing or empty training images.

    Example:
        >>> layers = input_normalization("standardize", train_images)
        >>> model = SmallerVGGNet.build(96, 96, 3, classes=6, preprocessing=layers)
    """
    if mode not in NORMALIZATIONS:
        raise ValueError(f"`normalize` must be one of {', '.join(NORMALIZATIONS)}. Received: `normalize` {mode}")
    import keras

    layers: list[keras.layers.Layer] = [keras.layers.Rescaling(1.0 / 255, name="rescale_to_unit")]
    if mode == "unit":
        return layers
    if train_images is None:
        raise ValueError(f"`normalize` {mode} learns its statistics from the training images, and none were given.")
    mean, variance = channel_statistics(train_images)
    std = np.ones_like(mean) if mode == "center" else np.sqrt(np.maximum(variance, _MIN_STD**2))
    # Plain lists: the layer's config is JSON, and safe-mode loading rebuilds it from there.
    layers.append(keras.layers.Rescaling(scale=(1.0 / std).tolist(), offset=(-mean / std).tolist(), name=CENTRING_LAYERS[mode]))
    return layers


def centres_inputs(model: "keras.Model") -> bool:
    """Whether ``model`` centres its inputs: a ``--normalize center|standardize`` layer or a Keras ``Normalization``."""
    import keras

    return any(isinstance(layer, keras.layers.Normalization) or layer.name in CENTRING_LAYERS.values() for layer in model.layers)


def kernel_initializer(name: str) -> str:
    """The Keras initializer behind an ``--init`` choice: ``glorot`` or ``he``.

    Raises:
        ValueError: For a name not in `INITIALIZERS`.
    """
    if name not in INITIALIZERS:
        raise ValueError(f"`init` must be one of {', '.join(INITIALIZERS)}. Received: `init` {name}")
    return INITIALIZERS[name]
