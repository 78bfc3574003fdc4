"""Labelling new images with a trained model: probabilities and decisions (the annotated copies: `annotation`).

Imports neither TensorFlow nor Keras: with an ONNX export as the model, classification runs on
onnxruntime alone (see `predictors`); a Keras model file brings them in when it is loaded, and
Grad-CAM when it is asked for.
"""

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pyimagesearch import config
from pyimagesearch.data.images import is_image_file, list_images, load_images
from pyimagesearch.inference.decoding import Decoding, label_probabilities, named_decodings, output_units, resolve_decoding
from pyimagesearch.inference.labelbin import check_binarizer_classes, unpickle_labelbin
from pyimagesearch.inference.predictors import Predictor, is_onnx_file, load_fastest_predictor, load_predictor
from pyimagesearch.inference.unknown import UnknownDetector, UnknownScores

if TYPE_CHECKING:
    import keras

    from pyimagesearch.inference.gradcam import GradCam

# Why `explain` runs the Keras model file rather than its ONNX export (a note: the command names its flag).
EXPLAIN_NEEDS_KERAS = "`explain` takes Grad-CAM's gradients through the Keras model"


@dataclass
class Prediction:
    """The result for one image.

    Attributes:
        path: The image file.
        labels: Predicted labels, most probable first.
        probabilities: Every label's probability, most probable first.
        annotated: Where the annotated copy was written, if it was.
        explanations: Where each label's Grad-CAM overlay was written, if asked for.
        unknown: For a model with unknown detection, the typicalities and flags of the image and
            of each label group (see `UnknownDetector.assess`); an unknown image has no labels,
            an unknown group none of its labels.
    """

    path: Path
    labels: list[str]
    probabilities: dict[str, float]
    annotated: Path | None = field(default=None)
    explanations: dict[str, Path] = field(default_factory=dict)
    unknown: dict | None = field(default=None)

    def display_labels(self) -> list[str]:
        """The labels as shown: ``["unknown"]`` for an unknown image, else the labels and
        ``"unknown (not jeans/shirt)"`` for each unknown label group."""
        if self.unknown is None:
            return list(self.labels)
        if self.unknown["image"]["unknown"]:
            return ["unknown"]
        groups = [f"unknown (not {'/'.join(group['labels'])})" for group in self.unknown["groups"] if group["unknown"]]
        return [*self.labels, *groups]

    def to_json(self) -> dict:
        """A JSON-ready dict of this result."""
        return {
            "image": str(self.path),
            "labels": self.labels,
            "probabilities": self.probabilities,
            "annotated": None if self.annotated is None else str(self.annotated),
            **({"explanations": {label: str(path) for label, path in self.explanations.items()}} if self.explanations else {}),
            **({"unknown": self.unknown} if self.unknown is not None else {}),
        }


def check_unknown_threshold_range(unknown_threshold: float | None) -> None:
    """Refuse an ``unknown_threshold`` outside [0, 1] (None: the model's), before any model is loaded.

    Raises:
        ValueError: Naming the parameter and the fix.
    """
    if unknown_threshold is not None and not 0.0 <= unknown_threshold <= 1.0:
        raise ValueError(
            "`unknown_threshold` must be between 0 and 1 (a typicality, e.g. 0.05; 0 turns unknown detection "
            f"off). Received: {unknown_threshold}"
        )


class Classifier:
    """A trained network with its labels, task, input size and decoding, ready to label images.

    Args:
        predictor: The network: a Keras model file's or an ONNX export's (see `predictors`).
        classes: The labels, in the order of the network's outputs.
        task: ``"multilabel"``, ``"multiclass"`` or ``"binary"``.
        image_size: Side of the square network input, in pixels.
        thresholds: Per-label decision thresholds, tuned on validation data by train.py (a
            model from before tuning existed has its single threshold for every label).
        label_groups: Mutually exclusive label groups (e.g. colours, types), or None.
        label_sep: The separator of labels in the training folder names.
        head: ``"grouped"`` for a softmax per label group (decoded to one label per group by
            default), else ``"flat"``.
        unknown: The model's unknown detection (see `unknown`), or None for a model without it.
        thresholds_tuned: Whether ``thresholds`` were tuned by train.py (named so in reports).
            Defaults to False.
        note: Why a Keras model file runs though its ONNX export was preferred (see
            `predictors.load_fastest_predictor`), for the command to say (its options named as
            ```model```, which a command writes as its flags: `options.as_flags`); None otherwise.
    """

    def __init__(
        self,
        predictor: Predictor,
        classes: Sequence[str],
        task: str,
        image_size: int,
        thresholds: np.ndarray,
        label_groups: list[list[str]] | None = None,
        label_sep: str = config.LABEL_SEP,
        head: str = "flat",
        unknown: UnknownDetector | None = None,
        thresholds_tuned: bool = False,
        note: str | None = None,
    ):
        self.predictor = predictor
        self.classes = list(classes)
        self.task = task
        self.image_size = image_size
        self.thresholds = np.asarray(thresholds, dtype="float64")
        self.label_groups = label_groups
        self.label_sep = label_sep
        self.head = head
        self.unknown = unknown
        self.thresholds_tuned = thresholds_tuned
        self.note = note
        self._grad_cam: GradCam | None = None

    @classmethod
    def load(
        cls,
        model_path: str | os.PathLike,
        labelbin_path: str | os.PathLike | None = None,
        prefer_export: bool = False,
        keras_reason: str | None = None,
        prepack: bool = True,
    ) -> "Classifier":
        """Load a model file written by train.py, or its ONNX export, and check it against a labelbin.

        Everything the classifier needs (labels, task, input size, thresholds, label groups)
        comes from the model file; an ONNX model runs on onnxruntime without TensorFlow.

        Args:
            model_path: A Keras model file written by train.py or an ONNX file written by export.py.
            labelbin_path: The label binarizer written by the same train.py run, whose labels
                must be the model's. Defaults to None: no check.
            prefer_export: Run a Keras model file's ONNX export of the same training run instead,
                when there is one (see `predictors.load_fastest_predictor`; ``note`` then says
                why the Keras file runs when it does). Defaults to False.
            keras_reason: With ``prefer_export``, why the Keras model itself is needed (e.g.
                ``explain``: `EXPLAIN_NEEDS_KERAS`), or None. Defaults to None.
            prepack: For an ONNX model, let onnxruntime repack the weights when it starts, which
                pays off from the second batch on (see `predictors.OnnxPredictor.load`). Defaults to True.

        Raises:
            ValueError: For a missing or invalid file, or a model and labelbin that don't match.
        """
        binarizer = None if labelbin_path is None else unpickle_labelbin(labelbin_path)
        if prefer_export:
            predictor, note = load_fastest_predictor(model_path, keras_reason, prepack)
        else:
            predictor, note = load_predictor(model_path, prepack), None
        metadata = predictor.metadata
        task = metadata["task"]
        classes = metadata["classes"]
        if binarizer is not None:
            check_binarizer_classes(binarizer, classes, f"`labelbin` {labelbin_path}")
        if predictor.output_units != output_units(task, len(classes)):
            raise ValueError(f"`model` {model_path} has {predictor.output_units} outputs for {len(classes)} labels: retrain it.")
        tuned = metadata.get("thresholds")
        thresholds = [tuned[label] for label in classes] if tuned else [float(metadata["threshold"])] * len(classes)
        return cls(
            predictor,
            classes,
            task,
            int(metadata["image_size"]),
            thresholds,
            label_groups=metadata.get("label_groups"),
            label_sep=metadata.get("label_sep", config.LABEL_SEP),
            head=metadata.get("head", "flat"),
            # Models trained before unknown detection existed classify without it.
            unknown=UnknownDetector(metadata["unknown"], classes) if metadata.get("unknown") else None,
            thresholds_tuned=bool(tuned),
            note=note,
        )

    @property
    def model(self) -> "keras.Model":
        """The Keras model, for a classifier loaded from a Keras model file.

        Raises:
            ValueError: For a classifier running an ONNX export.
        """
        model = getattr(self.predictor, "model", None)
        if model is None:
            raise ValueError(f"`model` {self.predictor.path} is an ONNX export: it holds no Keras model.")
        return model

    @property
    def group_indices(self) -> list[list[int]] | None:
        """The label indices of each label group, or None for a model without label groups."""
        return None if self.label_groups is None else [[self.classes.index(label) for label in group] for group in self.label_groups]

    def predict_probabilities(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> np.ndarray:
        """Per-label probabilities of shape (N, num_labels) for RGB uint8 images of the model's size."""
        return label_probabilities(self.task, self.predictor.predict(images, batch_size=batch_size))

    def predict_with_unknown(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> tuple[np.ndarray, UnknownScores | None]:
        """Per-label probabilities of shape (N, num_labels) and, for a model with unknown detection,
        the images' typicalities (see `UnknownDetector.score`; None without it), in one pass."""
        if self.unknown is None:
            return self.predict_probabilities(images, batch_size), None
        outputs, features = self.predictor.predict_with_features(images, batch_size)
        probabilities = label_probabilities(self.task, outputs)
        return probabilities, self.unknown.score(probabilities, features)

    def decoding(self, threshold: float | None = None, top_k: int | None = None, decode: str | None = None) -> Decoding:
        """The decoding to apply, resolved once from the model's (its tuned thresholds, its label
        groups and head) and these choices, and checked before any image is read (see
        `decoding.resolve_decoding`, which holds the rule).

        Args:
            threshold: One threshold for every label, replacing the model's tuned ones.
            top_k: Keep the ``top_k`` most probable labels instead (the tutorial's rule).
            decode: ``"threshold"``, or ``"groups"`` for the most probable label of each label
                group (when every image has exactly one colour and one type). Defaults to the
                model's: ``"groups"`` for a grouped head unless a threshold or ``top_k`` is given.

        Raises:
            ValueError: For a threshold outside [0, 1], a ``top_k`` outside 1..number of labels,
                or group decoding on a model without label groups or combined with ``top_k``.
        """
        return resolve_decoding(
            self.task,
            len(self.classes),
            self.thresholds,
            self.group_indices,
            self.head,
            tuned=self.thresholds_tuned,
            threshold=threshold,
            top_k=top_k,
            decode=decode,
        )

    def named_decodings(self) -> dict[str, dict]:
        """This model's standard decodings, name -> keyword arguments of `decoding.decode` (see
        `decoding.named_decodings`): its tuned thresholds and label groups where it has them."""
        return named_decodings(self.task, self.thresholds if self.thresholds_tuned else None, self.group_indices)

    def decide(self, probabilities: np.ndarray, decoding: Decoding | None = None) -> np.ndarray:
        """Multi-hot decisions from probabilities of shape (N, num_labels), under ``decoding``
        (see `decoding`). Defaults to the model's own."""
        return (self.decoding() if decoding is None else decoding).decide(probabilities)

    def check_unknown_threshold(self, unknown_threshold: float | None) -> None:
        """Refuse an ``unknown_threshold`` outside [0, 1], or one for a model without unknown detection.

        The threshold is a typicality: the share of validation photos of known things that
        looked as unfamiliar or more (see `unknown`). 0 turns unknown detection off.

        Raises:
            ValueError: Naming the flag and the fix.
        """
        if unknown_threshold is None:
            return
        check_unknown_threshold_range(unknown_threshold)
        if self.unknown is None:
            raise ValueError(
                f"`unknown_threshold`: the model {self.predictor.path} has no unknown detection (trained before it "
                "existed): retrain it with train.py, or drop `unknown_threshold`."
            )

    def check_explain(self) -> None:
        """Set up Grad-CAM, or refuse it before any image is read.

        Raises:
            ValueError: For an ONNX model: Grad-CAM needs the Keras model file.
        """
        if self._grad_cam is None:
            self._grad_cam = self.predictor.grad_cam()

    def explain(self, image: np.ndarray, label: str) -> np.ndarray:
        """Grad-CAM heat-map of ``label`` for a full-size RGB image: where the model sees it.

        Returns:
            float32 array with the image's height and width, values in [0, 1].

        Raises:
            ValueError: For an ONNX model (see `check_explain`).
        """
        self.check_explain()
        index = self.classes.index(label)
        if self.task == "binary":
            # One sigmoid unit scores the second class; the first is the opposite of that score.
            return self._grad_cam(image, 0, invert=index == 0)
        return self._grad_cam(image, index)

    def classify(
        self,
        paths: Sequence[Path],
        decoding: Decoding | None = None,
        unknown_threshold: float | None = None,
        batch_size: int = config.BATCH_SIZE,
    ) -> tuple[list[Prediction], list[tuple[Path, str]]]:
        """Label image files under ``decoding`` (see `decoding`; defaults to the model's own), ``batch_size`` images per
        run of the network (an int8 export's answer for an image depends on the others of its batch:
        onnxruntime quantizes each batch's activations on one scale).

        Images are decoded and resized exactly as for training (`images.load_images`: in
        parallel, large JPEGs at reduced scale), so the network sees the same pixels it would
        have seen in training. Unreadable files are skipped with a warning. With unknown
        detection, an image or label group whose typicality is below ``unknown_threshold``
        (default: the model's; see `check_unknown_threshold`) is unknown (see `Prediction`).

        Returns:
            ``(predictions, skipped)``: a `Prediction` per readable file, in order, and
            ``(path, reason)`` per unreadable one.

        Raises:
            ValueError: For a bad ``unknown_threshold``.
        """
        decoding = self.decoding() if decoding is None else decoding
        self.check_unknown_threshold(unknown_threshold)
        images, kept, skipped = load_images(paths, self.image_size)
        if not kept:
            return [], skipped
        probabilities, scores = self.predict_with_unknown(images, batch_size)
        decisions = decoding.decide(probabilities)
        predictions = []
        for index, (path, row, decided) in enumerate(zip(kept, probabilities, decisions)):
            order = np.argsort(-row, kind="stable")
            labels = [self.classes[i] for i in order if decided[i]]
            assessment = None if scores is None else self.unknown.assess(scores, index, unknown_threshold)
            if assessment is not None:
                dropped = {label for group in assessment["groups"] if group["unknown"] for label in group["labels"]}
                labels = [] if assessment["image"]["unknown"] else [label for label in labels if label not in dropped]
            predictions.append(
                Prediction(
                    path=path,
                    labels=labels,
                    probabilities={self.classes[i]: round(float(row[i]), 6) for i in order},
                    unknown=assessment,
                )
            )
        return predictions, skipped


def labelbin_to_check(model_path: str | os.PathLike, labelbin_path: str | os.PathLike | None) -> Path | None:
    """The labelbin to check a model's labels against, for ``--labelbin`` given or not (None).

    A labelbin given is always checked. Without one, the tutorial's ``mlb.pickle`` is: a Keras
    model file needs it, as in the tutorial, while an ONNX export carries its own labels and is
    checked against ``mlb.pickle`` only if that file exists.
    """
    if labelbin_path is not None:
        return Path(labelbin_path)
    default = Path(config.LABELBIN_PATH)
    return None if is_onnx_file(model_path) and not default.is_file() else default


def expand_image_arguments(arguments: Sequence[str]) -> list[Path]:
    """Image files named by files, folders (searched recursively) or glob patterns, in order, once each.

    Raises:
        ValueError: For an argument that matches no file, or a file that is not an image.
    """
    found: dict[Path, None] = {}
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            matches = list_images(path)
        elif path.is_file():
            if path.suffix.lower() not in config.IMAGE_EXTENSIONS:
                raise ValueError(f"`image` {argument}: not an image file (extensions: {', '.join(config.IMAGE_EXTENSIONS)}).")
            matches = [path]
        else:
            matches = sorted(Path(match) for match in glob.glob(argument, recursive=True) if is_image_file(Path(match)))
        if not matches:
            raise ValueError(f"`image` {argument}: no such file, folder or matching image. Check the path.")
        found.update(dict.fromkeys(matches))
    return list(found)
