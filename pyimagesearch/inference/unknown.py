"""Telling photos of things the model never learnt ("unknown") from those it knows, in plain numpy.

Out-of-distribution scores, each calibrated on the validation images of training:

- per label group (colours, types): the highest probability within the group. A shoe gets no
  confident type; a red dress, to a model that never saw dresses, a colour but no type.
- with the colour-and-shape network (`colour_and_shape`), also for each group its shape branch
  reads (the types): the distance of the shape branch's features to the training images'; and
  for the colour group, the cosine distance of the colour branch's features to the nearest
  training image's, which must agree with its probability: the colour group is unknown only when
  both say so. A colour between two known ones (a bluish black) gets a low probability but
  familiar features; a colour never taught, neither. That distance only takes flags away: the
  threshold is set without it. Each group's scores come from its own branch, so a new
  combination of known labels (a red shirt to a model that saw red only on dresses) is judged on
  a familiar colour and a familiar grey shape: it is no unknown. The image is unknown when every
  group is.
- with one network for every group: per image, the distance of the penultimate features (the
  1024-unit dense block) to the training images'.

Which distance, and whether a group's highest probability counts beside it, depends on where
the features come from (`distances.distance_rule`). A network learnt from scratch (SmallerVGGNet) gets the
Mahalanobis distance to the nearest label combination's mean, under the training features'
shared within-label covariance kept exactly in its `distances.COMPONENTS` largest directions with one
variance, the mean of the others, for the rest; a group is unknown when either its probability
or its distance says so (on the generated shapes of the demo data the probability sees nothing
where the distance does, on photos the reverse happens). A pretrained backbone's features get the
cosine distance to the nearest training image (or, `distances.PRETRAINED_DISTANCE`, that and the
Mahalanobis distance each ranked among the validation images' and averaged), which alone decides
its groups: there the probability only adds false alarms. bench/README.md ("Unknown detection")
compares these and other candidates with one garment type left out of training.

A raw score means little on its own, so each becomes a *typicality*: the share of validation
images that score as unfamiliar or more (an empirical p-value, in [0, 1]). One threshold then
serves every score: an image or group whose typicality is below it is unknown. train.py sets it
so that `RETENTION` (95 %) of the validation images get no unknown flag at all (at least that
many, with the colour group's distance), and stores it with the statistics in the model's
metadata (``"unknown"``); classify.py ``--unknown-threshold`` overrides it.

Imports neither TensorFlow nor Keras (classification with an ONNX model uses it); only
`fit_unknown_detector`, which runs a Keras model, imports them, when called.
"""

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pyimagesearch import config
from pyimagesearch.inference import decoding
from pyimagesearch.inference.distances import (
    distance_rule,
    feature_distances,
    fit_feature_statistics,
    fit_joint_statistics,
    fit_neighbour_statistics,
)

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
# Images run through the network at a time while fitting (a multiple of config.BATCH_SIZE).
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


# How a group's distance and its highest probability make its typicality: "alone" (the distance's),
# "either" (the lower: unknown when either says so) or "both" (the higher: unknown when both do).
COMBINATIONS = ("alone", "either", "both")


@dataclass
class Distance:
    """A stored distance: which features it reads and how it joins its group's probability.

    Attributes:
        score: One of `distances.DISTANCES`.
        statistics: As `distances.feature_distances` reads them.
        table: The validation images' calibration table (`calibration_table`).
        columns: ``(start, stop)`` of its features among those the network returns (several
            layers' outputs side by side); None: all of them.
        combine: For a group's distance, one of `COMBINATIONS`.
    """

    score: str
    statistics: dict[str, np.ndarray]
    table: np.ndarray
    columns: tuple[int, int] | None = None
    combine: str = "either"

    def __post_init__(self) -> None:
        if self.combine not in COMBINATIONS:
            raise ValueError(f"combine must be one of {', '.join(COMBINATIONS)}, not {self.combine!r}")

    @classmethod
    def of(cls, entry: dict[str, Any] | None) -> "Distance | None":
        """The distance of a metadata entry (None for None); models stored before ``combine``
        existed say ``alone`` (true or false)."""
        if entry is None:
            return None
        combine = entry.get("combine", "alone" if entry.get("alone") else "either")
        columns = tuple(entry["columns"]) if entry.get("columns") else None
        statistics = {name: decode_array(value) for name, value in entry["statistics"].items()}
        return cls(entry["score"], statistics, decode_array(entry["calibration"]), columns, combine)

    def familiarity(self, features: np.ndarray) -> np.ndarray:
        """Minus the distance of each row of the network's features, shape (N,): higher is more familiar."""
        if self.columns is not None:
            features = np.asarray(features)[:, self.columns[0] : self.columns[1]]
        return -feature_distances(features, self.score, self.statistics)

    def typicality(self, features: np.ndarray) -> np.ndarray:
        """The typicality of each row's distance (see `typicality`)."""
        return typicality(self.familiarity(features), self.table)


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
        self.threshold = float(metadata["threshold"])
        self.image_distance = Distance.of(metadata["image"])
        self.group_labels = [list(group["labels"]) for group in metadata["groups"]]
        self.groups = [[list(classes).index(label) for label in labels] for labels in self.group_labels]
        self.group_tables = [decode_array(group["calibration"]) for group in metadata["groups"]]
        self.group_distances = [Distance.of(group.get("distance")) for group in metadata["groups"]]

    def score(self, probabilities: np.ndarray, features: np.ndarray) -> UnknownScores:
        """Typicalities of images from the network's label probabilities (N, labels) and the
        features its distances read (N, D)."""
        groups = np.zeros((len(probabilities), len(self.groups)))
        if self.groups:
            confidences = group_confidences(probabilities, self.groups)
            groups = np.stack([typicality(confidences[:, g], table) for g, table in enumerate(self.group_tables)], axis=1)
            for g, distance in enumerate(self.group_distances):
                if distance is not None:
                    found = distance.typicality(features)
                    joined = {"alone": found, "either": np.minimum(groups[:, g], found), "both": np.maximum(groups[:, g], found)}
                    groups[:, g] = joined[distance.combine]
        if self.image_distance is None:
            return UnknownScores(groups.max(axis=1), groups)
        return UnknownScores(self.image_distance.typicality(features), groups)

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
    from pyimagesearch.data.dataset import full_batches  # training's data module: not on classification's path

    outputs, features = [], []
    for start in range(0, len(indices), _CHUNK):
        chunk = indices[start : start + _CHUNK]
        batch = np.asarray(images[full_batches(chunk, config.BATCH_SIZE)], dtype="float32")
        output, feature = network.predict(batch, batch_size=config.BATCH_SIZE, verbose=0)
        outputs.append(output[: len(chunk)])
        features.append(feature[: len(chunk)])
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
            features, the colour group one on the colour branch's, and there is no image
            score. None for one network.
        pretrained: Whether the features come from a pretrained backbone (see `distance_rule`).
        seed: Seed of the sample of training images. Defaults to 0.

    Returns:
        A JSON-ready dict: ``threshold``, ``retention``, ``feature_layers`` (the layers whose
        outputs, side by side, the distances read), ``image`` (a distance: statistics,
        calibration, ``columns``; None for the colour-and-shape network) and ``groups`` (labels,
        the max-probability calibration and, with the colour-and-shape network, a ``distance``
        with its ``combine`` rule).
    """
    from pyimagesearch.inference.predictors import feature_layer_name, with_features  # Keras: training only.
    from pyimagesearch.models.colour_and_shape import COLOUR_FEATURES, SHAPE_FEATURES

    score, alone = distance_rule(pretrained)
    layers = [SHAPE_FEATURES, COLOUR_FEATURES] if colour_group is not None else [feature_layer_name(model)]
    network = with_features(model, layers)
    # Where each layer's features sit among the network's (side by side, in ``layers`` order).
    stops = np.cumsum([int(model.get_layer(layer).output.shape[-1]) for layer in layers]).tolist()
    columns = dict(zip(layers, zip([0, *stops[:-1]], stops)))
    sample = np.asarray(train_index)
    if len(sample) > FIT_IMAGES:
        sample = np.sort(np.random.default_rng(seed).choice(sample, FIT_IMAGES, replace=False))
    _, train_features = _run(network, images, sample)
    val_outputs, val_features = _run(network, images, np.asarray(val_index))
    groups = [[list(classes).index(label) for label in group] for group in label_groups or []]

    def distance(layer: str, score: str, label_columns: list[int] | None = None, combine: str = "either") -> dict[str, Any]:
        """A distance entry on ``layer``'s features: its statistics (for Mahalanobis, about the means
        of each distinct row of the targets' ``label_columns``, all of them: each label combination)
        and the validation images' calibration table."""
        start, stop = columns[layer]
        labels = targets[sample] if label_columns is None else targets[sample][:, label_columns]
        if score == "nearest_neighbour":
            statistics = fit_neighbour_statistics(train_features[:, start:stop])
        elif score == "neighbour_and_mahalanobis":
            statistics = fit_joint_statistics(train_features[:, start:stop], labels, val_features[:, start:stop], CALIBRATION_POINTS)
        else:
            statistics = fit_feature_statistics(train_features[:, start:stop], labels)
        # Calibrated with the statistics as stored (float32, or float16), as classify.py will read them.
        statistics = {name: decode_array(encode_array(value)) for name, value in statistics.items()}
        entry = {"score": score, "combine": combine, "columns": [start, stop], "statistics": statistics}
        found = Distance(score, statistics, np.zeros(1), (start, stop), combine)
        return {**entry, "calibration": calibration_table(found.familiarity(val_features))}

    def group_distance(g: int) -> dict[str, Any] | None:
        if colour_group is None:
            return None
        if g == colour_group:
            return distance(COLOUR_FEATURES, "nearest_neighbour", combine="both")
        return distance(SHAPE_FEATURES, score, groups[g], "alone" if alone else "either")

    probabilities = decoding.label_probabilities(task, val_outputs)
    confidences = group_confidences(probabilities, groups) if groups else None
    entries = {
        "image": distance(layers[0], score) if colour_group is None else None,
        "groups": [
            {
                "labels": list(labels),
                "score": "max_probability",
                "calibration": calibration_table(confidences[:, g]),
                "distance": group_distance(g),
            }
            for g, labels in enumerate(label_groups or [])
        ],
    }

    detector = UnknownDetector({"threshold": 0.0, **_encoded(entries)}, classes)
    scores = detector.score(probabilities, val_features)
    # The threshold is set without the "both" distances: they only take flags away (a familiar
    # colour is never unknown), so that at least RETENTION keep every label, and the flags they
    # leave stay those of the probability: the type groups keep theirs. (Without an image distance
    # the image's column is the highest group's, so it is never a row's lowest.)
    vetoed = scores.groups.copy()
    for g, found in enumerate(detector.group_distances):
        if found is not None and found.combine == "both":
            vetoed[:, g] = typicality(confidences[:, g], detector.group_tables[g])
    threshold = retention_threshold(np.column_stack([scores.image, vetoed]))
    logger.info(
        "unknown detection: typicality threshold %.4f leaves %.1f%% of the %d validation images without an unknown flag",
        threshold,
        100 * float((np.column_stack([scores.image, scores.groups]).min(axis=1) >= threshold).mean()),
        len(val_index),
    )
    return {"threshold": threshold, "retention": RETENTION, "feature_layers": layers, **_encoded(entries)}


def _encoded(entries: Any) -> Any:
    """``entries`` with every numpy array in JSON-ready form (`encode_array`), and no None distance."""
    if isinstance(entries, np.ndarray):
        return encode_array(entries)
    if isinstance(entries, dict):
        return {key: _encoded(value) for key, value in entries.items() if not (key == "distance" and value is None)}
    if isinstance(entries, list):
        return [_encoded(value) for value in entries]
    return entries


def is_flagged(assessment: dict[str, Any]) -> bool:
    """Whether an `UnknownDetector.assess` verdict flags the image or any of its label groups as unknown."""
    return assessment["image"]["unknown"] or any(group["unknown"] for group in assessment["groups"])


def format_typicality(assessment: dict[str, Any]) -> str:
    """One line of an `UnknownDetector.assess` verdict, e.g.
    ``image 0.41, black/blue/red 0.9, jeans/shirt 0.01 (unknown below 0.033)``."""
    parts = [f"image {assessment['image']['typicality']:g}"]
    parts += [f"{'/'.join(group['labels'])} {group['typicality']:g}" for group in assessment["groups"]]
    return f"{', '.join(parts)} (unknown below {assessment['threshold']:g})"
