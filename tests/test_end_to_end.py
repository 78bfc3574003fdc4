"""train.py then classify.py as a user runs them, on generated data."""

import json

import pytest

from conftest import run_script
from pyimagesearch.model_io import read_model_metadata


@pytest.fixture(scope="module")
def trained(demo_data, tmp_path_factory):
    dataset, examples = demo_data
    work = tmp_path_factory.mktemp("e2e")
    result = run_script(
        "train.py", "--dataset", dataset, "--model", "fashion.model", "--labelbin", "mlb.pickle",
        "--epochs", "15", "--image-size", "64", cwd=work,
    )
    assert result.returncode == 0, result.stderr
    return work, examples, result


def test_training_writes_model_labelbin_and_plot(trained):
    work, _, _ = trained
    assert sorted(path.name for path in work.iterdir()) == ["fashion.model", "mlb.pickle", "plot.png"]
    assert (work / "plot.png").read_bytes().startswith(b"\x89PNG")
    metadata = read_model_metadata(work / "fashion.model")
    assert metadata["task"] == "multilabel"
    assert metadata["classes"] == ["black", "blue", "dress", "jeans", "red", "shirt"]


def test_training_prints_the_data_summary_and_validation_report(trained):
    _, _, result = trained
    out = result.stdout
    assert "images: 360 loaded, 0 skipped" in out
    assert "labels: black 60, blue 180, dress 120, jeans 120, red 120, shirt 120" in out
    assert "combinations: black+jeans 60, blue+dress 60" in out
    assert "task: multilabel (sigmoid head, binary_crossentropy)" in out
    assert "split: 288 training, 72 validation images" in out
    assert "val_exact_match" in out and "precision" in out


def test_model_learns_well_above_chance(trained):
    work, _, _ = trained
    # Chance exact-match is 1/6 (guessing one of six combinations); a working pipeline is far above.
    assert read_model_metadata(work / "fashion.model")["validation"]["exact_match"] >= 0.7


def test_classify_prints_json_and_writes_annotated_copies(trained):
    work, examples, _ = trained
    result = run_script("classify.py", "--model", "fashion.model", "--labelbin", "mlb.pickle",
                        "--image", examples, "--json", "--output", "annotated", cwd=work)
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)
    assert len(results) == 7
    for item in results:
        probabilities = list(item["probabilities"].values())
        assert len(probabilities) == 6 and all(0.0 <= p <= 1.0 for p in probabilities)
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(item["probabilities"][label] >= 0.5 for label in item["labels"])
        assert (work / item["annotated"]).stat().st_size > 0
    red_dress = next(item for item in results if item["image"].endswith("example_01.jpg"))
    assert set(red_dress["labels"]) == {"red", "dress"}


def test_tutorial_command_labels_one_image(trained):
    work, examples, _ = trained
    result = run_script("classify.py", "--model", "fashion.model", "--labelbin", "mlb.pickle",
                        "--image", examples / "example_05.jpg", "--top-k", "2", cwd=work)
    assert result.returncode == 0, result.stderr
    first_line = result.stdout.splitlines()[0]
    assert first_line.startswith(f"{examples / 'example_05.jpg'}: ")
    assert set(first_line.split(": ")[1].split("  ->")[0].split(", ")) == {"blue", "jeans"}
    assert (work / "output" / "example_05.jpg").exists()


def test_mismatched_labelbin_is_a_one_line_error(trained, tmp_path):
    work, examples, _ = trained
    from pyimagesearch.labels import fit_binarizer
    from pyimagesearch.model_io import save_labelbin

    save_labelbin(fit_binarizer([("cat",), ("dog",)]), tmp_path / "other.pickle")
    result = run_script("classify.py", "--model", work / "fashion.model", "--labelbin", tmp_path / "other.pickle",
                        "--image", examples / "example_01.jpg", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("classify.py: error: --labelbin")
    assert "does not match the model" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [(["--image", "missing.jpg"], "--image missing.jpg: no such file"),
     (["--model", "nope.model", "--image", "{examples}"], "--model nope.model: no such file"),
     (["--labelbin", "nope.pickle", "--image", "{examples}"], "--labelbin nope.pickle: no such file")],
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
    result = run_script("classify.py", "--model", work / "fashion.model", "--labelbin", work / "mlb.pickle",
                        "--image", examples / "example_01.jpg", tmp_path / "broken.jpg", "--json", cwd=tmp_path)
    assert result.returncode == 1
    assert len(json.loads(result.stdout)) == 1
    assert "broken.jpg" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [(["--dataset", "nowhere"], "--dataset nowhere"),
     (["--dataset", "{dataset}", "--task", "multiclass"], "--task multiclass needs one label per image"),
     (["--dataset", "{dataset}", "--epochs", "0"], "--epochs must be at least 1")],
)
def test_train_bad_input_is_a_one_line_error_and_writes_nothing(demo_data, tmp_path, args, message):
    args = [arg.format(dataset=demo_data[0]) for arg in args]
    result = run_script("train.py", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == []
