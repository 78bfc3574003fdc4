"""A labelled image folder, held in memory, mapped from the disk cache or read from its files, and
the tf.data pipelines that feed it to a model.

Finding and decoding a folder imports no TensorFlow (evaluating with an ONNX model stays light);
the pipelines import it when they are built.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pyimagesearch import config
from pyimagesearch.data.backgrounds import BackgroundReplacement
from pyimagesearch.data.cache import load_images_cached
from pyimagesearch.data.images import list_images, load_image_batch, load_images
from pyimagesearch.data.labels import label_counts, labels_for_paths
from pyimagesearch.data.manifest import read_manifest

if TYPE_CHECKING:
    import tensorflow as tf

logger = logging.getLogger(__name__)

# Images decoded at a time by ImageFiles iteration and the streaming scan: 256 at 96 pixels is 7 MB.
_CHUNK_IMAGES = 256


@dataclass
class LabelledImages:
    """Decoded images with their labels.

    Attributes:
        images: uint8 RGB images of shape (N, size, size, 3): an array in memory (``--cache
            memory``), an array mapping the on-disk cache (``disk``), or an `ImageFiles` that
            decodes the rows it is indexed with (``none``).
        paths: The file of each image; a ``str`` for a URI of a manifest's.
        label_sets: The labels of each image, from its folder name or manifest row.
        skipped: ``(path, reason)`` for each file that could not be decoded.
        cache: Where the images are held: ``memory``, ``disk`` or ``none``.
    """

    images: np.ndarray | ImageFiles
    paths: list[Path | str]
    label_sets: list[tuple[str, ...]]
    skipped: list[tuple[Path, str]]
    cache: str = "memory"


class UnreadableRowError(ValueError):
    """A file `ImageFiles` was asked to decode and could not; the message names it and the fix."""


class ImageFiles:
    """Images read from their files whenever they are indexed: array-like, holding no pixels.

    ``images[3]``, ``images[10:20]`` and ``images[[4, 1, 7]]`` decode those files, in parallel,
    exactly as `images.load_images` would; iterating decodes them chunk by chunk. What
    ``--cache none`` trains from, so memory stays bounded whatever the number of images.

    Args:
        paths: Image files: paths, or URIs that tf.io.gfile reads.
        size: Side of the square images in pixels.
        scanned: Whether every file was decoded once already (a folder's scan); a manifest's files
            are first read when training needs them. Only changes what an error says.
    """

    dtype = np.dtype(np.uint8)

    def __init__(self, paths: list[Path | str], size: int, scanned: bool = True):
        self.paths = list(paths)
        self.shape = (len(self.paths), size, size, 3)
        self.scanned = scanned

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key) -> np.ndarray:
        rows = np.arange(len(self.paths))[key]
        single = np.ndim(rows) == 0
        rows = np.atleast_1d(rows)
        images, reasons = load_image_batch([self.paths[row] for row in rows], self.shape[1])
        for row, reason in zip(rows, reasons):
            if reason is not None and self.scanned:
                raise UnreadableRowError(
                    f"{self.paths[row]} could be read when training started and no longer can ({reason}): "
                    "do not change the data set while training on it."
                )
            if reason is not None:
                raise UnreadableRowError(f"{reason}. A manifest's images are read as training needs them: fix the file or remove its row.")
        return images[0] if single else images

    def __iter__(self):
        for start in range(0, len(self.paths), _CHUNK_IMAGES):
            yield from self[start : start + _CHUNK_IMAGES]


@contextmanager
def unreadable_rows_reported() -> Iterator[None]:
    """Turn an `UnreadableRowError` raised inside a tf.data pipeline, which TensorFlow hands on as an
    ``InvalidArgumentError`` with a traceback in its text, back into the one-line error it was."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        found = re.search(rf"{UnreadableRowError.__name__}: ([^\n]+)", str(error.message))
        if found is None:
            raise
        raise UnreadableRowError(found.group(1)) from None


class IndexedRows:
    """The rows ``indices`` of an image array or `ImageFiles`, as an array-like that copies nothing until indexed.

    Lets statistics of the training images be computed chunk by chunk without first copying
    them out of the whole data set.
    """

    def __init__(self, images: np.ndarray | ImageFiles, indices: np.ndarray):
        self.images = images
        self.indices = np.asarray(indices)
        self.shape = (len(self.indices), *images.shape[1:])
        self.dtype = images.dtype

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key) -> np.ndarray:
        return self.images[self.indices[key]]


def available_memory_bytes() -> int:
    """Memory the system can give without swapping: ``MemAvailable`` of /proc/meminfo, else free pages."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def resolve_cache(cache: str, count: int, image_size: int) -> str:
    """The concrete ``--cache`` choice: ``auto`` becomes ``memory`` when the decoded images fit, else ``none``.

    They fit when ``count`` images of ``image_size`` pixels (uint8) take at most
    `config.CACHE_MEMORY_SHARE` of the memory available now.

    Raises:
        ValueError: For a choice not in `config.CACHES`.
    """
    if cache not in config.CACHES:
        raise ValueError(f"`cache` must be one of {', '.join(config.CACHES)}. Received: `cache` {cache}")
    if cache != "auto":
        return cache
    needed = count * image_size * image_size * 3
    return "memory" if needed <= config.CACHE_MEMORY_SHARE * available_memory_bytes() else "none"


def _scan_files(paths: list[Path], image_size: int, progress: Callable | None) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Decode every file once, chunk by chunk, keeping only which ones are readable."""
    kept, skipped = [], []
    chunks = range(0, len(paths), _CHUNK_IMAGES)
    if progress is not None:
        chunks = progress(chunks, total=len(chunks))
    for start in chunks:
        chunk = paths[start : start + _CHUNK_IMAGES]
        for path, reason in zip(chunk, load_image_batch(chunk, image_size)[1]):
            if reason is None:
                kept.append(path)
            else:
                logger.warning("skipped %s", reason)
                skipped.append((path, reason))
    return kept, skipped


def check_image_folder(dataset_dir: str | os.PathLike) -> Path:
    """``dataset_dir`` as a path, once it is known to be a folder.

    Raises:
        ValueError: Naming ``dataset`` when there is no such folder.
    """
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise ValueError(
            f"`dataset` {dataset_dir}: no such folder. Pass a folder with one sub-folder per label set "
            "(e.g. dataset/red_dress/), or run `make demo` to generate one."
        )
    return dataset_dir


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
    dataset_dir = check_image_folder(dataset_dir)
    found = list_images(dataset_dir)
    root = dataset_dir.resolve()
    unlabelled = [path for path in found if path.parent.resolve() == root]
    for path in unlabelled:
        logger.warning("skipped %s: not inside a label folder (put it in e.g. %s/red_dress/)", path, dataset_dir)
    paths = [path for path in found if path.parent.resolve() != root]
    if not paths:
        raise ValueError(
            f"`dataset` {dataset_dir}: no images in label folders (extensions: "
            f"{', '.join(config.IMAGE_EXTENSIONS)}). Expected e.g. {dataset_dir}/red_dress/0001.jpg."
        )
    return paths, labels_for_paths(paths, label_sep), unlabelled


def load_labelled_images(
    dataset_dir: str | os.PathLike,
    image_size: int,
    label_sep: str = config.LABEL_SEP,
    progress: Callable | None = None,
    cache: str = "memory",
    cache_dir: str | os.PathLike | None = None,
) -> LabelledImages:
    """Find, decode and label every image under ``dataset_dir`` (see `find_labelled_images`).

    Args:
        dataset_dir: Folder with one sub-folder per label set.
        image_size: Side of the square images in pixels.
        label_sep: Separator of labels in folder names. Defaults to ``"_"``.
        progress: Optional iterable wrapper (e.g. ``tqdm``) showing the decoding.
        cache: ``memory`` decodes every image into one array; ``disk`` does the same through
            the on-disk cache (`image_cache.load_images_cached`), so that a second run maps the
            decoded images instead of decoding them; ``none`` only checks that each file
            decodes and returns an `ImageFiles`, which decodes again on each access; ``auto``
            picks with `resolve_cache`. Defaults to ``memory``.
        cache_dir: Folder of the on-disk cache. Defaults to `image_cache.default_cache_dir`.

    Raises:
        ValueError: For a missing folder, one with no readable, labelled image, or an unknown
            ``cache``.
    """
    candidates, label_sets, unlabelled = find_labelled_images(dataset_dir, label_sep)
    cache = resolve_cache(cache, len(candidates), image_size)
    if cache == "none":
        kept, skipped = _scan_files(candidates, image_size, progress)
        images = ImageFiles(kept, image_size)
    elif cache == "disk":
        images, kept, skipped = load_images_cached(candidates, image_size, cache_dir=cache_dir, progress=progress)
    else:
        images, kept, skipped = load_images(candidates, image_size, progress=progress)
    skipped = [(path, "not inside a label folder") for path in unlabelled] + skipped
    if not kept:
        raise ValueError(f"`dataset` {dataset_dir}: none of the {len(candidates)} image files could be decoded.")
    labels_of = dict(zip(candidates, label_sets))
    return LabelledImages(images, kept, [labels_of[path] for path in kept], skipped, cache)


def load_manifest_images(
    manifest: str | os.PathLike, image_size: int, label_sep: str = config.LABEL_SEP, cache: str = "auto"
) -> LabelledImages:
    """The images a manifest lists (see `manifest.read_manifest`), streamed: an `ImageFiles` over
    its rows, each file read through tf.io.gfile when a batch needs it and never held.

    Raises:
        ValueError: As `manifest.read_manifest`, or for ``--cache memory`` or ``disk``, which
            hold every image and so apply to folders only.
    """
    if cache not in ("auto", "none"):
        raise ValueError(
            f"`cache` {cache} applies to folders; a manifest streams its images from where they are. "
            f"Use `cache` auto or none with `dataset` {manifest}."
        )
    paths, label_sets = read_manifest(manifest, label_sep)
    return LabelledImages(ImageFiles(paths, image_size, scanned=False), paths, label_sets, [], cache="none")


def describe(data: LabelledImages) -> list[str]:
    """Summary lines: images found and skipped, then `describe_labels`."""
    return [f"images: {len(data.paths)} loaded, {len(data.skipped)} skipped", *describe_labels(data.label_sets)]


def describe_labels(label_sets: list[tuple[str, ...]]) -> list[str]:
    """Summary lines: each label and each combination with its count."""
    per_label, per_combination = label_counts(label_sets)
    return [
        "labels: " + ", ".join(f"{label} {count}" for label, count in sorted(per_label.items())),
        "combinations: " + ", ".join(f"{combination} {count}" for combination, count in sorted(per_combination.items())),
    ]


def full_batches(indices: np.ndarray, batch_size: int) -> np.ndarray:
    """``indices`` with its last one repeated until every batch of ``batch_size`` is full; a prediction
    over them is cut back to ``len(indices)`` rows. Keras traces a prediction function for each batch
    shape it is given, so a smaller last batch would cost a second trace: seconds for a backbone."""
    indices = np.asarray(indices)
    return np.concatenate([indices, np.repeat(indices[-1:], -len(indices) % batch_size)])


def make_dataset(
    images: np.ndarray | ImageFiles,
    targets: np.ndarray,
    batch_size: int,
    indices: np.ndarray | None = None,
    augmentation: Callable[[tf.Tensor], tf.Tensor] | None = None,
    shuffle_seed: int | None = None,
    recolouring: Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]] | None = None,
    threads: int | None = None,
    shard: bool = False,
    backgrounds: BackgroundReplacement | None = None,
) -> tf.data.Dataset:
    """Batches of (float32 RGB 0-255 images, targets), shuffled and augmented when training.

    The pipeline carries image indices, and each batch gathers its rows from ``images`` when
    it is needed, in parallel with training: the images are never copied whole into the
    graph, so the same code trains from memory, from the disk cache or from the files.

    Args:
        images: uint8 images of shape (N, size, size, 3): an array or an `ImageFiles`; or the
            rows of another input, such as the MLP's float32 features of shape (N, D).
        targets: float32 array of shape (N, units), aligned with ``images``.
        batch_size: Images per batch.
        indices: The rows to use, in order. Defaults to all.
        augmentation: Maps each training batch of images, e.g. `augmentation.build_augmentation`;
            ``None`` for validation.
        shuffle_seed: Shuffle each epoch with this seed; ``None`` keeps the order.
        recolouring: Maps each training batch of (images, targets) to recoloured images
            and their changed labels (`recolouring.build_recolouring`), before
            ``augmentation``; ``None`` for none.
        threads: Threads for the pipeline's work (gathering or decoding, augmenting); ``None``
            lets tf.data tune it, up to every core. Training on the CPU passes 1: the network's
            parallel operations use every core, and a pipeline thread preempting one of them
            stalls the whole operation (see `training.pipeline_threads`).
        shard: Under MultiWorkerMirroredStrategy, let tf.data's auto-sharding give each worker
            its share of the (shuffled) rows before any image is read, so each decodes only its
            own; ``batch_size`` is then the global batch. Defaults to False.
    """
    import tensorflow as tf

    indices = np.arange(len(images)) if indices is None else np.asarray(indices, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.float32)
    image_shape, units = tuple(images.shape[1:]), targets.shape[1]
    # uint8 images, or the MLP's float32 feature rows (`features`).
    dtype = tf.as_dtype(images.dtype)

    def gather(rows: np.ndarray, *seed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = images[rows]
        if backgrounds is not None:
            batch = backgrounds(rows, batch, int(seed[0]))
        return batch, targets[rows]

    def load(rows: tf.Tensor, *seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        batch, batch_targets = tf.numpy_function(gather, [rows, *seed], (dtype, tf.float32), stateful=False)
        return tf.ensure_shape(tf.cast(batch, tf.float32), (None, *image_shape)), tf.ensure_shape(batch_targets, (None, units))

    dataset = tf.data.Dataset.from_tensor_slices(indices)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(indices), seed=shuffle_seed, reshuffle_each_iteration=True)
    if shard:
        # Every worker shuffles alike (same seed), so their shards are disjoint.
        dataset = dataset.shard(tf.data.experimental.SHARD_HINT, tf.data.experimental.SHARD_HINT)
    dataset = dataset.batch(batch_size)
    if backgrounds is not None:
        dataset = tf.data.Dataset.zip(dataset, tf.data.Dataset.random(seed=backgrounds.seed, rerandomize_each_iteration=True))
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if recolouring is not None:
        dataset = dataset.map(recolouring, num_parallel_calls=tf.data.AUTOTUNE)
    if augmentation is not None:
        dataset = dataset.map(lambda x, y: (augmentation(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    if shard:
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.HINT
    if threads is None:
        return dataset.with_options(options) if shard else dataset
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    return dataset.with_options(options)
