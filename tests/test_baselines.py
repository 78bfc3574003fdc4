"""The classic multi-label baselines learn a separable problem; only binary relevance answers an unseen combination."""

import numpy as np
import pytest

from pyimagesearch.evaluation.baselines import BASELINES, MLkNN, build_baseline


def _separable(combinations: list[tuple[int, ...]], per_combination: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose features add one direction per label they carry, plus a little noise: (features, 0/1 labels)."""
    rng = np.random.default_rng(seed)
    directions = np.random.default_rng(0).normal(0, 3, size=(3, 12))
    labels = np.repeat(np.array(combinations), per_combination, axis=0)
    return labels @ directions + rng.normal(0, 0.3, size=(len(labels), 12)), labels


ALL = [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_each_baseline_learns_a_separable_multilabel_problem(name):
    train_features, train_labels = _separable(ALL, 30, seed=1)
    test_features, test_labels = _separable(ALL, 10, seed=2)
    model = build_baseline(name).fit(train_features, train_labels)
    predicted = model.predict(test_features)
    assert predicted.shape == test_labels.shape
    assert (predicted == test_labels).all(axis=1).mean() >= 0.95
    probabilities = model.predict_proba(test_features)
    assert probabilities.shape == test_labels.shape and ((probabilities >= 0) & (probabilities <= 1)).all()
    assert ((probabilities >= 0.5) == test_labels.astype(bool)).mean() >= 0.95


def test_binary_relevance_predicts_an_unseen_combination_label_powerset_cannot():
    seen = [combination for combination in ALL if combination != (1, 1, 0)]
    train_features, train_labels = _separable(seen, 30, seed=1)
    unseen_features, unseen_labels = _separable([(1, 1, 0)], 20, seed=2)
    relevance = build_baseline("binary_relevance").fit(train_features, train_labels).predict(unseen_features)
    powerset = build_baseline("label_powerset").fit(train_features, train_labels).predict(unseen_features)
    assert (relevance == unseen_labels).all(axis=1).mean() >= 0.9
    assert not (powerset == unseen_labels).all(axis=1).any()
    assert {tuple(row) for row in powerset} <= set(seen)


def test_bad_baseline_arguments_are_refused():
    with pytest.raises(ValueError, match="Unknown baseline: expected one of binary_relevance, label_powerset, ml_knn"):
        build_baseline("svm")
    with pytest.raises(ValueError, match="k must be at least 1 and below the 3 training rows"):
        MLkNN(k=3).fit(np.zeros((3, 2)), np.zeros((3, 2), dtype=int))
    with pytest.raises(ValueError, match=r"0/1 matrix of shape \(N, labels\)"):
        MLkNN().fit(np.zeros((20, 2)), np.arange(20))
