import io
import logging

import cv2
import numpy as np
import pytest
from conftest import FASHION_DIR
from PIL import Image

from pyimagesearch.data.image_headers import jpeg_dimensions
from pyimagesearch.data.images import (
    UnreadableImageError,
    decode_image,
    decode_image_bytes,
    list_images,
    load_image,
    load_image_batch,
    load_images,
    reduction_factor,
    resize_image,
)


def write_jpeg(path, colour=(0, 0, 255), size=(40, 30)):
    image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    image[:] = colour
    cv2.imwrite(str(path), image)


def test_listing_is_recursive_and_case_insensitive(tmp_path):
    (tmp_path / "red_dress" / "nested").mkdir(parents=True)
    for name in ("a.JPG", "b.jpeg", "nested/c.Png", "d.txt", ".hidden.jpg"):
        (tmp_path / "red_dress" / name).write_bytes(b"x")
    assert [path.relative_to(tmp_path).as_posix() for path in list_images(tmp_path)] == [
        "red_dress/a.JPG",
        "red_dress/b.jpeg",
        "red_dress/nested/c.Png",
    ]


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


def write_photo(path, width=1200, height=1000, seed=0, quality=90):
    """A photo-like JPEG: gradients, filled circles with hard edges, and sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1).astype(np.float32)
    for _ in range(12):
        centre = tuple(int(value) for value in rng.integers(0, (width, height)))
        colour = tuple(int(value) for value in rng.integers(0, 256, 3))
        cv2.circle(image, centre, int(rng.integers(20, min(width, height) // 3)), colour, -1)
    image += rng.normal(0.0, 6.0, image.shape).astype(np.float32)
    cv2.imwrite(str(path), np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return path


@pytest.mark.parametrize(
    ("height", "width", "size", "factor"),
    [
        (1000, 1200, 96, 8),
        (768, 768, 96, 8),
        (767, 1200, 96, 4),
        (384, 5000, 96, 4),
        (383, 400, 96, 2),
        (320, 250, 96, 2),
        (192, 192, 96, 2),
        (191, 4000, 96, 1),
        (96, 96, 96, 1),
        (50, 50, 96, 1),
        (4000, 3000, 32, 8),
    ],
)
def test_reduction_factor_is_the_largest_keeping_both_sides_at_least_the_size(height, width, size, factor):
    assert reduction_factor(height, width, size) == factor


def test_jpeg_dimensions_come_from_the_frame_header(tmp_path):
    baseline = cv2.imencode(".jpg", np.zeros((30, 40, 3), np.uint8))[1].tobytes()
    assert jpeg_dimensions(baseline) == (30, 40)
    progressive = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # An EXIF segment before the frame header must be stepped over.
    Image.new("RGB", (70, 50)).save(progressive, "JPEG", progressive=True, exif=exif.tobytes())
    assert jpeg_dimensions(progressive.getvalue()) == (50, 70)
    png = cv2.imencode(".png", np.zeros((30, 40, 3), np.uint8))[1].tobytes()
    assert jpeg_dimensions(png) is None
    assert jpeg_dimensions(b"\xff\xd8\x00\x00garbage") is None
    assert jpeg_dimensions(baseline[:20]) is None


def test_large_jpegs_are_decoded_at_reduced_scale(tmp_path):
    photo = write_photo(tmp_path / "photo.jpg", width=1200, height=1000)
    assert decode_image(photo).shape == (1000, 1200, 3)
    assert decode_image(photo, min_size=96).shape == (125, 150, 3)  # 1/8: both sides still >= 96
    assert decode_image(photo, min_size=128).shape == (250, 300, 3)  # 1/4
    assert decode_image(photo, min_size=300).shape == (500, 600, 3)  # 1/2
    assert decode_image(photo, min_size=600).shape == (1000, 1200, 3)


def test_small_jpegs_pngs_and_gifs_are_decoded_at_full_size(tmp_path):
    write_jpeg(tmp_path / "small.jpg", size=(150, 150))
    cv2.imwrite(str(tmp_path / "large.png"), np.zeros((1000, 1200, 3), np.uint8))
    Image.new("RGB", (800, 600), (0, 0, 255)).save(tmp_path / "large.gif")
    assert decode_image(tmp_path / "small.jpg", min_size=96).shape == (150, 150, 3)
    assert decode_image(tmp_path / "large.png", min_size=96).shape == (1000, 1200, 3)
    assert decode_image(tmp_path / "large.gif", min_size=96).shape == (600, 800, 3)


@pytest.mark.parametrize("size", [64, 96, 128])
def test_reduced_decoding_matches_full_decoding_plus_resize(tmp_path, size):
    # Measured: mean absolute difference 0.4-1.0 grey levels on these photos; on the 1,813
    # real photos at 96 pixels, 1.3 on average, 3.6 at the 99th percentile, 6.3 at most.
    for seed in range(3):
        photo = write_photo(tmp_path / f"photo{seed}.jpg", seed=seed)
        fast = load_image(photo, size).astype(int)
        full = resize_image(decode_image(photo), size).astype(int)
        assert fast.shape == full.shape == (size, size, 3)
        assert np.abs(fast - full).mean() < 1.5


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=f"real photos not found at {FASHION_DIR}")
def test_reduced_decoding_matches_full_decoding_on_real_photos():
    differences = [
        np.abs(load_image(path, 96).astype(int) - resize_image(decode_image(path), 96)).mean() for path in list_images(FASHION_DIR)[::9]
    ]
    assert np.mean(differences) < 2.0 and max(differences) < 10.0


def test_reduced_decoding_applies_exif_orientation_as_the_full_decode(tmp_path):
    image = np.zeros((400, 800, 3), np.uint8)
    image[:200, :400] = (255, 0, 0)  # Red top-left quarter, RGB.
    exif = Image.Exif()
    exif[0x0112] = 6  # Rotate 90 degrees clockwise to display: red ends top-right.
    Image.fromarray(image).save(tmp_path / "rotated.jpg", "JPEG", quality=95, exif=exif.tobytes())
    full = decode_image(tmp_path / "rotated.jpg")
    reduced = decode_image(tmp_path / "rotated.jpg", min_size=96)
    assert full.shape == (800, 400, 3) and reduced.shape == (200, 100, 3)  # 1/4, rotated too
    for decoded in (full, reduced):
        height, width = decoded.shape[:2]
        assert decoded[height // 4, 3 * width // 4, 0] > 200 and decoded[height // 4, width // 4, 0] < 50
    assert np.abs(resize_image(full, 96).astype(int) - resize_image(reduced, 96)).mean() < 2.0


def test_truncated_large_jpeg_is_refused_on_the_reduced_path(tmp_path):
    data = write_photo(tmp_path / "photo.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableImageError, match="truncated JPEG"):
        load_image(tmp_path / "cut.jpg", 96)
    with pytest.raises(UnreadableImageError, match="empty file"):
        decode_image_bytes(b"", "empty.jpg", min_size=96)


def test_min_size_below_one_is_refused():
    with pytest.raises(ValueError, match="min_size must be a positive number of pixels.*Received: 0"):
        decode_image_bytes(b"x", "x.jpg", min_size=0)


def test_parallel_loading_keeps_order_and_matches_single_images(tmp_path):
    paths = []
    for index in range(40):
        if index % 7 == 3:
            path = tmp_path / f"{index:02d}_bad.jpg"
            path.write_text("not an image")
        elif index % 5 == 0:
            path = write_photo(tmp_path / f"{index:02d}.jpg", width=500, height=400, seed=index)
        else:
            path = tmp_path / f"{index:02d}.png"
            cv2.imwrite(str(path), np.full((30 + index, 20, 3), index * 6, np.uint8))
        paths.append(path)
    one_thread = load_images(paths, 32, workers=1)
    two_threads = load_images(paths, 32, workers=2)
    images, kept, skipped = two_threads
    assert [path.name for path in kept] == [path.name for path in paths if "bad" not in path.name]
    assert [path.name for path, _ in skipped] == [path.name for path in paths if "bad" in path.name]
    np.testing.assert_array_equal(images, one_thread[0])
    np.testing.assert_array_equal(images, np.stack([load_image(path, 32) for path in kept]))


def test_progress_sees_every_image(tmp_path):
    paths = [write_photo(tmp_path / f"{index}.jpg", width=64, height=64, seed=index) for index in range(37)]
    seen = []

    def progress(iterable, total):
        seen.append(total)
        for item in iterable:
            seen.append(item)
            yield item

    load_images(paths, 16, progress=progress)
    assert seen[0] == 37 and len(seen) == 38


def test_batch_rows_stay_aligned_with_paths(tmp_path):
    write_jpeg(tmp_path / "good.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"")
    images, reasons = load_image_batch([tmp_path / "bad.jpg", tmp_path / "good.jpg"], 8)
    assert images.shape == (2, 8, 8, 3) and "empty file" in reasons[0] and reasons[1] is None
    np.testing.assert_array_equal(images[1], load_image(tmp_path / "good.jpg", 8))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"size": 0}, "size must be a positive number of pixels.*Received: 0"),
        ({"size": 8, "workers": 0}, "workers must be a positive number of threads.*Received: 0"),
    ],
)
def test_load_images_refuses_bad_arguments(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        load_images([tmp_path / "a.jpg"], **options)
