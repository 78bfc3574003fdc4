from collections import Counter

import cv2
import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from pyimagesearch.data.images import resize_image
from pyimagesearch.data.splitting import DuplicateGroups, fold_indices, near_duplicate_groups, split_indices


def _scene(rng: np.random.Generator) -> np.ndarray:
    """A distinct 256x256 picture: random rectangles on a shaded background, with a photo's texture.

    Real photos vary everywhere; perfectly flat areas would make any difference hash read
    compression noise, which photos do not show.
    """
    ramp = np.linspace(0, 1, 256)
    shade = np.add.outer(ramp * rng.uniform(-80, 80), ramp * rng.uniform(-80, 80))
    image = np.clip(rng.integers(60, 196, 3) + shade[..., None], 0, 255).astype(np.uint8)
    for _ in range(4):
        x, y = rng.integers(0, 192, 2)
        w, h = rng.integers(32, 96, 2)
        cv2.rectangle(image, (int(x), int(y)), (int(x + w), int(y + h)), rng.integers(0, 256, 3).tolist(), -1)
    texture = cv2.resize(rng.uniform(-40, 40, (32, 32)), (256, 256), interpolation=cv2.INTER_CUBIC)
    return np.clip(image + texture[..., None], 0, 255).astype(np.uint8)


def _near_copies(image: np.ndarray) -> list[np.ndarray]:
    """What a scraper brings back twice: re-encoded, resized, slightly brighter."""
    _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return [cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.resize(image, (300, 260)), cv2.add(image, np.full_like(image, 12))]


def _as_loaded(image: np.ndarray) -> np.ndarray:
    """The 64x64 array training hashes, made as the image loader makes it."""
    return resize_image(image, 64)


def test_near_duplicates_are_grouped_and_distinct_images_are_not():
    rng = np.random.default_rng(3)
    originals = [_scene(rng) for _ in range(30)]
    images, source = [], []
    for index, original in enumerate(originals):
        for copy in [original, *(_near_copies(original) if index < 10 else [])]:
            images.append(_as_loaded(copy))
            source.append(index)
    groups = near_duplicate_groups(np.stack(images))
    source = np.array(source)
    for index in range(30):
        assert len(set(groups.group_of[source == index])) == 1  # every copy with its original
    assert len(set(groups.group_of)) == 30  # and the 30 distinct scenes apart
    assert groups.duplicate_groups == 10 and groups.images_in_duplicate_groups == 40


def test_negative_radius_is_refused():
    with pytest.raises(ValueError, match="`duplicate_radius` must be 0 or more bits"):
        near_duplicate_groups(np.zeros((2, 16, 16, 3), dtype=np.uint8), radius=-1)


def _grouped_data(seed: int = 0) -> tuple[list[tuple[str, ...]], DuplicateGroups]:
    rng = np.random.default_rng(seed)
    combinations = [("red", "dress"), ("blue", "dress"), ("blue", "jeans"), ("black", "jeans")]
    label_sets, group_of = [], []
    for group in range(120):
        labels = combinations[group % 4]
        for _ in range(int(rng.integers(1, 5))):  # groups of 1 to 4 near-duplicates
            label_sets.append(labels)
            group_of.append(group)
    return label_sets, DuplicateGroups(np.array(group_of), radius=6)


def test_grouped_split_never_separates_duplicates_and_stratifies():
    label_sets, groups = _grouped_data()
    train, val = split_indices(label_sets, 0.2, seed=1, groups=groups)
    assert not set(train) & set(val) and len(train) + len(val) == len(label_sets)
    assert not set(groups.group_of[train]) & set(groups.group_of[val])
    val_groups = Counter(label_sets[i] for i in {int(np.flatnonzero(groups.group_of == g)[0]) for g in groups.group_of[val]})
    assert sorted(val_groups.values()) == [6, 6, 6, 6]  # 20% of each combination's 30 groups
    again = split_indices(label_sets, 0.2, seed=1, groups=groups)
    np.testing.assert_array_equal(val, again[1])
    assert not np.array_equal(val, split_indices(label_sets, 0.2, seed=2, groups=groups)[1])


def test_random_split_is_the_tutorials():
    label_sets, _ = _grouped_data()
    train, val = split_indices(label_sets, 0.2, seed=42)
    expected_train, expected_val = train_test_split(np.arange(len(label_sets)), test_size=0.2, random_state=42)
    np.testing.assert_array_equal(val, np.sort(expected_val))
    np.testing.assert_array_equal(train, np.sort(expected_train))


def test_folds_validate_every_image_exactly_once_and_keep_groups_whole():
    label_sets, groups = _grouped_data()
    folds = fold_indices(label_sets, 5, seed=0, groups=groups)
    assert len(folds) == 5
    validated = np.concatenate([val for _, val in folds])
    assert sorted(validated) == list(range(len(label_sets)))
    for train, val in folds:
        assert len(train) + len(val) == len(label_sets) and not set(train) & set(val)
        assert not set(groups.group_of[train]) & set(groups.group_of[val])
        assert {label_sets[i] for i in val} == set(label_sets)  # every combination in every fold


@pytest.mark.parametrize("val_split", [0.0, 1.0, -0.1])
def test_bad_validation_share_is_refused(val_split):
    with pytest.raises(ValueError, match="`val_split` must be between 0 and 1"):
        split_indices([("a",), ("b",)] * 5, val_split, seed=0)


def test_validation_share_leaving_an_empty_side_is_refused():
    with pytest.raises(ValueError, match="empty training or validation set"):
        split_indices([("a",), ("b",)], 0.1, seed=0)


def test_one_big_duplicate_group_cannot_be_split():
    with pytest.raises(ValueError, match="near-duplicates of each other"):
        split_indices([("a",), ("b",)] * 5, 0.2, seed=0, groups=DuplicateGroups(np.zeros(10, dtype=int), radius=6))


@pytest.mark.parametrize("folds, message", [(1, "`folds` must be at least 2"), (11, "`folds` 11 is more than the 10 groups")])
def test_bad_fold_counts_are_refused(folds, message):
    with pytest.raises(ValueError, match=message):
        fold_indices([("a",), ("b",)] * 5, folds, seed=0)
