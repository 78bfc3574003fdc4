"""Saving and loading a trained model with its metadata, and the label binarizer, safely."""

import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import keras
from sklearn.preprocessing import MultiLabelBinarizer

from pyimagesearch import backbones, batch_norm, colour_and_shape, grouped_head  # noqa: F401  (register the layers that saved models name)
from pyimagesearch.atomic import atomic_path, write_bytes_atomic
from pyimagesearch.labelbin import unpickle_labelbin

# Our metadata rides inside the Keras archive as one more member, which Keras ignores on load,
# so a model file is self-contained: labels, task, input size and preprocessing travel with it.
METADATA_MEMBER = "pyimagesearch.json"
METADATA_VERSION = 1


def save_model(model: keras.Model, path: str | os.PathLike, metadata: dict[str, Any]) -> None:
    """Write ``model`` and ``metadata`` to ``path`` atomically, in the Keras 3 archive format.

    Any file name works (``fashion.model`` as in the tutorial, or ``fashion.keras``): Keras
    insists on a ``.keras`` name only for the temporary file it writes.

    Raises:
        ValueError: For a path that is an existing folder, or an HDF5 (``.h5``) name.
    """
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        raise ValueError(f"--model {path}: the legacy HDF5 format is not written; use a .keras or .model name.")
    if path.is_dir():
        raise ValueError(f"--model {path} is an existing folder (a TensorFlow 2 SavedModel?): choose a file name.")
    with atomic_path(path, suffix=".keras") as temporary:
        model.save(temporary)
        with zipfile.ZipFile(temporary, "a") as archive:
            archive.writestr(METADATA_MEMBER, json.dumps({"version": METADATA_VERSION, **metadata}, indent=2))


def read_model_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata stored in a model file by `save_model`, without loading the network.

    Raises:
        ValueError: For a missing file or one that is not a model written by train.py.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--model {path}: no such file. Train one with train.py --model {path}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"--model {path} is not a Keras 3 model archive: retrain it with this toolkit's train.py.")
    with zipfile.ZipFile(path) as archive:
        if METADATA_MEMBER not in archive.namelist():
            raise ValueError(
                f"--model {path} has no label metadata (a Keras model from elsewhere?): "
                "retrain it with this toolkit's train.py."
            )
        return json.loads(archive.read(METADATA_MEMBER))


def load_model(path: str | os.PathLike) -> tuple[keras.Model, dict[str, Any]]:
    """Load a model written by `save_model`, in Keras safe mode, with its metadata.

    Returns:
        ``(model, metadata)``; the model is uncompiled, ready for ``predict``.

    Raises:
        ValueError: As `read_model_metadata`, or when Keras cannot load the archive.
    """
    path = Path(path)
    metadata = read_model_metadata(path)
    # keras.saving.load_model accepts only names ending in .keras; a link gives it one
    # without copying the file.
    with tempfile.TemporaryDirectory() as folder:
        link = Path(folder) / "model.keras"
        link.symlink_to(path.resolve())
        try:
            model = keras.saving.load_model(link, compile=False, safe_mode=True)
        except (ValueError, OSError, KeyError, zipfile.BadZipFile) as error:
            raise ValueError(f"--model {path}: Keras cannot load it ({error}). Retrain it with train.py.") from error
    return model, metadata


def save_labelbin(binarizer: MultiLabelBinarizer, path: str | os.PathLike) -> None:
    """Pickle the fitted binarizer to ``path`` atomically (the tutorial's ``mlb.pickle``)."""
    write_bytes_atomic(path, pickle.dumps(binarizer))


def load_labelbin(path: str | os.PathLike) -> MultiLabelBinarizer:
    """Unpickle a `MultiLabelBinarizer`, refusing anything else (see `labelbin.unpickle_labelbin`).

    Raises:
        ValueError: For a missing file, a pickle holding anything else, or a corrupt file.
    """
    return unpickle_labelbin(path, MultiLabelBinarizer)
