import keras
import numpy as np
import pytest
from conftest import SEED

from pyimagesearch.inference.gradcam import GradCam, find_last_conv_layer, overlay_heatmap
from pyimagesearch.inference.model_io import load_model, save_model
from pyimagesearch.models.smallervggnet import SmallerVGGNet

SIZE = 32
RED, BLUE = (230, 30, 30), (30, 30, 230)


def scene(rng: np.random.Generator, height: int, width: int, red_at: tuple[int, int] | None = None, red: bool = True):
    """Noise with a blue square anywhere and, if ``red``, a red square (at ``red_at`` if given).

    Returns the RGB uint8 image and the red square's box (top, left, bottom, right), or None.
    """
    image = rng.uniform(60, 190, size=(height, width, 3)).astype(np.uint8)
    side = int(0.2 * min(height, width))
    top, left = rng.integers(0, height - side), rng.integers(0, width - side)
    image[top : top + side, left : left + side] = BLUE
    if not red:
        return image, None
    top, left = red_at if red_at is not None else (rng.integers(0, height - side), rng.integers(0, width - side))
    image[top : top + side, left : left + side] = RED
    return image, (top, left, top + side, left + side)


def red_square_data(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    present = rng.random(count) < 0.5
    images = np.stack([scene(rng, SIZE, SIZE, red=flag)[0] for flag in present])
    return images, present.astype("float32")[:, None]


def small_cnn_layers() -> list[keras.layers.Layer]:
    return [
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1),
        keras.layers.Activation("sigmoid"),
    ]


@pytest.fixture(scope="module")
def red_square_model() -> keras.Model:
    """A small Sequential CNN trained to say whether a red square is present; the blue one is a decoy."""
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(3)
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), *small_cnn_layers()])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy", metrics=["accuracy"])
    images, targets = red_square_data(256, rng)
    model.fit(images.astype("float32"), targets, batch_size=32, epochs=15, verbose=0)
    return model


def test_the_red_square_model_tells_red_squares_apart(red_square_model, record_score):
    # Images it never saw: the maps below explain a model that learnt the task.
    images, targets = red_square_data(64, np.random.default_rng(4))
    accuracy = red_square_model.evaluate(images.astype("float32"), targets, verbose=0)[1]
    record_score("accuracy", accuracy)
    assert accuracy >= 0.9


@pytest.mark.parametrize("red_at", [(0, 0), (0, 96), (70, 0), (70, 96), (36, 50)], ids=str)
def test_the_peak_falls_on_the_object_that_decides_the_label(red_square_model, red_at):
    image, (top, left, bottom, right) = scene(np.random.default_rng(red_at), 90, 120, red_at=red_at)
    heatmap = GradCam(red_square_model)(image, 0)
    row, column = np.unravel_index(heatmap.argmax(), heatmap.shape)
    margin = 9  # a tenth of the image's height: the last maps are 8x8 for a 32-pixel input
    assert top - margin <= row < bottom + margin and left - margin <= column < right + margin


def test_the_heatmap_has_the_original_size_and_lies_in_0_1(red_square_model):
    image, _ = scene(np.random.default_rng(0), 90, 120)
    heatmap = GradCam(red_square_model)(image, 0)
    assert heatmap.shape == (90, 120) and heatmap.dtype == np.float32
    assert heatmap.min() >= 0.0 and heatmap.max() == pytest.approx(1.0)


def test_sequential_functional_and_reloaded_models_give_the_same_map(red_square_model, tmp_path):
    inputs = keras.Input((SIZE, SIZE, 3))
    outputs = inputs
    for layer in small_cnn_layers():
        outputs = layer(outputs)
    functional = keras.Model(inputs, outputs)
    functional.set_weights(red_square_model.get_weights())
    save_model(red_square_model, tmp_path / "red.model", {"classes": ["red"]})
    reloaded, _ = load_model(tmp_path / "red.model")
    image, _ = scene(np.random.default_rng(1), 60, 80)
    expected = GradCam(red_square_model)(image, 0)
    np.testing.assert_allclose(GradCam(functional)(image, 0), expected, atol=1e-5)
    np.testing.assert_allclose(GradCam(reloaded)(image, 0), expected, atol=1e-5)


def test_inverting_explains_the_other_class_of_a_one_unit_head(red_square_model):
    image, (top, left, bottom, right) = scene(np.random.default_rng(5), 90, 120, red_at=(36, 50))
    present = GradCam(red_square_model)(image, 0)
    absent = GradCam(red_square_model)(image, 0, invert=True)
    assert absent[top:bottom, left:right].mean() < present[top:bottom, left:right].mean()


def test_smallervggnet_maps_come_from_its_last_convolution_at_the_image_size():
    model = SmallerVGGNet.build(32, 32, 3, classes=4, finalAct="sigmoid")
    convolutions = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert find_last_conv_layer(model) == convolutions[-1]
    explain = GradCam(model)
    image = np.random.default_rng(0).integers(0, 256, size=(45, 70, 3), dtype=np.uint8)
    for class_index in range(4):
        heatmap = explain(image, class_index)
        assert heatmap.shape == (45, 70) and 0.0 <= heatmap.min() and heatmap.max() <= 1.0


def test_a_model_without_convolutions_is_refused():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="`explain` needs a convolution layer"):
        find_last_conv_layer(model)


def test_bad_images_and_class_indices_are_refused(red_square_model):
    with pytest.raises(ValueError, match=r"RGB image of shape \(height, width, 3\). Received: shape \(9, 9\)"):
        GradCam(red_square_model)(np.zeros((9, 9), np.uint8), 0)
    with pytest.raises(ValueError, match="class_index must be between 0 and 0. Received: 1"):
        GradCam(red_square_model)(np.zeros((9, 9, 3), np.uint8), 1)
    with pytest.raises(ValueError, match="has no layer 'nope'"):
        GradCam(red_square_model, layer_name="nope")(np.zeros((9, 9, 3), np.uint8), 0)
    dense = red_square_model.layers[-2].name
    with pytest.raises(ValueError, match=f"needs a layer with 2-D feature maps. Received: layer '{dense}'"):
        GradCam(red_square_model, layer_name=dense)(np.zeros((9, 9, 3), np.uint8), 0)


def test_overlay_blends_the_colour_map_over_the_image():
    image = np.full((20, 30, 3), 128, dtype=np.uint8)
    heatmap = np.zeros((20, 30), dtype=np.float32)
    heatmap[:10] = 1.0
    overlay = overlay_heatmap(image, heatmap, alpha=0.5)
    assert overlay.shape == image.shape and overlay.dtype == np.uint8
    hot, cold = overlay[5, 5].astype(int), overlay[15, 5].astype(int)
    assert hot[0] > hot[2] and cold[2] > cold[0]  # JET: red where high, blue where low
    np.testing.assert_array_equal(overlay_heatmap(image, heatmap, alpha=0.0), image)
    with pytest.raises(ValueError, match="must be the image's"):
        overlay_heatmap(image, heatmap[:10])
