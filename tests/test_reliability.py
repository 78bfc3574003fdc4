"""Nothing breaks, nothing is lost: the cheap cases of the bad-input corpus (tests/bad_inputs.py) through
the real CLIs, and the bugs the campaign (bench/reliability.py) found, each with its regression test."""

import pytest

from bad_inputs import png_with_header
from pyimagesearch import config
from pyimagesearch.images import UnreadableImageError, decode_image_bytes, image_dimensions


def _jpeg_claiming(height: int, width: int) -> bytes:
    """A small real JPEG whose start-of-frame header is rewritten to claim ``height`` x ``width``."""
    import cv2
    import numpy as np

    data = bytearray(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def _gif_claiming(height: int, width: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = width.to_bytes(2, "little") + height.to_bytes(2, "little")  # the logical screen size
    return bytes(data)


@pytest.mark.parametrize("data, size", [
    (png_with_header(20000, 20000), (20000, 20000)),  # a real 400-megapixel PNG in 400 KB
    (_jpeg_claiming(12000, 9000), (12000, 9000)),
    (_gif_claiming(60000, 2000), (60000, 2000)),
], ids=["png", "jpeg", "gif"])
def test_a_decompression_bomb_is_refused_before_it_is_decoded(data, size):
    # Found by the campaign: training, classification and evaluation decoded a 400 KB PNG into 1.2 GB
    # of pixels (2.3 GB peak, 5 s) while only the downloader refused it.
    assert image_dimensions(data) == size
    with pytest.raises(UnreadableImageError, match=rf"^bomb\.png: {size[1]}x{size[0]} pixels, more than the 89,478,485 "):
        decode_image_bytes(data, "bomb.png")
    assert size[0] * size[1] > config.MAX_IMAGE_PIXELS
