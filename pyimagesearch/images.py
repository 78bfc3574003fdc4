"""Finding images on disk and decoding them into RGB arrays, skipping what cannot be read."""

import io
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from pyimagesearch import config

logger = logging.getLogger(__name__)

_JPEG_START = b"\xff\xd8"
_JPEG_START_OF_SCAN = b"\xff\xda"
_JPEG_END = b"\xff\xd9"


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
        raise ValueError(f"{root}: no such folder. Pass a folder of images (--dataset) or make one with `make demo`.")
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder. --dataset takes a folder with one sub-folder per label set.")
    return sorted(path for path in root.rglob("*") if is_image_file(path))


def _jpeg_is_truncated(data: bytes) -> bool:
    # Entropy-coded data never holds FFD9 (0xFF is byte-stuffed), so a complete JPEG has its
    # end-of-image marker after its last start-of-scan. libjpeg only warns about a missing one
    # and fills the rest with grey, so this check is ours to make.
    return data.startswith(_JPEG_START) and data.rfind(_JPEG_END) < data.rfind(_JPEG_START_OF_SCAN)


def decode_image_bytes(data: bytes, source: str | os.PathLike) -> np.ndarray:
    """Decode an encoded image into an RGB uint8 array of shape (height, width, 3).

    OpenCV decodes first (fast); Pillow decodes what OpenCV cannot (e.g. GIF, the first frame).
    This is the one rule for what the toolkit can read: training, classification and the
    downloader's check all go through it.

    Args:
        data: The encoded bytes.
        source: Where they came from (a path or URL), for the error message.

    Raises:
        UnreadableImageError: For empty, truncated, corrupt or non-image bytes.
    """
    if not data:
        raise UnreadableImageError(f"{source}: empty file (0 bytes)")
    if _jpeg_is_truncated(data):
        raise UnreadableImageError(f"{source}: truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is not None:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    try:
        with Image.open(io.BytesIO(data)) as pil_image:
            return np.asarray(pil_image.convert("RGB"))
    except UnidentifiedImageError as error:
        raise UnreadableImageError(f"{source}: not an image, or a format neither OpenCV nor Pillow reads") from error
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise UnreadableImageError(f"{source}: corrupt image ({error})") from error


def decode_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file into an RGB uint8 array (see `decode_image_bytes`).

    Raises:
        UnreadableImageError: For a missing, zero-byte, truncated, corrupt or non-image file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableImageError(f"{path}: cannot read the file ({error.strerror or error})") from error
    return decode_image_bytes(data, path)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Resize to ``size`` x ``size`` ignoring aspect ratio, as the tutorial and training do."""
    height, width = image.shape[:2]
    # INTER_AREA avoids aliasing when shrinking; INTER_LINEAR is the better choice when enlarging.
    interpolation = cv2.INTER_AREA if height > size or width > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def load_image(path: str | os.PathLike, size: int) -> np.ndarray:
    """Decode and resize one image to the network's input: RGB uint8 of shape (size, size, 3)."""
    return resize_image(decode_image(path), size)


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
        workers: Decoding threads (OpenCV releases the GIL). Defaults to the CPU count.
        progress: Optional wrapper around an iterable that shows progress, e.g. ``tqdm``.

    Returns:
        ``(images, kept_paths, skipped)``: a uint8 array of shape (N, size, size, 3), the paths
        it holds in order, and ``(path, reason)`` for each skipped file. Each skip is logged.
    """
    def attempt(path: Path) -> np.ndarray | str:
        try:
            return load_image(path, size)
        except UnreadableImageError as error:
            return str(error)

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        results = pool.map(attempt, paths)
        if progress is not None:
            results = progress(results, total=len(paths))
        results = list(results)

    images, kept, skipped = [], [], []
    for path, result in zip(paths, results):
        if isinstance(result, str):
            logger.warning("skipped %s", result)
            skipped.append((path, result))
        else:
            images.append(result)
            kept.append(path)
    array = np.stack(images) if images else np.zeros((0, size, size, 3), dtype=np.uint8)
    return array, kept, skipped
