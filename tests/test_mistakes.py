import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import PROJECT_ROOT

from pyimagesearch.evaluation.mistakes import confused_combinations, confused_labels, group_confusion, per_image_loss

CLASSES = ["black", "blue", "red", "dress", "jeans"]
# red dress -> blue dress; blue jeans -> right; black jeans -> jeans alone; red dress -> red, dress, jeans.
TRUE = np.array([[0, 0, 1, 1, 0], [0, 1, 0, 0, 1], [1, 0, 0, 0, 1], [0, 0, 1, 1, 0]])
PREDICTED = np.array([[0, 1, 0, 1, 0], [0, 1, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 1, 1, 1]])


@pytest.mark.parametrize("task, head", [("multilabel", "flat"), ("multilabel", "grouped"), ("multiclass", "flat"), ("binary", "flat")])
def test_per_image_loss_is_the_training_loss_keras_computes(task, head):
    import keras

    from pyimagesearch.models.grouped_head import grouped_crossentropy
    from pyimagesearch.models.tasks import get_task

    rng = np.random.default_rng(0)
    probabilities = rng.uniform(0.0, 1.0, (16, 4)).astype("float32")
    probabilities[0, 0] = 0.0  # clipped, as Keras clips
    true = (rng.uniform(size=(16, 4)) > 0.5).astype("float32")
    if head == "grouped":
        probabilities[:, :2] /= probabilities[:, :2].sum(axis=1, keepdims=True)
        probabilities[:, 2:] /= probabilities[:, 2:].sum(axis=1, keepdims=True)
        true[:, 1], true[:, 3] = 1 - true[:, 0], 1 - true[:, 2]
        expected = grouped_crossentropy(true, probabilities)
    elif task == "binary":
        true[:, 1] = 1 - true[:, 0]
        probabilities = probabilities[:, :2]
        probabilities[:, 0] = 1 - probabilities[:, 1]
        true = true[:, :2]
        # The network's one sigmoid unit scores the second class.
        expected = keras.losses.get(get_task(task).loss)(true[:, 1:], probabilities[:, 1:])
    else:
        if task == "multiclass":
            true = np.eye(4, dtype="float32")[rng.integers(0, 4, 16)]
        expected = keras.losses.get(get_task(task).loss)(true, probabilities)
    found = per_image_loss(task, head, true, probabilities)
    np.testing.assert_allclose(found, keras.ops.convert_to_numpy(expected), rtol=1e-5)


def test_per_image_loss_refuses_what_it_cannot_score():
    with pytest.raises(ValueError, match="Unknown head.*Received: 'softmax'"):
        per_image_loss("multilabel", "softmax", TRUE, PREDICTED)
    with pytest.raises(ValueError, match=r"one shape. Received: \(4, 5\) and \(4, 2\)"):
        per_image_loss("multilabel", "flat", TRUE, PREDICTED[:, :2])


def test_group_confusion_counts_each_image_once_in_its_cell():
    colours = group_confusion(TRUE, PREDICTED, CLASSES, [0, 1, 2])
    assert colours["rows"] == ["black", "blue", "red"]
    assert colours["columns"] == ["black", "blue", "red", "(none)"]  # the black jeans lost their colour
    assert colours["counts"] == [[0, 0, 0, 1], [0, 1, 0, 0], [0, 1, 1, 0]]
    types = group_confusion(TRUE, PREDICTED, CLASSES, [3, 4])
    assert types["columns"] == ["dress", "jeans", "(several)"]
    assert types["counts"] == [[1, 0, 1], [0, 2, 0]]


def test_confused_labels_pair_each_miss_with_each_wrong_label():
    assert confused_labels(TRUE, PREDICTED, CLASSES) == [
        {"true": "red", "predicted": "blue", "images": 1},
        {"true": "black", "predicted": None, "images": 1},
        {"true": None, "predicted": "jeans", "images": 1},
    ]


def test_confused_combinations_count_the_wrong_images_by_truth_and_prediction():
    doubled_true, doubled_predicted = np.concatenate([TRUE, TRUE[:1]]), np.concatenate([PREDICTED, PREDICTED[:1]])
    assert confused_combinations(doubled_true, doubled_predicted, CLASSES) == [
        {"true": ["red", "dress"], "predicted": ["blue", "dress"], "images": 2},
        {"true": ["black", "jeans"], "predicted": ["jeans"], "images": 1},
        {"true": ["red", "dress"], "predicted": ["red", "dress", "jeans"], "images": 1},
    ]


def test_mistakes_import_numpy_only():
    code = "import json, sys, pyimagesearch.evaluation.mistakes; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert not {"keras", "tensorflow", "sklearn"} & set(json.loads(result.stdout))
