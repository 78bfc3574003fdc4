"""Reading an encoded image's size and completeness from its bytes, without decoding it."""

import io

from PIL import Image, UnidentifiedImageError

JPEG_START = b"\xff\xd8"
_JPEG_START_OF_SCAN = b"\xff\xda"
_JPEG_END = b"\xff\xd9"
_PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"
# Start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic):
# every one holds the frame's height and width. C4, C8 and CC are other segments.
_JPEG_START_OF_FRAME = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Markers without a length field: TEM and the restart markers RST0-RST7.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def jpeg_is_truncated(data: bytes) -> bool:
    """Whether a JPEG ends before its last scan's end-of-image marker (False for other bytes)."""
    # Entropy-coded data never holds FFD9 (0xFF is byte-stuffed), so a complete JPEG has its
    # end-of-image marker after its last start-of-scan. libjpeg only warns about a missing one
    # and fills the rest with grey, so this check is ours to make. Ending on the marker settles
    # it without searching the whole file backwards for the last start-of-scan.
    if not data.startswith(JPEG_START) or data.endswith(_JPEG_END):
        return False
    return data.rfind(_JPEG_END) < data.rfind(_JPEG_START_OF_SCAN)


def jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    """A JPEG's ``(height, width)`` as stored, read from its start-of-frame header.

    Walks the marker segments up to the first start-of-frame: far cheaper than Pillow's lazy
    header read (measured: bench/README.md, "Loading"). EXIF orientation is not applied, so a
    rotated photo's sides come swapped; for a square target size that makes no difference.

    Args:
        data: The encoded bytes.

    Returns:
        ``(height, width)``, or ``None`` for bytes that are not a JPEG or whose header is
        damaged or holds no size.
    """
    if not data.startswith(JPEG_START):
        return None
    position, end = 2, len(data)
    while position + 4 <= end:
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # Fill byte before a marker.
            position += 1
            continue
        if marker in _JPEG_STANDALONE:
            position += 2
            continue
        if marker in (0xD9, 0xDA):  # End of image or start of scan before any frame header.
            return None
        if marker in _JPEG_START_OF_FRAME:
            if position + 9 > end:
                return None
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return (height, width) if height and width else None
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if length < 2:
            return None
        position += 2 + length
    return None


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """An encoded image's ``(height, width)`` from its header, without decoding it.

    JPEG and PNG headers are read here (microseconds); other formats through Pillow, which reads
    only the header too. ``None`` when the header cannot be read: decoding then says why.
    """
    if data.startswith(JPEG_START):
        return jpeg_dimensions(data)
    if data.startswith(_PNG_HEADER) and len(data) >= 24:
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return height, width
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.height, image.width
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
