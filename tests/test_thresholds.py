import numpy as np
import pytest
from sklearn.metrics import f1_score

from pyimagesearch.training.thresholds import best_f1_threshold, tune_thresholds


def test_tuning_rescues_a_label_whose_probabilities_run_low():
    # Positives score 0.30-0.45, negatives 0.05-0.25: at 0.5 nothing is predicted (F1 0).
    rng = np.random.default_rng(0)
    truth = np.array([1] * 20 + [0] * 20)
    scores = np.concatenate([rng.uniform(0.30, 0.45, 20), rng.uniform(0.05, 0.25, 20)])
    threshold = best_f1_threshold(truth, scores)
    assert 0.25 < threshold < 0.45
    assert f1_score(truth, scores >= threshold) >= 1.0 - 1 / 20
    assert f1_score(truth, scores >= 0.5) == 0.0


def test_tuned_thresholds_never_do_worse_than_half_on_the_tuning_data():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, size=(200, 5))
    probabilities = np.clip(truth * rng.uniform(0.1, 0.6, (200, 5)) + rng.uniform(0, 0.5, (200, 5)), 0, 1)
    thresholds = tune_thresholds(truth, probabilities)
    assert thresholds.shape == (5,)
    for label in range(5):
        tuned = f1_score(truth[:, label], probabilities[:, label] >= thresholds[label])
        assert tuned >= f1_score(truth[:, label], probabilities[:, label] >= 0.5)


def test_a_label_without_positives_or_negatives_keeps_the_default():
    assert best_f1_threshold(np.zeros(5), np.linspace(0, 1, 5)) == 0.5
    assert best_f1_threshold(np.ones(5), np.linspace(0, 1, 5)) == 0.5


def test_perfect_separation_cuts_midway_between_the_classes():
    truth = np.array([0, 0, 1, 1])
    assert best_f1_threshold(truth, np.array([0.05, 0.1, 0.9, 0.95])) == 0.5


def test_a_threshold_does_not_chase_a_single_validation_image():
    # One positive scores 0.08, among the negatives' 0.01-0.07: catching it (cut 0.075, F1 1.0)
    # beats the clean cut between the groups (0.34, F1 18/19) by less than one image's worth.
    truth = np.array([1] * 10 + [0] * 7)
    scores = np.array([0.08, *np.linspace(0.6, 0.9, 9), *np.linspace(0.01, 0.07, 7)])
    assert best_f1_threshold(truth, scores) == pytest.approx(0.34)
