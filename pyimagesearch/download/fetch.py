"""Fetching one image: bounded, checked (size, type, decodable by Pillow and by the trainer) and hashed."""

import hashlib
import io
import threading
from dataclasses import dataclass

import requests
from PIL import Image

from pyimagesearch import config
from pyimagesearch.data.images import UnreadableImageError
from pyimagesearch.download.conflicts import picture_hash
from pyimagesearch.download.web import DEFAULT_TIMEOUT, LASTING_TRANSFER_FAILURES, failure_reason, read_body

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = config.MAX_IMAGE_PIXELS

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

NOT_AN_IMAGE = "not an image"
CORRUPT_IMAGE = "corrupt image"
UNSUPPORTED_FORMAT = "unsupported format"
DECOMPRESSION_BOMB = "decompression bomb"
UNREADABLE_BY_TRAINER = "unreadable by the trainer"
# Failures that another run would meet again; anything else (timeouts, 5xx, rate limits,
# limits the user may raise) is left out of the manifest so a re-run retries.
LASTING_FAILURES = frozenset(
    {*LASTING_TRANSFER_FAILURES, NOT_AN_IMAGE, CORRUPT_IMAGE, UNSUPPORTED_FORMAT, DECOMPRESSION_BOMB} | {UNREADABLE_BY_TRAINER}
)
TRANSIENT_HTTP_STATUSES = frozenset({408, 429})


class RejectedImageError(ValueError):
    """Downloaded bytes that are not a usable image; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_image(content: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, str]:
    """Decode ``content`` fully; return the file extension of its real format and its picture hash.

    Args:
        content: The downloaded bytes.
        max_pixels: Larger images are refused as decompression bombs.

    Returns:
        The extension, such as ``.jpg`` or ``.png``, and the training split's difference hash
        (`conflicts.picture_hash`) of the image as the trainer decodes it.

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
        hex_hash = picture_hash(content, "download")
    except UnreadableImageError as error:
        raise RejectedImageError(UNREADABLE_BY_TRAINER) from error
    return EXTENSION_BY_FORMAT[image_format], hex_hash


@dataclass(frozen=True)
class FetchResult:
    """The outcome of fetching one URL: checked image bytes with their hashes, or a failure reason."""

    url: str
    content: bytes = b""
    extension: str = ""
    sha256: str = ""
    picture_hash: str = ""  # the training split's difference hash (see conflicts.py)
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
        session: A session from `web.build_session`.
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
        extension, hex_hash = check_image(body, max_pixels=max_pixels)
    except RejectedImageError as error:
        return FetchResult(url=url, reason=error.reason)
    sha256 = hashlib.sha256(body).hexdigest()
    return FetchResult(url=url, content=body, extension=extension, sha256=sha256, picture_hash=hex_hash)


def is_lasting_failure(reason: str) -> bool:
    """Tell whether a failure would recur, so that a re-run need not try the URL again.

    True for content problems and client errors; False for timeouts, connection
    errors, server errors, rate limits and size limits (the user may raise them).
    """
    if reason.startswith("http "):
        status = int(reason.split()[1])
        return 400 <= status < 500 and status not in TRANSIENT_HTTP_STATUSES
    return reason in LASTING_FAILURES
