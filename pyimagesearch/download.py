"""Download images robustly into a labelled data-set folder.

Each URL is fetched with retries, checked (size, content type, decodable by
Pillow and by the trainer's decoder) and saved under a sequential name such as
``00000000.jpg``. A manifest in the output folder remembers every URL with a
lasting outcome, so a second run resumes instead of starting again.
"""

import hashlib
import io
import itertools
import json
import logging
import os
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from PIL import Image

from pyimagesearch import config
from pyimagesearch.atomic import write_bytes_atomic
from pyimagesearch.images import UnreadableImageError, decode_image_bytes
from pyimagesearch.search_api import (
    DEFAULT_TIMEOUT,
    LASTING_TRANSFER_FAILURES,
    failure_reason,
    read_body,
    require_seconds,
    require_whole_number,
)

logger = logging.getLogger(__name__)

DEFAULT_WORKERS = 8
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own MAX_IMAGE_PIXELS
MANIFEST_NAME = ".download_manifest.jsonl"
NAME_DIGITS = 8
# What pyimagesearch.atomic leaves behind when a run is killed outright (SIGKILL, power loss).
STALE_TEMPORARY_PATTERN = ".[0-9]*.part*"

EXTENSION_BY_FORMAT = {
    "JPEG": ".jpg",
    "MPO": ".jpg",  # camera JPEGs with extra frames; every JPEG decoder reads them
    "PNG": ".png",
    "GIF": ".gif",
    "WEBP": ".webp",
    "BMP": ".bmp",
    "TIFF": ".tif",
}
# Some hosts label every file as generic binary; the decode check is the real gate.
GENERIC_BINARY_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})

SAVED = "saved"
DUPLICATE = "duplicate"
FAILED = "failed"
ALREADY_FETCHED = "already fetched"

NOT_AN_IMAGE = "not an image"
CORRUPT_IMAGE = "corrupt image"
UNSUPPORTED_FORMAT = "unsupported format"
DECOMPRESSION_BOMB = "decompression bomb"
UNREADABLE_BY_TRAINER = "unreadable by the trainer"
# Failures that another run would meet again; anything else (timeouts, 5xx,
# limits the user may raise) is left out of the manifest so a re-run retries.
LASTING_FAILURES = frozenset(
    {*LASTING_TRANSFER_FAILURES, NOT_AN_IMAGE, CORRUPT_IMAGE, UNSUPPORTED_FORMAT, DECOMPRESSION_BOMB}
    | {UNREADABLE_BY_TRAINER}
)
TRANSIENT_HTTP_STATUSES = frozenset({408, 429})


class RejectedImageError(ValueError):
    """Downloaded bytes that are not a usable image; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def image_extension(content: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> str:
    """Decode ``content`` fully and return the file extension of its real format.

    Args:
        content: The downloaded bytes.
        max_pixels: Larger images are refused as decompression bombs.

    Returns:
        The extension, such as ``.jpg`` or ``.png``.

    Raises:
        RejectedImageError: If the bytes are not a complete image in a supported
            format that the training pipeline can read.
    """
    try:
        with Image.open(io.BytesIO(content)) as image:
            image_format = image.format
            if image_format not in EXTENSION_BY_FORMAT:
                raise RejectedImageError(UNSUPPORTED_FORMAT)
            width, height = image.size
            if width * height > max_pixels:
                raise RejectedImageError(DECOMPRESSION_BOMB)
            image.verify()
        # verify() leaves the image unusable and misses truncated pixel data; a real load does not.
        with Image.open(io.BytesIO(content)) as image:
            image.load()
    except RejectedImageError:
        raise
    except Image.DecompressionBombError as error:
        raise RejectedImageError(DECOMPRESSION_BOMB) from error
    except Exception as error:  # hostile bytes make decoders raise all kinds of exceptions
        raise RejectedImageError(CORRUPT_IMAGE) from error
    # Keep only what training will read, by the trainer's own decoder.
    try:
        decode_image_bytes(content, "download")
    except UnreadableImageError as error:
        raise RejectedImageError(UNREADABLE_BY_TRAINER) from error
    return EXTENSION_BY_FORMAT[image_format]


@dataclass(frozen=True)
class FetchResult:
    """The outcome of fetching one URL: checked image bytes or a failure reason."""

    url: str
    content: bytes = b""
    extension: str = ""
    sha256: str = ""
    reason: str = ""


def _response_problem(response: requests.Response) -> str:
    """Return a failure reason the status or content type shows, or ``""``."""
    if response.status_code >= 400:
        return f"http {response.status_code}"
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type and not content_type.startswith("image/") and content_type not in GENERIC_BINARY_TYPES:
        return NOT_AN_IMAGE
    return ""


def fetch_image(
    session: requests.Session,
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    cancel: threading.Event | None = None,
) -> FetchResult:
    """Fetch one image URL and check what arrives; never raises for a bad URL or answer.

    Args:
        session: A session from :func:`build_session`.
        url: The image URL.
        timeout: Seconds to wait to connect or between bytes; the whole body
            must arrive within ``WHOLE_BODY_TIMEOUT_FACTOR`` times this.
        max_bytes: The largest body accepted.
        max_pixels: Larger images are refused as decompression bombs.
        cancel: When set, an unfinished download stops early.

    Returns:
        The checked bytes with their extension and SHA-256, or a failure reason.
    """
    try:
        with session.get(url, timeout=timeout, stream=True) as response:
            problem = _response_problem(response)
            if problem:
                return FetchResult(url=url, reason=problem)
            body = read_body(response, max_bytes=max_bytes, timeout=timeout, cancel=cancel)
    except requests.RequestException as error:
        return FetchResult(url=url, reason=failure_reason(error))
    if isinstance(body, str):
        return FetchResult(url=url, reason=body)
    try:
        extension = image_extension(body, max_pixels=max_pixels)
    except RejectedImageError as error:
        return FetchResult(url=url, reason=error.reason)
    return FetchResult(url=url, content=body, extension=extension, sha256=hashlib.sha256(body).hexdigest())


def is_lasting_failure(reason: str) -> bool:
    """Tell whether a failure would recur, so that a re-run need not try the URL again.

    True for content problems and client errors; False for timeouts, connection
    errors, server errors, rate limits and size limits (the user may raise them).
    """
    if reason.startswith("http "):
        status = int(reason.split()[1])
        return 400 <= status < 500 and status not in TRANSIENT_HTTP_STATUSES
    return reason in LASTING_FAILURES


def prepare_output_folder(path: Path | str) -> Path:
    """Create the output folder if needed and check that files can be written there.

    Args:
        path: The folder for the images.

    Returns:
        The folder as a ``Path``.

    Raises:
        ValueError: If the path is a file or the folder cannot be written.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"output {folder} is a file, not a folder; pass a folder path (it is created if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or error
        raise ValueError(f"cannot create output folder {folder}: {reason}; pass a folder you can write to") from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"output folder {folder} is not writable; pass a folder you can write to")
    return folder


@dataclass(frozen=True)
class Outcome:
    """What became of one URL: ``status`` is SAVED, DUPLICATE, FAILED or ALREADY_FETCHED."""

    url: str
    status: str
    file: str = ""
    reason: str = ""


class DatasetFolder:
    """An output folder: its images' hashes, the next sequential name and the manifest.

    The manifest (``MANIFEST_NAME``) is append-only JSON lines, one per URL with
    a lasting outcome; each line is flushed and fsynced before the next image is
    taken, so an interruption loses at most the line being written.
    """

    def __init__(self, path: Path | str) -> None:
        """Scan ``path`` for existing images and read its manifest.

        Args:
            path: The output folder; it is created if missing.

        Raises:
            ValueError: If the folder cannot be used.
        """
        self.path = prepare_output_folder(path)
        self.manifest_path = self.path / MANIFEST_NAME
        self._lock = threading.Lock()  # names and manifest lines must be handed out one at a time
        self._file_by_hash: dict[str, str] = {}
        self._next_index = 0
        self._settled_urls: set[str] = set()
        self._manifest_needs_newline = False
        for stale in self.path.glob(STALE_TEMPORARY_PATTERN):
            stale.unlink(missing_ok=True)
        for image_path in sorted(self.path.iterdir()):
            if image_path.is_file() and image_path.suffix.lower() in config.IMAGE_EXTENSIONS:
                self._file_by_hash.setdefault(hashlib.sha256(image_path.read_bytes()).hexdigest(), image_path.name)
                if image_path.stem.isdigit():
                    self._next_index = max(self._next_index, int(image_path.stem) + 1)
        self._read_manifest()

    def _read_manifest(self) -> None:
        """Load the manifest, skipping lines a crash or a hand edit left unreadable."""
        if not self.manifest_path.exists():
            return
        text = self.manifest_path.read_text(encoding="utf-8", errors="replace")
        self._manifest_needs_newline = bool(text) and not text.endswith("\n")
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            is_entry = isinstance(entry, dict) and isinstance(entry.get("url"), str)
            if not is_entry or entry.get("status") not in (SAVED, DUPLICATE, FAILED):
                if line.strip():
                    logger.warning("%s line %d is not a manifest entry; ignored", self.manifest_path, number)
                continue
            self._settled_urls.add(entry["url"])

    def already_fetched(self, url: str) -> bool:
        """Tell whether an earlier run settled ``url`` for good."""
        with self._lock:
            return url in self._settled_urls

    def store(self, result: FetchResult) -> Outcome:
        """Save a fetched image under the next sequential name, or record why not.

        Args:
            result: What :func:`fetch_image` returned.

        Returns:
            The outcome; lasting ones are also appended to the manifest.
        """
        with self._lock:
            if result.reason:
                if is_lasting_failure(result.reason):
                    self._append({"url": result.url, "status": FAILED, "reason": result.reason})
                return Outcome(result.url, FAILED, reason=result.reason)
            existing = self._file_by_hash.get(result.sha256)
            if existing is not None:
                self._append({"url": result.url, "status": DUPLICATE, "sha256": result.sha256, "file": existing})
                return Outcome(result.url, DUPLICATE, file=existing)
            target = self._next_free_path(result.extension)
            write_bytes_atomic(target, result.content)
            self._file_by_hash[result.sha256] = target.name
            self._append({"url": result.url, "status": SAVED, "sha256": result.sha256, "file": target.name})
            return Outcome(result.url, SAVED, file=target.name)

    def _next_free_path(self, extension: str) -> Path:
        """Return the next sequential name, stepping over any file already there."""
        while True:
            target = self.path / f"{self._next_index:0{NAME_DIGITS}d}{extension}"
            self._next_index += 1
            if not target.exists():
                return target

    def _append(self, entry: dict) -> None:
        """Append one manifest line and push it to disk before going on."""
        line = json.dumps(entry, sort_keys=True) + "\n"
        if self._manifest_needs_newline:
            line = "\n" + line  # end the torn line an interrupted run left behind
            self._manifest_needs_newline = False
        with open(self.manifest_path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self._settled_urls.add(entry["url"])


@dataclass
class DownloadSummary:
    """Counts for one run of :func:`download_images`."""

    found: int = 0
    saved: int = 0
    already_fetched: int = 0
    duplicates: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    saved_files: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        """Count one outcome."""
        if outcome.status == SAVED:
            self.saved += 1
            self.saved_files.append(outcome.file)
        elif outcome.status == DUPLICATE:
            self.duplicates += 1
        elif outcome.status == ALREADY_FETCHED:
            self.already_fetched += 1
        else:
            self.failed[outcome.reason] += 1


def download_images(
    urls: Iterable[str],
    output_dir: Path | str,
    *,
    session: requests.Session,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[Outcome], None] | None = None,
) -> DownloadSummary:
    """Download ``urls`` in parallel into ``output_dir``, skipping what is already there.

    Images are fetched by ``workers`` threads but stored in the order of
    ``urls``, so names follow that order. On any exception, Ctrl-C included,
    unfinished downloads are abandoned and nothing half-written is left.

    Args:
        urls: Image URLs; repeats are fetched once.
        output_dir: The folder for the images; created if missing.
        session: A session from :func:`build_session`.
        timeout: Seconds to wait to connect or between bytes.
        max_bytes: The largest image accepted, in bytes.
        max_pixels: Larger images are refused as decompression bombs.
        workers: How many downloads run at once.
        progress: Called with each URL's outcome, in order, e.g. to advance a bar.

    Returns:
        The counts of found, saved, already fetched, duplicate and failed URLs.

    Raises:
        ValueError: If an argument is out of range or the folder is unusable.
    """
    require_seconds("timeout", timeout)
    require_whole_number("max_bytes", max_bytes, minimum=1)
    require_whole_number("max_pixels", max_pixels, minimum=1)
    require_whole_number("workers", workers, minimum=1)
    folder = DatasetFolder(output_dir)
    unique_urls = list(dict.fromkeys(urls))
    summary = DownloadSummary(found=len(unique_urls))

    def settle(outcome: Outcome) -> None:
        summary.add(outcome)
        if progress is not None:
            progress(outcome)

    pending = []
    for url in unique_urls:
        if folder.already_fetched(url):
            settle(Outcome(url, ALREADY_FETCHED))
        else:
            pending.append(url)
    cancel = threading.Event()
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="download")

    def submit(url: str) -> Future[FetchResult]:
        return executor.submit(
            fetch_image, session, url, timeout=timeout, max_bytes=max_bytes, max_pixels=max_pixels, cancel=cancel
        )

    queue = iter(pending)
    # A bounded window keeps every worker busy without holding every image in memory.
    in_flight = deque(submit(url) for url in itertools.islice(queue, 2 * workers))
    try:
        while in_flight:
            result = in_flight.popleft().result()
            for url in itertools.islice(queue, 1):
                in_flight.append(submit(url))
            settle(folder.store(result))
    finally:
        cancel.set()
        executor.shutdown(wait=True, cancel_futures=True)
    return summary

