"""Smaller ONNX exports: int8 or float16 weights, kept only when the labels they give stay the same.

``int8`` is onnxruntime's dynamic quantization of the matrix multiplications' weights (the dense
layers, nine tenths of SmallerVGGNet's weights), activations quantized on the fly; ``float16``
stores every weight in half precision, inputs and outputs staying float32 (file sizes, speed and
labels changed: bench/README.md, "Inference").
Either is checked against the float32 export on labelled images: the
labels of every image (as classify.py decides them, unknown detection included) must stay the
same, or change for at most a given share of the images. Imports neither TensorFlow nor Keras.
"""

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from pyimagesearch import config
from pyimagesearch.atomic import atomic_path
from pyimagesearch.data.dataset import find_labelled_images
from pyimagesearch.inference.classification import Classifier
from pyimagesearch.inference.predictors import ONNX_METADATA_KEY

# onnxruntime's dynamic quantization of these operations only: its integer convolutions
# (ConvInteger) have no int8-weight kernel on the CPU, and the convolutions hold few weights.
INT8_OPERATIONS = ("MatMul", "Gemm")


@dataclass
class QuantizationCheck:
    """How a quantized export compares with the float32 one on labelled images.

    Attributes:
        quantization: ``int8`` or ``float16``.
        images: Images compared.
        changed: The images whose labels changed.
        tolerance: The largest share of images whose labels may change.
        exact_match: Share of images with exactly their folder's labels: ``(float32, quantized)``.
        max_difference: Largest absolute difference between the two models' probabilities.
        sizes: File sizes in bytes: ``(float32, quantized)``.
    """

    quantization: str
    images: int
    changed: list[Path] = field(default_factory=list)
    tolerance: float = 0.0
    exact_match: tuple[float, float] = (0.0, 0.0)
    max_difference: float = 0.0
    sizes: tuple[int, int] = (0, 0)

    @property
    def accepted(self) -> bool:
        """Whether the labels changed for at most ``tolerance`` of the images."""
        return len(self.changed) <= self.tolerance * self.images

    def summary(self) -> str:
        """One line: the comparison and its verdict."""
        before, after = (size / 1e6 for size in self.sizes)
        return (
            f"{self.quantization}: labels changed on {len(self.changed)} of {self.images} images (tolerance "
            f"{self.tolerance:g}: at most {int(self.tolerance * self.images)}); exact-match {self.exact_match[0]:.4f} -> "
            f"{self.exact_match[1]:.4f}; probabilities within {self.max_difference:.1e}; {before:.1f} MB -> {after:.1f} MB"
        )


def check_tolerance(tolerance: float) -> None:
    """Refuse a ``tolerance`` outside [0, 1].

    Raises:
        ValueError: Naming the flag and what it is.
    """
    if not 0.0 <= tolerance <= 1.0:
        raise ValueError(
            f"`tolerance` is the largest share of images whose labels may change, between 0 and 1 (0: none may). Received: {tolerance}"
        )


def quantize_onnx(onnx_path: str | os.PathLike, quantization: str, output: str | os.PathLike) -> Path:
    """Write a copy of the export ``onnx_path`` with ``quantization``'s weights to ``output``, metadata kept.

    Raises:
        ValueError: For a quantization not in `config.QUANTIZATIONS`.
    """
    if quantization not in config.QUANTIZATIONS:
        raise ValueError(f"`quantize` must be one of {', '.join(config.QUANTIZATIONS)}. Received: `quantize` {quantization}")
    output = Path(output)
    if quantization == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with _root_warnings_silenced():
            quantize_dynamic(Path(onnx_path), output, weight_type=QuantType.QInt8, op_types_to_quantize=list(INT8_OPERATIONS))
        proto = onnx.load(str(output))
    else:
        from onnxruntime.transformers.float16 import convert_float_to_float16

        # Inputs and outputs stay float32: classification feeds and reads them as before.
        proto = convert_float_to_float16(onnx.load(str(onnx_path)), keep_io_types=True)
    metadata = json.loads(
        next(prop.value for prop in onnx.load(str(onnx_path), load_external_data=False).metadata_props if prop.key == ONNX_METADATA_KEY)
    )
    onnx.helper.set_model_props(proto, {ONNX_METADATA_KEY: json.dumps({**metadata, "quantization": quantization})})
    onnx.save(proto, str(output))
    return output


@contextmanager
def _root_warnings_silenced() -> Iterator[None]:
    # quantize_dynamic logs a root-logger warning advising shape pre-processing, which only
    # helps quantizing activations statically; the check below is what decides.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def compare_exports(
    original: str | os.PathLike,
    quantized: str | os.PathLike,
    dataset: str | os.PathLike,
    quantization: str,
    tolerance: float = 0.0,
    label_sep: str | None = None,
) -> QuantizationCheck:
    """Label every image of the labelled folder ``dataset`` with both exports and compare.

    An image's labels changed when the quantized export gives it other labels than the float32
    one (in any order) in batches or alone.

    Args:
        original: The float32 export.
        quantized: Its quantized copy.
        dataset: A folder with one sub-folder per label set, e.g. the training folder (its
            validation images included) or a test set.
        quantization: The quantization, for the report.
        tolerance: The largest share of images whose labels may change. Defaults to 0.
        label_sep: Separator of labels in folder names. Defaults to the model's.

    Raises:
        ValueError: For a folder without labelled images, or none readable.
    """
    check_tolerance(tolerance)
    classifiers = [Classifier.load(original), Classifier.load(quantized)]
    paths, label_sets, _ = find_labelled_images(dataset, label_sep or classifiers[0].label_sep)
    before, _ = classifiers[0].classify(paths)
    if not before:
        raise ValueError(f"`dataset` {dataset}: none of its {len(paths)} images could be read.")
    # In batches, as a folder is classified, and one by one, as the tutorial's command does: int8's
    # activations are quantized on one scale per batch, so an image's answer depends on its batch.
    runs = [classifiers[1].classify(paths, batch_size=batch_size)[0] for batch_size in (config.BATCH_SIZE, 1)]
    after = runs[0]
    truth = {path: set(labels) for path, labels in zip(paths, label_sets)}
    changed = [
        one.path
        for one, *others in zip(before, *runs)
        if any(sorted(one.display_labels()) != sorted(other.display_labels()) for other in others)
    ]
    differences = [
        abs(one.probabilities[label] - other.probabilities[label])
        for run in runs
        for one, other in zip(before, run)
        for label in one.probabilities
    ]
    return QuantizationCheck(
        quantization=quantization,
        images=len(before),
        changed=changed,
        tolerance=tolerance,
        exact_match=tuple(float(np.mean([set(item.labels) == truth[item.path] for item in run])) for run in (before, after)),
        max_difference=max(differences, default=0.0),
        sizes=(Path(original).stat().st_size, Path(quantized).stat().st_size),
    )


def quantize_export(
    onnx_path: str | os.PathLike,
    quantization: str,
    dataset: str | os.PathLike,
    tolerance: float = 0.0,
    label_sep: str | None = None,
) -> QuantizationCheck:
    """Replace the float32 export ``onnx_path`` by its quantized copy if the labels stay the same.

    The copy is written beside the export and compared with it on ``dataset`` (see
    `compare_exports`); only if the labels changed on at most ``tolerance`` of the images does
    it replace the export, else the float32 export stays as it was.

    Returns:
        The comparison (accepted).

    Raises:
        ValueError: When more labels changed than ``tolerance`` allows (the message holds the
            comparison), or as `compare_exports`.

    Example:
        >>> print(quantize_export("fashion.onnx", "int8", "dataset").summary())
    """
    onnx_path = Path(onnx_path)
    with atomic_path(onnx_path) as temporary:
        quantize_onnx(onnx_path, quantization, temporary)
        check = compare_exports(onnx_path, temporary, dataset, quantization, tolerance, label_sep)
        if not check.accepted:
            shown = ", ".join(str(path) for path in check.changed[:3]) + (", ..." if len(check.changed) > 3 else "")
            raise ValueError(
                f"`quantize` {quantization} refused: {check.summary()}. Changed: {shown}. {onnx_path} stays the "
                f"float32 export; raise `tolerance` to accept the change{', or try `quantize` float16' if quantization == 'int8' else ''}."
            )
    return check
