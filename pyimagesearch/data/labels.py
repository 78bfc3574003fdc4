"""Labels from folder names, their encoding, and the task they imply."""

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pyimagesearch import config

if TYPE_CHECKING:
    from sklearn.preprocessing import MultiLabelBinarizer


def labels_from_folder(folder_name: str, separator: str = config.LABEL_SEP) -> tuple[str, ...]:
    """Split a folder name into its labels, in order, without repeats or empty parts.

    Args:
        folder_name: The image's parent folder name, e.g. ``"red_dress"``.
        separator: What separates labels in the name. Defaults to ``"_"``.

    Returns:
        The labels, e.g. ``("red", "dress")``.

    Raises:
        ValueError: If the separator is empty or the name holds no label.

    Example:
        >>> labels_from_folder("red_dress")
        ('red', 'dress')
    """
    if not separator:
        raise ValueError("`label_sep`, the label separator, must be a non-empty string. Received: ''")
    parts = [part.strip() for part in folder_name.split(separator)]
    labels = tuple(dict.fromkeys(part for part in parts if part))
    if not labels:
        raise ValueError(f"The folder name {folder_name!r} gives no label when split on {separator!r}: rename the folder, e.g. red_dress.")
    return labels


def labels_for_paths(paths: Sequence[Path], separator: str = config.LABEL_SEP) -> list[tuple[str, ...]]:
    """Labels of each image from its parent folder's name (see `labels_from_folder`)."""
    return [labels_from_folder(Path(path).parent.name, separator) for path in paths]


def detect_task(label_sets: Sequence[Iterable[str]]) -> str:
    """The task the labels imply.

    One label per image and two labels in all is ``"binary"``; one label per image and
    more than two labels is ``"multiclass"``; anything else is ``"multilabel"``.

    Raises:
        ValueError: If there are no images, fewer than two distinct labels, or the same labels on every image.
    """
    label_sets = [set(labels) for labels in label_sets]
    if not label_sets:
        raise ValueError("No labelled images: put images in folders named after their labels, e.g. dataset/red_dress/.")
    all_labels = set().union(*label_sets)
    if len(all_labels) < 2:
        raise ValueError(
            f"Found a single label in all ({', '.join(sorted(all_labels))}): a classifier needs at least two. "
            "Add folders for other labels, or check `label_sep`."
        )
    if all(labels == label_sets[0] for labels in label_sets):
        raise ValueError(
            f"Every image carries the same labels ({', '.join(sorted(all_labels))}): a classifier needs images that "
            "differ. Add folders for other label sets, or check `label_sep`."
        )
    if all(len(labels) == 1 for labels in label_sets):
        return "binary" if len(all_labels) == 2 else "multiclass"
    return "multilabel"


def resolve_task(label_sets: Sequence[Iterable[str]], requested: str = "auto") -> str:
    """The task to train: the detected one for ``"auto"``, else the request if the labels allow it.

    Args:
        label_sets: Labels of each image.
        requested: One of ``config.TASKS``. Defaults to ``"auto"``.

    Raises:
        ValueError: If the request is unknown or the labels contradict it (e.g. ``"multiclass"``
            when some image carries two labels).
    """
    if requested not in config.TASKS:
        raise ValueError(f"Unknown task: expected one of {', '.join(config.TASKS)}. Received: `task` {requested}")
    detected = detect_task(label_sets)
    if requested == "auto":
        return detected
    # Independent sigmoids fit any labelling, so multilabel is never refused.
    label_sets = [set(labels) for labels in label_sets]
    most = max(len(labels) for labels in label_sets)
    if requested != "multilabel" and most > 1:
        example = sorted(next(labels for labels in label_sets if len(labels) == most))
        raise ValueError(
            f"`task` {requested} needs one label per image, but some images carry {most} labels "
            f"(e.g. {example}). Use `task` multilabel or `task` auto."
        )
    count = len(set().union(*label_sets))
    if requested == "binary" and count != 2:
        raise ValueError(
            f"`task` binary needs exactly two labels in all, but the data set has {count}. Use `task` multiclass or `task` auto."
        )
    return requested


def fit_binarizer(label_sets: Sequence[Iterable[str]]) -> "MultiLabelBinarizer":
    """A `MultiLabelBinarizer` fitted on the labels; its ``classes_`` is the saved class order."""
    # Imported here: scikit-learn takes seconds to load, and train.py checks its flags without it.
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer()
    binarizer.fit([sorted(labels) for labels in label_sets])
    return binarizer


def label_counts(label_sets: Sequence[Iterable[str]]) -> tuple[Counter, Counter]:
    """How many images carry each label, and each combination (labels joined with ``+``, sorted)."""
    per_label = Counter(label for labels in label_sets for label in labels)
    per_combination = Counter("+".join(sorted(labels)) for labels in label_sets)
    return per_label, per_combination


def infer_label_groups(folder_names: Iterable[str], separator: str = config.LABEL_SEP) -> list[list[str]] | None:
    """Mutually exclusive label groups read from folder-name positions, if the names have them.

    When every folder name splits into the same number (two or more) of labels and no label
    appears at two positions, each position is a group: ``red_dress``, ``blue_jeans`` give
    ``[["blue", "red"], ["dress", "jeans"]]``, and every image carries exactly one label of
    each group.

    Returns:
        The groups, each sorted, in position order; ``None`` when the names do not fit.
    """
    split = [labels_from_folder(name, separator) for name in set(folder_names)]
    if not split or len({len(labels) for labels in split}) != 1 or len(split[0]) < 2:
        return None
    groups = [sorted({labels[position] for labels in split}) for position in range(len(split[0]))]
    if sum(len(group) for group in groups) != len(set().union(*groups)):
        return None
    return groups
