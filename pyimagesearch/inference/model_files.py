"""A model file's metadata read without Keras, its ONNX sibling, and the run id that ties the two.

train.py stamps every model file with a run id, and its ONNX export (written beside it,
``fashion.model`` -> ``fashion.onnx``) carries the same metadata, run id included. Classifying
with ``--model fashion.model`` then runs the export when it belongs to the same run: onnxruntime
starts in a tenth of the time TensorFlow takes to import. Nothing here imports TensorFlow or Keras.
"""

import json
import os
import uuid
import zipfile
from pathlib import Path
from typing import Any

# Our metadata rides inside the Keras archive as one more member, which Keras ignores on load,
# so a model file is self-contained: labels, task, input size and preprocessing travel with it.
METADATA_MEMBER = "pyimagesearch.json"
METADATA_VERSION = 1
# The metadata key of the id shared by the model file and the export of one training run.
RUN_ID = "run_id"


def new_run_id() -> str:
    """A fresh run id: 32 hexadecimal digits, unique to one training run."""
    return uuid.uuid4().hex


def default_onnx_path(model_path: str | os.PathLike) -> Path:
    """Where the export of a model file goes by default: beside it, ``fashion.model`` -> ``fashion.onnx``."""
    return Path(model_path).with_suffix(".onnx")


def read_model_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata stored in a model file by `model_io.save_model`, without loading the network.

    Raises:
        ValueError: For a missing file or one that is not a model written by train.py.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"`model` {path}: no such file. Train one with train.py --model {path}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"`model` {path} is not a Keras 3 model archive: retrain it with this toolkit's train.py.")
    with zipfile.ZipFile(path) as archive:
        if METADATA_MEMBER not in archive.namelist():
            raise ValueError(
                f"`model` {path} has no label metadata (a Keras model from elsewhere?): retrain it with this toolkit's train.py."
            )
        return json.loads(archive.read(METADATA_MEMBER))


def export_mismatch(model_path: Path, model_metadata: dict[str, Any], export_metadata: dict[str, Any]) -> str | None:
    """Why the export's metadata does not belong to the model file's training run, or None when it does.

    Both must carry the same `RUN_ID`: a model file retrained with ``--no-export`` keeps the
    export of an earlier run beside it, which must not answer for it.
    """
    onnx_path = default_onnx_path(model_path)
    model_run, export_run = model_metadata.get(RUN_ID), export_metadata.get(RUN_ID)
    if model_run is None:
        return (
            f"{model_path} carries no run id (trained before run ids), so {onnx_path} cannot be told to be its "
            f"export; pass `model` {onnx_path} to run the export anyway"
        )
    if export_run != model_run:
        return (
            f"{onnx_path} is the export of another training run (run id {export_run}, the model's {model_run}); "
            f"export.py --model {model_path} replaces it"
        )
    return None
