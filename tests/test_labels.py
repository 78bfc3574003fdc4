import numpy as np
import pytest

from pyimagesearch.data.labels import (
    detect_task,
    fit_binarizer,
    label_counts,
    labels_from_folder,
    resolve_task,
)


def test_folder_name_splits_on_underscore_by_default():
    assert labels_from_folder("red_dress") == ("red", "dress")


def test_folder_name_splits_on_custom_separator_and_drops_empty_and_repeated_parts():
    assert labels_from_folder("red-dress", separator="-") == ("red", "dress")
    assert labels_from_folder("red__dress_red") == ("red", "dress")


def test_folder_name_without_separator_is_a_single_label():
    assert labels_from_folder("cat") == ("cat",)
    assert labels_from_folder("red_dress", separator="+") == ("red_dress",)


def test_folder_name_with_no_label_is_refused():
    with pytest.raises(ValueError, match="gives no label"):
        labels_from_folder("___")
    with pytest.raises(ValueError, match=r"`label_sep`, the label separator, must be a non-empty string"):
        labels_from_folder("red_dress", separator="")


def test_detect_task_from_labels():
    assert detect_task([("cat",), ("dog",), ("cat",)]) == "binary"
    assert detect_task([("cat",), ("dog",), ("bird",)]) == "multiclass"
    assert detect_task([("red", "dress"), ("blue", "jeans")]) == "multilabel"


def test_detect_task_refuses_a_single_label_and_no_images():
    with pytest.raises(ValueError, match="single label"):
        detect_task([("cat",), ("cat",)])
    with pytest.raises(ValueError, match="No labelled images"):
        detect_task([])


def test_override_contradicted_by_labels_is_refused():
    two_labels_each = [("red", "dress"), ("blue", "jeans")]
    with pytest.raises(ValueError, match="`task` multiclass needs one label per image.*`task` multilabel"):
        resolve_task(two_labels_each, "multiclass")
    with pytest.raises(ValueError, match="`task` binary needs exactly two labels in all, but the data set has 3"):
        resolve_task([("cat",), ("dog",), ("bird",)], "binary")
    with pytest.raises(ValueError, match="Unknown task"):
        resolve_task(two_labels_each, "regression")


def test_override_the_labels_allow_is_kept():
    single = [("cat",), ("dog",), ("bird",)]
    assert resolve_task(single, "auto") == "multiclass"
    assert resolve_task(single, "multilabel") == "multilabel"
    assert resolve_task([("cat",), ("dog",)], "multiclass") == "multiclass"


def test_binarizer_encodes_and_decodes_as_an_exact_inverse_pair():
    label_sets = [("red", "dress"), ("blue", "jeans"), ("blue", "dress")]
    binarizer = fit_binarizer(label_sets)
    assert list(binarizer.classes_) == ["blue", "dress", "jeans", "red"]
    encoded = binarizer.transform(label_sets)
    np.testing.assert_array_equal(encoded, [[0, 1, 0, 1], [1, 0, 1, 0], [1, 1, 0, 0]])
    assert [set(labels) for labels in binarizer.inverse_transform(encoded)] == [set(s) for s in label_sets]


def test_label_and_combination_counts():
    per_label, per_combination = label_counts([("red", "dress"), ("red", "shirt"), ("dress", "red")])
    assert per_label == {"red": 3, "dress": 2, "shirt": 1}
    assert per_combination == {"dress+red": 2, "red+shirt": 1}


def test_label_groups_come_from_folder_name_positions():
    from pyimagesearch.data.labels import infer_label_groups

    names = ["red_dress", "blue_dress", "blue_jeans", "black_jeans", "red_shirt"]
    assert infer_label_groups(names) == [["black", "blue", "red"], ["dress", "jeans", "shirt"]]
    assert infer_label_groups(["red_dress", "blue"]) is None  # positions differ in count
    assert infer_label_groups(["red_blue", "blue_red"]) is None  # a label at two positions
    assert infer_label_groups(["cat", "dog"]) is None  # one label per folder: no groups
    assert infer_label_groups(["red-dress", "blue-jeans"], "-") == [["blue", "red"], ["dress", "jeans"]]
