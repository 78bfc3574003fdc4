"""A labelled image folder in memory and the tf.data pipelines that feed it to a model."""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pyimagesearch import config
from pyimagesearch.images import list_images, load_images
from pyimagesearch.labels import label_counts, labels_for_paths

logger = logging.getLogger(__name__)


@dataclass
class LabelledImages:
    """Decoded images with their labels.

    Attributes:
        images: uint8 RGB array of shape (N, size, size, 3).
        paths: The file of each image.
        label_sets: The labels of each image, from its folder name.
        skipped: ``(path, reason)`` for each file that could not be decoded.
    """

    images: np.ndarray
    paths: list[Path]
    label_sets: list[tuple[str, ...]]
    skipped: list[tuple[Path, str]]


def find_labelled_images(
    dataset_dir: str | os.PathLike, label_sep: str = config.LABEL_SEP
) -> tuple[list[Path], list[tuple[str, ...]], list[Path]]:
    """The image files in label folders under ``dataset_dir``, with their labels, undecoded.

    Labels come from each image's parent folder split on ``label_sep``; images lying directly
    in ``dataset_dir`` have no label folder and are returned apart, each with a warning.

    Returns:
        ``(paths, label_sets, unlabelled)``.

    Raises:
        ValueError: For a missing folder or one with no image in a label folder.
    """
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise ValueError(
            f"--dataset {dataset_dir}: no such folder. Pass a folder with one sub-folder per label set "
            "(e.g. dataset/red_dress/), or run `make demo` to generate one."
        )
    found = list_images(dataset_dir)
    root = dataset_dir.resolve()
    unlabelled = [path for path in found if path.parent.resolve() == root]
    for path in unlabelled:
        logger.warning("skipped %s: not inside a label folder (put it in e.g. %s/red_dress/)", path, dataset_dir)
    paths = [path for path in found if path.parent.resolve() != root]
    if not paths:
        raise ValueError(
            f"--dataset {dataset_dir}: no images in label folders (extensions: "
            f"{', '.join(config.IMAGE_EXTENSIONS)}). Expected e.g. {dataset_dir}/red_dress/0001.jpg."
        )
    return paths, labels_for_paths(paths, label_sep), unlabelled


def load_labelled_images(
    dataset_dir: str | os.PathLike,
    image_size: int,
    label_sep: str = config.LABEL_SEP,
    progress: Callable | None = None,
) -> LabelledImages:
    """Find, decode and label every image under ``dataset_dir`` (see `find_labelled_images`).

    Raises:
        ValueError: For a missing folder or one with no readable, labelled image.
    """
    candidates, label_sets, unlabelled = find_labelled_images(dataset_dir, label_sep)
    images, kept, skipped = load_images(candidates, image_size, progress=progress)
    skipped = [(path, "not inside a label folder") for path in unlabelled] + skipped
    if not kept:
        raise ValueError(f"--dataset {dataset_dir}: none of the {len(candidates)} image files could be decoded.")
    labels_of = dict(zip(candidates, label_sets))
    return LabelledImages(images, kept, [labels_of[path] for path in kept], skipped)


def describe(data: LabelledImages) -> list[str]:
    """Summary lines: images found and skipped, each label and each combination with its count."""
    per_label, per_combination = label_counts(data.label_sets)
    lines = [f"images: {len(data.paths)} loaded, {len(data.skipped)} skipped"]
    lines.append("labels: " + ", ".join(f"{label} {count}" for label, count in sorted(per_label.items())))
    lines.append(
        "combinations: " + ", ".join(f"{combination} {count}" for combination, count in sorted(per_combination.items()))
    )
    return lines


def build_augmentation(seed: int = config.SEED) -> keras.Sequential:
    """The tutorial's augmentation as Keras preprocessing layers: rotation, shifts, shear, zoom, flip.

    Applied only to training batches, never to validation or inference.
    """
    fill = "nearest"  # As ImageDataGenerator's default, so edges are not black bars.
    return keras.Sequential(
        [
            keras.layers.RandomRotation(config.AUGMENT_ROTATION_DEGREES / 360.0, fill_mode=fill, seed=seed),
            keras.layers.RandomTranslation(config.AUGMENT_SHIFT, config.AUGMENT_SHIFT, fill_mode=fill, seed=seed),
            keras.layers.RandomShear(config.AUGMENT_SHEAR, config.AUGMENT_SHEAR, fill_mode=fill, seed=seed),
            keras.layers.RandomZoom(config.AUGMENT_ZOOM, config.AUGMENT_ZOOM, fill_mode=fill, seed=seed),
            keras.layers.RandomFlip("horizontal", seed=seed),
        ],
        name="augmentation",
    )


def make_dataset(
    images: np.ndarray,
    targets: np.ndarray,
    batch_size: int,
    augmentation: keras.Sequential | None = None,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of (float32 RGB 0-255 images, targets), shuffled and augmented when training.

    Args:
        images: uint8 array of shape (N, size, size, 3).
        targets: float32 array of shape (N, units).
        batch_size: Images per batch.
        augmentation: Layers applied to each training batch; ``None`` for validation.
        shuffle_seed: Shuffle each epoch with this seed; ``None`` keeps the order.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, targets))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    if augmentation is not None:
        dataset = dataset.map(lambda x, y: (augmentation(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
