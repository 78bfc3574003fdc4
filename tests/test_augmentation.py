"""The augmentation: one affine warp per image, with the tutorial's ranges."""

import math

import cv2
import numpy as np
import pytest
import tensorflow as tf

from pyimagesearch.data.augmentation import build_augmentation, random_affine_transforms, warp


def image_batch(count: int, size: int = 24) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, size, size, 3)).astype("float32")


def transforms(count: int = 256, size: int = 24, **ranges) -> np.ndarray:
    return random_affine_transforms(count, size, size, seed=3, **ranges).numpy()


def test_warp_samples_each_output_pixel_at_the_transformed_input_point_as_opencv_does():
    images = image_batch(2)
    matrices = np.array([[0.9, -0.2, 3.0, 0.25, 1.1, -2.0], [-1.0, 0.0, 23.0, 0.0, 1.0, 0.0]], dtype="float32")
    transforms_ = np.concatenate([matrices, np.zeros((2, 2), "float32")], axis=1)
    warped = warp(tf.constant(images), tf.constant(transforms_)).numpy()
    for image, matrix, result in zip(images, matrices, warped):
        expected = cv2.warpAffine(
            image, matrix.reshape(2, 3), (24, 24), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
        )
        # Away from the edges, where the fill rules differ; OpenCV rounds the weights to 1/32 of a pixel,
        # a few grey levels on noise (a wrong convention would be off by about 80 on average).
        difference = np.abs(result[3:-3, 3:-3] - expected[3:-3, 3:-3])
        assert difference.mean() < 1.5 and difference.max() < 8, (difference.mean(), difference.max())


def test_no_ranges_and_no_flip_leave_images_unchanged():
    images = image_batch(4)
    identity = random_affine_transforms(4, 24, 24, rotation_degrees=0, shift=0, shear=0, zoom=0, horizontal_flip=False)
    np.testing.assert_allclose(warp(tf.constant(images), identity).numpy(), images, atol=1e-3)


def test_flip_alone_mirrors_about_half_the_images():
    images = image_batch(64)
    flipped = random_affine_transforms(64, 24, 24, rotation_degrees=0, shift=0, shear=0, zoom=0)
    result = warp(tf.constant(images), flipped).numpy()
    mirrored = [np.allclose(out, image[:, ::-1], atol=1e-3) for out, image in zip(result, images)]
    kept = [np.allclose(out, image, atol=1e-3) for out, image in zip(result, images)]
    assert all(m != k for m, k in zip(mirrored, kept))
    assert 16 <= sum(mirrored) <= 48


@pytest.mark.parametrize(
    ("ranges", "measure", "limit"),
    [
        ({"rotation_degrees": 25.0}, lambda t: np.degrees(np.arctan2(t[:, 3], t[:, 0])), 25.0),
        ({"shift": 0.1}, lambda t: t[:, 2], 0.1 * 24),
        ({"zoom": 0.2}, lambda t: t[:, 0] - 1.0, 0.2),
        ({"shear": 0.2}, lambda t: t[:, 1], 0.2),
    ],
)
def test_each_transform_is_drawn_over_its_whole_range_and_no_further(ranges, measure, limit):
    neutral = {"rotation_degrees": 0.0, "shift": 0.0, "shear": 0.0, "zoom": 0.0, "horizontal_flip": False}
    values = measure(transforms(**{**neutral, **ranges}))
    assert np.abs(values).max() <= limit + 1e-5
    assert values.min() < -0.8 * limit and values.max() > 0.8 * limit


def test_augmentation_keeps_the_batch_shape_and_the_pixel_range():
    images = image_batch(8, size=32)
    augmented = build_augmentation(seed=1)(tf.constant(images)).numpy()
    assert augmented.shape == images.shape
    assert augmented.min() >= 0.0 and augmented.max() <= 255.0
    assert not np.allclose(augmented, images)
    # A rotation keeps the centre pixel's neighbourhood in the frame: nothing is lost to fill.
    assert math.isclose(float(np.mean(augmented)), float(np.mean(images)), rel_tol=0.1)
