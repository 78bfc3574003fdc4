import tracemalloc

import keras
import numpy as np
import pytest

from pyimagesearch.inference.model_io import load_model, save_model
from pyimagesearch.models.normalization import channel_statistics, input_normalization, kernel_initializer
from pyimagesearch.models.smallervggnet import SmallerVGGNet


def coloured_images(count: int = 40, size: int = 16, seed: int = 0) -> np.ndarray:
    """uint8 RGB images whose channels have clearly different means and spreads."""
    rng = np.random.default_rng(seed)
    centres, spreads = np.array([200.0, 120.0, 40.0]), np.array([30.0, 10.0, 20.0])
    return np.clip(rng.normal(centres, spreads, size=(count, size, size, 3)), 0, 255).astype(np.uint8)


def normalized(layers: list, images: np.ndarray) -> np.ndarray:
    model = keras.Sequential([keras.Input(images.shape[1:]), *layers])
    return np.asarray(model.predict(images.astype("float32"), verbose=0), dtype=np.float64)


def test_unit_is_the_tutorial_rescaling_and_needs_no_statistics():
    (layer,) = input_normalization("unit")
    assert isinstance(layer, keras.layers.Rescaling) and layer.name == "rescale_to_unit"
    np.testing.assert_allclose(normalized([layer], np.full((1, 4, 4, 3), 255, np.uint8)), 1.0, rtol=1e-6)


def test_center_gives_each_channel_zero_mean_on_the_unit_scale():
    images = coloured_images()
    output = normalized(input_normalization("center", images), images)
    np.testing.assert_allclose(output.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(output.std(axis=(0, 1, 2)), images.std(axis=(0, 1, 2)) / 255, rtol=1e-4)


def test_standardize_gives_each_channel_zero_mean_and_unit_variance():
    images = coloured_images()
    output = normalized(input_normalization("standardize", images), images)
    np.testing.assert_allclose(output.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(output.std(axis=(0, 1, 2)), 1.0, rtol=1e-4)


def test_statistics_match_numpy_across_chunks():
    images = coloured_images(count=150, size=8)  # more images than one chunk
    mean, variance = channel_statistics(images)
    scaled = images.astype(np.float64) / 255
    np.testing.assert_allclose(mean, scaled.mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(variance, scaled.var(axis=(0, 1, 2)), rtol=1e-9)


def test_statistics_never_copy_the_whole_set_to_floating_point():
    images = np.zeros((500, 96, 96, 3), dtype=np.uint8)  # 14 MB; as float64 it would be 110 MB
    tracemalloc.start()
    channel_statistics(images)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 40e6


def test_a_channel_that_never_varies_is_not_blown_up():
    images = coloured_images()
    images[..., 1] = 77
    layers = input_normalization("standardize", images)
    other = np.full((1, 16, 16, 3), 200, dtype=np.uint8)
    assert np.abs(normalized(layers, other)).max() < 256


@pytest.mark.parametrize("mode", ["center", "standardize"])
def test_statistics_are_saved_inside_the_model(tmp_path, mode):
    images = coloured_images(count=20, size=32)
    keras.utils.set_random_seed(0)
    preprocessing = input_normalization(mode, images)
    model = SmallerVGGNet.build(32, 32, 3, classes=3, finalAct="sigmoid", preprocessing=preprocessing)
    save_model(model, tmp_path / "fashion.model", {"classes": ["a", "b", "c"]})
    loaded, _ = load_model(tmp_path / "fashion.model")
    sample = coloured_images(count=4, size=32, seed=1).astype("float32")
    np.testing.assert_array_equal(loaded.predict(sample, verbose=0), model.predict(sample, verbose=0))
    layer = loaded.get_layer(f"{mode}_channels")
    np.testing.assert_allclose(layer.offset, model.get_layer(f"{mode}_channels").offset)
    np.testing.assert_allclose(layer.scale, model.get_layer(f"{mode}_channels").scale)


def test_unknown_mode_is_refused_naming_the_flag_and_the_choices():
    expected = r"`normalize` must be one of unit, center, standardize. Received: `normalize` zscore"
    with pytest.raises(ValueError, match=expected):
        input_normalization("zscore", coloured_images())


@pytest.mark.parametrize("mode", ["center", "standardize"])
def test_modes_with_statistics_need_training_images(mode):
    with pytest.raises(ValueError, match=f"`normalize` {mode} learns its statistics from the training images"):
        input_normalization(mode, None)
    with pytest.raises(ValueError, match=r"Received: shape \(0, 8, 8, 3\)"):
        input_normalization(mode, np.zeros((0, 8, 8, 3), np.uint8))


def test_init_choices_map_to_keras_initializers():
    assert kernel_initializer("glorot") == "glorot_uniform"
    assert kernel_initializer("he") == "he_normal"
    with pytest.raises(ValueError, match=r"`init` must be one of glorot, he. Received: `init` xavier"):
        kernel_initializer("xavier")
