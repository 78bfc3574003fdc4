import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import PROJECT_ROOT

from pyimagesearch.inference.decoding import decode, label_probabilities, named_decodings, output_units, resolve_decoding


def test_binary_outputs_become_both_labels_probabilities():
    np.testing.assert_allclose(label_probabilities("binary", np.array([[0.2], [0.9]])), [[0.8, 0.2], [0.1, 0.9]], rtol=1e-6)
    outputs = np.array([[0.9, 0.1, 0.4]])
    np.testing.assert_array_equal(label_probabilities("multilabel", outputs), outputs.astype("float32"))
    assert [output_units(task, 4) for task in ("multilabel", "multiclass", "binary")] == [4, 4, 1]


def test_multilabel_keeps_labels_at_or_above_their_thresholds():
    probabilities = np.array([[0.9, 0.5, 0.1], [0.4, 0.3, 0.2]])
    np.testing.assert_array_equal(decode("multilabel", probabilities), [[1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(decode("multilabel", probabilities, threshold=[0.95, 0.2, 0.2]), [[0, 1, 0], [0, 1, 1]])


def test_single_label_tasks_keep_the_most_probable_label_and_top_k_the_k_most():
    probabilities = np.array([[0.2, 0.7, 0.1]])
    np.testing.assert_array_equal(decode("multiclass", probabilities, threshold=0.0), [[0, 1, 0]])
    np.testing.assert_array_equal(decode("multilabel", probabilities, top_k=2), [[1, 1, 0]])


def test_groups_keep_the_most_probable_label_of_each_group():
    probabilities = np.array([[0.6, 0.7, 0.1, 0.2, 0.05]])
    np.testing.assert_array_equal(decode("multilabel", probabilities, groups=[[0, 1, 2], [3, 4]]), [[0, 1, 0, 1, 0]])


def test_named_decodings_are_the_standard_ones_each_model_has():
    thresholds, groups = np.array([0.3, 0.6, 0.5]), [[0, 1], [2]]
    named = named_decodings("multilabel", thresholds, groups)
    assert list(named) == ["threshold 0.5", "tuned thresholds", "one label per group"]
    probabilities = np.array([[0.4, 0.55, 0.2]])
    decided = {name: decode("multilabel", probabilities, **options).tolist() for name, options in named.items()}
    assert decided == {"threshold 0.5": [[0, 1, 0]], "tuned thresholds": [[1, 0, 0]], "one label per group": [[0, 1, 1]]}
    assert list(named_decodings("multilabel")) == ["threshold 0.5"]
    # A single-label task takes the arg-max whatever the threshold.
    assert named_decodings("multiclass", thresholds, groups) == {"most probable label": {}}


def test_one_rule_resolves_the_models_decoding_and_the_users_choices():
    thresholds, groups = [0.3, 0.6, 0.5, 0.5], [[0, 1], [2, 3]]
    probabilities = np.array([[0.4, 0.55, 0.2, 0.1]])
    grouped = resolve_decoding("multilabel", 4, thresholds, groups, "grouped")
    assert (grouped.kind, grouped.name, grouped.groups) == ("groups", "one label per group", ((0, 1), (2, 3)))
    assert grouped.decide(probabilities).tolist() == [[0, 1, 1, 0]]
    # A threshold or top_k asks a grouped head for another decoding; --decode names one.
    asked = resolve_decoding("multilabel", 4, thresholds, groups, "grouped", threshold=0.3)
    assert (asked.kind, asked.name, asked.thresholds) == ("threshold", "threshold 0.3", (0.3,) * 4)
    assert asked.decide(probabilities).tolist() == [[1, 1, 0, 0]]
    top = resolve_decoding("multilabel", 4, thresholds, groups, "grouped", top_k=1)
    assert (top.kind, top.name, top.decide(probabilities).tolist()) == ("top_k", "top 1", [[0, 1, 0, 0]])
    assert resolve_decoding("multilabel", 4, thresholds, groups, "grouped", threshold=0.3, decode="groups").name == "one label per group"
    flat = resolve_decoding("multilabel", 4, thresholds, groups)
    assert (flat.kind, flat.name, flat.thresholds) == ("threshold", "tuned thresholds", (0.3, 0.6, 0.5, 0.5))
    assert flat.decide(probabilities).tolist() == [[1, 0, 0, 0]]
    assert resolve_decoding("multilabel", 4, thresholds, groups, decode="groups").name == "one label per group"
    # Untuned thresholds are named by their value; a single-label task takes the arg-max.
    assert resolve_decoding("multilabel", 4).name == "threshold 0.5"
    assert resolve_decoding("multilabel", 4, [0.4] * 4, tuned=False).name == "threshold 0.4"
    single = resolve_decoding("multiclass", 4, thresholds)
    assert (single.name, single.decide(probabilities).tolist()) == ("most probable label", [[0, 1, 0, 0]])
    # The stored decodings are the named ones train.py reports.
    assert {resolve_decoding("multilabel", 4, thresholds, groups, head).name for head in ("flat", "grouped")} <= set(
        named_decodings("multilabel", np.array(thresholds), groups)
    )


@pytest.mark.parametrize(
    "choices, groups, message",
    [
        ({"threshold": 1.5}, None, r"`threshold` must be between 0 and 1. Received: 1.5"),
        ({"top_k": 5}, None, r"`top_k` must be between 1 and 4 \(the number of labels\). Received: 5"),
        ({"decode": "vote"}, None, r"Unknown decoding: expected one of threshold, groups. Received: `decode` vote"),
        ({"decode": "groups"}, None, r"`decode` groups: this model has no label groups .*use `decode` threshold."),
        ({"decode": "groups", "top_k": 2}, [[0, 1], [2, 3]], r"`decode` groups picks one label per group: drop `top_k`."),
    ],
)
def test_decodings_a_model_cannot_honour_are_refused(choices, groups, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        resolve_decoding("multilabel", 4, [0.5] * 4, groups, **choices)


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="Unknown task.*Received: 'auto'"):
        decode("auto", np.zeros((1, 2)))


def test_keras_tasks_decode_through_this_module():
    from pyimagesearch.models.tasks import get_task

    probabilities = np.random.default_rng(0).random((20, 4))
    for name in ("multilabel", "multiclass"):
        task = get_task(name)
        np.testing.assert_array_equal(task.decode(probabilities, threshold=0.3), decode(name, probabilities, threshold=0.3))
        np.testing.assert_array_equal(task.decode(probabilities, top_k=2), decode(name, probabilities, top_k=2))
    np.testing.assert_array_equal(
        get_task("binary").label_probabilities(probabilities[:, :1]), label_probabilities("binary", probabilities[:, :1])
    )


def test_decoding_imports_numpy_only():
    code = "import json, sys, pyimagesearch.inference.decoding; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    modules = set(json.loads(result.stdout))
    assert "numpy" in modules
    assert not {"keras", "tensorflow", "sklearn", "cv2"} & modules
