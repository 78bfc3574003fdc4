import keras
import numpy as np
import pytest

from pyimagesearch.data.labels import fit_binarizer
from pyimagesearch.models.build import build_classifier
from pyimagesearch.models.tasks import TASKS, exact_match, get_task


@pytest.mark.parametrize(
    "name, activation, loss, units",
    [
        ("multilabel", "sigmoid", "binary_crossentropy", 4),
        ("multiclass", "softmax", "categorical_crossentropy", 4),
        ("binary", "sigmoid", "binary_crossentropy", 1),
    ],
)
def test_task_builds_matching_head_and_loss(name, activation, loss, units):
    task = get_task(name)
    model = build_classifier(task, num_labels=4 if name != "binary" else 2, image_size=32, optimizer=keras.optimizers.Adam())
    assert model.output_shape == (None, units)
    assert model.layers[-1].get_config()["activation"] == activation
    assert model.loss == loss


def test_every_task_pairs_sigmoid_with_binary_and_softmax_with_categorical_crossentropy():
    pairs = {(task.activation, task.loss) for task in TASKS.values()}
    assert pairs == {("sigmoid", "binary_crossentropy"), ("softmax", "categorical_crossentropy")}


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="Unknown task.*Received: 'auto'"):
        get_task("auto")


def test_binary_encodes_one_column_and_decodes_both_labels():
    task = get_task("binary")
    binarizer = fit_binarizer([("cat",), ("dog",)])
    targets = task.encode(binarizer, [("cat",), ("dog",), ("dog",)])
    np.testing.assert_array_equal(targets, [[0], [1], [1]])
    probabilities = task.label_probabilities(np.array([[0.2], [0.9]]))
    np.testing.assert_allclose(probabilities, [[0.8, 0.2], [0.1, 0.9]], rtol=1e-6)
    np.testing.assert_array_equal(task.decode(probabilities), [[1, 0], [0, 1]])


def test_multilabel_decodes_by_threshold_or_top_k():
    task = get_task("multilabel")
    probabilities = np.array([[0.9, 0.6, 0.1], [0.4, 0.3, 0.2]])
    np.testing.assert_array_equal(task.decode(probabilities, threshold=0.5), [[1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(task.decode(probabilities, top_k=1), [[1, 0, 0], [1, 0, 0]])


def test_multiclass_decodes_the_arg_max_whatever_the_threshold():
    task = get_task("multiclass")
    np.testing.assert_array_equal(task.decode(np.array([[0.3, 0.45, 0.25]]), threshold=0.9), [[0, 1, 0]])


def test_exact_match_counts_an_image_only_when_every_label_is_right():
    truth = np.array([[1, 0, 1], [1, 0, 1], [0, 1, 0]], dtype="float32")
    predicted = np.array([[0.9, 0.2, 0.7], [0.9, 0.6, 0.7], [0.1, 0.5, 0.4]], dtype="float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(exact_match(truth, predicted)), [1.0, 0.0, 1.0])


def test_multilabel_metrics_are_per_label_binary_accuracy_and_exact_match():
    names = [metric.name for metric in get_task("multilabel").metrics()]
    assert names == ["binary_accuracy", "exact_match"]


def test_multilabel_decoding_takes_a_threshold_per_label_or_one_label_per_group():
    task = get_task("multilabel")
    probabilities = np.array([[0.3, 0.6, 0.2, 0.7], [0.1, 0.2, 0.9, 0.4]])
    np.testing.assert_array_equal(task.decode(probabilities, threshold=np.array([0.25, 0.5, 0.5, 0.8])), [[1, 1, 0, 0], [0, 0, 1, 0]])
    # Groups {0, 1} and {2, 3}: exactly one label of each, even when all are below 0.5.
    np.testing.assert_array_equal(task.decode(probabilities, groups=[[0, 1], [2, 3]]), [[0, 1, 0, 1], [0, 1, 1, 0]])
