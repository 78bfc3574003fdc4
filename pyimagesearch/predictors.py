"""The network behind a `Classifier`: a Keras model file or its ONNX export, behind one interface.

Both take RGB images of the model's input size, values 0-255, and return the head's outputs.
The ONNX side runs on onnxruntime and imports neither TensorFlow nor Keras, whose imports alone
take seconds; the Keras side imports them only when a Keras model file is loaded.
"""

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pyimagesearch import config

if TYPE_CHECKING:
    import keras
    import onnxruntime

    from pyimagesearch.gradcam import GradCam

# The key of the ONNX model's metadata_props entry holding the model file's metadata JSON
# (task, classes, input size, thresholds, label groups...): an export is self-contained.
ONNX_METADATA_KEY = "pyimagesearch"
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
    """

    path: Path
    metadata: dict[str, Any]
    output_units: int

    def predict(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> np.ndarray:
        """The head's outputs, float32 of shape (N, output_units), for RGB images of shape (N, size, size, 3), 0-255."""

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

    @classmethod
    def load(cls, path: str | os.PathLike) -> "KerasPredictor":
        """Load a model file written by train.py (imports TensorFlow and Keras: seconds).

        Raises:
            ValueError: For a missing file or one that is not a model written by train.py.
        """
        from pyimagesearch.model_io import load_model

        model, metadata = load_model(path)
        return cls(model, metadata, Path(path))

    def predict(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> np.ndarray:
        """The head's outputs, float32 of shape (N, output_units), for RGB images of shape (N, size, size, 3), 0-255."""
        return self.model.predict(np.asarray(images, dtype="float32"), batch_size=batch_size, verbose=0)

    def grad_cam(self) -> "GradCam":
        """A Grad-CAM explainer of the model's last convolution layer."""
        from pyimagesearch.gradcam import GradCam

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
        self.output_units = int(session.get_outputs()[0].shape[-1])

    @classmethod
    def load(cls, path: str | os.PathLike) -> "OnnxPredictor":
        """Load an ONNX model exported by export.py, with the metadata it carries.

        Raises:
            ValueError: For a missing file, one onnxruntime cannot load, or an ONNX model
                without this toolkit's metadata or whose input does not match it.
        """
        # Imported here: classifying with a Keras model file needs no onnxruntime.
        import onnxruntime
        from onnxruntime.capi import onnxruntime_pybind11_state as errors

        path = Path(path)
        if not path.is_file():
            raise ValueError(f"--model {path}: no such file. Export one with export.py --model fashion.model --output {path}.")
        try:
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except (RuntimeError, errors.Fail, errors.InvalidProtobuf, errors.InvalidGraph, errors.InvalidArgument,
                errors.NoSuchFile, errors.NotImplemented, errors.RuntimeException) as error:
            reason = " ".join(str(error).split())  # onnxruntime's messages span lines; ours are one.
            raise ValueError(
                f"--model {path}: onnxruntime cannot load it ({reason}). Export it again with export.py."
            ) from error
        metadata = read_onnx_metadata(session, path)
        inputs = session.get_inputs()
        size = int(metadata["image_size"])
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != [size, size, 3]:
            shapes = [node.shape for node in inputs]
            raise ValueError(
                f"--model {path}: expected one input of shape (batch, {size}, {size}, 3) as its metadata says, "
                f"found {shapes}. Export it again with export.py."
            )
        return cls(session, metadata, path)

    def predict(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> np.ndarray:
        """The head's outputs, float32 of shape (N, output_units), for RGB images of shape (N, size, size, 3), 0-255."""
        images = np.asarray(images)
        outputs = np.empty((len(images), self.output_units), dtype="float32")
        # In batches: the network's activations for thousands of images at once would take gigabytes.
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].astype("float32")
            outputs[start:start + batch_size] = self.session.run(None, {self.input_name: batch})[0]
        return outputs

    def grad_cam(self) -> "GradCam":
        """Refused: Grad-CAM takes gradients through the Keras model.

        Raises:
            ValueError: Always, naming the fix.
        """
        raise ValueError(
            f"--explain needs the Keras model file: Grad-CAM takes gradients, which the ONNX export {self.path} "
            "does not give. Pass the model written by train.py, e.g. --model fashion.model."
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
            f"--model {path} is an ONNX model without this toolkit's labels (exported elsewhere?): "
            "export it with export.py --model fashion.model."
        )
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"--model {path}: its metadata is not valid JSON ({error}). Export it again with export.py.") from error
    missing = [key for key in REQUIRED_METADATA if not isinstance(metadata, dict) or key not in metadata]
    if missing:
        raise ValueError(f"--model {path}: its metadata lacks {', '.join(missing)}. Export it again with export.py.")
    return metadata


def load_predictor(path: str | os.PathLike) -> KerasPredictor | OnnxPredictor:
    """The network in a model file: an ONNX export (by name or content) or a Keras model file.

    Raises:
        ValueError: For a missing file or one that is neither (see the loaders).
    """
    return OnnxPredictor.load(path) if is_onnx_file(path) else KerasPredictor.load(path)
