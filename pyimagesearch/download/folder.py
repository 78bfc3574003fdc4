"""A label folder being filled: its images, their sequential names, its manifest and its label conflicts.

Each image is saved under a sequential name such as ``00000000.jpg``. The download manifest
(records.py) remembers every URL with a lasting outcome, so a second run resumes instead of
starting again; a picture a sibling label folder already holds is not saved but recorded as a
conflict naming both folders (conflicts.py).
"""

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from pyimagesearch import config
from pyimagesearch.atomic import write_bytes_atomic
from pyimagesearch.download.conflicts import SiblingPictures
from pyimagesearch.download.fetch import FetchResult, is_lasting_failure
from pyimagesearch.download.records import (
    CONFLICT,
    DUPLICATE,
    FAILED,
    SAVED,
    append_manifest_line,
    read_manifest,
    write_attribution,
)
from pyimagesearch.download.search import ImageHit

logger = logging.getLogger(__name__)

ALREADY_FETCHED = "already fetched"
NAME_DIGITS = 8
# What pyimagesearch.atomic leaves behind when a run is killed outright (SIGKILL, power loss).
STALE_TEMPORARY_PATTERN = ".[0-9]*.part*"


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
    """What became of one URL: ``status`` is SAVED, DUPLICATE, CONFLICT, FAILED or ALREADY_FETCHED.

    ``file`` is the saved file, the folder's file it duplicates, or the sibling picture it
    conflicts with (relative to the data-set root).
    """

    url: str
    status: str
    file: str = ""
    reason: str = ""


class DatasetFolder:
    """An output folder: its images' hashes, the next sequential name, the manifest and the sibling pictures.

    The manifest is append-only JSON lines, one per URL with a lasting outcome; each line is
    flushed and fsynced before the next image is taken, so an interruption loses at most the
    line being written.
    """

    def __init__(self, path: Path | str, *, check_conflicts: bool = True) -> None:
        """Scan ``path`` for existing images, read its manifest and hash the sibling label folders.

        Args:
            path: The output folder; it is created if missing.
            check_conflicts: Look for each new picture in the sibling label folders. Defaults to True.

        Raises:
            ValueError: If the folder cannot be used.
        """
        self.path = prepare_output_folder(path)
        self._lock = threading.Lock()  # names and manifest lines must be handed out one at a time
        self._file_by_hash: dict[str, str] = {}
        self._next_index = 0
        for stale in self.path.glob(STALE_TEMPORARY_PATTERN):
            stale.unlink(missing_ok=True)
        for image_path in sorted(self.path.iterdir()):
            if image_path.is_file() and image_path.suffix.lower() in config.IMAGE_EXTENSIONS:
                self._file_by_hash.setdefault(hashlib.sha256(image_path.read_bytes()).hexdigest(), image_path.name)
                if image_path.stem.isdigit():
                    self._next_index = max(self._next_index, int(image_path.stem) + 1)
        self.siblings = SiblingPictures(self.path) if check_conflicts else None
        self.entries, self._torn = read_manifest(self.path)
        # A conflict stays settled while the sibling picture is there: once the user moves or
        # deletes it, the next run fetches the URL again.
        self._settled_urls = {
            entry["url"]
            for entry in self.entries
            if entry["status"] != CONFLICT or self.siblings is None or self.siblings.holds(entry.get("file", ""))
        }

    def already_fetched(self, url: str) -> bool:
        """Tell whether an earlier run settled ``url`` for good."""
        with self._lock:
            return url in self._settled_urls

    def store(self, result: FetchResult, hit: ImageHit | None = None, *, license_filter: str = "any") -> Outcome:
        """Save a fetched image under the next sequential name, or record why not.

        Args:
            result: What `fetch.fetch_image` returned.
            hit: Where the image was found and its licence, recorded with it. Defaults to none.
            license_filter: The licence filter the search applied, recorded with it. Defaults to ``"any"``.

        Returns:
            The outcome; lasting ones are also appended to the manifest.
        """
        details = hit.details() if hit is not None else {}
        if license_filter != "any":
            details["license_filter"] = license_filter
        with self._lock:
            if result.reason:
                if is_lasting_failure(result.reason):
                    self._append({"url": result.url, "status": FAILED, "reason": result.reason})
                return Outcome(result.url, FAILED, reason=result.reason)
            hashes = {"sha256": result.sha256, "picture_hash": result.picture_hash}
            existing = self._file_by_hash.get(result.sha256)
            if existing is not None:
                self._append({"url": result.url, "status": DUPLICATE, "file": existing, **hashes, **details})
                return Outcome(result.url, DUPLICATE, file=existing)
            conflict = self.siblings.match(result.sha256, result.picture_hash) if self.siblings is not None else None
            if conflict is not None:
                entry = {"url": result.url, "status": CONFLICT, "file": conflict.file, "distance": conflict.distance}
                self._append({**entry, **hashes, **details})
                return Outcome(result.url, CONFLICT, file=conflict.file)
            target = self._next_free_path(result.extension)
            write_bytes_atomic(target, result.content)
            self._file_by_hash[result.sha256] = target.name
            self._append({"url": result.url, "status": SAVED, "file": target.name, **hashes, **details})
            return Outcome(result.url, SAVED, file=target.name)

    def write_attribution(self) -> int:
        """Write the folder's ``ATTRIBUTION.csv`` from its manifest; returns the rows written."""
        with self._lock:
            return write_attribution(self.path, self.entries)

    def _next_free_path(self, extension: str) -> Path:
        """Return the next sequential name, stepping over any file already there."""
        while True:
            target = self.path / f"{self._next_index:0{NAME_DIGITS}d}{extension}"
            self._next_index += 1
            if not target.exists():
                return target

    def _append(self, entry: dict) -> None:
        append_manifest_line(self.path, entry, torn=self._torn)
        self._torn = False
        self.entries.append(entry)
        self._settled_urls.add(entry["url"])
