"""The classic multi-label methods, over feature vectors: what the MLP and the CNNs are measured against.

- **Binary relevance** (problem transformation): one logistic regression per label, each
  deciding its label alone, so any combination of labels can come out, seen or not.
- **Label powerset** (problem transformation): one multi-class logistic regression whose
  classes are the label combinations of the training set; it can only answer one of those.
- **ML-kNN** (an adapted algorithm; Zhang and Zhou, 2007): for each label, the number of the k
  nearest training rows carrying it, turned into a posterior by Bayes' rule with counts from
  the training set.

Each is a scikit-learn estimator behind a `StandardScaler` (`build_baseline`), fitted on a
(N, D) feature array and an (N, L) 0/1 label matrix; ``predict`` gives 0/1 labels and
``predict_proba`` per-label probabilities, (N, L) both.

ML-kNN is written here: scikit-multilearn 0.2.0 (its last release, 2018) fails on scikit-learn
1.x (``NearestNeighbors(self.k)``: keyword-only since 1.0), and its fork scikit-multilearn-ng
(0.0.8) works but brings networkx, python-louvain, future and liac-arff for this one estimator.
On the fashion features, `MLkNN` gives the same predictions and probabilities as
scikit-multilearn-ng's ``MLkNN(k=10, s=1.0)`` fitted with ``ignore_first_neighbours=1`` (each
training row's neighbours without itself, as in the paper) and predicting with 0 (that option
also drops a new row's nearest neighbour).
"""

from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

# Logistic regressions: scikit-learn's default regularisation, iterations enough to converge on
# 2,052 standardised image features.
LOGISTIC_MAX_ITER = 2000
# ML-kNN's neighbours and smoothing: the paper's k = 10 and Laplace smoothing s = 1.
KNN_NEIGHBOURS = 10
KNN_SMOOTHING = 1.0


def _label_matrix(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"Multi-label targets must be a 0/1 matrix of shape (N, labels). Received: shape {labels.shape}")
    return labels.astype(np.int64)


class LabelPowerset(ClassifierMixin, BaseEstimator):
    """Label powerset: one multi-class classifier whose classes are the training set's label combinations.

    Args:
        classifier: A scikit-learn multi-class classifier with ``predict_proba``. Defaults to a
            `LogisticRegression`.

    Attributes:
        combinations_: The distinct 0/1 label rows of the training set, (C, L): the only answers
            it can give.
    """

    def __init__(self, classifier: ClassifierMixin | None = None):
        self.classifier = classifier

    def fit(self, features: np.ndarray, labels: np.ndarray) -> "LabelPowerset":
        """Learn the combinations of ``labels`` (N, L) and a classifier over them."""
        self.combinations_, combination = np.unique(_label_matrix(labels), axis=0, return_inverse=True)
        self.classifier_ = self.classifier if self.classifier is not None else LogisticRegression(max_iter=LOGISTIC_MAX_ITER)
        self.classifier_.fit(features, combination.ravel())
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The most probable combination of each row, as 0/1 labels (N, L)."""
        return self.combinations_[self.classifier_.predict(features)]

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Each label's probability (N, L): the summed probabilities of the combinations holding it."""
        return self.classifier_.predict_proba(features) @ self.combinations_[self.classifier_.classes_]


class MLkNN(ClassifierMixin, BaseEstimator):
    """ML-kNN (Zhang and Zhou, 2007, "ML-KNN: A lazy learning approach to multi-label learning").

    For label l and a row whose ``k`` nearest training rows hold l ``c`` times, l is predicted when
    P(l) P(c | l) >= P(not l) P(c | not l). The priors are label frequencies; P(c | l) is the share
    of training rows with l whose own k neighbours (the row itself left out) hold l ``c`` times;
    both with Laplace smoothing ``smoothing``.

    Args:
        k: Neighbours. Defaults to 10.
        smoothing: Laplace smoothing of the counts. Defaults to 1.
    """

    def __init__(self, k: int = KNN_NEIGHBOURS, smoothing: float = KNN_SMOOTHING):
        self.k = k
        self.smoothing = smoothing

    def fit(self, features: np.ndarray, labels: np.ndarray) -> "MLkNN":
        """Index the training rows and count, per label, how many neighbours of each row hold it.

        Raises:
            ValueError: For ``k`` below 1 or not below the number of rows.
        """
        labels = _label_matrix(labels)
        if not 1 <= self.k < len(labels):
            raise ValueError(f"k must be at least 1 and below the {len(labels)} training rows. Received: k {self.k}")
        self.labels_ = labels
        self.neighbours_ = NearestNeighbors(n_neighbors=self.k).fit(features)
        # Each row's neighbours among the others: ask for k + 1 and drop the row itself.
        around = self.neighbours_.kneighbors(features, self.k + 1, return_distance=False)
        around = np.array([[j for j in row if j != i][: self.k] for i, row in enumerate(around)])
        counts = labels[around].sum(axis=1)  # (N, L)
        s, rows = self.smoothing, len(labels)
        self.prior_ = (s + labels.sum(axis=0)) / (2 * s + rows)
        self.likelihood_ = np.zeros((2, labels.shape[1], self.k + 1))  # [has label?, label, count]
        for has in (0, 1):
            for label in range(labels.shape[1]):
                held = np.bincount(counts[labels[:, label] == has, label], minlength=self.k + 1)
                self.likelihood_[has, label] = (s + held) / (s * (self.k + 1) + held.sum())
        return self

    def _scores(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = self.labels_[self.neighbours_.kneighbors(features, return_distance=False)].sum(axis=1)
        columns = np.arange(counts.shape[1])
        with_label = self.prior_ * self.likelihood_[1, columns, counts]
        without = (1 - self.prior_) * self.likelihood_[0, columns, counts]
        return with_label, without

    def predict(self, features: np.ndarray) -> np.ndarray:
        """0/1 labels (N, L) by the maximum a posteriori rule."""
        with_label, without = self._scores(features)
        return (with_label >= without).astype(np.int64)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Each label's posterior probability (N, L)."""
        with_label, without = self._scores(features)
        return with_label / (with_label + without)


BASELINES: dict[str, Callable[[], BaseEstimator]] = {
    "binary_relevance": lambda: OneVsRestClassifier(LogisticRegression(max_iter=LOGISTIC_MAX_ITER)),
    "label_powerset": lambda: LabelPowerset(),
    "ml_knn": lambda: MLkNN(),
}


def build_baseline(name: str) -> Pipeline:
    """A baseline of `BASELINES` behind a `StandardScaler`, unfitted: ``fit(features, labels)`` with
    labels a 0/1 matrix (N, L), then ``predict`` and ``predict_proba``.

    Raises:
        ValueError: For a name not in `BASELINES`.

    Example:
        >>> model = build_baseline("binary_relevance").fit(train_features, train_labels)
        >>> model.predict(val_features)  # (N, L) of 0/1
    """
    if name not in BASELINES:
        raise ValueError(f"Unknown baseline: expected one of {', '.join(BASELINES)}. Received: {name!r}")
    return make_pipeline(StandardScaler(), BASELINES[name]())
