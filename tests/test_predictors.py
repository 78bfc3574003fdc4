"""Loading the network behind a classifier: ONNX files told from Keras files, and refused clearly."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from pyimagesearch.inference.classification import Classifier
from pyimagesearch.inference.predictors import ONNX_METADATA_KEY, OnnxPredictor, is_onnx_file, load_predictor

METADATA = {"task": "multilabel", "classes": ["a", "b", "c"], "image_size": 4, "threshold": 0.5}


def write_onnx(path: Path, metadata: dict | None = METADATA, size: int = 4) -> Path:
    """A small ONNX model: the mean of each colour channel of (N, size, size, 3) images, over 255."""
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2], keepdims=0),
            helper.make_node("Div", ["mean", "scale"], ["outputs"]),
        ],
        "channel_means",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", size, size, 3])],
        [helper.make_tensor_value_info("outputs", TensorProto.FLOAT, ["batch", 3])],
        initializer=[helper.make_tensor("scale", TensorProto.FLOAT, [], [255.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    if metadata is not None:
        helper.set_model_props(model, {ONNX_METADATA_KEY: json.dumps(metadata)})
    onnx.save(model, str(path))
    return path


def test_onnx_files_are_told_by_name_or_content(tmp_path):
    write_onnx(tmp_path / "model.bin")
    (tmp_path / "archive.model").write_bytes(b"PK\x03\x04 a zip, as Keras archives are")
    assert is_onnx_file(tmp_path / "model.bin")
    assert is_onnx_file(tmp_path / "not_yet_written.onnx")
    assert not is_onnx_file(tmp_path / "archive.model")
    assert not is_onnx_file(tmp_path / "missing.model")
    assert isinstance(load_predictor(tmp_path / "model.bin"), OnnxPredictor)


def test_onnx_model_runs_in_batches_with_its_metadata(tmp_path):
    predictor = OnnxPredictor.load(write_onnx(tmp_path / "means.onnx"))
    images = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    np.testing.assert_allclose(predictor.predict(images, batch_size=3), images.mean(axis=(1, 2)) / 255, rtol=1e-6)
    assert predictor.metadata == METADATA and predictor.output_units == 3


@pytest.mark.parametrize(
    "make, message",
    [
        (None, "no such file. Export one with export.py"),
        (lambda path: path.write_bytes(b"\x08not a protobuf"), "onnxruntime cannot load it"),
        (lambda path: write_onnx(path, metadata=None), "an ONNX model without this toolkit's labels"),
        (lambda path: write_onnx(path, metadata={"task": "multilabel"}), "its metadata lacks classes, image_size"),
        (lambda path: write_onnx(path, size=8), r"expected one input of shape \(batch, 4, 4, 3\)"),
    ],
)
def test_onnx_models_not_from_export_py_are_refused(tmp_path, make, message):
    path = tmp_path / "model.onnx"
    if make is not None:
        make(path)
    with pytest.raises(ValueError, match=rf"^`model` {path}.*{message}") as refused:
        OnnxPredictor.load(path)
    assert "\n" not in str(refused.value)


def test_grad_cam_and_the_keras_model_are_refused_for_an_onnx_model(tmp_path):
    classifier = Classifier.load(write_onnx(tmp_path / "means.onnx"))
    with pytest.raises(ValueError, match=r"`explain` needs the Keras model file: Grad-CAM takes gradients"):
        classifier.check_explain()
    with pytest.raises(ValueError, match="is an ONNX export: it holds no Keras model"):
        _ = classifier.model


def test_an_export_loaded_without_prepacking_answers_the_same(exported_model):
    # classify.py skips onnxruntime's weight prepacking for a single batch: a faster start, the same answers.
    images = np.random.default_rng(1).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    prepacked = OnnxPredictor.load(exported_model / "fashion.onnx")
    unpacked = OnnxPredictor.load(exported_model / "fashion.onnx", prepack=False)
    assert unpacked.session.get_session_options().get_session_config_entry("session.disable_prepacking") == "1"
    np.testing.assert_allclose(unpacked.predict(images), prepacked.predict(images), rtol=0, atol=1e-5)
