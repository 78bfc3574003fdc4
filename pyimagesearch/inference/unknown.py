"""Telling photos of things the model never learnt ("unknown") from those it knows, in plain numpy.

Out-of-distribution scores, each calibrated on the validation images of training:

- per label group (colours, types): the highest probability within the group. A shoe gets no
  confident type; a red dress, to a model that never saw dresses, a colour but no type.
- with the colour-and-shape network (`colour_and_shape`), also for each group its shape branch
  reads (the types): the distance of the shape branch's features to the training images'.
  Each group's scores come from its own branch, so a new combination of known labels (a red
  shirt to a model that saw red only on dresses) is judged on a familiar colour and a familiar
  grey shape: it is no unknown. The image is unknown when every group is.
- with one network for every group: per image, the distance of the penultimate features (the
  1024-unit dense block) to the training images'.

Which distance, and whether a group's highest probability counts beside it, depends on where
the features come from (`distances.distance_rule`). A network learnt from scratch (SmallerVGGNet) gets the
Mahalanobis distance to the nearest label combination's mean, under the training features'
shared within-label covariance kept exactly in its `distances.COMPONENTS` largest directions with one
variance, the mean of the others, for the rest; a group is unknown when either its probability
or its distance says so (on the generated shapes of the demo data the probability sees nothing
where the distance does, on photos the reverse happens). A pretrained backbone's features get the
cosine distance to the nearest training image, which alone decides its groups: there the
probability only adds false alarms. bench/README.md ("Unknown detection") compares these and
other candidates with one garment type left out of training.

A raw score means little on its own, so each becomes a *typicality*: the share of validation
images that score as unfamiliar or more (an empirical p-value, in [0, 1]). One threshold then
serves every score: an image or group whose typicality is below it is unknown. train.py sets it
so that `RETENTION` (95 %) of the validation images get no unknown flag at all, and stores it with
the statistics in the model's metadata (``"unknown"``); classify.py ``--unknown-threshold`` overrides it.

Imports neither TensorFlow nor Keras (classification with an ONNX model uses it); only
`fit_unknown_detector`, which runs a Keras model, imports them, when called.
"""

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pyimagesearch.inference import decoding
from pyimagesearch.inference.distances import distance_rule, feature_distances, fit_feature_statistics, fit_neighbour_statistics

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)

# Share of in-distribution (validation) images that must keep every label: no unknown flag.
RETENTION = 0.95
# Training images whose features fit the statistics (a seeded sample beyond that: the statistics
# of 4,000 images are as good as those of 40,000, and cost a tenth of the time).
FIT_IMAGES = 4000
# Validation scores stored per calibration table (quantiles beyond that).
CALIBRATION_POINTS = 1000
# Images run through the network at a time while fitting.
_CHUNK = 256


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """A compact JSON-ready form of a float array: its shape and little-endian bytes in base64,
    float16 for a float16 array (half the size), float32 for any other."""
    kind = "float16" if np.asarray(array).dtype == np.float16 else "float32"
    array = np.ascontiguousarray(array, dtype="<f2" if kind == "float16" else "<f4")
    return {"shape": list(array.shape), kind: base64.b64encode(array.tobytes()).decode("ascii")}


def decode_array(encoded: dict[str, Any]) -> np.ndarray:
    """The array `encode_array` encoded, as float32."""
    kind = "float16" if "float16" in encoded else "float32"
    array = np.frombuffer(base64.b64decode(encoded[kind]), dtype="<f2" if kind == "float16" else "<f4")
    return array.astype("float32").reshape(encoded["shape"])


def group_confidences(probabilities: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """The highest probability within each label group, shape (N, groups), float32: higher is more familiar."""
    probabilities = np.asarray(probabilities, dtype="float32")
    return np.stack([probabilities[:, list(group)].max(axis=1) for group in groups], axis=1)


def calibration_table(familiarities: np.ndarray) -> np.ndarray:
    """The sorted validation scores (at most `CALIBRATION_POINTS` quantiles of them), float32."""
    familiarities = np.sort(np.asarray(familiarities, dtype="float32"))
    if len(familiarities) > CALIBRATION_POINTS:
        familiarities = np.quantile(familiarities, np.linspace(0, 1, CALIBRATION_POINTS), method="lower")
    return familiarities.astype("float32")


def typicality(familiarities: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Share of the calibration scores at or below each score, in [0, 1]: 0.03 means only 3 % of
    validation images looked as unfamiliar or more."""
    familiarities = np.asarray(familiarities, dtype="float32")
    return np.searchsorted(table, familiarities, side="right") / len(table)


def retention_threshold(typicalities: np.ndarray, retention: float = RETENTION) -> float:
    """The typicality threshold under which at most ``1 - retention`` of these images get a flag.

    Args:
        typicalities: Validation images' typicalities, shape (N, scores): an image is flagged
            when any of its scores is below the threshold.
        retention: Share of images to keep unflagged. Defaults to `RETENTION`.
    """
    lowest = np.sort(np.asarray(typicalities).min(axis=1))
    return float(lowest[int(np.floor((1.0 - retention) * len(lowest)))])


@dataclass
class UnknownScores:
    """Typicalities of a batch of images (see `typicality`).

    Attributes:
        image: Of the whole image, shape (N,): its feature distance, or for the colour-and-shape
            network the highest of the groups' (the image is unknown when every group is).
        groups: Of each label group, shape (N, groups): the lowest of its scores'.
    """

    image: np.ndarray
    groups: np.ndarray


class UnknownDetector:
    """The calibrated scores of a trained model, from the ``"unknown"`` entry of its metadata.

    Args:
        metadata: What `fit_unknown_detector` returned and train.py stored.
        classes: The model's labels, in output order.
    """

    def __init__(self, metadata: dict[str, Any], classes: Sequence[str]):
        def distance(entry: dict[str, Any] | None) -> tuple[str, dict[str, np.ndarray], np.ndarray] | None:
            if entry is None:
                return None
            statistics = {name: decode_array(value) for name, value in entry["statistics"].items()}
            return entry["score"], statistics, decode_array(entry["calibration"])

        # Models stored before the rule existed combine probability and distance.
        self.distance_alone = [bool(group.get("distance", {}).get("alone", False)) for group in metadata["groups"]]

        self.threshold = float(metadata["threshold"])
        self.image_distance = distance(metadata["image"])
        self.group_labels = [list(group["labels"]) for group in metadata["groups"]]
        self.groups = [[list(classes).index(label) for label in labels] for labels in self.group_labels]
        self.group_tables = [decode_array(group["calibration"]) for group in metadata["groups"]]
        self.group_distances = [distance(group.get("distance")) for group in metadata["groups"]]

    def score(self, probabilities: np.ndarray, features: np.ndarray) -> UnknownScores:
        """Typicalities of images from the network's label probabilities (N, labels) and the
        features its distances read (N, D)."""

        def distance_typicality(distance: tuple[str, dict[str, np.ndarray], np.ndarray]) -> np.ndarray:
            score, statistics, table = distance
            return typicality(-feature_distances(features, score, statistics), table)

        groups = np.zeros((len(probabilities), len(self.groups)))
        if self.groups:
            confidences = group_confidences(probabilities, self.groups)
            groups = np.stack([typicality(confidences[:, g], table) for g, table in enumerate(self.group_tables)], axis=1)
            for g, distance in enumerate(self.group_distances):
                if distance is not None:
                    found = distance_typicality(distance)
                    groups[:, g] = found if self.distance_alone[g] else np.minimum(groups[:, g], found)
        if self.image_distance is None:
            return UnknownScores(groups.max(axis=1), groups)
        return UnknownScores(distance_typicality(self.image_distance), groups)

    def assess(self, scores: UnknownScores, row: int, threshold: float | None = None) -> dict[str, Any]:
        """The JSON-ready verdict on image ``row`` of ``scores``: typicalities and unknown flags.

        Args:
            scores: As `score` returns them.
            row: The image's index in them.
            threshold: Typicality below which the image or a group is unknown. Defaults to the model's.

        Returns:
            ``{"threshold": t, "image": {"typicality": x, "unknown": bool},
            "groups": [{"labels": [...], "typicality": y, "unknown": bool}, ...]}``.
        """
        threshold = self.threshold if threshold is None else threshold

        def verdict(value: float) -> dict[str, Any]:
            return {"typicality": round(float(value), 4), "unknown": bool(value < threshold)}

        return {
            "threshold": round(threshold, 4),
            "image": verdict(scores.image[row]),
            "groups": [{"labels": labels, **verdict(scores.groups[row, g])} for g, labels in enumerate(self.group_labels)],
        }


def _run(network: "keras.Model", images: Any, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    outputs, features = [], []
    for start in range(0, len(indices), _CHUNK):
        batch = np.asarray(images[indices[start : start + _CHUNK]], dtype="float32")
        output, feature = network.predict(batch, verbose=0)
        outputs.append(output)
        features.append(feature)
    return np.concatenate(outputs), np.concatenate(features)


def fit_unknown_detector(
    model: "keras.Model",
    images: Any,
    targets: np.ndarray,
    train_index: np.ndarray,
    val_index: np.ndarray,
    task: str,
    classes: Sequence[str],
    label_groups: list[list[str]] | None,
    colour_group: int | None = None,
    pretrained: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit and calibrate the unknown detection of a trained model: the ``"unknown"`` metadata entry.

    The feature statistics come from (at most `FIT_IMAGES` of) the training images; the
    calibration tables and the threshold from the validation images, which the model did not
    learn from, so that the threshold keeps `RETENTION` of new photos of known things.

    Args:
        model: The trained model (float32).
        images: The data set's images (array or array-like), indexed by ``train_index`` and ``val_index``.
        targets: The training targets of every image, shape (N, output units): each distinct row
            is a label combination.
        train_index: Rows the model was trained on.
        val_index: Validation rows.
        task: ``"multilabel"``, ``"multiclass"`` or ``"binary"``.
        classes: The labels in output order.
        label_groups: Mutually exclusive label groups, or None (then only the whole image is scored).
        colour_group: For the colour-and-shape network, the index of the colour group in
            ``label_groups``; the other groups then get a distance on the shape branch's
            features, and there is no image score. None for one network.
        pretrained: Whether the features come from a pretrained backbone (see `distance_rule`).
        seed: Seed of the sample of training images. Defaults to 0.

    Returns:
        A JSON-ready dict: ``threshold``, ``retention``, ``feature_layers`` (the layer whose output
        the distances read), ``image`` (a distance: statistics and calibration; None for the
        colour-and-shape network) and ``groups`` (labels, the max-probability calibration and,
        on the shape branch, a ``distance``).
    """
    from pyimagesearch.inference.predictors import feature_layer_name, with_features  # Keras: training only.
    from pyimagesearch.models.colour_and_shape import SHAPE_FEATURES

    score, alone = distance_rule(pretrained)
    layer = SHAPE_FEATURES if colour_group is not None else feature_layer_name(model)
    network = with_features(model, [layer])
    sample = np.asarray(train_index)
    if len(sample) > FIT_IMAGES:
        sample = np.sort(np.random.default_rng(seed).choice(sample, FIT_IMAGES, replace=False))
    _, train_features = _run(network, images, sample)
    val_outputs, val_features = _run(network, images, np.asarray(val_index))
    groups = [[list(classes).index(label) for label in group] for group in label_groups or []]

    def distance(label_columns: list[int] | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The statistics of the rule's distance (for Mahalanobis, about the means of each distinct
        row of the targets' ``label_columns``, all of them: each label combination), and the
        validation images' familiarities."""
        if score == "nearest_neighbour":
            statistics = fit_neighbour_statistics(train_features)
        else:
            labels = targets[sample] if label_columns is None else targets[sample][:, label_columns]
            statistics = fit_feature_statistics(train_features, labels)
        return statistics, -feature_distances(val_features, score, statistics)

    image = distance(None) if colour_group is None else None
    group_distances = [distance(group) if colour_group is not None and g != colour_group else None for g, group in enumerate(groups)]
    confidences = group_confidences(decoding.label_probabilities(task, val_outputs), groups) if groups else None
    # Every score, its calibration table and its validation typicalities, in one list for the threshold.
    familiarities = [image[1]] if image else []
    familiarities += [confidences[:, g] for g in range(len(groups))]
    familiarities += [found[1] for found in group_distances if found]
    tables = [calibration_table(familiarity) for familiarity in familiarities]
    # The scores that flag: a group's probability does not where its distance decides alone.
    deciding = [True] * (1 if image else 0)
    deciding += [not (alone and group_distances[g] is not None) for g in range(len(groups))]
    deciding += [True for found in group_distances if found]
    typicalities = np.stack(
        [typicality(familiarity, table) for familiarity, table, flags in zip(familiarities, tables, deciding) if flags], axis=1
    )
    threshold = retention_threshold(typicalities)
    logger.info(
        "unknown detection: typicality threshold %.4f leaves %.1f%% of the %d validation images without an unknown flag",
        threshold,
        100 * float((typicalities.min(axis=1) >= threshold).mean()),
        len(typicalities),
    )
    tables = iter(tables)

    def stored_distance(found: tuple[dict[str, np.ndarray], np.ndarray] | None) -> dict[str, Any] | None:
        if found is None:
            return None
        return {"score": score, "alone": alone, "statistics": {name: encode_array(value) for name, value in found[0].items()}}

    image_entry = None if image is None else {**stored_distance(image), "calibration": encode_array(next(tables))}
    group_entries = [
        {"labels": list(labels), "score": "max_probability", "calibration": encode_array(next(tables))} for labels in label_groups or []
    ]
    for entry, found in zip(group_entries, group_distances):
        if found is not None:
            entry["distance"] = {**stored_distance(found), "calibration": encode_array(next(tables))}
    return {
        "threshold": threshold,
        "retention": RETENTION,
        "feature_layers": [layer],
        "image": image_entry,
        "groups": group_entries,
    }


def is_flagged(assessment: dict[str, Any]) -> bool:
    """Whether an `UnknownDetector.assess` verdict flags the image or any of its label groups as unknown."""
    return assessment["image"]["unknown"] or any(group["unknown"] for group in assessment["groups"])


def format_typicality(assessment: dict[str, Any]) -> str:
    """One line of an `UnknownDetector.assess` verdict, e.g.
    ``image 0.41, black/blue/red 0.9, jeans/shirt 0.01 (unknown below 0.033)``."""
    parts = [f"image {assessment['image']['typicality']:g}"]
    parts += [f"{'/'.join(group['labels'])} {group['typicality']:g}" for group in assessment["groups"]]
    return f"{', '.join(parts)} (unknown below {assessment['threshold']:g})"
