"""Training's fast paths: where the images are kept (--cache), mixed precision, XLA, early stopping."""

import csv
import json

import cv2
import numpy as np
import pytest
from conftest import TRAINING, run_script

from pyimagesearch import config
from pyimagesearch.data.dataset import ImageFiles, full_batches, load_labelled_images, make_dataset, resolve_cache
from pyimagesearch.data.images import list_images, load_images
from pyimagesearch.inference.classification import Classifier
from pyimagesearch.inference.model_io import load_model
from pyimagesearch.training import hardware
from pyimagesearch.training.monitoring import metrics_csv_path
from pyimagesearch.training.options import TrainOptions
from pyimagesearch.training.pipeline import train
from pyimagesearch.training.resolve import resolve_batch_size, resolve_precision


def all_rows(images) -> np.ndarray:
    return np.asarray(images[np.arange(len(images))])


def test_every_cache_mode_holds_the_same_pixels(demo_data, tmp_path):
    loaded = {
        cache: load_labelled_images(demo_data[0], image_size=24, cache=cache, cache_dir=tmp_path / "cache")
        for cache in ("memory", "disk", "none")
    }
    assert isinstance(loaded["none"].images, ImageFiles)
    assert [data.cache for data in loaded.values()] == ["memory", "disk", "none"]
    reference = loaded["memory"]
    for data in loaded.values():
        assert data.paths == reference.paths and data.label_sets == reference.label_sets
        np.testing.assert_array_equal(all_rows(data.images), reference.images)
    assert list((tmp_path / "cache").iterdir()), "--cache disk wrote no cache file"


def test_image_files_decode_the_rows_asked_for(demo_data):
    paths = list_images(demo_data[0])[:40]
    files = ImageFiles(paths, 20)
    expected, _, _ = load_images(paths, 20)
    assert files.shape == expected.shape and len(files) == 40
    np.testing.assert_array_equal(files[[7, 2, 39]], expected[[7, 2, 39]])
    np.testing.assert_array_equal(files[5], expected[5])
    np.testing.assert_array_equal(np.stack(list(files)), expected)


def test_image_files_refuse_a_file_that_broke_after_the_scan(demo_data, tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(list_images(demo_data[0])[0].read_bytes())
    files = ImageFiles([path], 16)
    path.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"a\.jpg could be read when training started and no longer can"):
        files[[0]]


def test_dataset_gathers_the_indexed_rows_with_their_targets():
    images = np.random.default_rng(0).integers(0, 256, size=(10, 8, 8, 3), dtype=np.uint8)
    targets = np.eye(10, dtype="float32")
    indices = np.array([9, 3, 4, 0, 7])
    batches = list(make_dataset(images, targets, batch_size=2, indices=indices).as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), images[indices].astype("float32"))
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), targets[indices])
    shuffled = list(make_dataset(images, targets, batch_size=5, indices=indices, shuffle_seed=1).as_numpy_iterator())
    x, y = shuffled[0]
    assert sorted(np.argmax(y, axis=1)) == sorted(indices)
    np.testing.assert_array_equal(x, images[np.argmax(y, axis=1)].astype("float32"))


def test_full_batches_repeat_the_last_index_so_that_every_batch_has_one_shape():
    # Predictions over a validation set then trace Keras' prediction function once, not again for the last batch.
    np.testing.assert_array_equal(full_batches(np.array([9, 3, 4, 0, 7]), 4), [9, 3, 4, 0, 7, 7, 7, 7])
    np.testing.assert_array_equal(full_batches(np.arange(8), 4), np.arange(8))
    assert len(full_batches(np.array([], dtype=int), 4)) == 0
    images = np.arange(5 * 2 * 2 * 3, dtype=np.uint8).reshape(5, 2, 2, 3)
    dataset = make_dataset(images, np.eye(5, dtype="float32"), batch_size=4, indices=full_batches(np.arange(5), 4))
    assert [len(x) for x, _ in dataset.as_numpy_iterator()] == [4, 4]


def test_auto_cache_keeps_images_in_memory_only_when_they_fit():
    assert resolve_cache("auto", 1000, 96) == "memory"
    assert resolve_cache("auto", 10**9, 96) == "none"  # 27 TB of pixels
    assert resolve_cache("disk", 10**9, 96) == "disk"
    with pytest.raises(ValueError, match="`cache` must be one of auto, memory, disk, none. Received: `cache` ram"):
        resolve_cache("ram", 10, 96)


def test_auto_precision_is_float32_when_onednn_is_limited_below_bfloat16(monkeypatch):
    # How the tests emulate a CPU without bfloat16 (bench/test_spread.py): oneDNN limited to AVX2
    # refuses bfloat16 convolutions, so auto must not choose them.
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert resolve_precision("auto") == "float32"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx512_core_vnni")
    assert resolve_precision("auto") == "float32"


# The defaults (memory, auto, auto) train in most other tests; a reloaded model predicts as trained
# here, and its export as it does in test_export and test_end_to_end.
@pytest.mark.parametrize("cache, precision, jit_compile", [("none", "bfloat16", "on"), ("disk", "float32", "off")])
def test_each_fast_path_combination_trains_and_saves_a_float32_model(demo_data, tmp_path, cache, precision, jit_compile):
    result = train(
        TrainOptions.of(
            dataset=demo_data[0],
            model=tmp_path / "m.model",
            labelbin=tmp_path / "mlb.pickle",
            plot=tmp_path / "p.png",
            epochs=1,
            image_size=32,
            cache=cache,
            cache_dir=tmp_path / "cache",
            precision=precision,
            jit_compile=jit_compile,
            arch="smallervggnet",
        ),
        verbose=0,
    )
    assert result.metadata["precision"] == resolve_precision(precision)
    model, _ = load_model(tmp_path / "m.model")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    classifier = Classifier.load(tmp_path / "m.model", tmp_path / "mlb.pickle")
    np.testing.assert_allclose(
        classifier.predict_probabilities(images), result.model.predict(images.astype("float32"), verbose=0), atol=1e-5
    )


def test_patience_stops_once_validation_stops_improving_and_keeps_the_best_epoch(tmp_path, record_score):
    # Dark noise against bright noise: validation accuracy soon reaches its best, and stays there.
    rng = np.random.default_rng(0)
    for name, low in (("dark", 0), ("bright", 156)):
        (tmp_path / "data" / name).mkdir(parents=True)
        for index in range(30):
            cv2.imwrite(str(tmp_path / "data" / name / f"{index}.png"), rng.integers(low, low + 100, (16, 16, 3), dtype=np.uint8))
    result = train(
        TrainOptions.of(
            dataset=tmp_path / "data",
            model=tmp_path / "m.model",
            labelbin=tmp_path / "mlb.pickle",
            plot=tmp_path / "p.png",
            epochs=40,
            image_size=16,
            batch_size=8,
            patience=2,
            **TRAINING,
        ),
        verbose=0,
    )
    with open(metrics_csv_path(tmp_path / "m.model")) as handle:
        rows = list(csv.DictReader(handle))
    scores = [float(row["val_exact_match"]) for row in rows]
    best_epoch = int(np.argmax(scores)) + 1  # the first epoch with the best score
    record_score("epochs_trained", len(rows))
    assert len(rows) == result.metadata["epochs_trained"] == best_epoch + 2 < 40
    # The weights kept are the best epoch's, which the final report scores.
    assert result.fold_reports is None and result.reports["most probable label"]["exact_match"] == max(scores)
    elapsed = [float(row["elapsed_seconds"]) for row in rows]
    assert 0 < elapsed[0] and all(a < b for a, b in zip(elapsed, elapsed[1:]))


def test_negative_patience_is_a_one_line_error(demo_data, tmp_path):
    result = run_script("train.py", "--dataset", demo_data[0], "--model", tmp_path / "m.model", "--patience", "-1", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "train.py: error: --patience must be at least 1 epoch, or 0 to train every epoch. Received: -1"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cpu", hardware.CPU_KINDS)
def test_auto_batch_size_is_the_cpus_large_batch_only_with_16_such_batches_per_epoch(cpu):
    large = config.AUTO_TRAINING[cpu]["large_batch_size"]
    assert resolve_batch_size("auto", 1449, cpu) == large  # the fashion photos' training split
    assert resolve_batch_size("auto", large * 16, cpu) == large
    assert resolve_batch_size("auto", large * 16 - 1, cpu) == 32
    assert resolve_batch_size("auto", 288, cpu) == 32  # the demo's
    assert resolve_batch_size(48, 288, cpu) == 48


def test_the_automatic_choices_follow_the_cpus_instruction_sets(monkeypatch):
    # This machine has AMX; an AVX2-only CPU is told by its flags, or emulated by limiting oneDNN.
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"sse4_2", "avx", "avx2", "fma"}))
    assert hardware.cpu_kind() == "float32" and resolve_precision("auto") == "float32"
    assert resolve_batch_size("auto", 1449) == config.AUTO_TRAINING["float32"]["large_batch_size"]
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}))
    assert hardware.cpu_kind() == "bfloat16" and resolve_precision("auto") == "bfloat16"
    assert resolve_batch_size("auto", 1449) == config.AUTO_TRAINING["bfloat16"]["large_batch_size"]
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert hardware.cpu_kind() == "float32" and resolve_precision("auto") == "float32"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "--batch-size must be a whole number of at least 1, or auto. Received: 0"),
        ("big", "argument --batch-size: expected a whole number of images such as 64, or auto. Received: 'big'"),
    ],
)
def test_bad_batch_size_is_a_one_line_error(demo_data, tmp_path, value, message):
    result = run_script("train.py", "--dataset", demo_data[0], "--model", tmp_path / "m.model", "--batch-size", value, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"train.py: error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_train_export_writes_an_onnx_model_that_classify_runs(demo_data, tmp_path):
    # Trained in mixed bfloat16: the saved model and its export are float32 all the same. SmallerVGGNet:
    # bfloat16 is what --precision auto picks for it on a CPU that has it (test_end_to_end exports
    # the default network); a CPU without bfloat16 emulates it, slowly, and MobileNetV2 would take minutes.
    trained = run_script(
        "train.py",
        "--dataset",
        demo_data[0],
        "--model",
        tmp_path / "fashion.model",
        "--labelbin",
        tmp_path / "mlb.pickle",
        "--plot",
        tmp_path / "plot.png",
        "--epochs",
        "1",
        "--image-size",
        "32",
        "--precision",
        "bfloat16",
        "--arch",
        "smallervggnet",
        "--export",
        cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr
    assert f"wrote {tmp_path / 'fashion.onnx'}" in trained.stdout
    image = next((demo_data[0] / "red_dress").iterdir())
    outputs = {}
    for model in ("fashion.model", "fashion.onnx"):
        result = run_script(
            "classify.py",
            "--model",
            tmp_path / model,
            "--labelbin",
            tmp_path / "mlb.pickle",
            "--image",
            image,
            "--output",
            tmp_path / f"{model}.jpg",
            "--json",
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        outputs[model] = json.loads(result.stdout)[0]
    assert outputs["fashion.onnx"]["labels"] == outputs["fashion.model"]["labels"]
    for label, probability in outputs["fashion.model"]["probabilities"].items():
        assert abs(outputs["fashion.onnx"]["probabilities"][label] - probability) < 1e-4
