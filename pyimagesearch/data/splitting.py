"""Train/validation splits and cross-validation folds that do not leak near-duplicate photos.

Scraped data sets hold the same photo several times (re-encoded, resized, lightly cropped).
A random split puts copies on both sides, and validation then measures memory, not
generalisation. Here near-duplicates are grouped by a perceptual hash, groups are never
separated, and the groups are stratified over labels and label combinations with iterative
stratification (Sechidis et al., 2011; the ``iterative-stratification`` package).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import imagehash
import numpy as np
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold, MultilabelStratifiedShuffleSplit
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.model_selection import train_test_split

from pyimagesearch import config

# Rows of hashes compared at once: bounds memory to about rows x N x 32 bytes.
_CHUNK_ROWS = 256


@dataclass(frozen=True)
class DuplicateGroups:
    """Near-duplicate groups of a set of images.

    Attributes:
        group_of: Group id of each image, shape (N,); images of one group share an id.
        radius: Largest Hamming distance between hashes counted as a near-duplicate.
    """

    group_of: np.ndarray
    radius: int

    @property
    def duplicate_groups(self) -> int:
        """Groups of two or more images."""
        return int(np.sum(np.bincount(self.group_of) > 1))

    @property
    def images_in_duplicate_groups(self) -> int:
        """Images that have at least one near-duplicate."""
        sizes = np.bincount(self.group_of)
        return int(sizes[sizes > 1].sum())

    @classmethod
    def singletons(cls, count: int) -> "DuplicateGroups":
        """Every image in its own group: no duplicate detection."""
        return cls(np.arange(count), radius=-1)


def difference_hashes(images: np.ndarray, hash_size: int = config.DUPLICATE_HASH_SIZE) -> np.ndarray:
    """Difference hashes (dHash) of RGB uint8 images, packed into uint64 words of shape (N, words).

    The hash records whether brightness rises or falls between neighbouring pixels of a
    small grey copy, so re-encoding, resizing and small colour shifts barely change it.
    """
    bits = np.stack([imagehash.dhash(Image.fromarray(image), hash_size=hash_size).hash.ravel() for image in images])
    padded = np.pad(bits, ((0, 0), (0, -bits.shape[1] % 64)))
    return np.packbits(padded, axis=1).view(">u8").astype(np.uint64)


def hash_distances(hashes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Hamming distances in bits between packed hashes (see `difference_hashes`), shape (len(hashes), len(others))."""
    return np.bitwise_count(hashes[:, None, :] ^ others[None, :, :]).sum(axis=-1)


def near_duplicate_groups(
    images: np.ndarray,
    radius: int = config.DUPLICATE_RADIUS,
    hash_size: int = config.DUPLICATE_HASH_SIZE,
) -> DuplicateGroups:
    """Group images whose difference hashes differ in at most ``radius`` bits.

    Grouping is transitive (connected components), so a chain of near-duplicates forms one
    group. On the fashion photos, 16x16 hashes within the default radius join re-encoded and
    re-cropped copies and recoloured copies of one product shot, while distinct products
    merge only at a wider radius (measured: docs/evaluation.md, "Leakage-free split").

    Raises:
        ValueError: For a negative radius.
    """
    if radius < 0:
        raise ValueError(f"`duplicate_radius` must be 0 or more bits. Received: {radius}")
    hashes = difference_hashes(images, hash_size)
    count = len(hashes)
    rows, cols = [], []
    for start in range(0, count, _CHUNK_ROWS):
        block_rows, block_cols = np.nonzero(hash_distances(hashes[start : start + _CHUNK_ROWS], hashes) <= radius)
        rows.append(block_rows + start)
        cols.append(block_cols)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    adjacency = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(count, count))
    _, group_of = connected_components(adjacency, directed=False)
    return DuplicateGroups(group_of, radius)


def identical_row_groups(rows: np.ndarray) -> DuplicateGroups:
    """Groups of identical rows, e.g. a feature table's copied examples: for a split, as near-duplicates are."""
    _, group_of = np.unique(np.asarray(rows), axis=0, return_inverse=True)
    return DuplicateGroups(group_of.ravel(), radius=0)


def _check_fraction(val_split: float, count: int) -> None:
    if not 0.0 < val_split < 1.0:
        raise ValueError(f"`val_split` must be between 0 and 1 (e.g. 0.2). Received: {val_split}")
    val_count = int(round(count * val_split))
    if val_count < 1 or val_count >= count:
        raise ValueError(
            f"`val_split` {val_split} of {count} images leaves an empty training or validation set: add images or change `val_split`."
        )


def _group_targets(label_sets: Sequence[Sequence[str]], group_of: np.ndarray) -> np.ndarray:
    """Per group: which labels and which label combinations its images carry, as 0/1 columns.

    Stratifying on labels balances each label; adding one column per combination also
    balances combinations (e.g. red_dress), which labels alone would not.
    """
    combinations = ["+".join(sorted(labels)) for labels in label_sets]
    columns = sorted({label for labels in label_sets for label in labels}) + sorted(set(combinations))
    column_of = {name: i for i, name in enumerate(columns)}
    targets = np.zeros((group_of.max() + 1, len(columns)), dtype=np.int8)
    for group, labels, combination in zip(group_of, label_sets, combinations):
        targets[group, [column_of[label] for label in labels]] = 1
        targets[group, column_of[combination]] = 1
    return targets


def _members(group_of: np.ndarray, chosen_groups: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isin(group_of, chosen_groups))


def split_indices(
    label_sets: Sequence[Sequence[str]],
    val_split: float,
    seed: int,
    groups: DuplicateGroups | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/validation indices.

    With ``groups``, near-duplicate groups stay on one side and the groups are split by
    iterative stratification over labels and combinations; the validation share is then
    ``val_split`` of the groups, close to ``val_split`` of the images. Without, the split is
    the tutorial's: ``train_test_split(test_size=val_split, random_state=seed)``.

    Raises:
        ValueError: If ``val_split`` is not in (0, 1) or leaves either side empty.
    """
    count = len(label_sets)
    _check_fraction(val_split, count)
    if groups is None:
        train, val = train_test_split(np.arange(count), test_size=val_split, random_state=seed)
        return np.sort(train), np.sort(val)
    targets = _group_targets(label_sets, groups.group_of)
    if len(targets) < 2:
        raise ValueError(
            f"All {count} images are near-duplicates of each other, so no split keeps them apart: add images or lower `duplicate_radius`."
        )
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=val_split, random_state=seed)
    train_groups, val_groups = next(splitter.split(np.zeros(len(targets)), targets))
    train, val = _members(groups.group_of, train_groups), _members(groups.group_of, val_groups)
    if not len(train) or not len(val):
        raise ValueError(
            f"`val_split` {val_split} of {len(targets)} duplicate groups leaves an empty side: add images or change `val_split`."
        )
    return train, val


def fold_indices(
    label_sets: Sequence[Sequence[str]],
    folds: int,
    seed: int,
    groups: DuplicateGroups | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` (train, validation) index pairs; every image is validated in exactly one fold.

    Folds are stratified and group-aware as in `split_indices`; without ``groups`` every
    image is its own group.

    Raises:
        ValueError: For fewer than 2 folds or more folds than groups.
    """
    groups = groups or DuplicateGroups.singletons(len(label_sets))
    targets = _group_targets(label_sets, groups.group_of)
    if folds < 2:
        raise ValueError(f"`folds` must be at least 2. Received: {folds}")
    if folds > len(targets):
        raise ValueError(f"`folds` {folds} is more than the {len(targets)} groups of distinct images: lower `folds`.")
    splitter = MultilabelStratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [
        (_members(groups.group_of, train_groups), _members(groups.group_of, val_groups))
        for train_groups, val_groups in splitter.split(np.zeros(len(targets)), targets)
    ]
