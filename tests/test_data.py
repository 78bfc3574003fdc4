import numpy as np
import pytest

from pyimagesearch.data import load_labelled_images, make_dataset, split_indices


def test_split_is_seeded_disjoint_complete_and_stratified():
    label_sets = [("red", "dress")] * 50 + [("blue", "jeans")] * 30 + [("blue", "dress")] * 20
    train, val = split_indices(label_sets, 0.2, seed=1)
    assert len(val) == 20 and not set(train) & set(val) and len(set(train) | set(val)) == 100
    assert sorted(label_sets[i] for i in val).count(("red", "dress")) == 10
    again_train, again_val = split_indices(label_sets, 0.2, seed=1)
    np.testing.assert_array_equal(val, again_val)
    assert not np.array_equal(val, split_indices(label_sets, 0.2, seed=2)[1])


def test_split_falls_back_to_random_when_a_combination_is_alone():
    label_sets = [("a",)] * 10 + [("b",)] * 9 + [("a", "b")]
    train, val = split_indices(label_sets, 0.25, seed=0)
    assert len(val) == 5 and not set(train) & set(val)


@pytest.mark.parametrize("val_split", [0.0, 1.0, -0.1])
def test_bad_validation_share_is_refused(val_split):
    with pytest.raises(ValueError, match="--val-split must be between 0 and 1"):
        split_indices([("a",), ("b",)] * 5, val_split, seed=0)


def test_validation_share_leaving_an_empty_side_is_refused():
    with pytest.raises(ValueError, match="empty training or validation set"):
        split_indices([("a",), ("b",)], 0.1, seed=0)


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
