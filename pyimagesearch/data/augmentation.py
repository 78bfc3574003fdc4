"""The tutorial's augmentation (rotation, shifts, shear, zoom, horizontal flip) as one affine warp per image.

The tutorial's `ImageDataGenerator` composes its random transforms into one matrix and resamples
each image once. Keras 3's preprocessing layers (`RandomRotation`, `RandomTranslation`,
`RandomShear`, `RandomZoom`, `RandomFlip`) resample once per layer: four bilinear warps of every
batch, blurrier, and on two cores a large share of every training step. Composing the same random
draws into one matrix and warping once costs far less (measured: bench/README.md, "Training").
"""

import math
from collections.abc import Callable

import tensorflow as tf

from pyimagesearch import config


def random_affine_transforms(
    batch: tf.Tensor,
    height: tf.Tensor,
    width: tf.Tensor,
    seed: int = config.SEED,
    rotation_degrees: float = config.AUGMENT_ROTATION_DEGREES,
    shift: float = config.AUGMENT_SHIFT,
    shear: float = config.AUGMENT_SHEAR,
    zoom: float = config.AUGMENT_ZOOM,
    horizontal_flip: bool = True,
) -> tf.Tensor:
    """Random affine transforms, one per image, in the 8-number form of `ImageProjectiveTransformV3`.

    Each maps an output pixel (x, y) to the input point it is sampled from: about the image
    centre, a horizontal flip (half the images), a zoom of 1 +- ``zoom`` on each axis, a shear of
    +- ``shear`` on each axis, a rotation of +- ``rotation_degrees``, then a shift of +- ``shift``
    of the width and height; each drawn uniformly, as Keras' layers of those names draw them.

    Returns:
        float32 of shape (batch, 8): ``[a0, a1, a2, b0, b1, b2, 0, 0]`` with input x = a0 x + a1 y + a2
        and input y = b0 x + b1 y + b2.
    """
    height, width = tf.cast(height, tf.float32), tf.cast(width, tf.float32)

    def uniform(limit: float, offset: int) -> tf.Tensor:
        return tf.random.uniform([batch], -limit, limit, seed=seed + offset)

    angle = uniform(math.radians(rotation_degrees), 0)
    shift_x, shift_y = uniform(shift, 1) * width, uniform(shift, 2) * height
    shear_x, shear_y = uniform(shear, 3), uniform(shear, 4)
    zoom_x, zoom_y = 1.0 + uniform(zoom, 5), 1.0 + uniform(zoom, 6)
    if horizontal_flip:
        zoom_x *= tf.where(tf.random.uniform([batch], seed=seed + 7) < 0.5, -1.0, 1.0)
    cos, sin = tf.cos(angle), tf.sin(angle)
    # rotation @ shear @ zoom-and-flip, written out.
    a0, a1 = (cos - sin * shear_y) * zoom_x, (cos * shear_x - sin) * zoom_y
    b0, b1 = (sin + cos * shear_y) * zoom_x, (sin * shear_x + cos) * zoom_y
    centre_x, centre_y = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    a2 = centre_x + shift_x - a0 * centre_x - a1 * centre_y
    b2 = centre_y + shift_y - b0 * centre_x - b1 * centre_y
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def warp(images: tf.Tensor, transforms: tf.Tensor) -> tf.Tensor:
    """``images`` (B, H, W, C) resampled bilinearly through ``transforms`` (B, 8); points outside
    take the nearest edge pixel, as `ImageDataGenerator`'s default ``fill_mode="nearest"``."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    )


def build_augmentation(seed: int = config.SEED) -> Callable[[tf.Tensor], tf.Tensor]:
    """The tutorial's augmentation of a training batch, one warp per image (see `random_affine_transforms`).

    Applied only to training batches, never to validation or inference.

    Returns:
        ``augment(images)`` for float32 batches of shape (B, H, W, 3).
    """

    def augment(images: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(images)
        return warp(images, random_affine_transforms(shape[0], shape[1], shape[2], seed=seed))

    return augment
