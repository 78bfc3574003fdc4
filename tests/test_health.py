import logging

import keras
import numpy as np
import pytest
from conftest import SEED

from pyimagesearch.models.normalization import input_normalization
from pyimagesearch.models.smallervggnet import SmallerVGGNet
from pyimagesearch.training.diagnosis import Cause, head_loss_mismatch, likely_causes
from pyimagesearch.training.health import TrainingHealth
from pyimagesearch.training.overfit import OVERFIT_TARGET_LOSS, overfit_check

SIZE = 24
COLOURS = np.array([[220, 30, 30], [30, 30, 220], [30, 200, 30]], dtype=np.float32)


def squares(count: int = 96, size: int = SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images with one red, blue or green square each, labelled one-hot by its colour."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(80, 170, size=(count, size, size, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=count)
    for image, label in zip(images, labels):
        side = rng.integers(size // 4, size // 2)
        top, left = rng.integers(0, size - side, size=2)
        image[top : top + side, left : left + side] = COLOURS[label]
    return images.astype(np.uint8), np.eye(3, dtype="float32")[labels]


def classifier(optimizer, size: int = SIZE, dropout: bool = True, seed: int = SEED) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = SmallerVGGNet.build(size, size, 3, classes=3, preprocessing=input_normalization("unit"), dropout=dropout)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(model, images, targets, health, epochs=4):
    return model.fit(images.astype("float32"), targets, batch_size=16, epochs=epochs, verbose=0, callbacks=[health])


def head(units: int, activation: str | None, loss) -> keras.Model:
    activation = keras.layers.Activation(activation or "linear")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units), activation])
    model.compile(optimizer="adam", loss=loss)
    return model


def tiny_classifier(optimizer) -> keras.Model:
    """A small CNN without BatchNormalization, quick to build and train."""
    keras.utils.set_random_seed(SEED)
    inputs = keras.Input((SIZE, SIZE, 3))
    features = keras.layers.Conv2D(8, 3, activation="relu")(keras.layers.Rescaling(1 / 255)(inputs))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_silent_on_a_healthy_run(caplog, record_score):
    images, targets = squares()
    health = TrainingHealth(images[:32])
    with caplog.at_level(logging.WARNING, logger="pyimagesearch"):
        history = fit(classifier(keras.optimizers.Adam(1e-3)), images, targets, health, epochs=3).history
    record_score("accuracy", history["accuracy"][-1])
    assert health.diagnosis is None and not caplog.records
    assert history["accuracy"][-1] > 0.8


def test_fires_on_constant_inputs_names_the_data_first_and_stops_on_stall(caplog):
    images, targets = squares()
    images[:] = 128
    health = TrainingHealth(images[:32], stop_on_stall=True)
    with caplog.at_level(logging.WARNING, logger="pyimagesearch"):
        history = fit(classifier(keras.optimizers.Adam(1e-3)), images, targets, health, epochs=10).history
    assert len(history["loss"]) == 1 and health.diagnosis.epoch == 1
    lines = health.diagnosis.lines()
    assert caplog.records[0].getMessage() == "\n".join([*lines, "  training stopped."])
    assert lines[:4] == [
        "training is not learning at epoch 1:",
        "  seen: all 32 probe images get the same prediction",
        "  likely causes, most likely first:",
        "    1. the training images are all (nearly) the same image: check the data set and that its images decode",
    ]
    assert lines[4].endswith("`normalize` standardize") and lines[5].endswith("`init` he")
    assert lines[-1] == "    5. the network cannot fit the data at all: run `overfit_check` 10"


def test_fires_once_on_a_learning_rate_of_10_and_blames_it_first(caplog):
    images, targets = squares()
    health = TrainingHealth(images[:32])
    with caplog.at_level(logging.WARNING, logger="pyimagesearch"):
        history = fit(classifier(keras.optimizers.Adam(10.0)), images, targets, health, epochs=2).history
    assert health.diagnosis.causes[0] == Cause("learning rate too high (10)", "`lr` 0.001")
    # Without stop_on_stall, training goes on, and the diagnosis is not repeated.
    assert len(history["loss"]) == 2 and len(caplog.records) == 1


def test_a_nan_loss_stops_training_at_once():
    images = np.full((32, 4, 4, 3), np.nan, dtype=np.float32)
    targets = np.eye(2, dtype="float32")[np.arange(32) % 2]
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(2, "softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    health = TrainingHealth(images[:4])
    history = model.fit(images, targets, batch_size=8, epochs=5, verbose=0, callbacks=[health]).history
    assert health.diagnosis.symptoms == ["the loss is nan at batch 1 of epoch 1"]
    assert len(history["loss"]) == 1


def test_flat_loss_and_metrics_fire_when_the_learning_rate_is_far_too_low():
    # A functional model without BatchNormalization: with weights that barely move, every
    # epoch's loss and accuracy are the same, while each image still gets its own prediction.
    images, targets = squares(count=64)
    health = TrainingHealth(images[:16], patience=3)
    fit(tiny_classifier(keras.optimizers.SGD(1e-9)), images, targets, health, epochs=3)
    assert health.diagnosis.epoch == 3
    assert health.diagnosis.symptoms == [health.diagnosis.symptoms[0]]
    assert health.diagnosis.symptoms[0].startswith("loss and metrics flat for the first 3 epochs (accuracy ")
    assert health.diagnosis.causes[0] == Cause("learning rate too low (1e-09)", "`lr` 0.001")


def test_a_head_loss_mismatch_is_named_first():
    causes = likely_causes(head(2, None, "categorical_crossentropy"))
    assert causes[0].explanation.startswith("head and loss do not match (the last layer has no activation")


def test_suggestions_already_taken_are_left_out():
    images = squares(count=8)[0]
    preprocessing = input_normalization("standardize", images)
    model = SmallerVGGNet.build(SIZE, SIZE, 3, classes=3, preprocessing=preprocessing, kernel_initializer="he_normal")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    remedies = [cause.remedy for cause in likely_causes(model)]
    assert remedies == ["`lr` 0.0001", "run `overfit_check` 10"]


def test_training_health_refuses_too_few_probe_images_or_too_little_patience():
    with pytest.raises(ValueError, match="at least 2 probe images"):
        TrainingHealth(np.zeros((1, 8, 8, 3)))
    with pytest.raises(ValueError, match="patience must be at least 2 epochs. Received: 1"):
        TrainingHealth(np.zeros((4, 8, 8, 3)), patience=1)


@pytest.mark.parametrize(
    "units, activation, loss, expected",
    [
        (2, None, "categorical_crossentropy", "no activation but categorical_crossentropy expects probabilities"),
        (3, "softmax", "binary_crossentropy", "softmax over 3 units under binary_crossentropy"),
        (1, "sigmoid", "categorical_crossentropy", "over a single unit is always zero"),
        (1, "softmax", "binary_crossentropy", "a softmax over a single unit always outputs 1"),
        (3, "sigmoid", "categorical_crossentropy", "sigmoid under categorical_crossentropy"),
        (3, "softmax", keras.losses.CategoricalCrossentropy(from_logits=True), "expects logits"),
    ],
)
def test_head_loss_mismatch_is_found(units, activation, loss, expected):
    assert expected in head_loss_mismatch(head(units, activation, loss))


@pytest.mark.parametrize(
    "units, activation, loss",
    [
        (3, "sigmoid", "binary_crossentropy"),
        (1, "sigmoid", "binary_crossentropy"),
        (3, "softmax", "categorical_crossentropy"),
        (3, "softmax", keras.losses.SparseCategoricalCrossentropy()),
        (3, None, keras.losses.BinaryCrossentropy(from_logits=True)),
        (3, None, "mean_squared_error"),
    ],
)
def test_matching_head_and_loss_pass(units, activation, loss):
    assert head_loss_mismatch(head(units, activation, loss)) is None


def test_targets_that_do_not_fit_the_head_are_found():
    one_hot = np.eye(2, dtype="float32")[[0, 1, 1]]
    assert "the targets have 2 columns but the model has 1 outputs" in head_loss_mismatch(
        head(1, "sigmoid", "binary_crossentropy"), one_hot
    )
    assert "expects class indices" in head_loss_mismatch(head(2, "softmax", "sparse_categorical_crossentropy"), one_hot)
    assert head_loss_mismatch(head(2, "softmax", "categorical_crossentropy"), one_hot) is None


def test_overfit_check_succeeds_on_a_healthy_smallervggnet(record_score):
    images, targets = squares(count=10, size=64, seed=1)
    result = overfit_check(lambda: classifier(keras.optimizers.Adam(1e-3), size=64, dropout=False), images, targets)
    record_score("steps", result.steps)
    assert result.success and result.diagnosis is None
    assert result.final_loss <= OVERFIT_TARGET_LOSS and result.steps < 60
    assert result.lines()[0].startswith("overfit check passed")


def test_overfit_check_fails_with_a_diagnosis_when_the_learning_rate_is_far_too_low():
    images, targets = squares(count=10, seed=1)
    result = overfit_check(lambda: tiny_classifier(keras.optimizers.Adam(1e-7)), images, targets, max_steps=20)
    assert not result.success and result.steps == 20
    assert result.diagnosis.causes[0].explanation == "learning rate too low (1e-07)"
    assert result.diagnosis.causes[0].remedy == "`lr` 0.001"
    assert not any("overfit_check" in cause.remedy for cause in result.diagnosis.causes)
    assert result.lines()[0] == f"overfit check failed: loss {result.final_loss:.4g} after 20 steps."


def test_overfit_check_on_identical_images_blames_the_data_first():
    images, targets = squares(count=10, seed=1)
    images[:] = 128
    result = overfit_check(lambda: tiny_classifier(keras.optimizers.Adam(1e-3)), images, targets, max_steps=20)
    assert not result.success
    assert "the same image" in result.diagnosis.causes[0].explanation


def test_overfit_check_refuses_bad_input():
    images, targets = squares(count=4)
    with pytest.raises(ValueError, match="as many targets as images"):
        overfit_check(lambda: tiny_classifier("adam"), images, targets[:3])
    uncompiled = lambda: SmallerVGGNet.build(SIZE, SIZE, 3, classes=3)  # noqa: E731
    with pytest.raises(ValueError, match="compiled model"):
        overfit_check(uncompiled, images, targets)


def test_a_later_fit_is_judged_against_the_first_fits_loss():
    # Fine-tuning after the head starts from trained weights: a bump of its loss over its own low
    # first batch is no divergence, while the same numbers in a first fit are.
    images, _ = squares()
    model = tiny_classifier(keras.optimizers.Adam(1e-3))

    def epoch(health: TrainingHealth, first_batch: float, epoch_loss: float) -> None:
        health.on_train_begin()
        health.on_train_batch_end(0, {"loss": first_batch})
        health.on_epoch_end(0, {"loss": epoch_loss})

    continuing = TrainingHealth(images[:8])
    continuing.set_model(model)
    epoch(continuing, first_batch=1.1, epoch_loss=0.3)  # the head: from chance down
    epoch(continuing, first_batch=0.1, epoch_loss=0.6)  # fine-tuning: 6 times its first batch
    assert continuing.diagnosis is None
    first = TrainingHealth(images[:8])
    first.set_model(model)
    epoch(first, first_batch=0.1, epoch_loss=0.6)
    assert first.diagnosis is not None and "the loss diverged: 0.6 against 0.1" in first.diagnosis.symptoms[0]
