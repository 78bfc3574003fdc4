"""Manifests: a data set listed as rows of (image path or URI, labels), its files anywhere tf.io.gfile reads.

A CSV manifest has a header with a ``path`` and a ``labels`` column, the labels written as a label
folder's name (``red_dress``, split on ``--label-sep``); a JSON Lines manifest has one object a
line, ``{"path": "gs://bucket/0001.jpg", "labels": ["red", "dress"]}``. Relative paths are relative
to the manifest's folder. Only the rows are held; the images are decoded when a batch needs them.
"""

import csv
import io
import json
import os
import posixpath
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyimagesearch import config
from pyimagesearch.data.images import is_uri
from pyimagesearch.data.labels import labels_from_folder

COLUMNS = ("path", "labels")
# Existence checks in flight at once: each is a round trip to a bucket for remote files.
_CHECK_THREADS = 32


def is_manifest(dataset: str | os.PathLike) -> bool:
    """Whether ``--dataset`` names a manifest rather than a folder: a ``.jsonl`` file, or a ``.csv``
    file whose header names a ``path`` column (one without is a feature table, `feature_table`);
    a ``.csv`` that cannot be read is taken for a manifest, so `read_manifest` says why."""
    name = str(dataset).lower()
    if name.endswith(".jsonl"):
        return True
    if not name.endswith(".csv"):
        return False
    import tensorflow as tf  # For the header only: a folder or a .npy table is told by its name.

    try:
        with tf.io.gfile.GFile(str(dataset), "r") as handle:
            header = handle.readline().lstrip("\ufeff")
    except (tf.errors.OpError, UnicodeDecodeError):
        return True
    return "path" in next(csv.reader([header]), [])


def read_manifest(manifest: str | os.PathLike, label_sep: str = config.LABEL_SEP) -> tuple[list[str | Path], list[tuple[str, ...]]]:
    """The rows of a manifest: each image's local path or URI, and its labels, in file order.

    Args:
        manifest: A ``.csv`` or ``.jsonl`` file, local or a URI.
        label_sep: Separator of the labels in a CSV ``labels`` cell (or a JSON string). Defaults to ``"_"``.

    Returns:
        ``(paths, label_sets)``: a `Path` for a local image, a ``str`` for a URI.

    Raises:
        ValueError: For a missing or empty manifest, a missing column, a row without a path or
            labels, or a listed file that does not exist; the message names the manifest and row.
    """
    text = _read_text(manifest)
    rows = _jsonl_rows(manifest, text) if str(manifest).lower().endswith(".jsonl") else _csv_rows(manifest, text)
    if not rows:
        raise ValueError(f"`dataset` {manifest}: the manifest lists no image. Add rows of {', '.join(COLUMNS)}.")
    folder = posixpath.dirname(manifest) if is_uri(str(manifest)) else Path(manifest).parent
    paths: list[str | Path] = []
    label_sets = []
    for line, path, labels in rows:
        if not path or not labels:
            raise ValueError(
                f"`dataset` {manifest}, row {line}: every row needs a path and at least one label. Received: {path!r}, {labels!r}"
            )
        if is_uri(path):
            paths.append(path)
        elif isinstance(folder, str):
            paths.append(posixpath.join(folder, path))
        else:
            paths.append(folder / path)
        label_sets.append(labels_from_folder(labels, label_sep) if isinstance(labels, str) else tuple(dict.fromkeys(map(str, labels))))
    _check_files_exist(manifest, paths)
    return paths, label_sets


def _read_text(manifest: str | os.PathLike) -> str:
    import tensorflow as tf

    if not tf.io.gfile.exists(str(manifest)):
        raise ValueError(
            f"`dataset` {manifest}: no such file. Give a folder of label folders, a manifest (.jsonl, or .csv with path and "
            "labels columns) or, for the MLP, a feature table (.csv or .npy)."
        )
    try:
        with tf.io.gfile.GFile(str(manifest), "r") as handle:
            return handle.read()
    except UnicodeDecodeError as error:
        raise ValueError(
            f"`dataset` {manifest}: not a text file ({error.reason} at byte {error.start}); a manifest is UTF-8 CSV or JSON Lines."
        ) from None


def _csv_rows(manifest: str | os.PathLike, text: str) -> list[tuple[int, str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(
            f"`dataset` {manifest}: the CSV header lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}. "
            f"Its first line must name {', '.join(COLUMNS)}, e.g. path,labels. "
            f"Received: {', '.join(reader.fieldnames or []) or 'an empty file'}"
        )
    return [(reader.line_num, (row["path"] or "").strip(), (row["labels"] or "").strip()) for row in reader]


def _jsonl_rows(manifest: str | os.PathLike, text: str) -> list[tuple[int, str, object]]:
    rows = []
    for line, content in enumerate(text.splitlines(), start=1):
        if not content.strip():
            continue
        try:
            row = json.loads(content)
        except json.JSONDecodeError as error:
            raise ValueError(f"`dataset` {manifest}, line {line}: not JSON ({error.msg}).") from None
        missing = [column for column in COLUMNS if not isinstance(row, dict) or column not in row]
        if missing:
            raise ValueError(
                f"`dataset` {manifest}, line {line}: no {', '.join(missing)}. Each line must be an object like "
                '{"path": "images/0001.jpg", "labels": ["red", "dress"]}.'
            )
        labels = row["labels"]
        if not isinstance(labels, (str, list)):
            raise ValueError(f"`dataset` {manifest}, line {line}: labels must be a list of strings. Received: {labels!r}")
        rows.append((line, str(row["path"]).strip(), labels))
    return rows


def _check_files_exist(manifest: str | os.PathLike, paths: list[str | Path]) -> None:
    # Before training, not an hour into it; remote files are asked about in parallel.
    import tensorflow as tf

    def exists(path: str | Path) -> bool:
        return tf.io.gfile.exists(path) if isinstance(path, str) else path.is_file()

    with ThreadPoolExecutor(max_workers=_CHECK_THREADS) as pool:
        missing = [path for path, found in zip(paths, pool.map(exists, paths)) if not found]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ValueError(f"`dataset` {manifest}: {missing[0]}{more} not found. Fix the paths or remove those rows.")
