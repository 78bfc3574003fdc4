"""Data sets that are already feature vectors: a CSV or ``.npy`` table with a label column.

For users whose inputs are not images: ``train.py --arch mlp --dataset table.csv`` trains the MLP
(`mlp`) on its rows. The layout:

- CSV: a header row naming the columns; one column, ``labels`` by default (``--label-column``),
  holds each row's labels separated by ``--label-sep`` as in folder names (``red_dress``, or
  ``setosa`` for one label); every other column is a number. (A CSV with a ``path`` column is a
  manifest of images instead, `manifest`.)
- ``.npy``: a structured array (``np.save`` of an array with named fields), one string field
  for the labels, every other field a number. Loaded without pickle.

The file is only read, never changed.
"""

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyimagesearch import config
from pyimagesearch.data.labels import labels_from_folder
from pyimagesearch.data.manifest import is_manifest

TABLE_EXTENSIONS = (".csv", ".npy")


@dataclass
class FeatureTable:
    """The rows of a feature table.

    Attributes:
        features: float32 array of shape (N, D).
        label_names: Each row's label cell as written, e.g. ``"red_dress"`` (what folder names are to images).
        label_sets: Each row's labels, split on the separator.
        columns: The D feature columns' names, in order.
    """

    features: np.ndarray
    label_names: list[str]
    label_sets: list[tuple[str, ...]]
    columns: list[str]


def is_feature_table(path: str | os.PathLike) -> bool:
    """Whether ``--dataset`` names a feature table rather than an image folder or a manifest: a ``.npy``
    file, or a ``.csv`` file without a ``path`` column (`manifest.is_manifest`)."""
    path = Path(path)
    return path.suffix.lower() in TABLE_EXTENSIONS and not path.is_dir() and not is_manifest(path)


def _read_csv(path: Path, label_column: str) -> tuple[list[str], list[str], np.ndarray]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise ValueError(f"`dataset` {path} is empty: expected a header row, then one row per example.")
    header = [name.strip() for name in rows[0]]
    if label_column not in header:
        raise ValueError(
            f"`dataset` {path} has no column {label_column!r} (columns: {', '.join(header)}): name the label column with `label_column`."
        )
    label_index = header.index(label_column)
    columns = [name for i, name in enumerate(header) if i != label_index]
    labels, values = [], np.empty((len(rows) - 1, len(columns)), dtype=np.float32)
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"`dataset` {path}, line {line}: {len(row)} cells where the header has {len(header)}.")
        labels.append(row[label_index])
        cells = [cell for i, cell in enumerate(row) if i != label_index]
        for column, cell in zip(columns, cells):
            try:
                values[line - 2, columns.index(column)] = float(cell)
            except ValueError:
                raise ValueError(f"`dataset` {path}, line {line}, column {column!r}: {cell!r} is not a number.") from None
    return columns, labels, values


def _read_npy(path: Path, label_column: str) -> tuple[list[str], list[str], np.ndarray]:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise ValueError(f"`dataset` {path}: numpy cannot read it without pickle ({error}). Save a structured array, or use CSV.") from None
    names = array.dtype.names
    if names is None or label_column not in names:
        raise ValueError(
            f"`dataset` {path} is not a structured array with a {label_column!r} field (found "
            f"{'fields ' + ', '.join(names) if names else f'a plain array of shape {array.shape}'}): save one with "
            f"np.save(path, rows) where rows.dtype is e.g. [('{label_column}', 'U32'), ('f0', 'f4'), ...], or use CSV."
        )
    if array.dtype[label_column].kind not in "US":
        raise ValueError(f"`dataset` {path}: the field {label_column!r} must hold strings. Received dtype {array.dtype[label_column]}")
    columns = [name for name in names if name != label_column]
    wrong = [name for name in columns if array.dtype[name].kind not in "biuf"]
    if wrong:
        raise ValueError(f"`dataset` {path}: the feature fields {', '.join(wrong)} are not numbers.")
    labels = [value.decode() if isinstance(value, bytes) else str(value) for value in array[label_column].ravel()]
    values = np.stack([array[name].ravel().astype(np.float32) for name in columns], axis=1) if columns else np.empty((len(labels), 0))
    return columns, labels, values


def check_feature_table(path: str | os.PathLike) -> Path:
    """``path`` as a path, once it is known to be a file a feature table can be read from.

    Raises:
        ValueError: Naming ``dataset`` when there is no such file or it is neither ``.csv`` nor ``.npy``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"`dataset` {path}: no such file. Give a .csv or .npy feature table, or an image folder.")
    if path.suffix.lower() not in TABLE_EXTENSIONS:
        raise ValueError(f"`dataset` {path}: a feature table is a {' or '.join(TABLE_EXTENSIONS)} file.")
    return path


def load_feature_table(path: str | os.PathLike, label_column: str = config.LABEL_COLUMN, label_sep: str = config.LABEL_SEP) -> FeatureTable:
    """Read a feature table (see the module's layout).

    Args:
        path: A ``.csv`` or ``.npy`` file.
        label_column: The column (or field) of labels. Defaults to ``"labels"``.
        label_sep: Separator of labels within a label cell. Defaults to ``"_"``.

    Raises:
        ValueError: For a missing or unreadable file, no label column, a cell that is not a
            number, a non-finite value, an empty label, or no feature column or row; the
            message names the file, and the line and column where there is one.

    Example:
        >>> table = load_feature_table("iris.csv", label_column="species")
        >>> table.features.shape, table.label_sets[0]
        ((150, 4), ('setosa',))
    """
    path = check_feature_table(path)
    reader = _read_csv if path.suffix.lower() == ".csv" else _read_npy
    columns, labels, values = reader(path, label_column)
    if not columns or not labels:
        raise ValueError(f"`dataset` {path} has {len(labels)} rows and {len(columns)} feature columns: it needs at least one of each.")
    finite = np.isfinite(values)
    if not finite.all():
        row, column = map(int, np.argwhere(~finite)[0])
        raise ValueError(f"`dataset` {path}: row {row + 1} has {values[row, column]} in column {columns[column]!r}; fill or drop it.")
    label_sets = []
    for row, name in enumerate(labels, start=1):
        try:
            label_sets.append(labels_from_folder(name, label_sep))
        except ValueError:
            raise ValueError(f"`dataset` {path}: row {row} has no label in column {label_column!r} ({name!r}).") from None
    return FeatureTable(values.astype(np.float32), labels, label_sets, columns)
