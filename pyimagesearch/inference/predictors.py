"""The network behind a `Classifier`: a Keras model file or its ONNX export, behind one interface.

Both take RGB images of the model's input size, values 0-255, and return the head's outputs.
The ONNX side runs on onnxruntime and imports neither TensorFlow nor Keras, whose imports alone
take seconds; the Keras side imports them only when a Keras model file is loaded.
"""

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pyimagesearch import config
from pyimagesearch.data.features import INPUT_IMAGES, for_images
from pyimagesearch.inference.model_files import default_onnx_path, export_mismatch, read_model_metadata

if TYPE_CHECKING:
    import keras
    import onnxruntime

    from pyimagesearch.inference.gradcam import GradCam

# The key of the ONNX model's metadata_props entry holding the model file's metadata JSON
# (task, classes, input size, thresholds, label groups...): an export is self-contained.
ONNX_METADATA_KEY = "pyimagesearch"
# The name of the ONNX output holding the features unknown detection reads (the penultimate
# layer's, or the shape branch's; see `unknown`); the head's outputs are the first output.
ONNX_FEATURES_OUTPUT = "features"
# What classification cannot do without.
REQUIRED_METADATA = ("task", "classes", "image_size")
# An ONNX file is a protobuf ModelProto whose first field is ir_version (field 1, a varint),
# so its first byte is the tag 0x08; a Keras archive is a zip, starting with "PK".
_ONNX_FIRST_BYTE = b"\x08"


def is_onnx_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an ONNX model: a ``.onnx`` name, or an existing file that starts like one."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(1) == _ONNX_FIRST_BYTE
    except OSError:
        return False


class Predictor(Protocol):
    """What a `Classifier` needs from a network.

    Attributes:
        path: The model file.
        metadata: The metadata train.py stored with the model (see `model_io.save_model`).
        output_units: Units of the network's final layer.
        has_features: Whether `predict_with_features` works: the model was trained with unknown
            detection (see `unknown`), which reads features of the network.
    """

    path: Path
    metadata: dict[str, Any]
    output_units: int
    has_features: bool

    def predict(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> np.ndarray:
        """The head's outputs, float32 of shape (N, output_units), for RGB images of shape (N, size, size, 3), 0-255."""

    def predict_with_features(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
        """The head's outputs and the features unknown detection reads, (N, output_units) and (N, D), if ``has_features``."""

    def grad_cam(self) -> "GradCam":
        """A Grad-CAM explainer of the network (see `gradcam.GradCam`)."""


class KerasPredictor:
    """A Keras model file written by train.py.

    Args:
        model: The Keras model.
        metadata: Its metadata.
        path: The file it was loaded from.
    """

    def __init__(self, model: "keras.Model", metadata: dict[str, Any], path: Path):
        self.model = model
        self.metadata = metadata
        self.path = path
        self.output_units = int(model.output_shape[-1])
        layers = (metadata.get("unknown") or {}).get("feature_layers")
        self.has_features = bool(layers)
        self._with_features = with_features(model, layers) if layers else None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "KerasPredictor":
        """Load a model file written by train.py (imports TensorFlow and Keras: seconds).

        Raises:
            ValueError: For a missing file or one that is not a model written by train.py.
        """
        from pyimagesearch.inference.model_io import load_model

        model, metadata = load_model(path)
        return cls(model, metadata, Path(path))

    def predict(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> np.ndarray:
        """The head's outputs, float32 of shape (N, output_units), for RGB images of shape (N, size, size, 3), 0-255."""
        return self.model.predict(np.asarray(images, dtype="float32"), batch_size=batch_size, verbose=0)

    def predict_with_features(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
        """The head's outputs and the features unknown detection reads, (N, output_units) and (N, D).

        Raises:
            ValueError: For a model without features (``has_features`` is False).
        """
        if self._with_features is None:
            raise ValueError(f"`model` {self.path} was trained without unknown detection: retrain it with train.py.")
        outputs, features = self._with_features.predict(np.asarray(images, dtype="float32"), batch_size=batch_size, verbose=0)
        return outputs, features

    def grad_cam(self) -> "GradCam":
        """A Grad-CAM explainer of the model's last convolution layer."""
        from pyimagesearch.inference.gradcam import GradCam

        return GradCam(self.model)


class OnnxPredictor:
    """An ONNX export of a model (see `export.export_onnx`), run by onnxruntime.

    Args:
        session: The onnxruntime session.
        metadata: The model's metadata, read from the ONNX file.
        path: The file it was loaded from.
    """

    def __init__(self, session: "onnxruntime.InferenceSession", metadata: dict[str, Any], path: Path):
        self.session = session
        self.metadata = metadata
        self.path = path
        # Keras names the input after its own tensors ("keras_tensor", "input_layer"...): ask.
        self.input_name = session.get_inputs()[0].name
        outputs = session.get_outputs()
        # The head's outputs come first; an export with unknown detection adds ONNX_FEATURES_OUTPUT.
        self.output_name = outputs[0].name
        self.output_units = int(outputs[0].shape[-1])
        self.has_features = any(output.name == ONNX_FEATURES_OUTPUT for output in outputs)

    @classmethod
    def load(cls, path: str | os.PathLike, prepack: bool = True) -> "OnnxPredictor":
        """Load an ONNX model exported by export.py, with the metadata it carries.

        Args:
            path: The ONNX file.
            prepack: Let onnxruntime repack the dense layers' weights for its matrix products when
                the session starts: a cost repaid over the next batches, which then run faster,
                not by one image (measured: bench/README.md, "Inference"). Defaults to True.

        Raises:
            ValueError: For a missing file, one onnxruntime cannot load, or an ONNX model
                without this toolkit's metadata or whose input does not match it.
        """
        # Imported here: classifying with a Keras model file needs no onnxruntime.
        import onnxruntime
        from onnxruntime.capi import onnxruntime_pybind11_state as errors

        path = Path(path)
        if not path.is_file():
            raise ValueError(f"`model` {path}: no such file. Export one with export.py --model fashion.model --output {path}.")
        try:
            options = onnxruntime.SessionOptions()
            if not prepack:
                options.add_session_config_entry("session.disable_prepacking", "1")
            session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except (
            RuntimeError,
            errors.Fail,
            errors.InvalidProtobuf,
            errors.InvalidGraph,
            errors.InvalidArgument,
            errors.NoSuchFile,
            errors.NotImplemented,
            errors.RuntimeException,
        ) as error:
            reason = " ".join(str(error).split())  # onnxruntime's messages span lines; ours are one.
            raise ValueError(f"`model` {path}: onnxruntime cannot load it ({reason}). Export it again with export.py.") from error
        metadata = read_onnx_metadata(session, path)
        inputs = session.get_inputs()
        size = int(metadata["image_size"])
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != [size, size, 3]:
            shapes = [node.shape for node in inputs]
            raise ValueError(
                f"`model` {path}: expected one input of shape (batch, {size}, {size}, 3) as its metadata says, "
                f"found {shapes}. Export it again with export.py."
            )
        return cls(session, metadata, path)

    def predict(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> np.ndarray:
        """The head's outputs, float32 of shape (N, output_units), for RGB images of shape (N, size, size, 3), 0-255."""
        return self._run([self.output_name], images, batch_size)[0]

    def predict_with_features(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
        """The head's outputs and the features unknown detection reads, (N, output_units) and (N, D).

        Raises:
            ValueError: For an export without features (``has_features`` is False).
        """
        if not self.has_features:
            raise ValueError(f"`model` {self.path} has no features output: export it again with export.py.")
        outputs, features = self._run([self.output_name, ONNX_FEATURES_OUTPUT], images, batch_size)
        return outputs, features

    def _run(self, names: list[str], images: np.ndarray, batch_size: int) -> list[np.ndarray]:
        images = np.asarray(images)
        # In batches: the network's activations for thousands of images at once would take gigabytes.
        batches = [
            self.session.run(names, {self.input_name: images[start : start + batch_size].astype("float32")})
            for start in range(0, len(images), batch_size)
        ]
        if not batches:
            return [np.empty((0, self.output_units), dtype="float32") for _ in names]
        return [np.concatenate([batch[i] for batch in batches]).astype("float32") for i in range(len(names))]

    def grad_cam(self) -> "GradCam":
        """Refused: Grad-CAM takes gradients through the Keras model.

        Raises:
            ValueError: Always, naming the fix.
        """
        raise ValueError(
            f"`explain` needs the Keras model file: Grad-CAM takes gradients, which the ONNX export {self.path} "
            "does not give. Pass the model written by train.py with `explain`, e.g. `model` fashion.model `explain`."
        )


def read_onnx_metadata(session: "onnxruntime.InferenceSession", path: Path) -> dict[str, Any]:
    """The toolkit's metadata stored in an ONNX model by `export.export_onnx`.

    Raises:
        ValueError: For an ONNX model without it (not exported by export.py), or with an
            unreadable or incomplete one.
    """
    text = session.get_modelmeta().custom_metadata_map.get(ONNX_METADATA_KEY)
    if text is None:
        raise ValueError(
            f"`model` {path} is an ONNX model without this toolkit's labels (exported elsewhere?): "
            "export it with export.py --model fashion.model."
        )
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"`model` {path}: its metadata is not valid JSON ({error}). Export it again with export.py.") from error
    missing = [key for key in REQUIRED_METADATA if not isinstance(metadata, dict) or key not in metadata]
    if missing:
        raise ValueError(f"`model` {path}: its metadata lacks {', '.join(missing)}. Export it again with export.py.")
    return metadata


def feature_layer_name(model: "keras.Model") -> str:
    """The layer whose output is the network's penultimate features: the last layer with one vector per
    image before the head's Dense layer (in SmallerVGGNet, the 1024-unit block's BatchNormalization).

    Raises:
        ValueError: For a model whose head's Dense layer has no vector layer before it.
    """
    import keras

    # Dropout is the identity when predicting: its input is the same features.
    vectors = [layer for layer in model.layers if len(layer.output.shape) == 2 and not isinstance(layer, keras.layers.Dropout)]
    head = max((i for i, layer in enumerate(vectors) if isinstance(layer, keras.layers.Dense)), default=0)
    if head == 0:
        raise ValueError(f"The model {model.name} has no layer of vector features before its last Dense layer.")
    return vectors[head - 1].name


def with_features(model: "keras.Model", layers: "Sequence[str]") -> "keras.Model":
    """A model of the same weights returning ``[outputs, features]``: the head's outputs and those of
    ``layers``, side by side."""
    import keras

    features = [model.get_layer(layer).output for layer in layers]
    joined = features[0] if len(features) == 1 else keras.layers.Concatenate(name="unknown_features")(features)
    return keras.Model(model.inputs, [model.outputs[0], joined])


def load_predictor(path: str | os.PathLike, prepack: bool = True) -> Predictor:
    """The network in a model file, an ONNX export (by name or content) or a Keras model file, taking RGB
    images: an MLP's computes their features first (`features.for_images`). ``prepack``: as
    `OnnxPredictor.load`.

    Raises:
        ValueError: For a missing file or one that is neither (see the loaders), or a model
            trained on a feature table.
    """
    return for_images(OnnxPredictor.load(path, prepack) if is_onnx_file(path) else KerasPredictor.load(path))


def load_fastest_predictor(path: str | os.PathLike, keras_reason: str | None = None, prepack: bool = True) -> tuple[Predictor, str | None]:
    """The network of a model file, run by onnxruntime whenever it can.

    An ONNX file runs as it is. A Keras model file written by train.py runs its ONNX export
    instead when the export lies beside it (``fashion.model`` -> ``fashion.onnx``) and belongs to
    the same training run (`model_files.export_mismatch`): the answers are the same (export.py
    checks them) and onnxruntime starts in a fraction of the seconds TensorFlow's import takes.

    Args:
        path: A Keras model file written by train.py, or an ONNX export.
        keras_reason: Why the Keras model itself is needed (e.g. Grad-CAM's gradients), or None.
        prepack: As `OnnxPredictor.load`.

    Returns:
        ``(predictor, note)``: ``note`` says in one line which file runs with TensorFlow and why,
        or is None when ONNX runs.

    Raises:
        ValueError: As `load_predictor`.

    Example:
        >>> predictor, note = load_fastest_predictor("fashion.model")  # runs fashion.onnx of the same run
    """
    path = Path(path)
    if is_onnx_file(path):
        return load_predictor(path, prepack), None
    export = default_onnx_path(path)
    metadata = read_model_metadata(path)
    if keras_reason is not None:
        reason = keras_reason
    elif metadata.get("input", INPUT_IMAGES) != INPUT_IMAGES:
        reason = "a network over features computed outside it has no ONNX export"
    elif not export.is_file():
        reason = f"no {export} beside it (train.py writes it unless --no-export; export.py --model {path} writes it now)"
    else:
        try:
            exported = OnnxPredictor.load(export, prepack)
        except ValueError as error:
            reason = f"its export {export} cannot be used ({error})"
        else:
            reason = export_mismatch(path, metadata, exported.metadata)
            if reason is None:
                return exported, None
    return load_predictor(path), f"running {path} with TensorFlow (seconds to start): {reason}"
