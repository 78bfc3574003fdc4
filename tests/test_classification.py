import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from conftest import PROCESS_TIMEOUT, PROJECT_ROOT, run_script
from test_light_paths import imported_modules

from pyimagesearch.data.dataset import load_labelled_images
from pyimagesearch.data.images import decode_image, list_images, resize_image
from pyimagesearch.data.labels import fit_binarizer
from pyimagesearch.inference.annotation import annotate, annotated_paths
from pyimagesearch.inference.classification import Classifier, Prediction, expand_image_arguments, labelbin_to_check
from pyimagesearch.inference.model_files import RUN_ID
from pyimagesearch.inference.model_io import save_labelbin
from pyimagesearch.inference.predictors import ONNX_METADATA_KEY, KerasPredictor, OnnxPredictor


def test_images_are_found_from_files_folders_and_globs(demo_data):
    _, examples = demo_data
    first = examples / "example_01.jpg"
    found = expand_image_arguments([str(first), str(examples), str(examples / "example_0[12].jpg")])
    assert found[0] == first
    assert len(found) == 7 and len(set(found)) == 7


def test_missing_image_argument_names_it(tmp_path):
    with pytest.raises(ValueError, match=r"`image` .*nothing.jpg: no such file"):
        expand_image_arguments([str(tmp_path / "nothing.jpg")])
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="notes.txt: not an image file"):
        expand_image_arguments([str(tmp_path / "notes.txt")])


def test_annotated_copies_go_to_a_folder_without_clashes(tmp_path):
    inputs = [tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg", tmp_path / "c.gif"]
    targets = annotated_paths(inputs, tmp_path / "out")
    assert [target.relative_to(tmp_path).as_posix() for target in targets] == ["out/x.jpg", "out/x_2.jpg", "out/c.png"]
    assert annotated_paths(inputs[:1], tmp_path / "one.png") == [tmp_path / "one.png"]


def test_annotated_copies_never_replace_an_input(tmp_path):
    image = tmp_path / "x.jpg"
    image.write_bytes(b"")
    with pytest.raises(ValueError, match="would overwrite the input image"):
        annotated_paths([image], tmp_path)
    with pytest.raises(ValueError, match="is a file name but 2 images"):
        annotated_paths([image, tmp_path / "y.jpg"], tmp_path / "out.jpg")


def test_annotation_writes_the_labels_on_a_400_pixel_wide_copy():
    image = np.full((100, 200, 3), 255, dtype=np.uint8)
    prediction = Prediction(path=None, labels=["red", "dress"], probabilities={"red": 0.9, "dress": 0.8, "blue": 0.1})
    annotated = annotate(image, prediction)
    assert annotated.shape == (200, 400, 3)
    text_region = annotated[:70, :200]
    assert (text_region[..., 1] > 200).any() and (text_region[..., 0] < 50).any()
    assert (image == 255).all()


class RecordingPredictor:
    """Stands in for a network: records the images it is given, answers 0.5 for every label."""

    def __init__(self, units: int):
        self.output_units = units
        self.seen: list[np.ndarray] = []

    def predict(self, images, batch_size=32):
        self.seen.append(np.array(images))
        return np.full((len(images), self.output_units), 0.5, dtype="float32")


def test_classification_decodes_images_exactly_as_training_does(tmp_path):
    folder = tmp_path / "red_dress"
    folder.mkdir()
    rng = np.random.default_rng(3)
    # A large photo-like JPEG (decoded at 1/8 scale for 32 px), a small one and a PNG.
    large = cv2.GaussianBlur(rng.integers(0, 256, (700, 900, 3), dtype=np.uint8), (31, 31), 0)
    cv2.imwrite(str(folder / "large.jpg"), large, [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(str(folder / "small.jpg"), large[:120, :100])
    cv2.imwrite(str(folder / "small.png"), large[200:300, 300:420])
    paths = list_images(tmp_path)
    predictor = RecordingPredictor(units=2)
    classifier = Classifier(predictor, ["dress", "red"], "multilabel", image_size=32, thresholds=[0.5, 0.5])
    predictions, skipped = classifier.classify(paths)
    assert [prediction.path for prediction in predictions] == paths and not skipped
    [seen] = predictor.seen
    training = load_labelled_images(tmp_path, 32)
    assert training.paths == paths
    np.testing.assert_array_equal(seen, training.images)
    # The reduced-size decoding was taken: a full decode and resize gives other pixels.
    full = resize_image(decode_image(folder / "large.jpg"), 32)
    assert not np.array_equal(seen[paths.index(folder / "large.jpg")], full)


def test_an_onnx_model_checks_mlb_pickle_only_when_it_is_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert labelbin_to_check("fashion.onnx", None) is None
    assert labelbin_to_check("fashion.model", None) == Path("mlb.pickle")  # the tutorial's, required
    assert labelbin_to_check("fashion.onnx", "other.pickle") == Path("other.pickle")
    (tmp_path / "mlb.pickle").write_bytes(b"")
    assert labelbin_to_check("fashion.onnx", None) == Path("mlb.pickle")


def test_onnx_model_labels_like_the_keras_model(exported_model, demo_data, tmp_path):
    # That the ONNX run imports no TensorFlow: test_light_paths.py.
    _, examples = demo_data
    common = ["--image", str(examples), "--json", "--top-k", "2"]
    keras_run = run_script(
        "classify.py",
        "--model",
        exported_model / "fashion.model",
        "--labelbin",
        exported_model / "mlb.pickle",
        "--output",
        tmp_path / "keras",
        *common,
        cwd=tmp_path,
    )
    assert keras_run.returncode == 0, keras_run.stderr
    onnx_run = run_script("classify.py", "--model", exported_model / "fashion.onnx", "--output", tmp_path / "onnx", *common, cwd=tmp_path)
    assert onnx_run.returncode == 0, onnx_run.stderr
    keras_results, onnx_results = json.loads(keras_run.stdout), json.loads(onnx_run.stdout)
    assert len(onnx_results) == 7
    for expected, found in zip(keras_results, onnx_results):
        assert found["image"] == expected["image"] and found["labels"] == expected["labels"]
        assert found["probabilities"].keys() == expected["probabilities"].keys()
        for label, probability in expected["probabilities"].items():
            assert abs(found["probabilities"][label] - probability) <= 1e-4
        assert Path(found["annotated"]).is_file()


def test_explain_with_an_onnx_model_is_a_one_line_error(exported_model, demo_data, tmp_path):
    result = run_script(
        "classify.py", "--model", exported_model / "fashion.onnx", "--image", demo_data[1] / "example_01.jpg", "--explain", cwd=tmp_path
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"classify.py: error: --explain needs the Keras model file: Grad-CAM takes gradients, which the ONNX export "
        f"{exported_model / 'fashion.onnx'} does not give. Pass the model written by train.py with --explain, e.g. "
        "--model fashion.model --explain."
    ]
    assert list(tmp_path.iterdir()) == []


def test_onnx_model_refuses_a_labelbin_from_another_run(exported_model, demo_data, tmp_path):
    save_labelbin(fit_binarizer([("cat",), ("dog",)]), tmp_path / "mlb.pickle")  # found by default
    result = run_script("classify.py", "--model", exported_model / "fashion.onnx", "--image", demo_data[1] / "example_01.jpg", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith("classify.py: error: --labelbin mlb.pickle does not match the model")


def test_no_annotate_prints_the_same_labels_and_writes_nothing(exported_model, demo_data, tmp_path):
    _, examples = demo_data
    common = ["--model", exported_model / "fashion.onnx", "--image", examples, "--json"]
    annotated = run_script("classify.py", *common, "--output", tmp_path / "annotated", cwd=tmp_path)
    labels_only = run_script("classify.py", *common, "--no-annotate", "--output", tmp_path / "unused", cwd=tmp_path)
    assert annotated.returncode == 0 and labels_only.returncode == 0, labels_only.stderr
    with_copies, without = json.loads(annotated.stdout), json.loads(labels_only.stdout)
    assert [r["labels"] for r in without] == [r["labels"] for r in with_copies]
    assert all(r["annotated"] is None for r in without)
    assert all(Path(r["annotated"]).is_file() for r in with_copies)
    assert not (tmp_path / "unused").exists()


def test_no_annotate_with_show_is_a_one_line_error(exported_model, demo_data, tmp_path):
    result = run_script(
        "classify.py",
        "--model",
        exported_model / "fashion.onnx",
        "--image",
        demo_data[1] / "example_01.jpg",
        "--no-annotate",
        "--show",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["classify.py: error: --show draws on the annotated copies: drop --no-annotate."]


def copy_of(exported_model: Path, folder: Path, export_run_id: str | None = "same") -> Path:
    """``folder`` holding a copy of the model, its labelbin and, unless ``export_run_id`` is None, its
    export, stamped with ``export_run_id`` instead of the model's own unless that is ``"same"``."""
    folder.mkdir()
    for name in ("fashion.model", "mlb.pickle") + (() if export_run_id is None else ("fashion.onnx",)):
        shutil.copy(exported_model / name, folder / name)
    if export_run_id not in (None, "same"):
        proto = onnx.load(str(folder / "fashion.onnx"))
        metadata = json.loads(next(prop.value for prop in proto.metadata_props if prop.key == ONNX_METADATA_KEY))
        onnx.helper.set_model_props(proto, {ONNX_METADATA_KEY: json.dumps({**metadata, RUN_ID: export_run_id})})
        onnx.save(proto, str(folder / "fashion.onnx"))
    return folder


def test_the_tutorial_command_runs_the_export_of_the_same_run_without_tensorflow(exported_model, demo_data, tmp_path):
    work = copy_of(exported_model, tmp_path / "model")
    image = demo_data[1] / "example_07.jpg"
    tutorial = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            str(PROJECT_ROOT / "classify.py"),
            "--model",
            "fashion.model",
            "--labelbin",
            "mlb.pickle",
            "--image",
            str(image),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=work,
        timeout=PROCESS_TIMEOUT,
    )
    assert tutorial.returncode == 0, tutorial.stderr
    modules = imported_modules(tutorial.stderr)
    assert "onnxruntime" in modules and not {"tensorflow", "keras", "tf_keras"} & modules
    assert not [line for line in tutorial.stderr.splitlines() if not line.startswith("import time:")]
    onnx_run = run_script("classify.py", "--model", work / "fashion.onnx", "--image", image, "--json", cwd=work)
    assert json.loads(tutorial.stdout)[0]["probabilities"] == json.loads(onnx_run.stdout)[0]["probabilities"]


@pytest.mark.parametrize(
    "export_run_id, explain, reason",
    [
        (None, False, "no {work}/fashion.onnx beside it (train.py writes it unless --no-export"),
        ("0" * 32, False, "{work}/fashion.onnx is the export of another training run (run id 00000000000000000000000000000000"),
        ("same", True, "--explain takes Grad-CAM's gradients through the Keras model"),
    ],
)
def test_the_keras_model_runs_only_when_it_must_and_the_reason_is_given(exported_model, tmp_path, export_run_id, explain, reason):
    work = copy_of(exported_model, tmp_path / "model", export_run_id)
    classifier = Classifier.load(
        work / "fashion.model",
        prefer_export=True,
        keras_reason="--explain takes Grad-CAM's gradients through the Keras model" if explain else None,
    )
    assert isinstance(classifier.predictor, KerasPredictor)
    assert classifier.note.startswith(f"running {work}/fashion.model with TensorFlow (seconds to start): {reason.format(work=work)}")
    # The export of the same run, by the same call without --explain:
    if export_run_id == "same":
        assert isinstance(Classifier.load(work / "fashion.model", prefer_export=True).predictor, OnnxPredictor)


def test_classify_says_in_one_line_why_the_keras_model_runs(exported_model, demo_data, tmp_path):
    work = copy_of(exported_model, tmp_path / "model", export_run_id=None)
    result = run_script(
        "classify.py",
        "--model",
        "fashion.model",
        "--labelbin",
        "mlb.pickle",
        "--image",
        demo_data[1] / "example_01.jpg",
        "--no-annotate",
        cwd=work,
    )
    assert result.returncode == 0, result.stderr
    # TensorFlow logs its own lines on importing; ours is one.
    assert [line for line in result.stderr.splitlines() if line.startswith("classify.py")] == [
        "classify.py: running fashion.model with TensorFlow (seconds to start): no fashion.onnx beside it (train.py "
        "writes it unless --no-export; export.py --model fashion.model writes it now)"
    ]
