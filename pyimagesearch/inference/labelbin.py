"""The pickled label binarizer (the tutorial's ``mlb.pickle``): unpickled safely, checked against a model.

Imports neither scikit-learn nor Keras: classification only needs the binarizer's class order,
and importing scikit-learn alone takes longer than the rest of a classification with an ONNX
model (measured: bench/README.md, "Inference"). `model_io.load_labelbin` goes through the same
unpickler to get a real `MultiLabelBinarizer`.
"""

import io
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Where a pickled MultiLabelBinarizer says its class lives.
_BINARIZER_GLOBAL = ("sklearn.preprocessing._label", "MultiLabelBinarizer")
# What a pickled MultiLabelBinarizer is made of besides itself, and nothing else: unpickling
# anything beyond this could run arbitrary code.
_NUMPY_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
    }
)


class BinarizerState:
    """A pickled `MultiLabelBinarizer`'s attributes (``classes_`` among them), without scikit-learn.

    Unpickling fills the instance's ``__dict__`` with the binarizer's state, as it would the
    real class's; it can be read, not used to transform labels.
    """

    classes_: np.ndarray


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for something outside the allow-list."""


class _LabelbinUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, binarizer_class: type):
        super().__init__(file)
        self.binarizer_class = binarizer_class

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == _BINARIZER_GLOBAL:
            return self.binarizer_class
        if (module, name) not in _NUMPY_GLOBALS:
            raise _RefusedGlobal(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def unpickle_labelbin(path: str | os.PathLike, binarizer_class: type = BinarizerState) -> Any:
    """Unpickle a fitted `MultiLabelBinarizer`, refusing anything else.

    Only the binarizer and the numpy types it is made of may be loaded, so a tampered file
    cannot run code.

    Args:
        path: The pickle written by train.py ``--labelbin``.
        binarizer_class: The class to rebuild the binarizer as: scikit-learn's
            ``MultiLabelBinarizer`` for a working binarizer, or the default `BinarizerState`,
            enough to read ``classes_`` without importing scikit-learn.

    Returns:
        An instance of ``binarizer_class`` with a ``classes_`` attribute.

    Raises:
        ValueError: For a missing file, a pickle holding anything else, or a corrupt file.

    Example:
        >>> list(unpickle_labelbin("mlb.pickle").classes_)
        ['black', 'blue', 'dress', 'jeans', 'red', 'shirt']
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"`labelbin` {path}: no such file. It is written by train.py --labelbin {path}.")
    try:
        binarizer = _LabelbinUnpickler(io.BytesIO(path.read_bytes()), binarizer_class).load()
    except _RefusedGlobal as error:
        raise ValueError(
            f"`labelbin` {path} was refused: {error}. It may only hold a MultiLabelBinarizer; use the mlb.pickle written by train.py."
        ) from error
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"`labelbin` {path} is corrupt ({error}): use the mlb.pickle written by train.py.") from error
    if not isinstance(binarizer, binarizer_class) or not hasattr(binarizer, "classes_"):
        raise ValueError(f"`labelbin` {path} holds no fitted MultiLabelBinarizer: use the mlb.pickle written by train.py.")
    return binarizer


def check_binarizer_classes(binarizer: Any, expected: Sequence[str], source: str) -> None:
    """Raise if a binarizer's class order differs from the one a model was trained with.

    Args:
        binarizer: Anything with the ``classes_`` of a fitted `MultiLabelBinarizer`.
        expected: The model's classes, in order.
        source: What to name in the message, e.g. ``"`labelbin` mlb.pickle"``.

    Raises:
        ValueError: Naming ``source`` and both class lists.
    """
    found = [str(label) for label in np.asarray(binarizer.classes_)]
    if found != list(expected):
        raise ValueError(
            f"{source} does not match the model: the model was trained on {len(expected)} labels "
            f"{list(expected)}, the labelbin holds {len(found)} labels {found}. "
            "Pass the `labelbin` written by the same train.py run as `model`."
        )
