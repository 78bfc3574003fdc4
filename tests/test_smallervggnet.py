import keras
import numpy as np
import pytest

from pyimagesearch.models.smallervggnet import SmallerVGGNet


@pytest.mark.parametrize("final_activation", ["sigmoid", "softmax"])
def test_output_shape_and_final_activation(final_activation):
    model = SmallerVGGNet.build(96, 96, 3, classes=6, finalAct=final_activation)
    assert model.input_shape == (None, 96, 96, 3)
    assert model.output_shape == (None, 6)
    assert model.layers[-1].get_config()["activation"] == final_activation


def test_default_final_activation_is_softmax_as_in_the_tutorial():
    assert SmallerVGGNet.build(32, 32, 3, classes=3).layers[-1].get_config()["activation"] == "softmax"


def test_architecture_matches_the_tutorial():
    model = SmallerVGGNet.build(96, 96, 3, classes=5, finalAct="sigmoid")
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convolutions] == [32, 64, 64, 128, 128]
    assert all(layer.kernel_size == (3, 3) and layer.padding == "same" for layer in convolutions)
    pools = [layer.pool_size for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert pools == [(3, 3), (2, 2), (2, 2)]
    dropouts = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == [0.25, 0.25, 0.25, 0.5]
    dense = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [1024, 5]
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 6


def test_preprocessing_layers_come_first():
    model = SmallerVGGNet.build(32, 32, 3, classes=2, preprocessing=[keras.layers.Rescaling(1 / 255)])
    assert isinstance(model.layers[0], keras.layers.Rescaling)


def kernel_layers(model: keras.Model) -> list:
    return [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]


def test_default_kernels_are_glorot_uniform_as_in_keras():
    model = SmallerVGGNet.build(32, 32, 3, classes=3)
    assert len(kernel_layers(model)) == 7
    assert all(isinstance(layer.kernel_initializer, keras.initializers.GlorotUniform) for layer in kernel_layers(model))


def test_he_init_applies_to_every_convolution_and_dense_kernel():
    model = SmallerVGGNet.build(32, 32, 3, classes=3, kernel_initializer="he_normal")
    assert len(kernel_layers(model)) == 7
    assert all(isinstance(layer.kernel_initializer, keras.initializers.HeNormal) for layer in kernel_layers(model))


def test_without_dropout_only_the_dropout_layers_are_left_out():
    with_dropout = SmallerVGGNet.build(32, 32, 3, classes=3)
    without = SmallerVGGNet.build(32, 32, 3, classes=3, dropout=False)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in without.layers)
    kept = [type(layer) for layer in with_dropout.layers if not isinstance(layer, keras.layers.Dropout)]
    assert [type(layer) for layer in without.layers] == kept
    assert without.count_params() == with_dropout.count_params()


def test_the_first_training_step_is_traced_once(monkeypatch):
    # Keras would create the optimizer's variables inside the first step's trace and then trace the
    # step again; build_classifier (through compile_classifier) creates them before.
    from pyimagesearch.models.build import build_classifier
    from pyimagesearch.models.tasks import get_task

    traces = []
    train_step = keras.Model.train_step
    monkeypatch.setattr(keras.Model, "train_step", lambda self, data: traces.append(1) or train_step(self, data))
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype("float32")
    targets = np.random.default_rng(1).integers(0, 2, (8, 5)).astype("float32")
    model = build_classifier(get_task("multilabel"), 5, 32, keras.optimizers.Adam(), train_images=images)
    assert model.optimizer.built
    model.fit(images, targets, batch_size=4, epochs=2, verbose=0)
    assert len(traces) == 1
