"""What a data-set folder keeps about its downloads, and what is written from it.

- ``.download_manifest.jsonl`` (hidden, append-only): one JSON line per URL with a lasting
  outcome, with where the image came from and its licence as the provider gave them;
- ``ATTRIBUTION.csv``: a readable table of the saved images' sources, creators and licences,
  written anew from the manifest at the end of every run;
- a training manifest (``--manifest``): ``path,labels`` rows that ``train.py --dataset`` reads.
"""

import csv
import io
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from pyimagesearch.atomic import write_bytes_atomic
from pyimagesearch.data.images import is_image_file
from pyimagesearch.data.manifest import COLUMNS as TRAINING_MANIFEST_COLUMNS

logger = logging.getLogger(__name__)

MANIFEST_NAME = ".download_manifest.jsonl"
ATTRIBUTION_NAME = "ATTRIBUTION.csv"
# ATTRIBUTION.csv's columns: the file, then what the provider said of it (empty where it said nothing).
ATTRIBUTION_COLUMNS = (
    "file",
    "title",
    "creator",
    "license",
    "license_version",
    "license_url",
    "attribution",
    "page_url",
    "image_url",
    "provider",
    "license_filter",
)

SAVED = "saved"
DUPLICATE = "duplicate"
CONFLICT = "conflict"
FAILED = "failed"
STATUSES = (SAVED, DUPLICATE, CONFLICT, FAILED)


def read_manifest(folder: Path) -> tuple[list[dict], bool]:
    """The entries of ``folder``'s download manifest, skipping lines a crash or a hand edit left unreadable.

    Returns:
        ``(entries, torn)``: ``torn`` is True when the file does not end with a newline (an
        interrupted write), so the next line must start on a new one.
    """
    path = folder / MANIFEST_NAME
    if not path.exists():
        return [], False
    content = path.read_text(encoding="utf-8", errors="replace")
    entries = []
    for number, line in enumerate(content.splitlines(), start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict) and isinstance(entry.get("url"), str) and entry.get("status") in STATUSES:
            entries.append(entry)
        elif line.strip():
            logger.warning("%s line %d is not a manifest entry; ignored", path, number)
    return entries, bool(content) and not content.endswith("\n")


def append_manifest_line(folder: Path, entry: dict, *, torn: bool = False) -> None:
    """Append one manifest line and push it to disk before going on (``torn``: end the torn line first)."""
    line = json.dumps(entry, sort_keys=True) + "\n"
    with open(folder / MANIFEST_NAME, "a", encoding="utf-8") as handle:
        handle.write("\n" + line if torn else line)
        handle.flush()
        os.fsync(handle.fileno())


def write_attribution(folder: Path, entries: Iterable[dict]) -> int:
    """Write ``ATTRIBUTION.csv`` for the saved images still in ``folder``, in file order.

    Returns:
        The rows written.
    """
    rows = {}
    for entry in entries:
        if entry["status"] == SAVED and (folder / entry.get("file", "")).is_file():
            rows[entry["file"]] = {**{column: entry.get(column, "") for column in ATTRIBUTION_COLUMNS}, "image_url": entry["url"]}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ATTRIBUTION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows[name] for name in sorted(rows))
    write_bytes_atomic(folder / ATTRIBUTION_NAME, buffer.getvalue().encode("utf-8"))
    return len(rows)


def labelled_images(root: Path) -> list[Path]:
    """The images in ``root``'s label folders, its visible sub-folders, as the tutorial lays them out.

    Only those folders' own files are looked at (not deeper ones), so an output folder in a
    home directory does not send the search through the whole disk.
    """
    folders = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
    return [image for folder in folders for image in sorted(folder.iterdir()) if is_image_file(image)]


def write_training_manifest(manifest: Path, root: Path) -> int:
    """Write a ``path,labels`` CSV of every image in ``root``'s label folders, for ``train.py --dataset``.

    The label folders are ``root``'s visible sub-folders (see `labelled_images`).

    Paths are relative to the manifest's folder; labels are each image's folder name, as
    training reads them from folders (split on ``--label-sep``). The file is written atomically.

    Args:
        manifest: The CSV to write.
        root: The data-set folder holding the label folders.

    Returns:
        The rows written.

    Raises:
        ValueError: If ``manifest`` does not end in ``.csv``.
    """
    if manifest.suffix.lower() != ".csv":
        raise ValueError(f"manifest must name a .csv file (train.py reads a path,labels CSV), got {str(manifest)!r}")
    base = manifest.resolve().parent
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TRAINING_MANIFEST_COLUMNS)
    images = labelled_images(root)
    for image in images:
        writer.writerow([Path(os.path.relpath(image.resolve(), base)).as_posix(), image.parent.name])
    write_bytes_atomic(manifest, buffer.getvalue().encode("utf-8"))
    return len(images)
