import numpy as np
import pytest

from pyimagesearch.data.dataset import load_labelled_images, make_dataset


def test_validation_batches_are_never_augmented():
    images = np.random.default_rng(0).integers(0, 256, size=(5, 8, 8, 3), dtype=np.uint8)
    batches = list(make_dataset(images, np.zeros((5, 1), "float32"), batch_size=4).as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), images.astype("float32"))


def test_images_outside_label_folders_are_skipped(demo_data, tmp_path):
    dataset = tmp_path / "dataset"
    (dataset / "red_dress").mkdir(parents=True)
    source = next((demo_data[0] / "red_dress").iterdir())
    (dataset / "red_dress" / "a.jpg").write_bytes(source.read_bytes())
    (dataset / "loose.jpg").write_bytes(source.read_bytes())
    data = load_labelled_images(dataset, image_size=16)
    assert data.label_sets == [("red", "dress")]
    assert [(path.name, reason) for path, reason in data.skipped] == [("loose.jpg", "not inside a label folder")]


def test_folder_with_no_images_is_a_clear_error(tmp_path):
    (tmp_path / "red_dress").mkdir()
    with pytest.raises(ValueError, match="no images in label folders"):
        load_labelled_images(tmp_path, image_size=16)
