import io
import json
import os
import pickle
import zipfile

import h5py
import keras
import numpy as np
import pytest

from pyimagesearch.data.labels import fit_binarizer
from pyimagesearch.inference.model_io import load_labelbin, load_model, read_model_metadata, save_labelbin, save_model
from pyimagesearch.models.smallervggnet import SmallerVGGNet


def tiny_model() -> keras.Model:
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="sigmoid")])


class RunsACommand:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_labelbin_round_trip(tmp_path):
    binarizer = fit_binarizer([("red", "dress"), ("blue", "jeans")])
    save_labelbin(binarizer, tmp_path / "mlb.pickle")
    loaded = load_labelbin(tmp_path / "mlb.pickle")
    assert list(loaded.classes_) == ["blue", "dress", "jeans", "red"]
    np.testing.assert_array_equal(loaded.transform([("red", "dress")]), [[0, 1, 0, 1]])


def test_malicious_labelbin_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "mlb.pickle").write_bytes(pickle.dumps(RunsACommand(marker)))
    with pytest.raises(ValueError, match=r"mlb.pickle was refused: refusing to load posix.system"):
        load_labelbin(tmp_path / "mlb.pickle")
    assert not marker.exists()


def test_labelbin_holding_another_allowed_type_is_refused(tmp_path):
    (tmp_path / "mlb.pickle").write_bytes(pickle.dumps(np.arange(3)))
    with pytest.raises(ValueError, match="holds no fitted MultiLabelBinarizer"):
        load_labelbin(tmp_path / "mlb.pickle")


def test_missing_and_corrupt_labelbin_give_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="`labelbin` .*nothere.pickle: no such file"):
        load_labelbin(tmp_path / "nothere.pickle")
    (tmp_path / "cut.pickle").write_bytes(pickle.dumps(fit_binarizer([("a",), ("b",)]))[:40])
    with pytest.raises(ValueError, match="cut.pickle is corrupt"):
        load_labelbin(tmp_path / "cut.pickle")


@pytest.mark.parametrize("name", ["fashion.model", "fashion.keras", "no_extension"])
def test_model_saves_and_loads_under_any_name_with_its_metadata(tmp_path, name):
    model = tiny_model()
    save_model(model, tmp_path / name, {"classes": ["a", "b"], "task": "multilabel"})
    loaded, metadata = load_model(tmp_path / name)
    assert metadata["classes"] == ["a", "b"] and metadata["task"] == "multilabel"
    sample = np.ones((1, 4), dtype="float32")
    np.testing.assert_allclose(loaded.predict(sample, verbose=0), model.predict(sample, verbose=0), rtol=1e-6)
    assert sorted(path.name for path in tmp_path.iterdir()) == [name]


def test_failed_save_leaves_the_previous_model_in_place(tmp_path):
    target = tmp_path / "fashion.model"
    save_model(tiny_model(), target, {"classes": ["a", "b"]})
    before = target.read_bytes()

    class Unsaveable(keras.Model):
        def save(self, *args, **kwargs):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        save_model(Unsaveable(), target, {"classes": ["x"]})
    assert target.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["fashion.model"]


def test_models_not_from_train_py_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_model_metadata(tmp_path / "missing.model")
    (tmp_path / "text.model").write_text("not a model")
    with pytest.raises(ValueError, match="not a Keras 3 model archive"):
        read_model_metadata(tmp_path / "text.model")
    tiny_model().save(tmp_path / "plain.keras")
    with pytest.raises(ValueError, match="no label metadata"):
        read_model_metadata(tmp_path / "plain.keras")
    with pytest.raises(ValueError, match="legacy HDF5"):
        save_model(tiny_model(), tmp_path / "model.h5", {})


def test_metadata_is_one_more_member_of_the_keras_archive(tmp_path):
    save_model(tiny_model(), tmp_path / "fashion.model", {"classes": ["a", "b"]})
    with zipfile.ZipFile(tmp_path / "fashion.model") as archive:
        assert {"config.json", "model.weights.h5", "pyimagesearch.json"} <= set(archive.namelist())


def test_a_trained_model_is_saved_without_its_optimizer_and_predicts_identically(tmp_path):
    # SmallerVGGNet at 96 pixels, as train.py builds it by default, after a training step: Adam's two
    # moments per weight would triple the 35 MB of weights.
    model = SmallerVGGNet.build(width=96, height=96, depth=3, classes=6, finalAct="sigmoid")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    images = np.random.default_rng(0).integers(0, 256, (4, 96, 96, 3)).astype("float32")
    model.train_on_batch(images, np.eye(6, dtype="float32")[:4])
    save_model(model, tmp_path / "fashion.model", {"classes": list("abcdef")})
    assert (tmp_path / "fashion.model").stat().st_size <= 40_000_000
    with zipfile.ZipFile(tmp_path / "fashion.model") as archive:
        with h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as weights:
            assert set(weights) == {"layers", "vars"}  # no "optimizer" group
        assert not json.loads(archive.read("config.json")).get("compile_config")  # nor the loss and metrics
    loaded, _ = load_model(tmp_path / "fashion.model")
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
    assert model.optimizer is not None  # the model trained goes on as it was
