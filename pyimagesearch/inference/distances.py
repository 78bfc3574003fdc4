"""How far an image's features are from the training images': the distances behind the unknown
scores (`unknown`), in plain numpy."""

import numpy as np

# Directions of the within-label covariance kept exactly; the rest share one variance.
COMPONENTS = 128
# The distances of the shape branch's (or the one network's) features: "mahalanobis" to the nearest
# label mean, "nearest_neighbour": cosine distance to the nearest training image, whose
# normalised features are stored in float16 (centring them or keeping only their principal
# directions told left-out types apart less well: bench/README.md, "Unknown detection"), or
# "neighbour_and_mahalanobis": the mean of the two's ranks among the validation images'.
DISTANCES = ("mahalanobis", "nearest_neighbour", "neighbour_and_mahalanobis")
# The distance of a pretrained backbone's features. "neighbour_and_mahalanobis" told left-out
# garment types apart better, but flagged new combinations of known labels (blue jeans to a model
# that saw only black ones) more often and cost them labels: bench/README.md, "Unknown detection".
PRETRAINED_DISTANCE = "nearest_neighbour"


def fit_feature_statistics(features: np.ndarray, combinations: np.ndarray, components: int | None = COMPONENTS) -> dict[str, np.ndarray]:
    """Statistics of `mahalanobis_distances`: the mean of each label combination and their shared covariance.

    The within-combination covariance is kept as probabilistic PCA: its ``components`` largest
    directions with their variances, and one variance, the mean of the others, for everything
    else. With ``components`` at least the feature count, that is the full covariance, and the
    distance sees an unknown image off the training clusters in any direction; with fewer, a
    direction of little variance beyond them counts with the average residual variance.

    Args:
        features: Training features, shape (N, D).
        combinations: Which label combination each row belongs to, shape (N,), any labels.
        components: Directions kept exactly; None keeps all (the full covariance, for comparison).
            Defaults to `COMPONENTS`.

    Returns:
        ``means`` (C, D), ``components`` (K, D), ``variances`` (K,) and ``residual_variance`` (1,).
    """
    features = np.asarray(features, dtype="float64")
    _, combination_of = np.unique(combinations, axis=0, return_inverse=True)
    combination_of = combination_of.reshape(-1)
    means = np.stack([features[combination_of == c].mean(axis=0) for c in range(combination_of.max() + 1)])
    centred = features - means[combination_of]
    _, singular, directions = np.linalg.svd(centred, full_matrices=False)
    variances = singular**2 / max(1, len(features) - len(means))
    kept = len(variances) if components is None else min(components, len(variances))
    dimensions = features.shape[1]
    # A floor keeps constant features (dead units) from dividing by zero.
    floor = 1e-6 * max(float(variances[0]), 1e-12)
    residual = variances[kept:].sum() / max(1, dimensions - kept)
    return {
        "means": means,
        "components": directions[:kept],
        "variances": np.maximum(variances[:kept], floor),
        "residual_variance": np.array([max(residual, floor)]),
    }


def mahalanobis_distances(features: np.ndarray, statistics: dict[str, np.ndarray]) -> np.ndarray:
    """Squared Mahalanobis distance of each row to the nearest combination mean, shape (N,): higher is stranger.

    Args:
        features: Shape (N, D).
        statistics: As `fit_feature_statistics` returns them.
    """
    features = np.asarray(features, dtype="float64")
    components = np.asarray(statistics["components"], dtype="float64")
    variances = np.asarray(statistics["variances"], dtype="float64")
    residual_variance = float(np.asarray(statistics["residual_variance"]).reshape(-1)[0])
    distances = []
    for mean in np.asarray(statistics["means"], dtype="float64"):
        offset = features - mean
        projected = offset @ components.T
        # What the kept directions do not explain shares the residual variance.
        rest = np.maximum((offset**2).sum(axis=1) - (projected**2).sum(axis=1), 0.0)
        distances.append((projected**2 / variances).sum(axis=1) + rest / residual_variance)
    return np.min(distances, axis=0)


def _unit_rows(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype="float64")
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def fit_neighbour_statistics(features: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of `neighbour_distances`: the training features (N, D), L2-normalised, in float16
    (``reference``): float16 rounding moves a cosine by about 1e-3, far below the distances that
    tell a new garment from a known one."""
    return {"reference": _unit_rows(features).astype("float16")}


def neighbour_distances(features: np.ndarray, statistics: dict[str, np.ndarray]) -> np.ndarray:
    """Cosine distance of each row to its nearest row of ``statistics["reference"]`` (see
    `fit_neighbour_statistics`), shape (N,): higher is stranger."""
    reference = _unit_rows(statistics["reference"])
    return 1.0 - (_unit_rows(features) @ reference.T).max(axis=1)


def joint_ranks(distances: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Share of the sorted ``scale`` below each of ``distances``, in [0, 1]."""
    return np.searchsorted(np.asarray(scale, dtype="float64"), np.asarray(distances, dtype="float64"), side="left") / len(scale)


def fit_joint_statistics(
    features: np.ndarray, combinations: np.ndarray, validation_features: np.ndarray, scale_points: int = 1000
) -> dict[str, np.ndarray]:
    """Statistics of `joint_distances`: both distances' (`fit_neighbour_statistics`,
    `fit_feature_statistics`) and each one's scale, the sorted distances of the validation images
    (``neighbour_scale``, ``mahalanobis_scale``; at most ``scale_points`` quantiles of them).

    Args:
        features: Training features, shape (N, D).
        combinations: Which label combination each training row belongs to, shape (N,), any labels.
        validation_features: Features of images the network did not learn from, shape (M, D).
        scale_points: Distances kept per scale.
    """
    statistics = {**fit_neighbour_statistics(features), **fit_feature_statistics(features, combinations)}
    quantiles = np.linspace(0, 1, min(scale_points, len(validation_features)))
    for name, found in (
        ("neighbour_scale", neighbour_distances(validation_features, statistics)),
        ("mahalanobis_scale", mahalanobis_distances(validation_features, statistics)),
    ):
        statistics[name] = np.quantile(found, quantiles, method="lower").astype("float32")
    return statistics


def joint_distances(features: np.ndarray, statistics: dict[str, np.ndarray]) -> np.ndarray:
    """The mean of the nearest-neighbour and the Mahalanobis distance's ranks on their scales (see
    `fit_joint_statistics`), shape (N,), in [0, 1]: higher is stranger."""
    neighbour = joint_ranks(neighbour_distances(features, statistics), statistics["neighbour_scale"])
    mahalanobis = joint_ranks(mahalanobis_distances(features, statistics), statistics["mahalanobis_scale"])
    return (neighbour + mahalanobis) / 2


def distance_rule(pretrained: bool) -> tuple[str, bool]:
    """The distance (one of `DISTANCES`) for a network's features, and whether it alone decides
    its groups (else a group's highest probability counts too): ``(PRETRAINED_DISTANCE, True)``
    for a pretrained backbone's, ``("mahalanobis", False)`` for features learnt from scratch."""
    return (PRETRAINED_DISTANCE, True) if pretrained else ("mahalanobis", False)


def feature_distances(features: np.ndarray, score: str, statistics: dict[str, np.ndarray]) -> np.ndarray:
    """The distance named ``score`` (one of `DISTANCES`) of each row of ``features``, shape (N,): higher is stranger."""
    measure = {"nearest_neighbour": neighbour_distances, "mahalanobis": mahalanobis_distances, "neighbour_and_mahalanobis": joint_distances}
    return measure[score](features, statistics)
