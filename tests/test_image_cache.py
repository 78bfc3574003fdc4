import logging
import os

import cv2
import numpy as np
import pytest
from conftest import FASHION_DIR
from PIL import Image

from pyimagesearch.data import cache as image_cache
from pyimagesearch.data.cache import cache_file, default_cache_dir, load_images_cached
from pyimagesearch.data.images import list_images, load_images

SIZE = 32


@pytest.fixture
def dataset(tmp_path):
    """Label folders with large and small JPEGs, a PNG, a GIF and one unreadable file."""
    root = tmp_path / "dataset"
    rng = np.random.default_rng(0)
    for folder in ("red_dress", "blue_jeans"):
        (root / folder).mkdir(parents=True)
        for index in range(4):
            noise = rng.integers(0, 256, size=(300 + 10 * index, 400, 3), dtype=np.uint8)
            cv2.imwrite(str(root / folder / f"{index}.jpg"), cv2.GaussianBlur(noise, (9, 9), 3))
    cv2.imwrite(str(root / "red_dress" / "small.png"), np.full((20, 30, 3), 90, np.uint8))
    Image.new("RGB", (50, 40), (0, 0, 255)).save(root / "blue_jeans" / "flat.gif")
    (root / "blue_jeans" / "broken.jpg").write_text("not an image")
    return root


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def decoded(monkeypatch):
    """The paths each call decodes (rather than reads back from the cache)."""
    calls = []
    original = image_cache.image_files.load_image_batch

    def spy(paths, *args, **kwargs):
        calls.append(sorted(path.name for path in paths))
        return original(paths, *args, **kwargs)

    monkeypatch.setattr(image_cache.image_files, "load_image_batch", spy)
    return calls


def assert_same_as_uncached(result, paths, size=SIZE):
    images, kept, skipped = load_images(paths, size)
    np.testing.assert_array_equal(result[0], images)
    assert result[1] == kept and result[2] == skipped


def test_cache_returns_what_load_images_returns(dataset, cache_dir):
    paths = list_images(dataset)
    first = load_images_cached(paths, SIZE, cache_dir=cache_dir)
    second = load_images_cached(paths, SIZE, cache_dir=cache_dir)
    for result in (first, second):
        assert_same_as_uncached(result, paths)
        assert result[0].dtype == np.uint8 and result[0].shape == (len(paths) - 1, SIZE, SIZE, 3)
    assert [path.name for path, _ in second[2]] == ["broken.jpg"]


def test_second_run_decodes_nothing_but_the_unreadable_file(dataset, cache_dir, decoded, caplog):
    paths = list_images(dataset)
    load_images_cached(paths, SIZE, cache_dir=cache_dir)
    with caplog.at_level(logging.WARNING):
        load_images_cached(paths, SIZE, cache_dir=cache_dir)
    assert len(decoded[0]) == len(paths)
    # Unreadable files are retried, and reported again, on every run.
    assert decoded[1] == ["broken.jpg"]
    assert "broken.jpg" in caplog.text


def test_touched_file_is_decoded_again(dataset, cache_dir, decoded):
    paths = list_images(dataset)
    load_images_cached(paths, SIZE, cache_dir=cache_dir)
    touched = dataset / "red_dress" / "1.jpg"
    status = touched.stat()
    os.utime(touched, ns=(status.st_atime_ns, status.st_mtime_ns + 5_000_000_000))
    result = load_images_cached(paths, SIZE, cache_dir=cache_dir)
    assert decoded[1] == ["1.jpg", "broken.jpg"]
    assert_same_as_uncached(result, paths)


def test_rewritten_file_is_decoded_again(dataset, cache_dir, decoded):
    paths = list_images(dataset)
    before = load_images_cached(paths, SIZE, cache_dir=cache_dir)
    rewritten = dataset / "blue_jeans" / "2.jpg"
    cv2.imwrite(str(rewritten), np.full((300, 400, 3), (0, 255, 0), np.uint8))
    after = load_images_cached(paths, SIZE, cache_dir=cache_dir)
    assert decoded[1] == ["2.jpg", "broken.jpg"]
    assert_same_as_uncached(after, paths)
    row = after[1].index(rewritten)
    assert not np.array_equal(before[0][row], after[0][row]) and after[0][row][..., 1].mean() > 240


def test_rewrite_keeping_size_and_mtime_is_still_seen(dataset, cache_dir, decoded):
    # A BMP's size depends only on its dimensions; putting the old mtime back is what
    # `cp -p` or `touch -r` do. The status-change time (ctime) still tells.
    bitmap = dataset / "red_dress" / "flat.bmp"
    cv2.imwrite(str(bitmap), np.full((30, 40, 3), (0, 0, 255), np.uint8))
    paths = list_images(dataset)
    load_images_cached(paths, SIZE, cache_dir=cache_dir)
    status = bitmap.stat()
    cv2.imwrite(str(bitmap), np.full((30, 40, 3), (255, 0, 0), np.uint8))
    os.utime(bitmap, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert (bitmap.stat().st_size, bitmap.stat().st_mtime_ns) == (status.st_size, status.st_mtime_ns)
    result = load_images_cached(paths, SIZE, cache_dir=cache_dir)
    assert decoded[1] == ["broken.jpg", "flat.bmp"]
    assert result[0][result[1].index(bitmap)][..., 2].mean() > 240  # Blue now, in RGB.


def test_deleted_file_drops_out(dataset, cache_dir, decoded):
    load_images_cached(list_images(dataset), SIZE, cache_dir=cache_dir)
    (dataset / "red_dress" / "0.jpg").unlink()
    paths = list_images(dataset)
    result = load_images_cached(paths, SIZE, cache_dir=cache_dir)
    assert_same_as_uncached(result, paths)
    assert decoded[1] == ["broken.jpg"]
    with open(cache_file(paths, SIZE, cache_dir), "rb") as handle:
        files, _ = image_cache._read_index(handle, SIZE)
    assert len(files) == len(paths) - 1 and not any(name.endswith("red_dress/0.jpg") for name, *_ in files)


def test_new_file_is_decoded_and_the_rest_read_back(dataset, cache_dir, decoded):
    load_images_cached(list_images(dataset), SIZE, cache_dir=cache_dir)
    cv2.imwrite(str(dataset / "red_dress" / "added.png"), np.full((40, 40, 3), 200, np.uint8))
    paths = list_images(dataset)
    result = load_images_cached(paths, SIZE, cache_dir=cache_dir)
    assert decoded[1] == ["added.png", "broken.jpg"]
    assert_same_as_uncached(result, paths)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "old format", "other decoder", "empty"])
def test_damaged_or_outdated_cache_file_is_rebuilt_with_a_warning(dataset, cache_dir, decoded, caplog, damage, monkeypatch):
    paths = list_images(dataset)
    load_images_cached(paths, SIZE, cache_dir=cache_dir)
    path = cache_file(paths, SIZE, cache_dir)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\x00" * 100)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) - 500])
    elif damage == "old format":
        path.write_bytes(image_cache._HEADER.pack(image_cache._MAGIC, 0, 0))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        monkeypatch.setattr(image_cache, "decoder_fingerprint", lambda: "decoding 0; opencv 0; pillow 0")
    with caplog.at_level(logging.WARNING):
        result = load_images_cached(paths, SIZE, cache_dir=cache_dir)
    assert "unusable" in caplog.text and "rebuilding" in caplog.text
    assert_same_as_uncached(result, paths)
    load_images_cached(paths, SIZE, cache_dir=cache_dir)
    assert decoded[-1] == ["broken.jpg"]  # Rebuilt: the next run reads back again.


def test_data_set_folder_is_never_written(dataset, cache_dir):
    def snapshot():
        return sorted((str(path), path.stat().st_size, path.stat().st_mtime_ns) for path in dataset.rglob("*"))

    before = snapshot()
    for _ in range(2):
        load_images_cached(list_images(dataset), SIZE, cache_dir=cache_dir)
    assert snapshot() == before
    assert [path.name for path in cache_dir.iterdir()] == [cache_file(list_images(dataset), SIZE, cache_dir).name]


def test_cache_folder_inside_the_data_set_is_refused(dataset):
    with pytest.raises(ValueError, match="is inside the data set folder.*never written to"):
        load_images_cached(list_images(dataset), SIZE, cache_dir=dataset / ".cache")


def test_each_size_has_its_own_cache_file(dataset, cache_dir):
    paths = list_images(dataset)
    small = load_images_cached(paths, 16, cache_dir=cache_dir)
    large = load_images_cached(paths, 24, cache_dir=cache_dir)
    assert small[0].shape[1:] == (16, 16, 3) and large[0].shape[1:] == (24, 24, 3)
    assert len(list(cache_dir.iterdir())) == 2
    assert_same_as_uncached(load_images_cached(paths, 16, cache_dir=cache_dir), paths, size=16)


def test_read_back_images_are_writable_and_writes_stay_private(dataset, cache_dir):
    paths = list_images(dataset)
    load_images_cached(paths, SIZE, cache_dir=cache_dir)
    images = load_images_cached(paths, SIZE, cache_dir=cache_dir)[0]
    images[:] = 7
    assert_same_as_uncached(load_images_cached(paths, SIZE, cache_dir=cache_dir), paths)


def test_unwritable_cache_folder_only_warns(dataset, tmp_path, caplog):
    (tmp_path / "a_file").write_text("")
    paths = list_images(dataset)
    with caplog.at_level(logging.WARNING):
        result = load_images_cached(paths, SIZE, cache_dir=tmp_path / "a_file" / "cache")
    assert "could not be written" in caplog.text
    assert_same_as_uncached(result, paths)


def test_default_cache_folder_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "pyimagesearch"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # Invalid per the specification: ignored.
    assert default_cache_dir() == image_cache.Path.home() / ".cache" / "pyimagesearch"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == image_cache.Path.home() / ".cache" / "pyimagesearch"


def test_default_cache_folder_is_used_without_one(dataset, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    paths = list_images(dataset)
    load_images_cached(paths, SIZE)
    assert cache_file(paths, SIZE).parent == tmp_path / "xdg" / "pyimagesearch"
    assert cache_file(paths, SIZE).is_file()


def test_no_paths_give_an_empty_array(cache_dir):
    images, kept, skipped = load_images_cached([], SIZE, cache_dir=cache_dir)
    assert images.shape == (0, SIZE, SIZE, 3) and kept == [] and skipped == []
    assert not cache_dir.exists()


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=f"real photos not found at {FASHION_DIR}")
def test_cache_on_and_off_give_identical_arrays_on_real_photos(tmp_path):
    paths = list_images(FASHION_DIR)[::4]
    uncached = load_images(paths, 48)
    for _ in range(2):  # Written, then read back.
        cached = load_images_cached(paths, 48, cache_dir=tmp_path)
        np.testing.assert_array_equal(cached[0], uncached[0])
        assert cached[1] == uncached[1] and cached[2] == uncached[2]


def test_file_systems_without_memory_mapping_read_instead(dataset, cache_dir, monkeypatch):
    paths = list_images(dataset)
    load_images_cached(paths, SIZE, cache_dir=cache_dir)

    def refuse(*args, **kwargs):
        raise OSError("mmap not supported")

    monkeypatch.setattr(image_cache.mmap, "mmap", refuse)
    assert_same_as_uncached(load_images_cached(paths, SIZE, cache_dir=cache_dir), paths)
