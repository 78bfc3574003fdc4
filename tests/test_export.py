"""ONNX export: parity with Keras, metadata and run id carried along, no traceback, refusals, quantization,
and the export.py command."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import onnx
import pytest
from conftest import PROCESS_TIMEOUT, PROJECT_ROOT, TRAINING

from export import main
from pyimagesearch import config
from pyimagesearch.data.images import list_images, load_images
from pyimagesearch.inference import quantization as quantization_module
from pyimagesearch.inference.classification import Classifier
from pyimagesearch.inference.model_files import RUN_ID
from pyimagesearch.inference.model_io import read_model_metadata, save_model
from pyimagesearch.inference.onnx_export import default_onnx_path, export_model_onnx, export_onnx
from pyimagesearch.inference.predictors import ONNX_METADATA_KEY, OnnxPredictor
from pyimagesearch.inference.quantization import quantize_export
from pyimagesearch.models.colour_and_shape import COLOUR_ATTENTION
from pyimagesearch.models.normalization import CENTRING_LAYERS, kernel_initializer

TINY_METADATA = {"task": "multilabel", "classes": ["a", "b"], "image_size": 8, "threshold": 0.5, "thresholds": None}


def tiny_model() -> keras.Model:
    """A small image model that exports in a few seconds."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Rescaling(1.0 / 255),
            keras.layers.Conv2D(2, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="sigmoid"),
        ]
    )


@pytest.fixture(scope="module", params=["unit", "center", "standardize"])
def exported(request, exported_model, demo_data, tmp_path_factory) -> Path:
    """A folder with a model trained with each --normalize (1 epoch, 32 px) and its export; the
    standardized one with --init he."""
    if request.param == "unit":
        return exported_model
    from pyimagesearch.training.options import TrainOptions
    from pyimagesearch.training.pipeline import train

    work = tmp_path_factory.mktemp(f"exported-{request.param}")
    train(
        TrainOptions.of(
            dataset=demo_data[0],
            model=work / "fashion.model",
            labelbin=work / "mlb.pickle",
            plot=work / "plot.png",
            epochs=1,
            image_size=32,
            normalize=request.param,
            **TRAINING | ({"init": "he"} if request.param == "standardize" else {}),
        ),
        verbose=0,
    )
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


def test_the_model_carries_its_normalisation_statistics_and_initialisation(exported):
    metadata = read_model_metadata(exported / "fashion.model")
    normalize, init = metadata["normalize"], metadata["init"]
    assert init == ("he" if normalize == "standardize" else config.INIT)
    model = Classifier.load(exported / "fashion.model").model
    if normalize in CENTRING_LAYERS:  # -mean (/ std), learnt from the training images: below 0 for pixels 0-255
        assert np.asarray(model.get_layer(CENTRING_LAYERS[normalize]).offset).max() < 0.0
    # Every kernel training learns (the colour-and-shape network's fixed grey conversion is none;
    # its attention logits start at zero, so that every place weighs alike at first).
    kernels = [
        layer.kernel_initializer
        for layer in model.layers
        if hasattr(layer, "kernel_initializer") and layer.trainable and layer.name != COLOUR_ATTENTION
    ]
    expected = type(keras.initializers.get(kernel_initializer(init)))
    assert kernels and all(isinstance(kernel, expected) for kernel in kernels)


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
    [
        (None, ["--model", "{tmp}/missing.model"], "--model {tmp}/missing.model: no such file. Train one with train.py"),
        ("text", ["--model", "{tmp}/notes.model"], "--model {tmp}/notes.model is not a Keras 3 model archive"),
        ("onnx", ["--model", "{tmp}/fashion.onnx"], "--model {tmp}/fashion.onnx is already an ONNX model: pass the model file"),
        (
            "model",
            ["--model", "{tmp}/fashion.model", "--output", "{tmp}/fashion.model"],
            "--output {tmp}/fashion.model would replace the model itself",
        ),
    ],
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


def test_a_successful_export_prints_no_traceback_and_keeps_no_transpose_pair(exported_model, tmp_path):
    # The colour-and-shape network adds a scalar after its bias-free grey convolution: the case that
    # made tf2onnx's transpose optimiser fail with a traceback and keep a transpose pair per convolution.
    assert read_model_metadata(exported_model / "fashion.model")["colour_branch"]
    result = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "export.py"),
            "--model",
            str(exported_model / "fashion.model"),
            "--output",
            str(tmp_path / "fashion.onnx"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=PROCESS_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Failed to apply" not in result.stderr
    assert f"wrote {tmp_path / 'fashion.onnx'}" in result.stdout
    graph = onnx.load(str(tmp_path / "fashion.onnx")).graph
    convolutions = sum(node.op_type == "Conv" for node in graph.node)
    producers = {output: node for node in graph.node for output in node.output}
    transposes = [
        f"{producers[node.input[0]].op_type if node.input[0] in producers else 'input'} -> {node.name}"
        for node in graph.node
        if node.op_type == "Transpose"
    ]
    # Left: one from the NHWC input into each branch's first NCHW convolution, one back to NHWC
    # before the shape branch's flattening, whose Dense weights are in NHWC order, and one back to
    # NHWC for the colour branch's attention pooling (a softmax over places, in NHWC).
    assert convolutions >= 6 and len(transposes) <= 4, transposes


def test_the_export_carries_the_run_id_of_its_model_file(exported_model):
    metadata = read_model_metadata(exported_model / "fashion.model")
    assert len(metadata[RUN_ID]) == 32
    assert OnnxPredictor.load(exported_model / "fashion.onnx").metadata[RUN_ID] == metadata[RUN_ID]


@pytest.mark.parametrize("quantization", ["int8", "float16"])
def test_a_quantized_export_replaces_the_float32_one_only_when_the_labels_stay(
    exported_model, demo_data, tmp_path, quantization, record_score
):
    dataset, _ = demo_data
    shutil.copy(exported_model / "fashion.model", tmp_path / "fashion.model")
    # The one-epoch model's probabilities sit near its decision boundaries: a few labels may flip (int8:
    # 5-18 of 360, float16: 1-4, over 5 seeds on both CPUs; bench/test_spread.py), so a tolerance of 0.1.
    check = quantize_export(_float_export(exported_model, tmp_path), quantization, dataset, tolerance=0.1)
    record_score("labels_changed", len(check.changed))
    record_score("max_difference", check.max_difference)
    assert check.accepted and check.images == 360 and len(check.changed) <= 36
    assert f"labels changed on {len(check.changed)} of 360 images (tolerance 0.1: at most 36)" in check.summary()
    assert check.sizes[1] < check.sizes[0] * 0.65  # at 32 pixels the dense layers hold less of the weights than at 96
    assert 0 < check.max_difference < 0.05
    quantized = Classifier.load(tmp_path / "fashion.model", prefer_export=True)  # the sibling: same run id
    assert quantized.note is None and quantized.predictor.metadata["quantization"] == quantization
    float32 = Classifier.load(exported_model / "fashion.onnx")
    paths = [path for path in list_images(dataset)[::6] if path not in check.changed]
    # One by one, as the check also compared them (in a batch, int8's answers depend on the batch).
    assert [sorted(p.labels) for p in quantized.classify(paths, batch_size=1)[0]] == [
        sorted(p.labels) for p in float32.classify(paths, batch_size=1)[0]
    ]


def test_a_quantization_that_changes_labels_is_refused_and_the_float32_export_stays(exported_model, demo_data, tmp_path, monkeypatch):
    dataset, _ = demo_data
    onnx_path = _float_export(exported_model, tmp_path)
    before = onnx_path.read_bytes()
    # A quantization whose copy labels every image differently: another model's, with the same metadata.
    monkeypatch.setattr(quantization_module, "quantize_onnx", lambda path, kind, output: _reversed_outputs(path, output))
    with pytest.raises(
        ValueError, match=r"`quantize` int8 refused: int8: labels changed on (\d+) of 360 images \(tolerance 0: at most 0\)"
    ):
        quantize_export(onnx_path, "int8", dataset)
    assert onnx_path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["fashion.onnx"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--quantize", "int8"], "--quantize and --dataset go together"),
        (["--dataset", "{tmp}"], "--quantize and --dataset go together"),
        (["--quantize", "int8", "--dataset", "{tmp}", "--tolerance", "2"], r"--tolerance is the largest share .* Received: 2.0"),
    ],
)
def test_quantize_arguments_are_checked_before_exporting(tmp_path, capsys, args, message):
    assert main(["--model", str(tmp_path / "missing.model"), *[arg.format(tmp=tmp_path) for arg in args]]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert re.search(message, line)


def _float_export(exported_model: Path, folder: Path) -> Path:
    shutil.copy(exported_model / "fashion.onnx", folder / "fashion.onnx")
    return folder / "fashion.onnx"


def _reversed_outputs(path: Path, output: Path) -> Path:
    proto = onnx.load(str(path))
    graph = proto.graph
    head = graph.output[0].name
    graph.node.append(onnx.helper.make_node("Sub", ["one", head + "_original"], [head]))
    for node in graph.node[:-1]:
        for index, name in enumerate(node.output):
            if name == head:
                node.output[index] = head + "_original"
        for index, name in enumerate(node.input):
            if name == head:
                node.input[index] = head + "_original"
    graph.initializer.append(onnx.helper.make_tensor("one", onnx.TensorProto.FLOAT, [], [1.0]))
    onnx.save(proto, str(output))
    return output
