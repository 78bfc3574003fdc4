"""The colour-and-shape network, with SmallerVGGNet's or a backbone's shape branch: its colour branch
reads colours pixel by pixel where the grey image says to look, its shape branch cannot see hue, the
grey branch's tone jitter acts in training only, and --colour-branch resolves as documented."""

from functools import partial

import keras
import numpy as np
import pytest
from conftest import MOBILENETV2_035

from pyimagesearch.inference.gradcam import GradCam, find_last_conv_layer
from pyimagesearch.models.backbones import build_backbone
from pyimagesearch.models.build import task_with_head
from pyimagesearch.models.colour_and_shape import (
    COLOUR_ATTENTION,
    SHAPE_FEATURES,
    AttentionPooling,
    EqualiseTone,
    RandomChannelWeights,
    RandomShade,
    RandomTone,
    build_colour_and_shape,
)
from pyimagesearch.models.normalization import input_normalization

CLASSES = ["black", "blue", "dress", "jeans", "red", "shirt"]
LABEL_GROUPS = [["black", "blue", "red"], ["dress", "jeans", "shirt"]]
GROUPS = [[0, 1, 4], [2, 3, 5]]
COLOUR_UNITS, TYPE_UNITS = GROUPS


@pytest.fixture(scope="module", params=["smallervggnet", "mobilenetv2"])
def network(request) -> keras.Model:
    keras.utils.set_random_seed(3)
    shape_backbone = None
    if request.param == "mobilenetv2":
        # ImageNet weights: a freshly initialised MobileNetV2 maps every 32-pixel image to the same features.
        if not MOBILENETV2_035.is_file():
            pytest.skip(f"no shared weights at {MOBILENETV2_035}")
        shape_backbone = partial(build_backbone, request.param, 32, 0.35, str(MOBILENETV2_035))
    return build_colour_and_shape(32, 32, GROUPS, colour_group=0, preprocessing=input_normalization("unit"), shape_backbone=shape_backbone)


def garments(seed: int) -> np.ndarray:
    """Four 32x32 images: a coloured rectangle of random size and place on white."""
    rng = np.random.default_rng(seed)
    images = np.full((4, 32, 32, 3), 255.0, dtype="float32")
    for image in images:
        top, left = rng.integers(0, 12, 2)
        image[top : top + rng.integers(8, 20), left : left + rng.integers(8, 20)] = rng.integers(0, 256, 3)
    return images


def test_colour_branch_reads_each_pixel_alone(network):
    # Between the image and the attention pooling, only 1x1 convolutions and averaging: no outline.
    pooled = network.get_layer("colour_pooled")
    colour_features = keras.Model(network.inputs, pooled.input[0])
    convolutions = [layer for layer in colour_features.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convolutions and all(layer.kernel_size == (1, 1) for layer in convolutions)
    assert {type(layer).__name__ for layer in colour_features.layers} <= {
        "InputLayer",
        "Rescaling",
        "AveragePooling2D",
        "Conv2D",
        "FusedBatchNormalization",
        "Normalization",
    }


def test_where_the_colour_branch_looks_comes_from_the_grey_image_alone(network):
    attention = keras.Model(network.inputs, network.get_layer(COLOUR_ATTENTION).output)
    images = garments(0)
    swapped = images[..., ::-1].copy()  # red and blue swapped: other colours, the same grey
    np.testing.assert_allclose(attention.predict(swapped, verbose=0), attention.predict(images, verbose=0), atol=1e-5)


def test_attention_pooling_weighs_places_by_a_softmax_of_their_logits():
    features = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype("float32")
    pool = AttentionPooling()
    # Logits of any resolution are resized to the features': equal ones weigh every place alike.
    uniform = keras.ops.convert_to_numpy(pool([features, np.zeros((2, 2, 2, 1), "float32")]))
    np.testing.assert_allclose(uniform, features.mean(axis=(1, 2)), atol=1e-6)
    logits = np.full((2, 4, 4, 1), -30.0, "float32")
    logits[:, :2, :2] = 30.0  # one quadrant far above the rest
    focused = keras.ops.convert_to_numpy(pool([features, logits]))
    np.testing.assert_allclose(focused, features[:, :2, :2].mean(axis=(1, 2)), atol=1e-3)
    # Moving features and logits together moves nothing.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pool([features[:, ::-1], logits[:, ::-1]])), focused, atol=1e-5)


def test_shape_branch_sees_the_image_in_grey(network):
    images = garments(2)
    swapped = images[..., ::-1].copy()  # red and blue swapped: other colours, the same grey
    before, after = network.predict(images, verbose=0), network.predict(swapped, verbose=0)
    np.testing.assert_allclose(after[:, TYPE_UNITS], before[:, TYPE_UNITS], atol=1e-5)
    # Untrained, the colour units move little (7e-4 was seen with MobileNetV2's branch), but far
    # above float rounding (1e-7): they read the colours.
    assert np.abs(after[:, COLOUR_UNITS] - before[:, COLOUR_UNITS]).max() > 1e-4


def test_one_softmax_per_group_in_label_order(network):
    probabilities = network.predict(garments(4), verbose=0)
    for group in GROUPS:
        np.testing.assert_allclose(probabilities[:, group].sum(axis=1), 1.0, atol=1e-5)


def test_tone_jitter_acts_in_training_only():
    grey = np.random.default_rng(5).uniform(size=(8, 16, 16, 1)).astype("float32")
    layer = RandomTone(seed=1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(grey, training=False)), grey)
    jittered = keras.ops.convert_to_numpy(layer(grey, training=True))
    assert jittered.min() >= 0.0 and jittered.max() <= 1.0
    # Each image gets its own tone: the changes differ from image to image.
    assert np.std(np.mean(jittered - grey, axis=(1, 2, 3))) > 0.01


def test_tone_jitter_brightens_as_far_as_its_brighten_range():
    # A flat grey of 0.1 (a black garment) raised to gammas in [1/10, 4]: up to 0.1 ** 0.1, far lighter
    # than the symmetric range's 0.1 ** 0.25 allows, and as dark as 0.1 ** 4.
    layer = RandomTone(4.0, 0.0, seed=3, brighten_range=10.0)
    toned = keras.ops.convert_to_numpy(layer(np.full((256, 2, 2, 1), 0.1, "float32"), training=True))[:, 0, 0, 0]
    assert toned.min() >= 0.1**4 - 1e-6 and toned.max() <= 0.1**0.1 + 1e-5
    assert toned.max() > 0.7 and toned.min() < 0.01
    assert RandomTone.from_config(layer.get_config()).brighten_range == 10.0
    assert RandomTone(4.0).brighten_range == 4.0


def test_equalised_grey_depends_on_the_order_of_tones_not_on_the_tones():
    # A dark and a light garment on white, the same texture: after equalisation both are the darkest
    # half of the picture, the same values wherever the histograms' bins resolve them.
    texture = np.random.default_rng(7).uniform(size=(1, 16, 8, 1)).astype("float32")
    images = np.ones((2, 16, 16, 1), "float32")
    images[0, :, 4:12] = 0.05 + 0.1 * texture
    images[1, :, 4:12] = 0.6 + 0.1 * texture
    equalised = keras.ops.convert_to_numpy(EqualiseTone(bins=64, stride=1)(images))
    assert equalised.min() >= 0.0 and equalised.max() == 1.0
    np.testing.assert_allclose(equalised[0], equalised[1], atol=1 / 16)
    assert equalised[0, :, 4:12].max() <= 0.5 + 1e-6
    # Unlike the raw tones, which differ by 0.55 everywhere on the garment.
    assert np.abs(images[0] - images[1]).max() > 0.5
    layer = EqualiseTone.from_config(EqualiseTone(bins=32, stride=2).get_config())
    assert (layer.bins, layer.stride) == (32, 2)


def test_channel_weights_give_a_red_and_a_blue_garment_each_others_tones_in_training_only():
    # White, black, a red and a blue pixel: the grey copy (the channels' mean) of each image is a
    # random convex combination of its channels, so white and black keep their tones and the red and
    # the blue take any tone between, each lighter than the other in some images.
    pixels = np.array([[255, 255, 255], [0, 0, 0], [200, 20, 20], [20, 20, 200]], "float32")
    rgb = np.broadcast_to(pixels[None, None], (64, 1, 4, 3)).copy()
    layer = RandomChannelWeights(1.0, seed=4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(rgb, training=False)), rgb)
    grey = keras.ops.convert_to_numpy(layer(rgb, training=True)).mean(axis=-1)[:, 0] / 255
    np.testing.assert_allclose(grey[:, 0], 1.0, rtol=1e-5)
    np.testing.assert_array_equal(grey[:, 1], 0.0)
    red, blue = grey[:, 2], grey[:, 3]
    assert red.min() >= 20 / 255 - 1e-6 and red.max() <= 200 / 255 + 1e-6
    assert (red > blue).any() and (blue > red).any()
    assert RandomChannelWeights.from_config(layer.get_config()).concentration == 1.0


def test_shading_darkens_each_image_by_one_factor_in_training_only():
    rgb = np.random.default_rng(6).uniform(1, 255, size=(16, 8, 8, 3)).astype("float32")
    layer = RandomShade(4.0, seed=2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(rgb, training=False)), rgb)
    factors = keras.ops.convert_to_numpy(layer(rgb, training=True)) / rgb
    # One factor per image, for every pixel and channel (hue kept), within [1/4, 1], not all alike.
    per_image = factors.reshape(16, -1)
    np.testing.assert_allclose(per_image, np.broadcast_to(per_image[:, :1], per_image.shape), rtol=1e-4)
    assert per_image.min() >= 0.25 - 1e-6 and per_image.max() <= 1.0 + 1e-6
    assert np.std(per_image[:, 0]) > 0.05


def test_types_are_explained_on_the_shape_branch_and_colours_on_the_colour_branch(network):
    # The colour branch's 1x1 convolutions may come later in layer order, but see one pixel each.
    shape_branch = keras.Model(network.inputs, network.get_layer(SHAPE_FEATURES).output).layers
    assert network.get_layer(find_last_conv_layer(network)) in shape_branch
    explainer = GradCam(network)
    image = garments(6)[0].astype("uint8")
    for unit in range(6):
        heatmap = explainer(image, unit)
        assert heatmap.shape == (32, 32) and np.isfinite(heatmap).all()


def test_colour_branch_choices():
    task, head = task_with_head("multilabel", "auto", CLASSES, LABEL_GROUPS, "auto")
    assert head == "grouped" and task.colour_group == 0
    assert task_with_head("multilabel", "grouped", CLASSES, LABEL_GROUPS, "off")[0].colour_group is None
    assert task_with_head("multilabel", "flat", CLASSES, LABEL_GROUPS, "auto")[0].colour_group is None
    # A backbone reads the shape branch's grey copy; the MLP reads feature vectors and has no branches.
    assert task_with_head("multilabel", "auto", CLASSES, LABEL_GROUPS, "auto", arch="mobilenetv2")[0].colour_group == 0
    assert task_with_head("multilabel", "auto", CLASSES, LABEL_GROUPS, "auto", arch="mlp")[0].colour_group is None
    with pytest.raises(ValueError, match="`colour_branch` on splits an image network; `arch` mlp reads feature vectors"):
        task_with_head("multilabel", "auto", CLASSES, LABEL_GROUPS, "on", arch="mlp")
    with pytest.raises(
        ValueError, match="`colour_branch` on needs the grouped head and a label group of colours .* Use `colour_branch` off."
    ):
        task_with_head("multilabel", "flat", CLASSES, LABEL_GROUPS, "on")
    with pytest.raises(ValueError, match="`colour_branch` must be one of auto, on, off. Received: `colour_branch` yes"):
        task_with_head("multilabel", "auto", CLASSES, LABEL_GROUPS, "yes")
