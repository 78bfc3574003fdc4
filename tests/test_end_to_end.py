"""train.py then classify.py as a user runs them, on generated data."""

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import file_weights, run_script, weighted_backbone_layers

from pyimagesearch import config
from pyimagesearch.inference.classification import Classifier
from pyimagesearch.inference.model_files import RUN_ID
from pyimagesearch.inference.model_io import load_model, read_model_metadata
from pyimagesearch.inference.predictors import OnnxPredictor
from pyimagesearch.models.backbones import shipped_weights
from pyimagesearch.models.colour_and_shape import COLOUR_FEATURES, SHAPE_FEATURES


@pytest.fixture(scope="module")
def trained(demo_data, tmp_path_factory):
    dataset, examples = demo_data
    work = tmp_path_factory.mktemp("e2e")
    result = run_script(
        "train.py",
        "--dataset",
        dataset,
        "--model",
        "fashion.model",
        "--labelbin",
        "mlb.pickle",
        # Half the default network's epochs (20 + 10), at 48 px: its scores below held at 10 + 5 and
        # 48 px over seeds (bench/README.md, "Test spread").
        "--epochs",
        "10",
        "--fine-tune-epochs",
        "5",
        "--image-size",
        "48",
        cwd=work,
    )
    assert result.returncode == 0, result.stderr
    return work, examples, result


def test_training_writes_model_labelbin_and_plot(trained):
    work, _, _ = trained
    assert sorted(path.name for path in work.iterdir()) == [
        "fashion.metrics.csv",
        "fashion.model",
        "fashion.onnx",
        "mlb.pickle",
        "plot.png",
    ]
    assert (work / "plot.png").read_bytes().startswith(b"\x89PNG")
    metadata = read_model_metadata(work / "fashion.model")
    # The export, written by default, is stamped with the model's run id: classify.py runs it for fashion.model.
    assert OnnxPredictor.load(work / "fashion.onnx").metadata[RUN_ID] == metadata[RUN_ID]
    assert metadata["task"] == "multilabel"
    assert metadata["classes"] == ["black", "blue", "dress", "jeans", "red", "shirt"]


def test_training_prints_the_data_summary_and_validation_report(trained):
    _, _, result = trained
    out = result.stdout
    assert "images: 360 loaded, 0 skipped" in out
    assert "labels: black 60, blue 180, dress 120, jeans 120, red 120, shirt 120" in out
    assert "combinations: black+jeans 60, blue+dress 60" in out
    assert (
        "task: multilabel (grouped head: softmax per group, grouped_crossentropy); colour branch for black, blue, red, "
        "grey shape branch for the rest" in out
    )
    assert "near-duplicates: 0 groups holding 0 images" in out
    assert "split (grouped): 288 training, 72 validation images" in out
    for name in ("val_exact_match", "val_hamming_loss", "val_micro_f1", "val_macro_f1", "val_map"):
        assert name in out  # the per-epoch progress line
    assert "tuned thresholds" in out and "one label per group" in out and "precision" in out


def test_metrics_csv_has_every_metric_for_every_epoch(trained):
    import csv

    work, _, _ = trained
    with open(work / "fashion.metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # The default network: at most 20 epochs on the frozen backbone (--epochs 20; --patience may stop
    # it sooner), then fine-tuning's, every one a row.
    assert [row["epoch"] for row in rows] == [str(epoch) for epoch in range(1, len(rows) + 1)]
    phases = [row["phase"] for row in rows]
    assert phases == sorted(phases) and phases[0] == "1" and "2" in phases and phases.count("1") <= 20
    assert len(rows) == read_model_metadata(work / "fashion.model")["epochs_trained"]
    for column in (
        "loss",
        "learning_rate",
        "val_loss",
        "val_exact_match",
        "val_hamming_loss",
        "val_micro_f1",
        "val_macro_f1",
        "val_map",
        "val_precision/red",
        "val_recall/dress",
        "val_f1/jeans",
    ):
        assert 0.0 <= float(rows[-1][column]) < 10.0, column


def test_the_default_network_fine_tunes_the_top_of_its_pretrained_backbone_as_a_second_phase(trained):
    work, _, _ = trained
    metadata = read_model_metadata(work / "fashion.model")
    with open(work / "fashion.metrics.csv", newline="") as handle:
        phases = [int(row["phase"]) for row in csv.DictReader(handle)]
    assert metadata["arch"] == "mobilenetv2" and metadata["alpha"] == 0.35
    assert metadata["fine_tune"]["layers"] == config.FINE_TUNE_LAYERS
    assert metadata["fine_tune"]["epochs_trained"] == phases.count(2) > 0
    # Unknown detection reads the backbone's pooled features for the type group, as it reads
    # SmallerVGGNet's, and the colour branch's for the colour group.
    assert metadata["colour_branch"] and metadata["unknown"]["feature_layers"] == [SHAPE_FEATURES, COLOUR_FEATURES]
    type_group = next(g for g, labels in enumerate(metadata["label_groups"]) if "dress" in labels)
    type_distance = metadata["unknown"]["groups"][type_group]["distance"]
    assert type_distance["columns"] == [0, 1280] and type_distance["combine"] == "alone"
    colour_distance = metadata["unknown"]["groups"][1 - type_group]["distance"]
    assert colour_distance["columns"] == [1280, 1280 + 64] and colour_distance["combine"] == "both"


def test_fine_tuning_keeps_batch_normalisation_statistics_and_the_lower_layers(trained):
    work, _, result = trained
    model, _ = load_model(work / "fashion.model")
    layers, weights = weighted_backbone_layers(model), shipped_weights("mobilenetv2", 0.35)
    # The first convolution was never unfrozen; no batch normalisation statistic moved.
    np.testing.assert_array_equal(layers[0].get_weights()[0], file_weights(weights, 0)[0])
    for index, layer in enumerate(layers):
        if isinstance(layer, keras.layers.BatchNormalization):
            for loaded, stored in zip(layer.get_weights(), file_weights(weights, index), strict=True):
                np.testing.assert_array_equal(loaded, stored)
    # The top convolution was fine-tuned, unless fine-tuning did not beat the frozen backbone (the demo
    # data can be learnt perfectly in phase 1) and phase 1's weights were kept: then it is the file's.
    kept_phase_one = "kept phase 1's weights" in result.stdout + result.stderr
    top_convolution = max(i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.Conv2D))
    assert np.allclose(layers[top_convolution].get_weights()[0], file_weights(weights, top_convolution)[0]) == kept_phase_one


def test_the_reloaded_model_and_its_export_give_the_same_predictions_and_labels(trained):
    work, examples, _ = trained
    size = read_model_metadata(work / "fashion.model")["image_size"]
    images = np.random.default_rng(1).integers(0, 256, (6, size, size, 3)).astype("float32")
    expected = load_model(work / "fashion.model")[0].predict(images, verbose=0)
    np.testing.assert_allclose(OnnxPredictor.load(work / "fashion.onnx").predict(images), expected, atol=1e-4)
    # classify.py needs no knowledge of the backbone: its preprocessing is inside the model.
    examples = sorted(examples.iterdir())
    keras_predictions, _ = Classifier.load(work / "fashion.model", work / "mlb.pickle").classify(examples)
    onnx_predictions, _ = Classifier.load(work / "fashion.onnx", work / "mlb.pickle").classify(examples)
    assert len(keras_predictions) == len(examples)
    assert [p.labels for p in keras_predictions] == [p.labels for p in onnx_predictions]
    label_groups = read_model_metadata(work / "fashion.model")["label_groups"]
    every_label, _ = Classifier.load(work / "fashion.model").classify(examples, unknown_threshold=0)
    for prediction in every_label:  # one colour and one type each, unknown detection off
        assert [sum(label in group for label in prediction.labels) for group in label_groups] == [1, 1]


def test_model_stores_tuned_thresholds_and_label_groups(trained, record_score):
    work, _, _ = trained
    metadata = read_model_metadata(work / "fashion.model")
    record_score("thresholds", metadata["thresholds"])
    assert set(metadata["thresholds"]) == set(metadata["classes"])
    assert all(0.05 <= value <= 0.95 for value in metadata["thresholds"].values())
    assert metadata["label_groups"] == [["black", "blue", "red"], ["dress", "jeans", "shirt"]]
    assert metadata["split"] == {"kind": "grouped", "duplicate_groups": 0}


def test_classify_by_groups_gives_one_colour_and_one_type(trained, record_score):
    work, examples, _ = trained
    result = run_script("classify.py", "--image", examples, "--decode", "groups", "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)
    for item in items:
        labels = set(item["labels"])
        # A group unknown detection flags has no label (tests/test_unknown.py), every other exactly one.
        for group in item["unknown"]["groups"]:
            assert len(labels & set(group["labels"])) == (0 if group["unknown"] else 1), item
    unflagged = sum(not any(group["unknown"] for group in item["unknown"]["groups"]) for item in items)
    record_score("examples_not_flagged", unflagged)
    # Unknown detection keeps 95 % of validation images; the seven demo examples, drawn apart (one an
    # unseen black dress), kept 5-6 in 10 runs of the default network at 20 + 10 epochs over seeds and
    # both CPUs, 5-7 in 5 runs at this test's 10 + 5 (bench/test_spread.py; SmallerVGGNet's kept 3-6).
    assert unflagged >= 4


def test_explain_writes_a_grad_cam_overlay_per_label_beside_the_annotated_copy(trained):
    import cv2

    work, examples, _ = trained
    result = run_script(
        "classify.py",
        "--image",
        examples / "example_01.jpg",
        "--decode",
        "groups",
        "--explain",
        "--json",
        "--output",
        "explained",
        cwd=work,
    )
    assert result.returncode == 0, result.stderr
    [item] = json.loads(result.stdout)
    assert set(item["explanations"]) == set(item["labels"])
    original = cv2.imread(str(examples / "example_01.jpg"))
    for label, path in item["explanations"].items():
        assert path == f"explained/example_01_gradcam_{label}.jpg"
        overlay = cv2.imread(str(work / path))
        assert overlay.shape == original.shape  # the heat-map covers the photo itself
        assert not np.array_equal(overlay, original)


def test_threshold_flag_overrides_the_tuned_thresholds(trained):
    work, examples, _ = trained
    # Unknown detection off: it would take the labels of a group it flags.
    result = run_script("classify.py", "--image", examples, "--threshold", "0.0", "--unknown-threshold", "0", "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    assert all(len(item["labels"]) == 6 for item in json.loads(result.stdout))


@pytest.fixture(scope="module")
def test_set(demo_data, tmp_path_factory):
    """A labelled folder to evaluate on: two known combinations and one the model never learnt."""
    import shutil

    dataset, _ = demo_data
    root = tmp_path_factory.mktemp("test_set")
    for folder in ("red_dress", "black_jeans"):
        shutil.copytree(dataset / folder, root / folder)
    (root / "green_dress").mkdir()
    shutil.copy(next((dataset / "blue_dress").iterdir()), root / "green_dress" / "0000.jpg")
    return root


def test_evaluate_scores_a_folder_and_reports_unknown_labels_apart(trained, test_set, tmp_path):
    import csv

    work, _, _ = trained
    result = run_script(
        "evaluate.py",
        "--model",
        work / "fashion.model",
        "--labelbin",
        work / "mlb.pickle",
        "--dataset",
        test_set,
        "--output",
        tmp_path / "evaluation",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["images"] == 120
    assert report["out_of_vocabulary"]["images"] == 1
    assert report["out_of_vocabulary"]["list"][0]["unknown"] == ["green"]
    for name in ("exact_match", "hamming_loss", "micro_f1", "macro_f1", "map"):
        assert 0.0 <= report[name] <= 1.0
    assert round((1 - report["exact_match"]) * 120) == len(report["misclassified"])
    for counts in report["confusion_matrices"].values():
        assert sum(counts.values()) == 120
    red = report["confusion_matrices"]["red"]
    assert red["true_positives"] + red["false_negatives"] == 60
    assert json.loads((tmp_path / "evaluation" / "report.json").read_text()) == report
    with open(tmp_path / "evaluation" / "misclassified.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(report["misclassified"])
    assert (tmp_path / "evaluation" / "pr_curves.png").read_bytes().startswith(b"\x89PNG")


def test_evaluate_prints_a_readable_report(trained, test_set, tmp_path):
    work, _, _ = trained
    result = run_script(
        "evaluate.py",
        "--model",
        work / "fashion.model",
        "--labelbin",
        work / "mlb.pickle",
        "--dataset",
        test_set,
        "--output",
        tmp_path / "out",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("120 images scored")
    assert "confusion per label (TP FP FN TN):" in result.stdout
    assert "not scored: 1 images carry labels the model never learnt (green)" in result.stdout


def test_evaluate_refuses_a_folder_of_only_unknown_labels(trained, tmp_path):
    work, _, _ = trained
    (tmp_path / "green_hat").mkdir()
    (tmp_path / "green_hat" / "x.png").write_bytes((work / "plot.png").read_bytes())
    result = run_script(
        "evaluate.py",
        "--model",
        work / "fashion.model",
        "--labelbin",
        work / "mlb.pickle",
        "--dataset",
        tmp_path,
        "--output",
        tmp_path / "out",
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no image carries only labels the model knows" in result.stderr


def test_model_learns_well_above_chance(trained, record_score):
    work, _, _ = trained
    record_score("exact_match", read_model_metadata(work / "fashion.model")["validation"]["exact_match"])
    # Chance exact-match is 1/6 (guessing one of six combinations); a working pipeline is far above.
    assert read_model_metadata(work / "fashion.model")["validation"]["exact_match"] >= 0.7


def test_classify_prints_json_and_writes_annotated_copies(trained, record_score):
    work, examples, _ = trained
    result = run_script(
        "classify.py",
        "--model",
        "fashion.model",
        "--labelbin",
        "mlb.pickle",
        "--image",
        examples,
        "--json",
        "--output",
        "annotated",
        cwd=work,
    )
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)
    label_groups = read_model_metadata(work / "fashion.model")["label_groups"]
    assert len(results) == 7
    for item in results:
        probabilities = list(item["probabilities"].values())
        assert len(probabilities) == 6 and all(0.0 <= p <= 1.0 for p in probabilities)
        assert probabilities == sorted(probabilities, reverse=True)
        # The grouped head's decoding: the most probable label of each group, none for a group
        # unknown detection flags.
        flagged = [group["unknown"] for group in item["unknown"]["groups"]]
        for group, unknown in zip(label_groups, flagged):
            chosen = [label for label in item["labels"] if label in group]
            assert chosen == ([] if unknown else [max(group, key=item["probabilities"].get)]), item
        assert (work / item["annotated"]).stat().st_size > 0
    red_dress = next(item for item in results if item["image"].endswith("example_01.jpg"))
    for item in results:
        record_score(Path(item["image"]).stem, "+".join(max(group, key=item["probabilities"].get) for group in label_groups))
    # Most probable in each group, whether or not unknown detection also flags a group (it keeps
    # 95 % of familiar images, so now and then a demo example is among the other 5 %).
    assert [max(group, key=red_dress["probabilities"].get) for group in label_groups] == ["red", "dress"]
    assert set(red_dress["labels"]) <= {"red", "dress"} and red_dress["labels"]


def test_tutorial_command_labels_one_image(trained, record_score):
    work, examples, _ = trained
    result = run_script(
        "classify.py",
        "--model",
        "fashion.model",
        "--labelbin",
        "mlb.pickle",
        "--image",
        examples / "example_05.jpg",
        "--top-k",
        "2",
        cwd=work,
    )
    assert result.returncode == 0, result.stderr
    first_line = result.stdout.splitlines()[0]
    record_score("example_05", first_line.split(": ")[1].split("  ->")[0])
    assert first_line.startswith(f"{examples / 'example_05.jpg'}: ")
    # Blue jeans, unless unknown detection flags the type (it keeps 95 % of familiar images: example_05's
    # type was flagged in 8 of 10 runs of the default network over seeds and CPUs at 20 + 10 epochs, in 2
    # of 5 at this test's 10 + 5; bench/test_spread.py).
    assert set(first_line.split(": ")[1].split("  ->")[0].split(", ")) in ({"blue", "jeans"}, {"blue", "unknown (not dress/jeans/shirt)"})
    assert (work / "output" / "example_05.jpg").exists()


def test_mismatched_labelbin_is_a_one_line_error(trained, tmp_path):
    work, examples, _ = trained
    from pyimagesearch.data.labels import fit_binarizer
    from pyimagesearch.inference.model_io import save_labelbin

    save_labelbin(fit_binarizer([("cat",), ("dog",)]), tmp_path / "other.pickle")
    result = run_script(
        "classify.py",
        "--model",
        work / "fashion.model",
        "--labelbin",
        tmp_path / "other.pickle",
        "--image",
        examples / "example_01.jpg",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("classify.py: error: --labelbin")
    assert "does not match the model" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--image", "missing.jpg"], "--image missing.jpg: no such file"),
        (["--model", "nope.model", "--image", "{examples}"], "--model nope.model: no such file"),
        (["--labelbin", "nope.pickle", "--image", "{examples}"], "--labelbin nope.pickle: no such file"),
    ],
)
def test_classify_bad_input_is_a_one_line_error(trained, args, message):
    work, examples, _ = trained
    args = [arg.format(examples=examples) for arg in args]
    result = run_script("classify.py", *args, cwd=work)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]


def test_unreadable_image_among_good_ones_is_skipped_with_exit_code_1(trained, tmp_path):
    work, examples, _ = trained
    (tmp_path / "broken.jpg").write_bytes(b"not really a jpeg")
    result = run_script(
        "classify.py",
        "--model",
        work / "fashion.model",
        "--labelbin",
        work / "mlb.pickle",
        "--image",
        examples / "example_01.jpg",
        tmp_path / "broken.jpg",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert len(json.loads(result.stdout)) == 1
    assert "broken.jpg" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset", "nowhere"], "--dataset nowhere"),
        (["--dataset", "{dataset}", "--task", "multiclass"], "--task multiclass needs one label per image"),
        (["--dataset", "{dataset}", "--epochs", "0"], "--epochs must be at least 1"),
        (["--dataset", "{dataset}", "--folds", "1"], "--folds must be at least 2"),
        (["--dataset", "{dataset}", "--duplicate-radius", "-1"], "--duplicate-radius must be 0 or more"),
    ],
)
def test_train_bad_input_is_a_one_line_error_and_writes_nothing(demo_data, tmp_path, args, message):
    args = [arg.format(dataset=demo_data[0]) for arg in args]
    result = run_script("train.py", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == []
