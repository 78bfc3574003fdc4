"""Finding images on disk and decoding them into RGB arrays, skipping what cannot be read."""

import io
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from pyimagesearch import config
from pyimagesearch.data.image_headers import JPEG_START, image_dimensions, jpeg_is_truncated

logger = logging.getLogger(__name__)
# Pillow warns (two lines on stderr) when it opens the header of an image over its limit; we refuse
# such images ourselves, naming the file, in one line (see `decode_image_bytes`).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

# OpenCV decodes straight to RGB with IMREAD_COLOR_RGB (same pixels as IMREAD_COLOR then
# BGR->RGB, without the extra pass). IMREAD_REDUCED_COLOR_n is IMREAD_REDUCED_GRAYSCALE_n |
# IMREAD_COLOR, so the RGB variant swaps IMREAD_COLOR for IMREAD_COLOR_RGB. Both apply EXIF
# orientation, as the full decode does.
_FULL_DECODE = cv2.IMREAD_COLOR_RGB
_REDUCED_DECODE = {
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2 | cv2.IMREAD_COLOR_RGB,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4 | cv2.IMREAD_COLOR_RGB,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8 | cv2.IMREAD_COLOR_RGB,
}
REDUCTION_FACTORS = (8, 4, 2)

# Bump whenever `load_image` can return other pixels for the same file (a new decoding or
# resizing rule), so that on-disk caches of decoded images are rebuilt (see image_cache.py).
# 1: full decode, INTER_AREA whenever shrinking. 2: reduced-scale JPEG decoding, INTER_AREA
# only when shrinking by 2x or more. 3: images over config.MAX_IMAGE_PIXELS refused.
DECODING_VERSION = 3

# Images handed to one decoding thread at a time: large enough that the thread pool's
# per-task cost (a few tens of microseconds) stays small beside decoding, small enough that
# both threads finish together and a progress bar moves.
_CHUNK = 16


class UnreadableImageError(ValueError):
    """An image file that cannot be decoded; the message names the file and why."""


def is_image_file(path: Path) -> bool:
    """True for a visible file whose extension is one of ``config.IMAGE_EXTENSIONS`` (any case)."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in config.IMAGE_EXTENSIONS


def list_images(root: str | os.PathLike) -> list[Path]:
    """All image files under ``root``, recursively, sorted for reproducibility.

    Raises:
        ValueError: If ``root`` is missing or not a folder.
    """
    root = Path(root)
    if not root.exists():
        raise ValueError(f"{root}: no such folder. Pass a folder of images (`dataset`) or make one with `make demo`.")
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder. `dataset` takes a folder with one sub-folder per label set.")
    return sorted(path for path in root.rglob("*") if is_image_file(path))


def reduction_factor(height: int, width: int, size: int) -> int:
    """The JPEG decoding scale ``1/factor`` that still leaves both sides at least ``size``.

    libjpeg decodes at 1/2, 1/4 or 1/8 scale for little more than the cost of its entropy
    decoding: the largest factor with ``height >= factor * size`` and ``width >= factor * size``
    (each scaled side is then ``ceil(side / factor) >= size``), or 1 for a full decode.

    Example:
        >>> reduction_factor(1000, 1200, 96)
        8
        >>> reduction_factor(320, 250, 96)
        2
        >>> reduction_factor(150, 400, 96)
        1
    """
    shorter = min(height, width)
    for factor in REDUCTION_FACTORS:
        if shorter >= factor * size:
            return factor
    return 1


def decode_image_bytes(data: bytes, source: str | os.PathLike, min_size: int | None = None) -> np.ndarray:
    """Decode an encoded image into an RGB uint8 array of shape (height, width, 3).

    OpenCV decodes first (fast); Pillow decodes what OpenCV cannot (e.g. GIF, the first frame).
    This is the one rule for what the toolkit can read: training, classification and the
    downloader's check all go through it. OpenCV applies EXIF orientation, at full and at
    reduced scale alike (Pillow's fallback does not).

    Args:
        data: The encoded bytes.
        source: Where they came from (a path or URL), for the error message.
        min_size: The size the caller will shrink the image to. A JPEG at least twice that on
            both sides is then decoded at 1/2, 1/4 or 1/8 scale (see `reduction_factor`), both
            sides staying at least ``min_size``: faster, and once resized close to a full
            decode (measured: bench/README.md, "Loading"). Defaults to ``None``: always full size.

    Raises:
        UnreadableImageError: For empty, truncated, corrupt or non-image bytes, or an image of more
            than ``config.MAX_IMAGE_PIXELS`` (a decompression bomb), refused before decoding.
        ValueError: For a ``min_size`` below 1.
    """
    if min_size is not None and min_size < 1:
        raise ValueError(f"min_size must be a positive number of pixels, or None for a full decode. Received: {min_size}")
    if not data:
        raise UnreadableImageError(f"{source}: empty file (0 bytes)")
    if jpeg_is_truncated(data):
        raise UnreadableImageError(f"{source}: truncated JPEG (no end-of-image marker)")
    dimensions = image_dimensions(data)
    if dimensions is not None and dimensions[0] * dimensions[1] > config.MAX_IMAGE_PIXELS:
        raise UnreadableImageError(
            f"{source}: {dimensions[1]}x{dimensions[0]} pixels, more than the {config.MAX_IMAGE_PIXELS:,} an image may "
            "have (a decompression bomb?); shrink it first"
        )
    flags = _FULL_DECODE
    if min_size is not None and dimensions is not None and data.startswith(JPEG_START):
        flags = _REDUCED_DECODE.get(reduction_factor(*dimensions, min_size), _FULL_DECODE)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if image is not None:
        return image
    try:
        with Image.open(io.BytesIO(data)) as pil_image:
            return np.asarray(pil_image.convert("RGB"))
    except UnidentifiedImageError as error:
        raise UnreadableImageError(f"{source}: not an image, or a format neither OpenCV nor Pillow reads") from error
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise UnreadableImageError(f"{source}: corrupt image ({error})") from error


def decode_image(path: str | os.PathLike, min_size: int | None = None) -> np.ndarray:
    """Decode an image file into an RGB uint8 array (see `decode_image_bytes`).

    Args:
        path: The image file, or a URI that tf.io.gfile reads (``gs://bucket/0001.jpg``).
        min_size: Allow a reduced-scale JPEG decode down to this size (see
            `decode_image_bytes`). Defaults to ``None``: full size.

    Raises:
        UnreadableImageError: For a missing, zero-byte, truncated, corrupt or non-image file.
    """
    if is_uri(path):
        return decode_image_bytes(_read_uri(str(path)), path, min_size=min_size)
    # Path(path) re-parses even a Path (a measurable share of the Python time per image:
    # bench/README.md, "Loading"): only convert others.
    path = path if isinstance(path, Path) else Path(path)
    try:
        data = _read_file(path)
    except OSError as error:
        raise UnreadableImageError(f"{path}: cannot read the file ({error.strerror or error})") from error
    return decode_image_bytes(data, path, min_size=min_size)


def is_uri(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a URI (``gs://``, ``s3://``, ...) read through tf.io.gfile rather than a local file."""
    return isinstance(path, str) and "://" in path


def _read_uri(uri: str) -> bytes:
    # Only manifests name URIs; classification without TensorFlow never comes here.
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(uri, "rb") as handle:
            return handle.read()
    except tf.errors.OpError as error:
        raise UnreadableImageError(f"{uri}: cannot read the file ({error.message})") from error


def _read_file(path: Path) -> bytes:
    # Cheaper than Path.read_bytes (no buffered file object) for small files (measured:
    # bench/README.md, "Loading"), and the Python part of decoding holds the GIL that the other
    # decoding threads wait for.
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        size = os.fstat(descriptor).st_size
        data = os.read(descriptor, size + 1)  # One call for a regular file; + 1 sees growth.
        if len(data) != size:  # A file that changed meanwhile, or not a regular file.
            parts = [data]
            while part := os.read(descriptor, 1 << 20):
                parts.append(part)
            data = b"".join(parts)
        return data
    finally:
        os.close(descriptor)


def resize_image(image: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """Resize to ``size`` x ``size`` ignoring aspect ratio, as the tutorial and training do.

    Args:
        image: An RGB uint8 array of shape (height, width, 3).
        size: Side of the square output in pixels.
        out: A C-contiguous uint8 array of shape (size, size, 3) to write into, e.g. a row of a
            batch. Defaults to a new array.
    """
    height, width = image.shape[:2]
    # INTER_AREA averages every source pixel, which avoids aliasing when shrinking by 2x or
    # more. Below 2x, bilinear's 2x2 footprint already reaches every source pixel, and it
    # costs far less than INTER_AREA, whose non-integer path is slow (measured: bench/README.md,
    # "Loading"): that is the common case after a reduced-scale JPEG decode, which leaves less
    # than 2x to go. INTER_LINEAR is also the better choice when enlarging.
    interpolation = cv2.INTER_AREA if height >= 2 * size or width >= 2 * size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), dst=out, interpolation=interpolation)


def load_image(path: str | os.PathLike, size: int) -> np.ndarray:
    """Decode and resize one image to the network's input: RGB uint8 of shape (size, size, 3).

    Large JPEGs are decoded at reduced scale first (see `decode_image_bytes`), then resized.
    """
    return resize_image(decode_image(path, min_size=size), size)


def check_image_size(size: int) -> None:
    """Raise `ValueError` unless ``size`` is a positive whole number of pixels."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive number of pixels (e.g. 96). Received: {size!r}")


def default_workers() -> int:
    """Decoding threads: the CPUs this process may run on (its affinity mask, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def load_image_batch(
    paths: Sequence[Path],
    size: int,
    workers: int | None = None,
    progress: Callable | None = None,
) -> tuple[np.ndarray, list[str | None]]:
    """Decode and resize many images in parallel, each into its own row of one array.

    The building block of `load_images` and of the image cache: rows stay aligned with
    ``paths``, unreadable files included, and nothing is logged.

    Args:
        paths: Image files.
        size: Side of the square output in pixels.
        workers: Decoding threads. Defaults to the CPUs this process may use.
        progress: Optional wrapper around an iterable that shows progress, e.g. ``tqdm``;
            called as ``progress(iterable, total=len(paths))``.

    Returns:
        ``(images, reasons)``: a uint8 array of shape (len(paths), size, size, 3) whose row i
        holds ``paths[i]``, and for each path ``None`` or why it could not be read (its row
        is then left uninitialised).

    Raises:
        ValueError: For a ``size`` or ``workers`` below 1.
    """
    check_image_size(size)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive number of threads, or None for one per CPU. Received: {workers!r}")
    paths = list(paths)
    # One array filled in place: no list of per-image arrays and no stacking copy, so the
    # peak memory is the result itself (20,000 images at 96 pixels: 553 MB of uint8).
    images = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    reasons: list[str | None] = [None] * len(paths)

    def decode_chunk(start: int) -> range:
        chunk = range(start, min(start + _CHUNK, len(paths)))
        for index in chunk:
            try:
                row = images[index]
                resized = resize_image(decode_image(paths[index], min_size=size), size, out=row)
                if resized is not row:  # OpenCV returns a new array when it cannot write into row.
                    row[...] = resized
            except UnreadableImageError as error:
                reasons[index] = str(error)
        return chunk

    # OpenCV releases the GIL while it decodes and resizes, so threads use every core.
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        done = (index for chunk in pool.map(decode_chunk, range(0, len(paths), _CHUNK)) for index in chunk)
        if progress is not None:
            done = progress(done, total=len(paths))
        for _ in done:
            pass
    return images, reasons


def load_images(
    paths: Sequence[Path],
    size: int,
    workers: int | None = None,
    progress: Callable | None = None,
) -> tuple[np.ndarray, list[Path], list[tuple[Path, str]]]:
    """Decode and resize many images in parallel, skipping unreadable ones.

    Args:
        paths: Image files.
        size: Side of the square output in pixels.
        workers: Decoding threads (OpenCV releases the GIL). Defaults to the CPUs this
            process may use.
        progress: Optional wrapper around an iterable that shows progress, e.g. ``tqdm``.

    Returns:
        ``(images, kept_paths, skipped)``: a uint8 array of shape (N, size, size, 3), the paths
        it holds in order, and ``(path, reason)`` for each skipped file. Each skip is logged.

    Raises:
        ValueError: For a ``size`` or ``workers`` below 1.

    Example:
        >>> images, kept, skipped = load_images(list_images("dataset"), size=96)
    """
    paths = list(paths)
    images, reasons = load_image_batch(paths, size, workers=workers, progress=progress)
    kept, skipped = [], []
    for index, (path, reason) in enumerate(zip(paths, reasons)):
        if reason is None:
            # Compacting in place keeps the kept images in order without a second array.
            if len(kept) != index:
                images[len(kept)] = images[index]
            kept.append(path)
        else:
            logger.warning("skipped %s", reason)
            skipped.append((path, reason))
    if len(kept) < len(paths):
        images = images[: len(kept)]
        if len(kept) < len(paths) // 2:
            images = images.copy()  # Mostly unreadable: do not keep the larger buffer alive.
    return images, kept, skipped
