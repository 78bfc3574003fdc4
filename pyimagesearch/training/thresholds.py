"""Choosing one decision threshold per label on validation data.

Each label's threshold maximises that label's F1 on the validation images. F1 rather than
exact-match because labels are then tuned independently: exact-match couples every label's
threshold to every other's, so tuning it searches a far larger space with the same few hundred
images and overfits them. Per-label F1 also serves rare labels, which exact-match barely sees.
"""

import numpy as np
from sklearn.metrics import precision_recall_curve

from pyimagesearch import config

# Keep thresholds away from 0 and 1: a threshold at the extreme predicts a label always or never.
_LOWEST, _HIGHEST = 0.05, 0.95


def best_f1_threshold(truth: np.ndarray, scores: np.ndarray, default: float = config.THRESHOLD) -> float:
    """A threshold on ``scores`` that maximises F1 against 0/1 ``truth`` for one label.

    Each cut between two consecutive distinct scores is a candidate, placed midway between
    them so that it does not hug a validation image. Cuts whose F1 is within one image's worth
    (1 / positives) of the best count as equally good, and the one nearest ``default`` wins:
    a threshold chasing a single validation image does not carry over to new photos (on the
    fashion photos it halved the worst out-of-sample loss; see README). A label with no
    positive or no negative validation image keeps ``default``.
    """
    truth = np.asarray(truth).astype(bool)
    if truth.all() or not truth.any():
        return default
    precision, recall, cuts = precision_recall_curve(truth, np.asarray(scores, dtype="float64"))
    # cuts ascend; predicting ``score >= cuts[i]`` gives precision[i] and recall[i].
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.nan_to_num(2 * precision[:-1] * recall[:-1] / (precision[:-1] + recall[:-1]))
    candidates = np.clip(np.concatenate([cuts[:1], (cuts[:-1] + cuts[1:]) / 2]), _LOWEST, _HIGHEST)
    good = np.flatnonzero(f1 >= f1.max() - 1.0 / truth.sum() - 1e-12)
    return float(candidates[good[np.argmin(np.abs(candidates[good] - default))]])


def tune_thresholds(truth: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """One F1-maximising threshold per label (see `best_f1_threshold`), shape (num_labels,)."""
    return np.array([best_f1_threshold(truth[:, i], probabilities[:, i]) for i in range(truth.shape[1])])
