import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from conftest import PROJECT_ROOT

from pyimagesearch.data.labels import fit_binarizer
from pyimagesearch.inference.labelbin import BinarizerState, check_binarizer_classes, unpickle_labelbin
from pyimagesearch.inference.model_io import save_labelbin


class RunsACommand:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_labelbin_classes_are_read_without_importing_scikit_learn(tmp_path):
    save_labelbin(fit_binarizer([("red", "dress"), ("blue", "jeans")]), tmp_path / "mlb.pickle")
    code = (
        "import json, sys; from pyimagesearch.inference.labelbin import unpickle_labelbin; "
        f"binarizer = unpickle_labelbin({str(tmp_path / 'mlb.pickle')!r}); "
        "print(json.dumps([list(map(str, binarizer.classes_)), 'sklearn' in sys.modules]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert json.loads(result.stdout) == [["blue", "dress", "jeans", "red"], False]


def test_the_light_reading_refuses_what_the_full_one_refuses(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.pickle").write_bytes(pickle.dumps(RunsACommand(marker)))
    with pytest.raises(ValueError, match=r"evil.pickle was refused: refusing to load posix.system"):
        unpickle_labelbin(tmp_path / "evil.pickle")
    assert not marker.exists()
    (tmp_path / "array.pickle").write_bytes(pickle.dumps(np.arange(3)))
    with pytest.raises(ValueError, match="holds no fitted MultiLabelBinarizer"):
        unpickle_labelbin(tmp_path / "array.pickle", BinarizerState)


def test_mismatched_binarizer_is_named_with_both_label_lists(tmp_path):
    binarizer = fit_binarizer([("a", "b"), ("c",)])
    check_binarizer_classes(binarizer, ["a", "b", "c"], "mlb.pickle")
    with pytest.raises(ValueError, match=r"mlb.pickle does not match the model.*2 labels \['a', 'b'\]"):
        check_binarizer_classes(binarizer, ["a", "b"], "mlb.pickle")
    save_labelbin(binarizer, tmp_path / "mlb.pickle")
    check_binarizer_classes(unpickle_labelbin(tmp_path / "mlb.pickle"), ["a", "b", "c"], "mlb.pickle")
