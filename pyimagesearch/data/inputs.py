"""What a network trains on: a labelled image folder's images, their features (for the MLP), or a feature table's rows."""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pyimagesearch import config
from pyimagesearch.data.dataset import ImageFiles, check_image_folder, describe, describe_labels, load_labelled_images, load_manifest_images
from pyimagesearch.data.feature_table import check_feature_table, is_feature_table, load_feature_table
from pyimagesearch.data.features import INPUT_FEATURE_TABLE, INPUT_IMAGE_FEATURES, INPUT_IMAGES, FeatureSettings, extract_features
from pyimagesearch.data.manifest import is_manifest
from pyimagesearch.models.registry import MLP, network

logger = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """A data set as the network takes it.

    Attributes:
        inputs: One row per example, what the network reads: uint8 RGB images (an array or an
            `data.ImageFiles`), or float32 feature vectors of shape (N, D) for the MLP.
        label_sets: Each example's labels.
        label_names: Each example's labels as written: its folder name, or its table's label
            cell (label groups are read from these, see `labels.infer_label_groups`).
        images: The images, for near-duplicate grouping; None for a feature table.
        cache: Where the images are held (``memory``, ``disk`` or ``none``); ``memory`` for a table.
        metadata: What the model's metadata records of its input: ``"input"`` (see
            `features`) and, for the MLP, ``"features"``.
        lines: Summary lines: examples found and skipped, labels and combinations.
    """

    inputs: "np.ndarray | ImageFiles"
    label_sets: list[tuple[str, ...]]
    label_names: list[str]
    images: "np.ndarray | ImageFiles | None"
    cache: str
    metadata: dict[str, Any]
    lines: list[str]


def check_dataset(dataset: str | os.PathLike) -> None:
    """Refuse a ``dataset`` that is not there, before anything is loaded: a folder, or a feature table.
    A manifest may name remote storage (``gs://``), which only its loader can reach.

    Raises:
        ValueError: Naming ``dataset``, as its loader would.
    """
    if is_feature_table(dataset):
        check_feature_table(dataset)
    elif not is_manifest(dataset):
        check_image_folder(dataset)


def load_training_data(
    dataset: str | os.PathLike,
    arch: str,
    image_size: int,
    label_sep: str = config.LABEL_SEP,
    label_column: str = config.LABEL_COLUMN,
    progress: Callable | None = None,
    cache: str = "memory",
    cache_dir: str | os.PathLike | None = None,
) -> TrainingData:
    """Load ``dataset`` for ``arch``: the images of a folder or a manifest (`manifest`, streamed), or
    their features for the MLP; a feature table's rows (`feature_table`), for the MLP only.

    The MLP's features are computed from the images as loaded (`data.load_labelled_images`, so
    ``--cache disk`` maps them on the next run): computing them costs less than storing them would
    save (measured: bench/README.md, "Baselines").

    Raises:
        ValueError: For unusable data (see the loaders), or a feature table with another ``arch``.
    """
    if is_feature_table(dataset):
        if network(arch).over_images:
            raise ValueError(
                f"`dataset` {dataset} is a feature table: only `arch` {MLP} trains on feature vectors. "
                f"Add `arch` {MLP}, or pass an image folder."
            )
        table = load_feature_table(dataset, label_column=label_column, label_sep=label_sep)
        lines = [f"rows: {len(table.label_sets)}, each {len(table.columns)} feature columns", *describe_labels(table.label_sets)]
        metadata = {"input": INPUT_FEATURE_TABLE, "features": {"columns": table.columns, "label_column": label_column}}
        return TrainingData(table.features, table.label_sets, table.label_names, None, "memory", metadata, lines)
    if is_manifest(dataset):
        images = load_manifest_images(dataset, image_size, label_sep=label_sep, cache=cache)
        names = [label_sep.join(labels) for labels in images.label_sets]
    else:
        images = load_labelled_images(dataset, image_size, label_sep=label_sep, progress=progress, cache=cache, cache_dir=cache_dir)
        names = [path.parent.name for path in images.paths]
    if network(arch).over_images:
        return TrainingData(images.images, images.label_sets, names, images.images, images.cache, {"input": INPUT_IMAGES}, describe(images))
    settings = FeatureSettings()
    features = extract_features(images.images, settings)
    lines = [
        *describe(images),
        f"features: {settings.size} per image (HSV histogram {'x'.join(map(str, settings.hsv_bins))}, "
        f"HOG of a {settings.hog_size}-pixel grey copy)",
    ]
    metadata = {"input": INPUT_IMAGE_FEATURES, "features": settings.to_json()}
    return TrainingData(features, images.label_sets, names, images.images, images.cache, metadata, lines)
