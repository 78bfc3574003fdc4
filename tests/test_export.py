"""ONNX export: parity with Keras, metadata carried along, refusals, and the export.py command."""

from pathlib import Path

import keras
import numpy as np
import onnx
import pytest

from conftest import TRAINING
from export import main
from pyimagesearch.classification import Classifier
from pyimagesearch.export import default_onnx_path, export_model_onnx, export_onnx
from pyimagesearch.images import list_images, load_images
from pyimagesearch.model_io import read_model_metadata, save_model
from pyimagesearch.predictors import ONNX_METADATA_KEY, OnnxPredictor

TINY_METADATA = {"task": "multilabel", "classes": ["a", "b"], "image_size": 8, "threshold": 0.5, "thresholds": None}


def tiny_model() -> keras.Model:
    """A small image model that exports in a few seconds."""
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Rescaling(1.0 / 255),
        keras.layers.Conv2D(2, 3),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="sigmoid"),
    ])


@pytest.fixture(scope="module", params=["unit", "center", "standardize"])
def exported(request, exported_model, demo_data, tmp_path_factory) -> Path:
    """A folder with a model trained with each --normalize (1 epoch, 32 px) and its export."""
    if request.param == "unit":
        return exported_model
    from pyimagesearch.training import train

    work = tmp_path_factory.mktemp(f"exported-{request.param}")
    train(demo_data[0], model_path=work / "fashion.model", labelbin_path=work / "mlb.pickle", plot_path=work / "plot.png",
          epochs=1, image_size=32, normalize=request.param, verbose=0, **TRAINING)
    export_onnx(work / "fashion.model")
    return work


def test_onnx_probabilities_equal_keras_ones(exported, demo_data):
    dataset, examples = demo_data
    images, _, _ = load_images(list_images(dataset)[::6] + list_images(examples), 32)
    expected = Classifier.load(exported / "fashion.model").predict_probabilities(images)
    onnx_classifier = Classifier.load(exported / "fashion.onnx")
    assert expected.std() > 0.01  # outputs that vary from image to image, so that equality means something
    np.testing.assert_allclose(onnx_classifier.predict_probabilities(images), expected, rtol=0, atol=1e-4)
    # The normalisation statistics are constants of the graph, not extra inputs.
    assert len(onnx_classifier.predictor.session.get_inputs()) == 1
    assert onnx_classifier.predictor.metadata["normalize"] in ("unit", "center", "standardize")


def test_onnx_file_carries_the_model_metadata_beside_the_model(exported_model):
    assert default_onnx_path(exported_model / "fashion.model") == exported_model / "fashion.onnx"
    metadata = read_model_metadata(exported_model / "fashion.model")
    assert OnnxPredictor.load(exported_model / "fashion.onnx").metadata == metadata
    props = {prop.key for prop in onnx.load(str(exported_model / "fashion.onnx"), load_external_data=False).metadata_props}
    assert ONNX_METADATA_KEY in props
    assert {"task", "classes", "image_size", "thresholds", "label_groups", "label_sep"} <= set(metadata)


def test_export_that_differs_from_keras_is_refused_and_writes_nothing(tmp_path, monkeypatch):
    predict = OnnxPredictor.predict
    monkeypatch.setattr(OnnxPredictor, "predict", lambda self, images, **kwargs: predict(self, images) + 1e-3)
    with pytest.raises(ValueError, match=r"differ from the Keras model's by up to 1.00e-03 .*nothing was written"):
        export_model_onnx(tiny_model(), TINY_METADATA, tmp_path / "tiny.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_metadata_that_does_not_fit_the_model(tmp_path):
    with pytest.raises(ValueError, match="lacks task, classes"):
        export_model_onnx(tiny_model(), {"image_size": 8}, tmp_path / "tiny.onnx")
    with pytest.raises(ValueError, match=r"does not match its metadata's image_size 16: expected \(None, 16, 16, 3\)"):
        export_model_onnx(tiny_model(), {**TINY_METADATA, "image_size": 16}, tmp_path / "tiny.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_command_writes_the_onnx_file(tmp_path, capsys):
    save_model(tiny_model(), tmp_path / "tiny.model", TINY_METADATA)
    assert main(["--model", str(tmp_path / "tiny.model"), "--output", str(tmp_path / "out" / "tiny.onnx")]) == 0
    assert f"wrote {tmp_path / 'out' / 'tiny.onnx'}" in capsys.readouterr().out
    assert OnnxPredictor.load(tmp_path / "out" / "tiny.onnx").metadata["classes"] == ["a", "b"]


@pytest.mark.parametrize(
    "make, args, message",
    [(None, ["--model", "{tmp}/missing.model"], "--model {tmp}/missing.model: no such file. Train one with train.py"),
     ("text", ["--model", "{tmp}/notes.model"], "--model {tmp}/notes.model is not a Keras 3 model archive"),
     ("onnx", ["--model", "{tmp}/fashion.onnx"], "--model {tmp}/fashion.onnx is already an ONNX model: pass the model file"),
     ("model", ["--model", "{tmp}/fashion.model", "--output", "{tmp}/fashion.model"],
      "--output {tmp}/fashion.model would replace the model itself")],
)
def test_export_command_errors_are_one_line(exported_model, tmp_path, capsys, make, args, message):
    if make == "text":
        (tmp_path / "notes.model").write_text("not a model")
    elif make in ("onnx", "model"):
        name = f"fashion.{make}"
        (tmp_path / name).write_bytes((exported_model / name).read_bytes())
    assert main([arg.format(tmp=tmp_path) for arg in args]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"export.py: error: {message.format(tmp=tmp_path)}")
