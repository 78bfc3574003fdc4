"""Label-aware recolouring on constructed images: the garment's pixels and its colour label change together."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from pyimagesearch.data.recolouring import build_recolouring, recolourable_labels, resolve_recolour


def garment_on_white(rgb: tuple[int, int, int], size: int = 16) -> np.ndarray:
    """A float32 RGB image 0-255: a square of ``rgb`` in the middle of a white background."""
    image = np.full((size, size, 3), 255.0, dtype="float32")
    image[4:12, 4:12] = rgb
    return image


def hue_of(rgb: np.ndarray) -> float:
    """OpenCV's hue (0-180) of one RGB pixel."""
    return float(cv2.cvtColor(np.uint8([[rgb]]), cv2.COLOR_RGB2HSV)[0, 0, 0])


def recolour(classes, colour_labels, images, targets, probability=1.0):
    images, targets = build_recolouring(classes, colour_labels, probability=probability, seed=1)(
        tf.constant(np.stack(images)), tf.constant(np.array(targets, dtype="float32"))
    )
    return images.numpy(), targets.numpy()


def test_red_becomes_blue_and_is_labelled_blue_while_the_background_stays_white():
    classes = ["blue", "dress", "red"]
    images, targets = recolour(classes, [0, 2], [garment_on_white((200, 20, 30))], [[0, 1, 1]])
    assert targets.tolist() == [[1, 1, 0]]  # blue dress; the type is kept
    garment = images[0, 8, 8]
    assert garment[2] > garment[0] and 100 <= hue_of(garment) <= 125  # blue on OpenCV's scale
    np.testing.assert_allclose(images[0, 0, 0], [255, 255, 255], atol=1)


def test_red_darkened_into_black_and_black_painted_red():
    classes = ["black", "dress", "jeans", "red"]
    images, targets = recolour(
        classes, [0, 3], [garment_on_white((200, 20, 30)), garment_on_white((25, 25, 30))], [[0, 1, 0, 1], [1, 0, 1, 0]]
    )
    assert targets.tolist() == [[1, 1, 0, 0], [0, 0, 1, 1]]  # black dress, red jeans
    black, red = images[0, 8, 8], images[1, 8, 8]
    assert black.max() < 80
    assert red[0] > 2 * red[1] and red[0] > 2 * red[2]
    np.testing.assert_allclose(images[:, 0, 0], [[255, 255, 255]] * 2, atol=1)


def test_an_image_without_enough_of_its_colour_keeps_its_pixels_and_label():
    classes = ["blue", "dress", "red"]
    grey = np.full((16, 16, 3), 128.0, dtype="float32")  # labelled red, but nothing red in it
    images, targets = recolour(classes, [0, 2], [grey], [[0, 1, 1]])
    assert targets.tolist() == [[0, 1, 1]]
    np.testing.assert_allclose(images[0], grey, atol=1e-3)


def test_probability_zero_changes_nothing():
    image = garment_on_white((200, 20, 30))
    images, targets = recolour(["blue", "dress", "red"], [0, 2], [image], [[0, 1, 1]], probability=0.0)
    assert targets.tolist() == [[0, 1, 1]]
    np.testing.assert_allclose(images[0], image, atol=1e-3)


def test_recolourable_labels_are_the_known_colours_of_a_group():
    classes = ["beige", "black", "blue", "dress", "jeans"]
    assert recolourable_labels(classes, [["beige", "black", "blue"], ["dress", "jeans"]]) == (1, 2)
    assert recolourable_labels(classes, [["beige", "black"], ["blue", "dress", "jeans"]]) == ()
    assert recolourable_labels(classes, None) == ()


def test_recolour_choices():
    classes, groups = ["blue", "dress", "red", "shirt"], [["blue", "red"], ["dress", "shirt"]]
    assert resolve_recolour("auto", "grouped", classes, groups) == (0, 2)
    assert resolve_recolour("auto", "grouped", classes, groups, colour_branch=True) == ()
    assert resolve_recolour("auto", "flat", classes, groups) == ()
    assert resolve_recolour("on", "flat", classes, groups) == (0, 2)
    assert resolve_recolour("off", "grouped", classes, groups) == ()
    with pytest.raises(ValueError, match="`recolour` on needs a label group with two or more of the colours .*Use `recolour` off"):
        resolve_recolour("on", "flat", ["cat", "dog"], None)
    with pytest.raises(ValueError, match="`recolour` must be one of auto, on, off. Received: `recolour` yes"):
        resolve_recolour("yes", "flat", classes, groups)
