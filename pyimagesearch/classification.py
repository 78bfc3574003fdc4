"""Labelling new images with a trained model: probabilities, decisions and annotated copies."""

import glob
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import imutils
import keras
import numpy as np

from pyimagesearch import config
from pyimagesearch.atomic import atomic_path
from pyimagesearch.gradcam import GradCam, overlay_heatmap
from pyimagesearch.images import UnreadableImageError, decode_image, is_image_file, list_images, resize_image
from pyimagesearch.labels import check_binarizer_classes
from pyimagesearch.model_io import load_labelbin, load_model
from pyimagesearch.tasks import Task, get_task

logger = logging.getLogger(__name__)


@dataclass
class Prediction:
    """The result for one image.

    Attributes:
        path: The image file.
        labels: Predicted labels, most probable first.
        probabilities: Every label's probability, most probable first.
        annotated: Where the annotated copy was written, if it was.
        explanations: Where each label's Grad-CAM overlay was written, if asked for.
    """

    path: Path
    labels: list[str]
    probabilities: dict[str, float]
    annotated: Path | None = field(default=None)
    explanations: dict[str, Path] = field(default_factory=dict)

    def to_json(self) -> dict:
        """A JSON-ready dict of this result."""
        return {
            "image": str(self.path),
            "labels": self.labels,
            "probabilities": self.probabilities,
            "annotated": None if self.annotated is None else str(self.annotated),
            **({"explanations": {label: str(path) for label, path in self.explanations.items()}} if self.explanations else {}),
        }


class Classifier:
    """A trained model with its labels, task, input size and decoding, ready to label images.

    Attributes:
        thresholds: Per-label decision thresholds, tuned on validation data by train.py
            (a model from before tuning existed has its single threshold for every label).
        label_groups: Mutually exclusive label groups (e.g. colours, types), or None.
        label_sep: The separator of labels in the training folder names.
    """

    def __init__(
        self,
        model: keras.Model,
        classes: Sequence[str],
        task: Task,
        image_size: int,
        thresholds: np.ndarray,
        label_groups: list[list[str]] | None = None,
        label_sep: str = config.LABEL_SEP,
    ):
        self.model = model
        self.classes = list(classes)
        self.task = task
        self.image_size = image_size
        self.thresholds = np.asarray(thresholds, dtype="float64")
        self.label_groups = label_groups
        self.label_sep = label_sep
        self._grad_cam: GradCam | None = None

    @classmethod
    def load(cls, model_path: str | os.PathLike, labelbin_path: str | os.PathLike) -> "Classifier":
        """Load the model and the label binarizer written by one train.py run.

        Raises:
            ValueError: For a missing or invalid file, or a model and labelbin that don't match.
        """
        binarizer = load_labelbin(labelbin_path)
        model, metadata = load_model(model_path)
        task = get_task(metadata["task"])
        classes = metadata["classes"]
        check_binarizer_classes(binarizer, classes, f"--labelbin {labelbin_path}")
        units = model.output_shape[-1]
        if units != task.output_units(len(classes)):
            raise ValueError(f"--model {model_path} has {units} outputs for {len(classes)} labels: retrain it.")
        tuned = metadata.get("thresholds")
        thresholds = [tuned[label] for label in classes] if tuned else [float(metadata["threshold"])] * len(classes)
        return cls(
            model, classes, task, int(metadata["image_size"]), thresholds,
            label_groups=metadata.get("label_groups"), label_sep=metadata.get("label_sep", config.LABEL_SEP),
        )

    def predict_probabilities(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> np.ndarray:
        """Per-label probabilities of shape (N, num_labels) for RGB uint8 images of the model's size."""
        return self.task.label_probabilities(self.model.predict(images.astype("float32"), batch_size=batch_size, verbose=0))

    def check_decoding(self, threshold: float | None = None, top_k: int | None = None, decode: str = "threshold") -> None:
        """Refuse decoding arguments this model cannot honour, before any image is read.

        Raises:
            ValueError: For a threshold outside [0, 1], a ``top_k`` outside 1..number of labels,
                or group decoding on a model without label groups or combined with ``top_k``.
        """
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"--threshold must be between 0 and 1. Received: {threshold}")
        if top_k is not None and not 1 <= top_k <= len(self.classes):
            raise ValueError(f"--top-k must be between 1 and {len(self.classes)} (the number of labels). Received: {top_k}")
        if decode not in config.DECODINGS:
            raise ValueError(f"Unknown decoding: expected one of {', '.join(config.DECODINGS)}. Received: --decode {decode}")
        if decode == "groups":
            if self.label_groups is None:
                raise ValueError(
                    "--decode groups: this model has no label groups (its folders are not all named "
                    "<colour>_<type> with one label per position); use --decode threshold."
                )
            if top_k is not None:
                raise ValueError("--decode groups picks one label per group: drop --top-k.")

    def decide(
        self,
        probabilities: np.ndarray,
        threshold: float | None = None,
        top_k: int | None = None,
        decode: str = "threshold",
    ) -> np.ndarray:
        """Multi-hot decisions from probabilities.

        Args:
            probabilities: Shape (N, num_labels).
            threshold: One threshold for every label, replacing the model's tuned ones.
            top_k: Keep the ``top_k`` most probable labels instead (the tutorial's rule).
            decode: ``"threshold"``, or ``"groups"`` for the most probable label of each
                label group (when every image has exactly one colour and one type).

        Raises:
            ValueError: For arguments `check_decoding` refuses.
        """
        self.check_decoding(threshold, top_k, decode)
        if decode == "groups":
            groups = [[self.classes.index(label) for label in group] for group in self.label_groups]
            return self.task.decode(probabilities, groups=groups)
        return self.task.decode(probabilities, threshold=self.thresholds if threshold is None else threshold, top_k=top_k)

    def explain(self, image: np.ndarray, label: str) -> np.ndarray:
        """Grad-CAM heat-map of ``label`` for a full-size RGB image: where the model sees it.

        Returns:
            float32 array with the image's height and width, values in [0, 1].
        """
        if self._grad_cam is None:
            self._grad_cam = GradCam(self.model)
        index = self.classes.index(label)
        if self.task.name == "binary":
            # One sigmoid unit scores the second class; the first is the opposite of that score.
            return self._grad_cam(image, 0, invert=index == 0)
        return self._grad_cam(image, index)

    def classify(
        self,
        paths: Sequence[Path],
        threshold: float | None = None,
        top_k: int | None = None,
        decode: str = "threshold",
    ) -> tuple[list[Prediction], list[tuple[Path, str]], list[np.ndarray]]:
        """Label image files (see `decide` for the decoding arguments).

        Returns:
            ``(predictions, skipped, images)``: a `Prediction` per readable file, ``(path, reason)``
            per unreadable one, and the decoded full-size RGB images of the predictions.

        Raises:
            ValueError: For bad decoding arguments (see `decide`).
        """
        self.check_decoding(threshold, top_k, decode)
        originals, kept, skipped = [], [], []
        for path in paths:
            try:
                originals.append(decode_image(path))
                kept.append(path)
            except UnreadableImageError as error:
                logger.warning("skipped %s", error)
                skipped.append((path, str(error)))
        if not kept:
            return [], skipped, []
        batch = np.stack([resize_image(image, self.image_size) for image in originals])
        probabilities = self.predict_probabilities(batch)
        decisions = self.decide(probabilities, threshold, top_k, decode)
        predictions = []
        for path, row, decided in zip(kept, probabilities, decisions):
            order = np.argsort(-row, kind="stable")
            predictions.append(Prediction(
                path=path,
                labels=[self.classes[i] for i in order if decided[i]],
                probabilities={self.classes[i]: round(float(row[i]), 6) for i in order},
            ))
        return predictions, skipped, originals


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
                raise ValueError(f"--image {argument}: not an image file (extensions: {', '.join(config.IMAGE_EXTENSIONS)}).")
            matches = [path]
        else:
            matches = sorted(Path(match) for match in glob.glob(argument, recursive=True) if is_image_file(Path(match)))
        if not matches:
            raise ValueError(f"--image {argument}: no such file, folder or matching image. Check the path.")
        found.update(dict.fromkeys(matches))
    return list(found)


def annotate(image: np.ndarray, prediction: Prediction, width: int = config.ANNOTATION_WIDTH) -> np.ndarray:
    """A BGR copy of an RGB image, ``width`` pixels wide, with the predicted labels written on it.

    As in the tutorial: one ``label: probability%`` line per predicted label, green, top left.
    """
    output = imutils.resize(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), width=width)
    lines = [f"{label}: {prediction.probabilities[label] * 100:.2f}%" for label in prediction.labels] or ["no label"]
    for row, text in enumerate(lines):
        origin = (10, row * 30 + 25)
        # A dark outline keeps the green text legible on light and busy backgrounds.
        cv2.putText(output, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(output, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 0), 2, cv2.LINE_AA)
    return output


def annotated_paths(inputs: Sequence[Path], output: str | os.PathLike) -> list[Path]:
    """Where each input's annotated copy goes: ``output`` itself for one input named like an image
    file, else ``output/<name>`` (``_2``, ``_3``... on clashes; GIFs become PNGs).

    Raises:
        ValueError: If several inputs are given an output file, or an output would replace an input.
    """
    output = Path(output)
    as_file = output.suffix.lower() in config.IMAGE_EXTENSIONS and not output.is_dir()
    if as_file and len(inputs) > 1:
        raise ValueError(f"--output {output} is a file name but {len(inputs)} images were given: pass a folder.")
    if as_file:
        targets = [output]
    else:
        targets, taken = [], set()
        for path in inputs:
            suffix = ".png" if path.suffix.lower() in (".gif", ".webp") else path.suffix
            candidate, number = output / f"{path.stem}{suffix}", 1
            while candidate in taken:
                number += 1
                candidate = output / f"{path.stem}_{number}{suffix}"
            taken.add(candidate)
            targets.append(candidate)
    sources = {path.resolve() for path in inputs}
    for target in targets:
        if target.resolve() in sources:
            raise ValueError(f"--output {output} would overwrite the input image {target}: choose another folder.")
    return targets


def explanation_path(annotated: Path, label: str) -> Path:
    """Where a label's Grad-CAM overlay goes: beside the annotated copy, ``<name>_gradcam_<label>``."""
    return annotated.with_name(f"{annotated.stem}_gradcam_{label}{annotated.suffix}")


def _write_image(path: Path, bgr_image: np.ndarray) -> None:
    with atomic_path(path) as temporary:
        if not cv2.imwrite(str(temporary), bgr_image):
            raise ValueError(f"--output {path}: OpenCV cannot write this format; use .jpg or .png.")


def write_annotations(
    classifier: Classifier, prediction: Prediction, image: np.ndarray, target: Path, explain: bool = False
) -> None:
    """Write the annotated copy of ``image`` to ``target`` and, with ``explain``, a Grad-CAM
    overlay per predicted label beside it; record the paths on ``prediction``. Atomic writes.

    Raises:
        ValueError: For an output format OpenCV cannot write.
    """
    prediction.annotated = target
    _write_image(target, annotate(image, prediction))
    for label in prediction.labels if explain else []:
        overlay = overlay_heatmap(image, classifier.explain(image, label))
        prediction.explanations[label] = explanation_path(target, label)
        _write_image(prediction.explanations[label], cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
