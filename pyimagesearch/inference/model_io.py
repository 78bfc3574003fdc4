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

from pyimagesearch.atomic import atomic_path, write_bytes_atomic
from pyimagesearch.inference.labelbin import unpickle_labelbin
from pyimagesearch.inference.model_files import METADATA_MEMBER, METADATA_VERSION, read_model_metadata

# Imported to register the layers that saved models name.
from pyimagesearch.models import backbones, batch_norm, colour_and_shape, grouped_head  # noqa: F401


def save_model(model: keras.Model, path: str | os.PathLike, metadata: dict[str, Any]) -> None:
    """Write ``model`` and ``metadata`` to ``path`` atomically, in the Keras 3 archive format.

    Any file name works (``fashion.model`` as in the tutorial, or ``fashion.keras``): Keras
    insists on a ``.keras`` name only for the temporary file it writes. Only what predicting
    needs is written: the layers, their weights and the metadata, not a compiled model's
    optimizer state, loss and metrics (Adam's two moments alone would double the file: 105 MB
    instead of 35 for SmallerVGGNet at 96 pixels). Resuming never reads this file: it restores
    ``--work-dir``'s own backup.

    Raises:
        ValueError: For a path that is an existing folder, or an HDF5 (``.h5``) name.
    """
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        raise ValueError(f"`model` {path}: the legacy HDF5 format is not written; use a .keras or .model name.")
    if path.is_dir():
        raise ValueError(f"`model` {path} is an existing folder (a TensorFlow 2 SavedModel?): choose a file name.")
    with atomic_path(path, suffix=".keras") as temporary:
        for_inference(model).save(temporary)
        with zipfile.ZipFile(temporary, "a") as archive:
            archive.writestr(METADATA_MEMBER, json.dumps({"version": METADATA_VERSION, **metadata}, indent=2))


def for_inference(model: keras.Model) -> keras.Model:
    """``model`` without its compiled state: an uncompiled copy with the same layers and weights, or
    ``model`` itself when it was never compiled."""
    if getattr(model, "optimizer", None) is None:
        return model
    # Not keras.models.clone_model: it compiles the copy as the original was.
    copy = model.__class__.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


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
            raise ValueError(f"`model` {path}: Keras cannot load it ({error}). Retrain it with train.py.") from error
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
