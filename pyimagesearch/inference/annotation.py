"""The annotated copies classify.py writes: each image with its predicted labels drawn on it, and
with ``--explain`` a Grad-CAM overlay per label beside it; written in parallel, atomically.
"""

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import imutils
import numpy as np

from pyimagesearch import config
from pyimagesearch.atomic import atomic_path
from pyimagesearch.data.images import decode_image, default_workers
from pyimagesearch.inference.classification import Classifier, Prediction


def annotate(image: np.ndarray, prediction: Prediction, width: int = config.ANNOTATION_WIDTH) -> np.ndarray:
    """A BGR copy of an RGB image, ``width`` pixels wide, with the predicted labels written on it.

    As in the tutorial: one ``label: probability%`` line per predicted label, green, top left;
    an ``unknown`` line for an unknown image or label group (see `Prediction.display_labels`).
    """
    output = imutils.resize(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), width=width)
    lines = [
        f"{label}: {prediction.probabilities[label] * 100:.2f}%" if label in prediction.probabilities else label
        for label in prediction.display_labels()
    ] or ["no label"]
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
        raise ValueError(f"`output` {output} is a file name but {len(inputs)} images were given: pass a folder.")
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
            raise ValueError(f"`output` {output} would overwrite the input image {target}: choose another folder.")
    return targets


def explanation_path(annotated: Path, label: str) -> Path:
    """Where a label's Grad-CAM overlay goes: beside the annotated copy, ``<name>_gradcam_<label>``."""
    return annotated.with_name(f"{annotated.stem}_gradcam_{label}{annotated.suffix}")


def _write_image(path: Path, bgr_image: np.ndarray) -> None:
    with atomic_path(path) as temporary:
        if not cv2.imwrite(str(temporary), bgr_image):
            raise ValueError(f"`output` {path}: OpenCV cannot write this format; use .jpg or .png.")


def write_annotations(classifier: Classifier, prediction: Prediction, target: Path, explain: bool = False) -> None:
    """Write the annotated copy of the prediction's image to ``target`` and, with ``explain``, a
    Grad-CAM overlay per predicted label beside it; record the paths on ``prediction``. Atomic writes.

    The annotated copy is drawn on the image decoded again from its file, large JPEGs at the
    reduced scale that still covers the copy's width; Grad-CAM works on the full-size image.

    Raises:
        ValueError: For an output format OpenCV cannot write, an image that is no longer
            readable, or ``explain`` with an ONNX model (see `Classifier.check_explain`).
    """
    image = decode_image(prediction.path, min_size=None if explain else config.ANNOTATION_WIDTH)
    prediction.annotated = target
    _write_image(target, annotate(image, prediction))
    if not explain:
        return
    from pyimagesearch.inference.gradcam import overlay_heatmap  # Grad-CAM needs Keras and TensorFlow anyway.

    for label in prediction.labels:
        overlay = overlay_heatmap(image, classifier.explain(image, label))
        prediction.explanations[label] = explanation_path(target, label)
        _write_image(prediction.explanations[label], cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))


def write_all_annotations(
    classifier: Classifier,
    predictions: Sequence[Prediction],
    targets: Sequence[Path],
    explain: bool = False,
    workers: int | None = None,
) -> None:
    """`write_annotations` for each prediction and its target.

    Annotated copies are written by parallel threads (OpenCV releases the GIL while it decodes,
    draws and encodes): for a folder, they cost as much as classifying. Grad-CAM runs one
    image at a time.

    Args:
        classifier: The classifier that made the predictions.
        predictions: As `Classifier.classify` returns them.
        targets: Where each prediction's annotated copy goes (see `annotated_paths`).
        explain: Also write Grad-CAM overlays. Defaults to False.
        workers: Threads. Defaults to the CPUs this process may use.

    Raises:
        ValueError: As `write_annotations`.
    """
    if explain:
        for prediction, target in zip(predictions, targets):
            write_annotations(classifier, prediction, target, explain=True)
        return
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        for _ in pool.map(lambda prediction, target: write_annotations(classifier, prediction, target), predictions, targets):
            pass
