"""Label conflicts: a picture found for one label that a sibling label folder already holds.

"red dress" and "blue dress" often find the same photo. Saved in both folders it would carry
both colours, and the grouped split would keep the copies together, but their labels disagree.
A picture is the same as the training split defines it (splitting.py): byte for byte, or within
``config.DUPLICATE_RADIUS`` bits of the 16x16 difference hash of the image as training loads it
(``config.IMAGE_SIZE`` pixels square).
"""

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyimagesearch import config
from pyimagesearch.data.images import UnreadableImageError, decode_image_bytes, resize_image
from pyimagesearch.data.splitting import difference_hashes, hash_distances
from pyimagesearch.download.records import SAVED, labelled_images, read_manifest

logger = logging.getLogger(__name__)


def picture_hash(content: bytes, source: str) -> str:
    """The training split's difference hash of an encoded image, as hexadecimal text.

    Raises:
        UnreadableImageError: If the bytes are no image the trainer reads.
    """
    image = resize_image(decode_image_bytes(content, source, min_size=config.IMAGE_SIZE), config.IMAGE_SIZE)
    return difference_hashes(image[None])[0].tobytes().hex()


def _words(hex_hash: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(hex_hash), dtype=np.uint64)


@dataclass(frozen=True)
class Conflict:
    """The sibling picture a new one matches: its path under the data-set root and the hash distance in bits."""

    file: str
    distance: int


class SiblingPictures:
    """The pictures in the label folders beside an output folder, looked up by bytes and by hash."""

    def __init__(self, output: Path, radius: int = config.DUPLICATE_RADIUS) -> None:
        """Hash every image in the other label folders under ``output``'s parent.

        Hashes recorded in a sibling's download manifest are reused for files whose bytes still
        match; other images are decoded. Unreadable files are left out, as training leaves them out.

        Args:
            output: The label folder being filled, e.g. ``dataset/red_dress``.
            radius: Hash bits within which two pictures are the same. Defaults to 6.
        """
        self.root = output.parent
        self.radius = radius
        own = output.resolve()
        siblings = [path for path in labelled_images(self.root) if path.parent.resolve() != own]
        recorded: dict[Path, Mapping[str, str]] = {}
        self._names: list[str] = []
        self._file_by_sha256: dict[str, str] = {}
        hashes = []
        for path in siblings:
            if path.parent not in recorded:
                entries, _ = read_manifest(path.parent)
                recorded[path.parent] = {
                    entry["sha256"]: entry["picture_hash"]
                    for entry in entries
                    if entry["status"] == SAVED and "picture_hash" in entry and "sha256" in entry
                }
            content = path.read_bytes()
            sha256 = hashlib.sha256(content).hexdigest()
            try:
                hex_hash = recorded[path.parent].get(sha256) or picture_hash(content, str(path))
            except UnreadableImageError as error:
                logger.debug("conflict check: %s", error)
                continue
            name = path.relative_to(self.root).as_posix()
            self._file_by_sha256.setdefault(sha256, name)
            self._names.append(name)
            hashes.append(_words(hex_hash))
        self._hashes = np.stack(hashes) if hashes else np.zeros((0, 1), np.uint64)
        if self._names:
            logger.info("conflict check: %d pictures in the other label folders of %s", len(self._names), self.root)

    def __len__(self) -> int:
        return len(self._names)

    def match(self, sha256: str, hex_hash: str) -> Conflict | None:
        """The sibling picture the same as a new one (the closest), or None."""
        if sha256 in self._file_by_sha256:
            return Conflict(self._file_by_sha256[sha256], 0)
        if not self._names or not hex_hash:
            return None
        distances = hash_distances(_words(hex_hash)[None], self._hashes)[0]
        closest = int(np.argmin(distances))
        return Conflict(self._names[closest], int(distances[closest])) if distances[closest] <= self.radius else None

    def holds(self, file: str) -> bool:
        """Whether the sibling picture ``file`` (as a `Conflict` names it) is still there."""
        return (self.root / file).is_file()
