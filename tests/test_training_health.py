"""train.py's health features end to end: overfit check, stop on stall, normalisation and init flags."""

import keras
import numpy as np
from conftest import TRAINING, run_script

from pyimagesearch.inference.classification import Classifier
from pyimagesearch.inference.model_io import read_model_metadata
from pyimagesearch.models.colour_and_shape import COLOUR_ATTENTION
from pyimagesearch.training.options import TrainOptions
from pyimagesearch.training.overfit import check_overfit
from pyimagesearch.training.pipeline import train


def test_overfit_check_passes_on_the_demo_data(demo_data, tmp_path):
    result = run_script("train.py", "--dataset", demo_data[0], "--overfit-check", "--image-size", "48", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "overfit check: 10 images, multilabel task" in result.stdout
    assert ", --normalize " in result.stdout and ", --lr " in result.stdout
    assert "overfit check passed" in result.stdout
    assert list(tmp_path.iterdir()) == []  # a check, not a training run: nothing written


def test_overfit_check_with_a_far_too_low_learning_rate_fails_and_names_it(demo_data):
    result = check_overfit(TrainOptions.of(dataset=demo_data[0], lr=1e-8, image_size=32, **TRAINING), images=6)
    assert not result.success
    assert result.diagnosis.causes[0].remedy == "`lr` 0.001"  # train.py prints it as --lr


def test_stop_on_stall_stops_a_diverging_run_and_keeps_the_old_model(demo_data, tmp_path):
    (tmp_path / "fashion.model").write_bytes(b"the user's previous model")
    result = run_script(
        "train.py",
        "--dataset",
        demo_data[0],
        # The tutorial's network: one phase, quick to build; the health check watches any network alike.
        "--arch",
        "smallervggnet",
        "--epochs",
        "3",
        "--image-size",
        "32",
        "--lr",
        "10",
        "--stop-on-stall",
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "training is not learning at epoch 1" in result.stderr
    assert "learning rate too high" in result.stderr
    assert "--lr 0.001" in result.stderr and "`lr`" not in result.stderr  # the library's `lr`, as train.py's flag
    assert result.stderr.strip().splitlines()[-1].startswith("train.py: error: training stopped at epoch 1")
    assert (tmp_path / "fashion.model").read_bytes() == b"the user's previous model"
    assert not (tmp_path / "mlb.pickle").exists() and not (tmp_path / "plot.png").exists()


def test_standardized_he_initialised_model_carries_its_statistics(demo_data, tmp_path):
    result = train(
        TrainOptions.of(
            dataset=demo_data[0],
            model=tmp_path / "m.model",
            labelbin=tmp_path / "mlb.pickle",
            plot=tmp_path / "plot.png",
            epochs=2,
            image_size=32,
            normalize="standardize",
            init="he",
            **TRAINING,
        ),
        verbose=0,
    )
    assert result.diagnosis is None
    metadata = read_model_metadata(tmp_path / "m.model")
    assert (metadata["normalize"], metadata["init"]) == ("standardize", "he")
    classifier = Classifier.load(tmp_path / "m.model", tmp_path / "mlb.pickle")
    normalization = classifier.model.get_layer("standardize_channels")
    assert np.asarray(normalization.offset).max() < 0.0  # -mean / std, learnt from the training images
    # Every kernel training learns (the colour-and-shape network's fixed grey conversion is none;
    # its attention logits start at zero, so that every place weighs alike at first).
    kernels = [
        layer.kernel_initializer
        for layer in result.model.layers
        if hasattr(layer, "kernel_initializer") and layer.trainable and layer.name != COLOUR_ATTENTION
    ]
    assert kernels and all(isinstance(kernel, keras.initializers.HeNormal) for kernel in kernels)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        classifier.predict_probabilities(images), result.model.predict(images.astype("float32"), verbose=0), atol=1e-5
    )
