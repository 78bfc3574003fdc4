"""An on-disk cache of decoded, resized images, so that a second run on the same folder skips decoding.

One cache file per data set folder and image size, under the user's cache folder (never in the
data set). It holds the images of the last load from that folder, uint8 rows in one block, and
an index giving each row's file: its resolved path, size, modification time and status-change
time (nanoseconds). A file whose size or times changed since is decoded again; a file no longer
asked for (deleted, say) is left out when the cache is next written.

File layout (little-endian): 16 bytes of magic, the format version (uint32), the index's length
in bytes (uint64), the index (UTF-8 JSON), zero padding to a multiple of 64 bytes, then the rows
(N x size x size x 3 uint8, C order).
"""

import hashlib
import json
import logging
import mmap
import os
import re
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import PIL

from pyimagesearch.atomic import atomic_path
from pyimagesearch.data import images as image_files

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
CACHE_SUFFIX = ".imagecache"
_MAGIC = b"pyimagesearch\x00im"
_HEADER = struct.Struct("<16sIQ")
_ALIGNMENT = 64
# Keeps the cache file's name readable without letting a folder name put odd characters in it.
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")

FileKey = tuple[int, int, int]  # (size in bytes, mtime_ns, ctime_ns)


class _CacheUnusable(Exception):
    """The cache file cannot be used; the message says why."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pyimagesearch``, or ``~/.cache/pyimagesearch`` when that is unset or relative."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG specification says a relative value is invalid and must be ignored.
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "pyimagesearch"


def decoder_fingerprint() -> str:
    """What produced the cached pixels: the decoding rule's version and the decoders' versions.

    A cache built by another fingerprint is rebuilt, since other decoders may give other pixels.
    """
    return f"decoding {image_files.DECODING_VERSION}; opencv {cv2.__version__}; pillow {PIL.__version__}"


def _resolved_paths(paths: Sequence[Path]) -> list[str]:
    # Resolving each folder once, not each file: a call of os.path.realpath costs as much as
    # reading a whole image back from the cache (measured: bench/README.md, "Loading"). A
    # symlinked file keeps its own name; its size and times are still the target's, since
    # os.stat follows links.
    folders: dict[str, str] = {}
    resolved = []
    for path in paths:
        folder, name = os.path.split(os.fspath(path))
        real = folders.get(folder)
        if real is None:
            real = folders[folder] = os.path.realpath(folder or ".")
        resolved.append(os.path.join(real, name))
    return resolved


def _file_key(path: str) -> FileKey | None:
    try:
        status = os.stat(path)
    except OSError:
        return None  # Decoding will fail too, and say why.
    # ctime besides the brief's mtime: a program can set mtime back (cp -p, touch -r) but not
    # ctime, so a rewrite that keeps the size and the mtime is still seen.
    return (status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def dataset_root(paths: Sequence[str | os.PathLike]) -> Path:
    """The deepest folder holding every image, resolved: the cache file is named after it.

    Raises:
        ValueError: For an empty ``paths``.
    """
    if not paths:
        raise ValueError("dataset_root needs at least one image path. Received: []")
    return _common_folder(_resolved_paths(list(paths)))


def _common_folder(resolved: list[str]) -> Path:
    return Path(os.path.commonpath([os.path.dirname(name) for name in resolved]))


def cache_file(paths: Sequence[str | os.PathLike], size: int, cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache file for these images at this size: ``<cache_dir>/<folder>-<size>px-<hash>.imagecache``.

    Args:
        paths: The image files; their common folder (see `dataset_root`) names the file.
        size: Side of the square images in pixels.
        cache_dir: Folder of the cache files. Defaults to `default_cache_dir`.
    """
    return _cache_file_of(dataset_root(paths), size, cache_dir)


def _cache_file_of(root: Path, size: int, cache_dir: str | os.PathLike | None) -> Path:
    digest = hashlib.sha256(os.fsencode(root)).hexdigest()[:16]
    name = _UNSAFE_NAME_CHARACTERS.sub("_", root.name)[:40] or "root"
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / f"{name}-{size}px-{digest}{CACHE_SUFFIX}"


def _check_outside(cache_dir: Path, root: Path) -> None:
    real = Path(os.path.realpath(cache_dir))
    if real == root or root in real.parents:
        raise ValueError(
            f"cache folder {cache_dir} is inside the data set folder {root}, and data sets are never "
            "written to: pass a folder outside it (or none, for the user's cache folder)."
        )


def _read_index(handle, size: int) -> tuple[list[list], int]:
    """The cached ``[path, size, mtime_ns, ctime_ns]`` rows and where the pixels start."""
    header = handle.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise _CacheUnusable("too short to be a cache file")
    magic, version, index_length = _HEADER.unpack(header)
    if magic != _MAGIC:
        raise _CacheUnusable("not an image cache file")
    if version != FORMAT_VERSION:
        raise _CacheUnusable(f"format {version}, this version reads format {FORMAT_VERSION}")
    try:
        index = json.loads(handle.read(index_length).decode("utf-8"))
        fingerprint, image_size, files = index["decoder"], index["image_size"], index["files"]
        if not all(isinstance(row, list) and len(row) == 4 and isinstance(row[0], str) for row in files):
            raise ValueError("malformed file entries")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise _CacheUnusable(f"damaged index ({error})") from error
    if fingerprint != decoder_fingerprint():
        raise _CacheUnusable(f"written by another decoder ({fingerprint}; now {decoder_fingerprint()})")
    if image_size != size:
        raise _CacheUnusable(f"holds {image_size}-pixel images, not {size}")
    data_start = -(-(_HEADER.size + index_length) // _ALIGNMENT) * _ALIGNMENT
    expected = data_start + len(files) * size * size * 3
    actual = os.fstat(handle.fileno()).st_size
    if actual != expected:
        raise _CacheUnusable(f"{actual} bytes where its index implies {expected} (cut short or damaged)")
    return files, data_start


def _read_rows(handle, data_start: int, sources: list[tuple[int, int]], out: np.ndarray) -> None:
    """Copy cached rows into ``out``: ``sources`` holds ``(row in out, row in the cache)``, in order."""
    row_bytes = out[0].nbytes if len(out) else 0
    start = 0
    # Consecutive rows are read in one call: a second run on an unchanged folder is one read.
    while start < len(sources):
        end = start + 1
        while end < len(sources) and sources[end] == (sources[end - 1][0] + 1, sources[end - 1][1] + 1):
            end += 1
        first_out, first_cached = sources[start]
        handle.seek(data_start + first_cached * row_bytes)
        target = memoryview(out[first_out : first_out + end - start]).cast("B")
        if handle.readinto(target) != target.nbytes:
            raise _CacheUnusable("cut short while reading")
        start = end


def _write(path: Path, size: int, files: list[list], images: np.ndarray) -> None:
    index = json.dumps({"decoder": decoder_fingerprint(), "image_size": size, "files": files}, separators=(",", ":")).encode("utf-8")
    header = _HEADER.pack(_MAGIC, FORMAT_VERSION, len(index))
    padding = -(len(header) + len(index)) % _ALIGNMENT
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        handle.write(header + index + bytes(padding))
        handle.write(memoryview(np.ascontiguousarray(images)).cast("B"))


def load_images_cached(
    paths: Sequence[Path],
    size: int,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: Callable | None = None,
) -> tuple[np.ndarray, list[Path], list[tuple[Path, str]]]:
    """`images.load_images`, reading unchanged images back from an on-disk cache.

    Returns what ``load_images(paths, size)`` returns, pixel for pixel, and logs the same
    skips. Only files that are new or changed (size, mtime or ctime) since the cache was
    written are decoded; the cache is then rewritten atomically to hold exactly this call's
    images, so files no longer asked for (deleted ones, say) drop out. A damaged cache file, or
    one of another format or decoder version, is rebuilt with a warning; a cache folder that
    cannot be written only warns.

    When every image comes from the cache in its order (a second run on an unchanged folder),
    the array maps the cache file copy-on-write instead of reading it into new memory: it is
    writable, writes never reach the file, and its pages are the operating system's file
    cache, shared between runs. Replacing or deleting the cache file meanwhile is safe (the
    cache itself only ever replaces it); truncating it in place is not.

    Unreadable files are not remembered: they are tried again on each call. Their failure need
    not come from their bytes (permissions, a disk error, a decoder that learns a format), a
    retry is cheap (empty and truncated files fail before decoding), and each call then logs
    and returns the same skips as an uncached load.

    Args:
        paths: Image files.
        size: Side of the square output in pixels.
        cache_dir: Folder of the cache files, never inside the data set. Defaults to
            `default_cache_dir` (``$XDG_CACHE_HOME/pyimagesearch`` or ``~/.cache/pyimagesearch``).
        workers: Decoding threads for the files not in the cache. Defaults to one per CPU.
        progress: Optional wrapper around an iterable that shows the decoding's progress.

    Returns:
        ``(images, kept_paths, skipped)`` as `images.load_images`: a uint8 array of shape
        (N, size, size, 3), the paths it holds in order, and ``(path, reason)`` per skipped file.

    Raises:
        ValueError: For a ``size`` or ``workers`` below 1, or a ``cache_dir`` inside the folder
            holding the images.

    Example:
        >>> images, kept, skipped = load_images_cached(list_images("dataset"), size=96)
    """
    paths = list(paths)
    image_files.check_image_size(size)
    if not paths:
        return image_files.load_images(paths, size, workers=workers, progress=progress)
    resolved = _resolved_paths(paths)
    root = _common_folder(resolved)
    if cache_dir is not None:
        _check_outside(Path(cache_dir), root)
    path = _cache_file_of(root, size, cache_dir)
    # Stat before decoding: a file changed after its stat gets another key next time.
    keys = [_file_key(name) for name in resolved]
    try:
        return _load(paths, resolved, keys, size, path, workers, progress, use_existing=True)
    except _CacheUnusable as error:
        logger.warning("image cache %s is unusable (%s): rebuilding it", path, error)
        return _load(paths, resolved, keys, size, path, workers, progress, use_existing=False)


def _open(path: Path, size: int) -> tuple[object, list[list], int] | None:
    """The open cache file, its index and where its pixels start; ``None`` when there is none."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return None
    except OSError as error:
        logger.warning("image cache %s cannot be read (%s): decoding every image", path, error)
        return None
    try:
        files, data_start = _read_index(handle, size)
    except BaseException:
        handle.close()
        raise
    return handle, files, data_start


def _map_rows(handle, data_start: int, first_row: int, count: int, size: int) -> np.ndarray | None:
    """Rows of the cache file mapped copy-on-write (no read, no new memory, private writes), or
    ``None`` where the file system cannot map files."""
    try:
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    except (OSError, ValueError):
        return None
    row_bytes = size * size * 3
    rows = np.frombuffer(mapping, dtype=np.uint8, count=count * row_bytes, offset=data_start + first_row * row_bytes)
    return rows.reshape(count, size, size, 3)


def _load(
    paths: list[Path],
    resolved: list[str],
    keys: list[FileKey | None],
    size: int,
    path: Path,
    workers: int | None,
    progress: Callable | None,
    use_existing: bool,
) -> tuple[np.ndarray, list[Path], list[tuple[Path, str]]]:
    opened = _open(path, size) if use_existing else None
    handle, files, data_start = opened if opened is not None else (None, [], 0)
    try:
        cached = {name: (row, (file_size, mtime, ctime)) for row, (name, file_size, mtime, ctime) in enumerate(files)}
        # The cache row of each unchanged file; the others are decoded.
        cached_rows: list[int | None] = []
        for name, key in zip(resolved, keys):
            entry = cached.get(name)
            cached_rows.append(entry[0] if entry is not None and key is not None and entry[1] == key else None)
        missing = [index for index, row in enumerate(cached_rows) if row is None]
        decoded, reasons = image_files.load_image_batch(
            [paths[index] for index in missing], size, workers=workers, progress=progress if missing else None
        )
        reason_of = dict(zip(missing, reasons))
        decoded_row_of = {index: position for position, index in enumerate(missing)}

        # In the order of ``paths``, as load_images: the kept files and where each image comes
        # from, (position, cache row) or (position, decoded row).
        kept, skipped, from_cache, from_decoding = [], [], [], []
        for index, source_path in enumerate(paths):
            reason = reason_of.get(index)
            if reason is not None:
                logger.warning("skipped %s", reason)
                skipped.append((source_path, reason))
                continue
            if cached_rows[index] is not None:
                from_cache.append((len(kept), cached_rows[index]))
            else:
                from_decoding.append((len(kept), decoded_row_of[index]))
            kept.append(source_path)

        first_row = from_cache[0][1] if from_cache else 0
        result = None
        if from_cache and not from_decoding and all(row == first_row + position for position, row in from_cache):
            result = _map_rows(handle, data_start, first_row, len(kept), size)
        if result is None and not from_cache:
            # A first run: compact the decoded rows in place rather than copy them.
            for position, row in from_decoding:
                if position != row:
                    decoded[position] = decoded[row]
            result = decoded[: len(kept)]
        elif result is None:
            result = np.empty((len(kept), size, size, 3), dtype=np.uint8)
            _read_rows(handle, data_start, from_cache, result)
            for position, row in from_decoding:
                result[position] = decoded[row]
    finally:
        if handle is not None:
            handle.close()

    # Rewrite when something was decoded or a cached entry went unused (changed, deleted or
    # not asked for), so that the cache mirrors this call; an unchanged folder costs no write.
    if from_decoding or len(from_cache) != len(files):
        # A file whose stat failed yet decoded (it appeared meanwhile) gets a key that no stat
        # matches, so it is decoded again next time.
        entries = [[resolved[index], *(keys[index] or (-1, -1, -1))] for index in range(len(paths)) if reason_of.get(index) is None]
        try:
            _write(path, size, entries, result)
        except OSError as error:
            logger.warning("image cache %s could not be written (%s): the next run decodes again", path, error)
    logger.info("image cache %s: %d images read back, %d decoded", path, len(from_cache), len(from_decoding))
    return np.asarray(result), kept, skipped
