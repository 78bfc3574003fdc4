"""Pretrained backbones from `keras.applications`: a registry of builders, their input preprocessing, and
weights from ImageNet (downloaded by Keras), from a file on disk (how offline machines work), or, for
MobileNetV2 at alpha 0.35, from the file shipped in ``pyimagesearch/weights`` (its default: the same
command builds the same network online and offline).

The backbone's layers are built into the classifier's own graph (not nested as one layer), behind
the backbone's preprocessing, so the saved model takes RGB 0-255 like SmallerVGGNet, Grad-CAM finds
its convolutions, and the ONNX export needs nothing new. Its weights are copied, in layer order,
from a second instance that Keras built with the requested weights; Keras' own loader thereby
checks the file.
"""

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from pyimagesearch.models.registry import NETWORKS

# Two identity layers mark where a backbone starts and ends: its layers are those on the paths in
# between, even when another branch runs beside it. The transfer classifier's head starts at POOL.
BACKBONE_INPUT = "backbone_input"
BACKBONE_OUTPUT = "backbone_output"
POOL = "backbone_pool"
# Dropout before the head's Dense layer, as in keras.applications' own classification tops.
HEAD_DROPOUT = 0.2
# Keras' EfficientNet multiplies by 1/sqrt(stddev) after its Normalization layer when it builds with
# weights="imagenet" (the stored variances are standard deviations); see `_fix_efficientnet_variance`.
_IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)
# Weights shipped with the toolkit (pyimagesearch/weights/NOTICE.md: source, licence), per (arch, alpha),
# with their sha256: the default of those backbones, so that no download decides what trains.
SHIPPED_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
SHIPPED_WEIGHTS = {
    ("mobilenetv2", 0.35): (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5",
        "df1c3db1d0d9193719c4c70f707c56f7021f999f825bdc57454c275cf6def19f",
    ),
}


@keras.saving.register_keras_serializable(package="pyimagesearch")
class CaffeInput(layers.Layer):
    """The "caffe" preprocessing of ResNet50's ImageNet weights: RGB 0-255 to BGR minus the ImageNet means."""

    MEANS_BGR = (103.939, 116.779, 123.68)

    def call(self, inputs):
        bgr = keras.ops.flip(inputs, axis=-1)
        return bgr - keras.ops.cast(keras.ops.convert_to_tensor(self.MEANS_BGR), bgr.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@dataclass(frozen=True)
class Backbone:
    """One registered architecture.

    Attributes:
        name: Its ``--arch`` name.
        constructor: The `keras.applications` function building it.
        preprocessing: Layers mapping RGB 0-255 to the backbone's input (the weights' own
            ``preprocess_input``); empty when the backbone preprocesses inside (MobileNetV3's
            ``include_preprocessing`` and EfficientNet's layers, on by default).
        alphas: The width multipliers it has ImageNet weights for; empty when it has no ``alpha``.
        default_alpha: The ``alpha`` used when none is given.
        marker: Name of a layer its Keras weights files hold, to recognise them.
    """

    name: str
    constructor: Callable[..., keras.Model]
    preprocessing: Callable[[], list[layers.Layer]]
    alphas: tuple[float, ...] = ()
    default_alpha: float | None = None
    marker: str = ""

    def build(self, image_size: int, alpha: float | None, weights: str | None, input_tensor=None) -> keras.Model:
        """The backbone without its classification top, from `keras.applications`."""
        kwargs = {"include_top": False, "weights": weights, "input_shape": (image_size, image_size, 3)}
        if input_tensor is not None:
            kwargs["input_tensor"] = input_tensor
        if self.alphas:
            kwargs["alpha"] = self.default_alpha if alpha is None else alpha
        return self.constructor(**kwargs)


BACKBONES: dict[str, Backbone] = {
    backbone.name: backbone
    for backbone in (
        Backbone(
            "mobilenetv2",
            keras.applications.MobileNetV2,
            lambda: [layers.Rescaling(1 / 127.5, offset=-1.0, name="mobilenetv2_preprocessing")],
            alphas=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4),
            default_alpha=1.0,
            marker="Conv1",
        ),
        Backbone(
            "mobilenetv3small",
            keras.applications.MobileNetV3Small,
            lambda: [],
            alphas=(0.75, 1.0),
            default_alpha=1.0,
            marker="expanded_conv_depthwise",
        ),
        Backbone("efficientnetb0", keras.applications.EfficientNetB0, lambda: [], marker="stem_conv"),
        Backbone(
            "resnet50",
            keras.applications.ResNet50,
            lambda: [CaffeInput(name="resnet50_preprocessing")],
            marker="conv1_conv",
        ),
    )
}


def resolve_weights(arch: str, weights: str | None, alpha: float | None = None) -> str | None:
    """``--weights`` as the builders take it: None for ``none``, ``"imagenet"``, or a file's path.

    The default (None) is the shipped weights file of ``arch`` at ``alpha`` (or at any alpha when
    ``alpha`` is None) where there is one (`SHIPPED_WEIGHTS`), else ``imagenet`` for a pretrained
    backbone, and ``none`` for SmallerVGGNet and the MLP.

    Raises:
        ValueError: For pretrained weights with SmallerVGGNet or the MLP, a weights file that does
            not exist, or a shipped file that is not the one shipped.
    """
    if weights is None:
        if not NETWORKS[arch].pretrained:
            return None
        shipped = shipped_weights(arch, alpha)
        return "imagenet" if shipped is None else str(shipped)
    if weights == "none":
        return None
    if not NETWORKS[arch].pretrained:
        raise ValueError(
            f"`weights` {weights}: `arch` {arch} has no pretrained weights; pass `arch` "
            f"{'|'.join(BACKBONES)} for a pretrained backbone, or leave `weights` out."
        )
    if weights != "imagenet" and not Path(weights).is_file():
        raise ValueError(f"`weights` {weights}: no such file. Pass a Keras applications weights file (.h5), imagenet or none.")
    return weights


def shipped_weights(arch: str, alpha: float | None = None) -> Path | None:
    """The weights file shipped for ``arch`` (at ``alpha``; any when None), checked against its sha256, or None.

    Raises:
        ValueError: When the shipped file is missing or altered (a broken checkout or install).
    """
    found = next(
        (
            (name, digest)
            for (shipped_arch, shipped_alpha), (name, digest) in SHIPPED_WEIGHTS.items()
            if shipped_arch == arch and alpha in (None, shipped_alpha)
        ),
        None,
    )
    if found is None:
        return None
    name, digest = found
    path = SHIPPED_WEIGHTS_DIR / name
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        raise ValueError(
            f"`weights`: the shipped {path} is missing or altered (sha256 should be {digest}): restore it with "
            f"`git checkout -- {path.name}` in {path.parent}, or pass `weights` imagenet or a weights file."
        )
    return path


def resolve_alpha(arch: str, alpha: float | None, weights: str | None) -> float | None:
    """The width multiplier to build: ``alpha``, else the one a weights file was saved with, else the default.

    A weights file is checked here, before any training: it must hold ``arch``'s weights (with
    ``alpha``, when given).

    Raises:
        ValueError: For an ``alpha`` the architecture does not have, or a weights file that does
            not fit; the message names the arguments that would fit it.
    """
    if not NETWORKS[arch].pretrained:
        if alpha is not None:
            raise ValueError(f"`alpha` {alpha}: {arch} has no width multiplier; leave `alpha` out.")
        return None
    backbone = BACKBONES[arch]
    if alpha is not None and alpha not in backbone.alphas:
        raise ValueError(
            f"`alpha` {alpha}: {arch} is built with alpha {', '.join(map(str, backbone.alphas))}."
            if backbone.alphas
            else f"`alpha` {alpha}: {arch} has no width multiplier; leave `alpha` out."
        )
    if weights not in (None, "imagenet"):
        found = identify_weights_file(weights)
        if found is None or found[0] != arch or (alpha is not None and found[1] != alpha):
            raise ValueError(_misfit_message(weights, arch, alpha, found))
        return found[1]
    return backbone.default_alpha if alpha is None else alpha


def _arguments(arch: str, alpha: float | None) -> str:
    return f"`arch` {arch}" + (f" `alpha` {alpha:g}" if alpha is not None else "")


def _misfit_message(weights: str, arch: str, alpha: float | None, found: tuple[str, float | None] | None) -> str:
    if found is None:
        return (
            f"`weights` {weights} does not fit {_arguments(arch, alpha)} nor any other `arch`/`alpha`: pass the no-top "
            f"ImageNet weights file of {arch} from keras.applications."
        )
    return (
        f"`weights` {weights} does not fit {_arguments(arch, alpha)}: it holds the weights of {_arguments(*found)}; pass those arguments."
    )


def _read_weights_file(path: str | os.PathLike) -> tuple[set[str], list[list[tuple[int, ...]]]]:
    """The layer names of a Keras (legacy HDF5) weights file, and the weight shapes of each layer with
    weights, in file order."""
    import h5py

    with h5py.File(path, "r") as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        names = [name.decode() if isinstance(name, bytes) else name for name in group.attrs.get("layer_names", [])]
        shapes = []
        for name in names:
            weight_names = group[name].attrs.get("weight_names", [])
            if len(weight_names):
                shapes.append([tuple(group[name][weight].shape) for weight in weight_names])
        return set(names), shapes


def _model_weight_shapes(model: keras.Model) -> list[list[tuple[int, ...]]]:
    return [[tuple(weight.shape) for weight in layer.weights] for layer in model.layers if layer.weights]


def identify_weights_file(path: str | os.PathLike) -> tuple[str, float | None] | None:
    """The registered architecture and alpha whose no-top backbone a weights file fits, or None.

    Reads the file's weight shapes and compares them with each candidate's, built without weights
    (only candidates of the families whose marker layer the file holds).

    Raises:
        ValueError: For a file that is not a Keras HDF5 weights file.
    """
    try:
        names, shapes = _read_weights_file(path)
    except (OSError, KeyError) as error:
        raise ValueError(f"`weights` {path}: not a Keras HDF5 weights file ({error}).") from None
    for backbone in BACKBONES.values():
        if backbone.marker not in names:
            continue
        for alpha in backbone.alphas or (None,):
            # 32 px, the smallest size every family accepts: the weights' shapes do not depend on it.
            if _model_weight_shapes(backbone.build(32, alpha, None)) == shapes:
                return backbone.name, alpha
    return None


def _load_pretrained(backbone: Backbone, image_size: int, alpha: float | None, weights: str) -> keras.Model:
    """The backbone built by Keras with ``weights``; a clear error naming the file and what fits it."""
    try:
        return backbone.build(image_size, alpha, weights)
    except ValueError as error:
        if weights == "imagenet":
            raise ValueError(f"{_arguments(backbone.name, alpha)} `weights` imagenet: {error}") from None
        raise ValueError(_misfit_message(weights, backbone.name, alpha, identify_weights_file(weights))) from None
    except Exception as error:  # Keras' download: URLError, HTTPError, socket timeouts and more.
        if weights != "imagenet":
            raise
        raise ValueError(
            f"{_arguments(backbone.name, alpha)} `weights` imagenet: could not download the ImageNet weights ({error}). "
            f"Offline, pass `weights` PATH with the no-top weights file, or put it in ~/.keras/models/."
        ) from None


def _fix_efficientnet_variance(backbone_layers: list[layers.Layer]) -> None:
    # Keras adds a rescaling by 1/sqrt(stddev) after EfficientNet's Normalization layer only when
    # it builds with weights="imagenet"; folding it into the variance gives the same function.
    for layer in backbone_layers:
        if isinstance(layer, layers.Normalization):
            mean, variance, count = layer.get_weights()
            layer.set_weights([mean, variance * np.asarray(_IMAGENET_STDDEV_RGB, variance.dtype), count])
            return


def build_backbone(
    arch: str, image_size: int, alpha: float | None, weights: str | None, inputs, tap_side: int | None = None
) -> keras.KerasTensor | tuple[keras.KerasTensor, keras.KerasTensor]:
    """Build a pretrained (or freshly initialised) backbone into a graph after ``inputs``.

    Args:
        arch: A name in `BACKBONES`.
        image_size: Side of the square input.
        alpha: Width multiplier (see `resolve_alpha`), or None.
        weights: None, ``"imagenet"`` or a weights file's path (see `resolve_weights`).
        inputs: The model's RGB 0-255 input tensor.
        tap_side: If given, also return the backbone's last feature maps at least this many pixels a side.

    Returns:
        The backbone's last feature maps (its layers: `backbone_layers`), and with ``tap_side`` the
        tapped maps too: ``(last, tapped)``.
    """
    backbone = BACKBONES[arch]
    pretrained = _load_pretrained(backbone, image_size, alpha, weights) if weights is not None else None
    x = inputs
    for layer in backbone.preprocessing():
        x = layer(x)
    start = layers.Identity(name=BACKBONE_INPUT)(x)
    end = backbone.build(image_size, alpha, None, input_tensor=start).output
    if pretrained is not None:
        source = [layer for layer in pretrained.layers if layer.weights]
        target = [layer for layer in _layers_between(start, end) if layer.weights]
        for source_layer, target_layer in zip(source, target, strict=True):
            target_layer.set_weights(source_layer.get_weights())
        if arch == "efficientnetb0":
            _fix_efficientnet_variance(target)
    last = layers.Identity(name=BACKBONE_OUTPUT)(end)
    if tap_side is None:
        return last
    # A padding layer's output only serves the strided convolution after it, and is a pixel larger.
    maps = [
        layer.output
        for layer in _layers_between(start, end)
        if len(layer.output.shape) == 4 and not isinstance(layer, layers.ZeroPadding2D)
    ]
    return last, last_maps_of_side(maps, tap_side)


def last_maps_of_side(maps: list[keras.KerasTensor], side: int) -> keras.KerasTensor:
    """The last of ``maps`` (feature maps in graph order) at least ``side`` pixels high and wide: the
    deepest, hence best informed, that still resolves ``side`` x ``side`` places."""
    return [tensor for tensor in maps if min(tensor.shape[1], tensor.shape[2]) >= side][-1]


def _layers_between(start: keras.KerasTensor, end: keras.KerasTensor) -> list[layers.Layer]:
    """The layers on the paths from ``start`` to ``end`` (``start``'s own excluded), in the graph's order."""
    return keras.Model(start, end).layers[1:]  # [0] is the sub-graph's new input layer.


def backbone_summary(arch: str, alpha: float | None, weights: str | None) -> str:
    """One line naming the backbone for logs, e.g. ``mobilenetv2 (alpha 0.35, weights fashion.h5)``."""
    parts = [f"alpha {alpha:g}"] if alpha is not None else []
    parts.append(f"weights {'none' if weights is None else weights}")
    return f"{arch} ({', '.join(parts)})"


def build_transfer_classifier(
    arch: str,
    image_size: int,
    alpha: float | None,
    weights: str | None,
    units: int,
    final_layer: layers.Layer,
    dropout: bool = True,
    kernel_initializer: str = "glorot_uniform",
) -> keras.Model:
    """A classifier on a backbone: preprocessing, backbone, global average pooling, dropout, Dense, ``final_layer``.

    With pretrained ``weights`` the backbone is frozen (`set_backbone_trainable`); training then
    fits the head, and fine-tuning unfreezes the backbone's top.

    Args:
        arch, image_size, alpha, weights: As `build_backbone`.
        units: Units of the head's Dense layer (``logits``).
        final_layer: The head's activation layer, named ``predictions`` (`tasks.Task.final_layer`).
        dropout: Whether to put dropout before the Dense layer (not for the overfit check).
        kernel_initializer: Initialiser of the Dense layer's kernel.

    Returns:
        An uncompiled functional model mapping (N, image_size, image_size, 3) RGB 0-255 to (N, units).
    """
    inputs = keras.Input(shape=(image_size, image_size, 3))
    features = build_backbone(arch, image_size, alpha, weights, inputs)
    x = layers.GlobalAveragePooling2D(name=POOL)(features)
    if dropout:
        x = layers.Dropout(HEAD_DROPOUT, name="head_dropout")(x)
    x = layers.Dense(units, kernel_initializer=kernel_initializer, name="logits")(x)
    model = keras.Model(inputs, final_layer(x), name=f"{arch}_classifier")
    if weights is not None:
        set_backbone_trainable(model, 0)
    return model


def backbone_layers(model: keras.Model) -> list[layers.Layer]:
    """The backbone's layers of a model built with `build_backbone`, bottom to top."""
    return _layers_between(model.get_layer(BACKBONE_INPUT).output, model.get_layer(BACKBONE_OUTPUT).input)


def set_backbone_trainable(model: keras.Model, top_layers: int) -> int:
    """Freeze the backbone but its top ``top_layers`` layers; returns how many were unfrozen.

    BatchNormalization layers stay frozen, which in Keras 3 also keeps them in inference mode:
    their ImageNet statistics are not overwritten by a few small batches of new photos. The
    model must be compiled again for the change to take effect.
    """
    stack = backbone_layers(model)
    first = max(0, len(stack) - top_layers)
    for index, layer in enumerate(stack):
        layer.trainable = index >= first and not isinstance(layer, layers.BatchNormalization)
    return len(stack) - first
