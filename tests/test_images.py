import logging

import cv2
import numpy as np
import pytest
from PIL import Image

from pyimagesearch.images import UnreadableImageError, decode_image, list_images, load_images


def write_jpeg(path, colour=(0, 0, 255), size=(40, 30)):
    image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    image[:] = colour
    cv2.imwrite(str(path), image)


def test_listing_is_recursive_and_case_insensitive(tmp_path):
    (tmp_path / "red_dress" / "nested").mkdir(parents=True)
    for name in ("a.JPG", "b.jpeg", "nested/c.Png", "d.txt", ".hidden.jpg"):
        (tmp_path / "red_dress" / name).write_bytes(b"x")
    assert [path.relative_to(tmp_path).as_posix() for path in list_images(tmp_path)] == [
        "red_dress/a.JPG", "red_dress/b.jpeg", "red_dress/nested/c.Png"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="nope: no such folder"):
        list_images(tmp_path / "nope")


def test_decoded_images_are_rgb(tmp_path):
    write_jpeg(tmp_path / "red.jpg", colour=(0, 0, 255))  # BGR red
    red = decode_image(tmp_path / "red.jpg")
    assert red.shape == (30, 40, 3)
    assert red[..., 0].mean() > 200 and red[..., 2].mean() < 50


def test_gif_is_decoded_through_the_fallback(tmp_path):
    Image.new("RGB", (20, 10), (0, 0, 255)).save(tmp_path / "blue.gif")
    blue = decode_image(tmp_path / "blue.gif")
    assert blue.shape == (10, 20, 3) and blue[..., 2].mean() > 200


def test_bad_files_are_skipped_and_reported(tmp_path, caplog):
    write_jpeg(tmp_path / "good.jpg")
    noise = np.random.default_rng(0).integers(0, 256, size=(200, 200, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", noise)[1].tobytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("this is not an image")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    paths = sorted(tmp_path.iterdir())
    with caplog.at_level(logging.WARNING):
        images, kept, skipped = load_images(paths, size=16)
    assert [path.name for path in kept] == ["good.jpg"]
    assert images.shape == (1, 16, 16, 3) and images.dtype == np.uint8
    reasons = {path.name: reason for path, reason in skipped}
    assert set(reasons) == {"truncated.jpg", "empty.png", "text.jpg", "corrupt.png"}
    assert "truncated JPEG" in reasons["truncated.jpg"]
    assert "empty file" in reasons["empty.png"]
    assert all(name in caplog.text for name in reasons)


def test_unreadable_error_names_the_file(tmp_path):
    with pytest.raises(UnreadableImageError, match="missing.jpg: cannot read"):
        decode_image(tmp_path / "missing.jpg")
