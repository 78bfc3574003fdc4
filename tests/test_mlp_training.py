"""train.py --arch mlp end to end on generated data: images and feature tables; classify.py and evaluate.py unchanged."""

import csv
import json
import re

import numpy as np
import pytest
from conftest import TRAINING_FLAGS, run_script

from evaluate import main as evaluate_main
from pyimagesearch.data.features import FeatureSettings, extract_features
from pyimagesearch.data.images import list_images, load_images
from pyimagesearch.inference.classification import Classifier
from pyimagesearch.inference.model_io import read_model_metadata
from train import main as train_main


@pytest.fixture(scope="module")
def mlp_model(demo_data, tmp_path_factory):
    dataset, examples = demo_data
    work = tmp_path_factory.mktemp("mlp")
    result = run_script(
        "train.py",
        "--dataset",
        dataset,
        "--model",
        "fashion.model",
        "--labelbin",
        "mlb.pickle",
        "--arch",
        "mlp",
        "--epochs",
        "3",
        "--image-size",
        "32",
        cwd=work,
    )
    assert result.returncode == 0, result.stderr
    return work, dataset, examples, result


def test_train_mlp_writes_the_usual_outputs_and_records_its_features(mlp_model):
    work, _, _, result = mlp_model
    assert sorted(path.name for path in work.iterdir()) == ["fashion.metrics.csv", "fashion.model", "mlb.pickle", "plot.png"]
    assert "network: MLP, 2052 features -> 500 -> 100 ReLU units -> 6" in result.stdout
    metadata = read_model_metadata(work / "fashion.model")
    assert metadata["arch"] == "mlp" and metadata["input"] == "image_features" and metadata["image_size"] == 32
    assert FeatureSettings.from_json(metadata["features"]) == FeatureSettings()
    assert metadata["unknown"]["feature_layers"] == ["hidden_2"]


def test_classify_labels_images_with_the_mlp_as_training_computed_them(mlp_model):
    work, dataset, examples, _ = mlp_model
    result = run_script(
        "classify.py", "--model", "fashion.model", "--labelbin", "mlb.pickle", "--image", examples / "example_01.jpg", cwd=work
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{examples / 'example_01.jpg'}: ") and "typicality:" in result.stdout
    assert (work / "output" / "example_01.jpg").is_file()

    classifier = Classifier.load(work / "fashion.model", work / "mlb.pickle")
    images, _, _ = load_images(list_images(dataset)[:20], 32)
    expected = classifier.model.predict(extract_features(images), verbose=0)  # the network over the features
    np.testing.assert_allclose(classifier.predict_probabilities(images), expected, atol=1e-6)
    with pytest.raises(ValueError, match="MLP over colour-histogram and HOG features.*no convolution for Grad-CAM"):
        classifier.check_explain()


def test_evaluate_scores_the_mlp_without_new_flags(mlp_model, capsys):
    work, dataset, _, _ = mlp_model
    assert (
        evaluate_main(
            [
                "--model",
                str(work / "fashion.model"),
                "--labelbin",
                str(work / "mlb.pickle"),
                "--dataset",
                str(dataset),
                "--output",
                str(work / "evaluation"),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 360 and 0.0 <= report["exact_match"] <= 1.0
    # Grad-CAM has no convolution to read in the MLP: report.html says so instead of drawing overlays.
    page = (work / "evaluation" / "report.html").read_text()
    assert "No Grad-CAM overlays" in page and "is an MLP over colour-histogram and HOG features" in page
    assert "Grad-CAM of" not in page


def _separable_table(path, rows: int = 240) -> None:
    """Two label groups, each read from the sign of one feature with a margin; two noise features."""
    rng = np.random.default_rng(3)
    signs = rng.choice([-1.0, 1.0], size=(rows, 2))
    features = np.column_stack([signs * rng.uniform(1.0, 3.0, size=(rows, 2)), rng.normal(size=(rows, 2))])
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "category", "noise_1", "noise_2"])
        for (a, b, noise_1, noise_2), (sign_a, sign_b) in zip(features, signs):
            writer.writerow([a, b, f"{'hot' if sign_a > 0 else 'cold'}_{'wet' if sign_b > 0 else 'dry'}", noise_1, noise_2])


def test_a_feature_table_trains_the_mlp(tmp_path, capsys, record_score):
    _separable_table(tmp_path / "table.csv")
    assert (
        train_main(
            [
                "--dataset",
                str(tmp_path / "table.csv"),
                "--arch",
                "mlp",
                "--label-column",
                "category",
                "--model",
                str(tmp_path / "t.model"),
                "--labelbin",
                str(tmp_path / "t.pickle"),
                "--plot",
                str(tmp_path / "t.png"),
                "--epochs",
                "10",
                "--patience",
                "0",
                *TRAINING_FLAGS,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "rows: 240, each 4 feature columns" in out and "identical rows: 0 groups" in out
    metadata = read_model_metadata(tmp_path / "t.model")
    assert metadata["input"] == "feature_table" and metadata["image_size"] is None
    assert metadata["features"] == {"columns": ["a", "b", "noise_1", "noise_2"], "label_column": "category"}
    assert metadata["label_groups"] == [["cold", "hot"], ["dry", "wet"]]
    record_score("exact_match", metadata["validation"]["exact_match"])
    assert metadata["validation"]["exact_match"] >= 0.9
    with pytest.raises(ValueError, match=r"t\.model was trained on a feature table, not on images"):
        Classifier.load(tmp_path / "t.model")


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--dataset", "{table}"], "is a feature table: only --arch mlp trains on feature vectors. Add --arch mlp"),
        (["--dataset", "{table}", "--arch", "mlp", "--export"], "--export writes networks over images as ONNX.*drop --export"),
        (["--dataset", "{table}", "--arch", "mlp", "--normalize", "standardize"], "--arch mlp standardises its features itself"),
        (["--dataset", "{table}", "--arch", "mlp", "--recolour", "on"], "--recolour on paints training images"),
        (["--dataset", "{table}", "--arch", "mlp", "--overfit-check"], "is a feature table: train on it without --overfit-check"),
    ],
)
def test_mlp_misuse_is_one_line_with_the_fix(tmp_path, capsys, arguments, message):
    _separable_table(tmp_path / "table.csv", rows=20)
    arguments = [argument.format(table=tmp_path / "table.csv") for argument in arguments]
    assert train_main([*arguments, "--model", str(tmp_path / "m.model")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("train.py: error: ") and error.count("\n") == 1
    assert re.search(message, error), error
    assert not (tmp_path / "m.model").exists()
