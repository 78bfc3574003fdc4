"""Exporting a trained model to ONNX, with its labels, for classification without TensorFlow.

Keras' own export (``model.export(..., format="onnx")``, through tf2onnx) writes the network;
the model file's metadata (task, classes, input size, thresholds, label groups...) goes into the
ONNX model's ``metadata_props``, so the ``.onnx`` file is self-contained. Every export is checked
against the Keras model before it replaces anything.
"""

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import onnx

from pyimagesearch.atomic import atomic_path
from pyimagesearch.data.features import INPUT_IMAGES
from pyimagesearch.inference.model_files import METADATA_VERSION, default_onnx_path
from pyimagesearch.inference.model_io import load_model
from pyimagesearch.inference.predictors import (
    ONNX_FEATURES_OUTPUT,
    ONNX_METADATA_KEY,
    REQUIRED_METADATA,
    OnnxPredictor,
    is_onnx_file,
    with_features,
)

logger = logging.getLogger(__name__)

# The largest difference between the ONNX and the Keras model's outputs that an export may show.
PARITY_TOLERANCE = 1e-4
# Random images the export is checked on.
PARITY_IMAGES = 8


def export_model_onnx(model: keras.Model, metadata: dict[str, Any], onnx_path: str | os.PathLike, seed: int = 0) -> Path:
    """Write ``model`` to ``onnx_path`` as ONNX, carrying ``metadata``, and check it against Keras.

    The export is written to a temporary file beside ``onnx_path``, loaded back with
    onnxruntime and run on `PARITY_IMAGES` random images; only if every output is within
    `PARITY_TOLERANCE` of Keras' does it replace ``onnx_path``. A model with unknown detection
    (``"feature_layers"`` in its ``"unknown"`` metadata entry) gets a second output,
    `predictors.ONNX_FEATURES_OUTPUT`: the features its distances read, checked alike.

    Args:
        model: A trained model taking RGB images 0-255 of shape (N, size, size, 3), e.g. the
            one `training.train` returns.
        metadata: The metadata train.py saves with the model (see `model_io.save_model`); at
            least ``task``, ``classes`` and ``image_size``.
        onnx_path: The ONNX file to write.
        seed: Seed of the random check images. Defaults to 0.

    Returns:
        ``onnx_path`` as a `Path`.

    Raises:
        ValueError: For incomplete metadata, a model whose input does not match it, a path that
            is a folder, or an export whose outputs differ from Keras' by more than
            `PARITY_TOLERANCE` (nothing is written then).

    Example:
        >>> model, metadata = model_io.load_model("fashion.model")
        >>> export_model_onnx(model, metadata, "fashion.onnx")
    """
    onnx_path = Path(onnx_path)
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ValueError(f"The metadata to export lacks {', '.join(missing)}: pass the metadata train.py saved with the model.")
    if metadata.get("input", INPUT_IMAGES) != INPUT_IMAGES:
        raise ValueError(
            "ONNX export takes networks over images; this model is an MLP over features computed outside it "
            f"({metadata['input']}): classify with the model file itself, or train --arch smallervggnet to export."
        )
    size = int(metadata["image_size"])
    if tuple(model.input_shape[1:]) != (size, size, 3):
        raise ValueError(
            f"The model's input {model.input_shape} does not match its metadata's image_size {size}: expected (None, {size}, {size}, 3)."
        )
    if onnx_path.is_dir():
        raise ValueError(f"The ONNX path {onnx_path} is a folder: give the file a name, e.g. {onnx_path / 'fashion.onnx'}.")
    images = np.random.default_rng(seed).integers(0, 256, (PARITY_IMAGES, size, size, 3)).astype("float32")
    # Unknown detection's distances read features: a second output then.
    feature_layers = (metadata.get("unknown") or {}).get("feature_layers")
    if feature_layers:
        model = with_features(model, feature_layers)
    # Also calls a freshly loaded model once, which Keras' export requires.
    expected = model.predict(images, verbose=0)
    with atomic_path(onnx_path) as temporary:
        convert_to_onnx(model, temporary)
        _store_metadata(temporary, {"version": METADATA_VERSION, **metadata}, features=bool(feature_layers))
        exported = OnnxPredictor.load(temporary)
        found = exported.predict_with_features(images) if feature_layers else [exported.predict(images)]
        expected = expected if feature_layers else [expected]
        difference = max(float(np.max(np.abs(got - want))) for got, want in zip(found, expected))
        if not difference <= PARITY_TOLERANCE:  # Also refuses NaN.
            raise ValueError(
                f"The ONNX export's outputs differ from the Keras model's by up to {difference:.2e} on random "
                f"images (tolerance {PARITY_TOLERANCE:g}); nothing was written to {onnx_path}. "
                "Check the versions of onnx, onnxruntime and tf2onnx against requirements.txt."
            )
    logger.info("wrote %s: outputs within %.1e of the Keras model's on %d random images", onnx_path, difference, PARITY_IMAGES)
    return onnx_path


def convert_to_onnx(model: keras.Model, onnx_path: str | os.PathLike) -> None:
    """Write ``model``'s forward pass (inference mode) to ``onnx_path`` through tf2onnx, transposes optimised away.

    What ``model.export(format="onnx")`` does, plus one rewrite (`scalar_addends_as_vectors`)
    without which tf2onnx's transpose optimiser fails on this toolkit's networks and keeps a
    pair of transposes around every convolution (docs/export.md).

    Args:
        model: A model taking one batch of NHWC images.
        onnx_path: The ONNX file to write.
    """
    import tensorflow as tf
    import tf2onnx

    # Keras' own numpy 2 fixes of tf2onnx, which model.export applies the same way.
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    signature = [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="images")]
    forward = tf.function(lambda images: model(images, training=False), input_signature=signature)
    with warnings.catch_warnings():
        # Keras' tf2onnx shim probes numpy for `np.object`, which numpy 2 answers with a FutureWarning.
        warnings.simplefilter("ignore", FutureWarning)
        patch_tf2onnx()
        tf2onnx.convert.from_function(
            forward, input_signature=signature, custom_rewriter=[scalar_addends_as_vectors], output_path=str(onnx_path)
        )


def scalar_addends_as_vectors(graph: Any, nodes: list[Any]) -> list[Any]:
    """A tf2onnx rewriter: a scalar constant added to (or subtracted from) a tensor becomes a
    one-element vector, which broadcasts to the same result.

    ONNX convolutions are NCHW and Keras' NHWC, so tf2onnx wraps each convolution in a pair of
    transposes that its transpose optimiser then pushes through the graph until they cancel.
    On the way it merges a constant added after a bias-free convolution into the convolution's
    bias, and for a scalar (``Rescaling(2.0, offset=-1.0)`` after the colour-and-shape network's
    fixed ``grey`` convolution) it takes ``max(())`` of the scalar's empty shape: the ValueError
    aborts the whole pass, every transpose stays, and tf2onnx logs the traceback. A one-element
    vector is merged as the bias it is.

    Args:
        graph: tf2onnx's graph of TensorFlow operations, before their conversion.
        nodes: Its nodes.

    Returns:
        The nodes, with the new constants.
    """
    from tf2onnx import utils

    for node in nodes:
        if node.type not in ("Add", "AddV2", "Sub"):
            continue
        for index, source in enumerate(node.inputs):
            other = graph.get_shape(node.input[1 - index])
            if source is None or not source.is_const() or not other:  # Another scalar, or an unknown shape: left as it is.
                continue
            value = source.get_tensor_value(as_list=False)
            if value.ndim == 0:
                vector = graph.make_const(utils.make_name(source.name), value.reshape(1))
                graph.replace_input(node, node.input[index], vector.output[0], index)
    return graph.get_nodes()


def _store_metadata(onnx_path: Path, metadata: dict[str, Any], features: bool = False) -> None:
    proto = onnx.load(str(onnx_path))
    onnx.helper.set_model_props(proto, {ONNX_METADATA_KEY: json.dumps(metadata)})
    if features:
        _rename_output(proto.graph, proto.graph.output[1].name, ONNX_FEATURES_OUTPUT)
    onnx.save(proto, str(onnx_path))


def _rename_output(graph: onnx.GraphProto, old: str, new: str) -> None:
    # tf2onnx names outputs after TensorFlow's tensors; the features get a name classification can ask for.
    for node in graph.node:
        for names in (node.input, node.output):
            for i, name in enumerate(names):
                if name == old:
                    names[i] = new
    for value in [*graph.output, *graph.value_info]:
        if value.name == old:
            value.name = new


def export_onnx(model_path: str | os.PathLike, onnx_path: str | os.PathLike | None = None) -> Path:
    """Export a model file written by train.py to ONNX (see `export_model_onnx`).

    Args:
        model_path: The Keras model file, e.g. ``fashion.model``.
        onnx_path: The ONNX file to write. Defaults to the model's name with ``.onnx``, beside it.

    Returns:
        The path of the ONNX file.

    Raises:
        ValueError: For a missing file, one that is not a model written by train.py (an ONNX
            file included), an output that would replace the model, or a failed check.

    Example:
        >>> export_onnx("fashion.model")
        PosixPath('fashion.onnx')
    """
    model_path = Path(model_path)
    onnx_path = default_onnx_path(model_path) if onnx_path is None else Path(onnx_path)
    if model_path.is_file() and is_onnx_file(model_path):
        raise ValueError(f"`model` {model_path} is already an ONNX model: pass the model file written by train.py.")
    model, metadata = load_model(model_path)
    if onnx_path.resolve() == model_path.resolve():
        raise ValueError(f"`output` {onnx_path} would replace the model itself: give another name, e.g. {default_onnx_path(model_path)}.")
    return export_model_onnx(model, metadata, onnx_path)
