import numpy as np
import pytest

from pyimagesearch.evaluation.metrics import confusion_matrices, evaluate_predictions, format_report, summary_line

CLASSES = ["a", "b", "c"]
TRUE = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
PREDICTED = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]])
PROBABILITIES = np.array([[0.9, 0.1, 0.3], [0.2, 0.7, 0.2], [0.8, 0.4, 0.1], [0.1, 0.6, 0.9]])


def test_metrics_match_hand_computed_values():
    report = evaluate_predictions(TRUE, PREDICTED, CLASSES, PROBABILITIES)
    assert report["images"] == 4
    assert report["exact_match"] == pytest.approx(2 / 4)  # images 2 and 4 have every label right
    assert report["hamming_loss"] == pytest.approx(2 / 12)  # two wrong decisions out of twelve
    # 4 true positives, no false positive, 2 false negatives: P 1, R 4/6.
    assert report["micro_f1"] == pytest.approx(2 * 1 * (4 / 6) / (1 + 4 / 6))
    assert report["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    # AP of b: ranked 0.7 (yes), 0.6 (no), 0.4 (yes) -> (1/1 + 2/3) / 2; a and c rank perfectly.
    assert report["per_label"]["b"]["average_precision"] == pytest.approx(5 / 6)
    assert report["map"] == pytest.approx((1 + 5 / 6 + 1) / 3)
    assert report["per_label"]["b"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2, "average_precision": 5 / 6}
    )


def test_a_label_absent_from_truth_and_predictions_is_left_out_of_macro_f1_and_map():
    true = np.array([[1, 0], [0, 0]])
    predicted = np.array([[1, 0], [0, 0]])
    report = evaluate_predictions(true, predicted, ["x", "y"], np.array([[0.9, 0.1], [0.2, 0.3]]))
    assert report["macro_f1"] == 1.0 and report["map"] == 1.0
    assert report["per_label"]["y"]["average_precision"] is None


def test_without_probabilities_there_is_no_map():
    report = evaluate_predictions(TRUE, PREDICTED, CLASSES)
    assert report["map"] is None and "mAP" not in summary_line(report)


def test_confusion_matrices_count_each_labels_decisions():
    matrices = confusion_matrices(TRUE, PREDICTED, CLASSES)
    assert matrices["b"] == {"true_negatives": 2, "false_positives": 0, "false_negatives": 1, "true_positives": 1}
    assert all(sum(counts.values()) == 4 for counts in matrices.values())


def test_report_lines_show_summary_and_each_label():
    lines = format_report(evaluate_predictions(TRUE, PREDICTED, CLASSES, PROBABILITIES))
    assert lines[0].startswith("exact-match 0.500 | hamming 0.167")
    assert [line.split()[0] for line in lines[2:]] == CLASSES
