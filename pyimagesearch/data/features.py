"""Image features without a CNN: an HSV colour histogram and a histogram of oriented gradients.

What `--arch mlp` trains on (`mlp`), and what the classic baselines of bench/baselines.py read.
Each image (RGB uint8, as `images.load_images` decodes it at the model's ``image_size``) gives
one float32 vector: the HSV histogram of the whole image, normalised to sum 1 (colour, whatever
the image's size), then OpenCV's HOG of a small grayscale copy (shape). The MLP standardises the
vector itself, with statistics of the training rows inside the model (`mlp.feature_standardization`).

The settings travel in the model's metadata (``"features"``), and `FeaturePredictor` computes the
same features from the same pixels at classification, so classify.py and evaluate.py need no flag.
Imports neither TensorFlow nor Keras: classification with an MLP loads them only for the network.
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from pyimagesearch import config
from pyimagesearch.data.images import default_workers

if TYPE_CHECKING:
    from pyimagesearch.inference.gradcam import GradCam
    from pyimagesearch.inference.predictors import Predictor

# What a model's metadata ``"input"`` says it takes: RGB images (every network but the MLP, and
# models from before the MLP, which have no ``"input"``), features of images, or table rows.
INPUT_IMAGES = "images"
INPUT_IMAGE_FEATURES = "image_features"
INPUT_FEATURE_TABLE = "feature_table"
# Images whose features are computed per task handed to a thread.
_CHUNK_IMAGES = 64


@dataclass(frozen=True)
class FeatureSettings:
    """How an image becomes a feature vector; stored with the model as a JSON dict.

    Attributes:
        hsv_bins: Bins of hue (0-180 in OpenCV), saturation and value (0-256) of the 3-D
            colour histogram. Defaults to `config.FEATURE_HSV_BINS`.
        hog_size: Side in pixels of the grayscale copy HOG reads. Defaults to `config.FEATURE_HOG_SIZE`.
        hog_cell: HOG cell side in pixels; blocks are 2 x 2 cells, moved one cell at a time.
            Defaults to `config.FEATURE_HOG_CELL`.
        hog_bins: Orientation bins of each cell (unsigned gradients, 0-180 degrees). Defaults to
            `config.FEATURE_HOG_BINS`.
    """

    hsv_bins: tuple[int, int, int] = config.FEATURE_HSV_BINS
    hog_size: int = config.FEATURE_HOG_SIZE
    hog_cell: int = config.FEATURE_HOG_CELL
    hog_bins: int = config.FEATURE_HOG_BINS

    def __post_init__(self):
        if len(self.hsv_bins) != 3 or min(self.hsv_bins) < 1:
            raise ValueError(f"hsv_bins must be three positive bin counts (hue, saturation, value). Received: {self.hsv_bins}")
        if self.hog_cell < 2 or self.hog_size < 2 * self.hog_cell or self.hog_size % self.hog_cell:
            raise ValueError(
                f"hog_size must be a multiple of hog_cell holding at least one 2 x 2-cell block. "
                f"Received: hog_size {self.hog_size}, hog_cell {self.hog_cell}"
            )
        if self.hog_bins < 2:
            raise ValueError(f"hog_bins must be at least 2. Received: {self.hog_bins}")

    @property
    def size(self) -> int:
        """Length of the feature vector: the histogram's bins, then HOG's values."""
        blocks = self.hog_size // self.hog_cell - 1
        return int(np.prod(self.hsv_bins)) + blocks * blocks * 4 * self.hog_bins

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, read back by `from_json`."""
        return {**asdict(self), "hsv_bins": list(self.hsv_bins)}

    @classmethod
    def from_json(cls, settings: dict[str, Any]) -> "FeatureSettings":
        """The settings of a `to_json` dict (a model's ``"features"`` metadata)."""
        return cls(**{**settings, "hsv_bins": tuple(settings["hsv_bins"])})


def _hog(settings: FeatureSettings) -> cv2.HOGDescriptor:
    cell = (settings.hog_cell, settings.hog_cell)
    block = (2 * settings.hog_cell, 2 * settings.hog_cell)
    return cv2.HOGDescriptor((settings.hog_size, settings.hog_size), block, cell, cell, settings.hog_bins)


def _chunk_features(images: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    hog = _hog(settings)  # One per thread: a descriptor keeps buffers between calls.
    features = np.empty((len(images), settings.size), dtype=np.float32)
    bins = int(np.prod(settings.hsv_bins))
    for row, image in enumerate(np.asarray(images, dtype=np.uint8)):
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        histogram = cv2.calcHist([hsv], [0, 1, 2], None, list(settings.hsv_bins), [0, 180, 0, 256, 0, 256]).ravel()
        features[row, :bins] = histogram / max(float(histogram.sum()), 1.0)
        grey = cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (settings.hog_size, settings.hog_size), interpolation=cv2.INTER_AREA)
        features[row, bins:] = hog.compute(grey).ravel()
    return features


def _chunks(images: Any) -> Iterator[np.ndarray]:
    for start in range(0, len(images), _CHUNK_IMAGES):
        yield images[start : start + _CHUNK_IMAGES]


def extract_features(images: Any, settings: FeatureSettings | None = None, workers: int | None = None) -> np.ndarray:
    """The feature vector of each image.

    Args:
        images: RGB images 0-255 of shape (N, size, size, 3), uint8 or float: an array, or an
            array-like sliced chunk by chunk (`data.ImageFiles`, a memory-mapped cache).
        settings: The `FeatureSettings`. Defaults to the default settings.
        workers: Threads (OpenCV releases the GIL). Defaults to the CPUs this process may use.

    Returns:
        float32 array of shape (N, ``settings.size``); row i depends on image i alone, the same
        on every call.

    Raises:
        ValueError: For images that are not (N, height, width, 3).

    Example:
        >>> features = extract_features(load_images(paths, 96)[0])
    """
    settings = settings or FeatureSettings()
    shape = tuple(getattr(images, "shape", np.shape(images)))
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"Image features need RGB images of shape (N, height, width, 3). Received: shape {shape}")
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        parts = list(pool.map(lambda chunk: _chunk_features(chunk, settings), _chunks(images)))
    return np.concatenate(parts) if parts else np.empty((0, settings.size), dtype=np.float32)


class FeaturePredictor:
    """A network over image features behind the `predictors.Predictor` interface of image networks.

    Takes RGB images like every other predictor and computes their features with the settings
    stored in the model (``"features"`` metadata) before running the network, so classification
    reproduces training exactly.

    Args:
        network: The loaded network, whose input is the feature vector.
        settings: The model's `FeatureSettings`.
    """

    def __init__(self, network: "Predictor", settings: FeatureSettings):
        self.network = network
        self.settings = settings
        self.path = network.path
        self.metadata = network.metadata
        self.output_units = network.output_units
        self.has_features = network.has_features

    @property
    def model(self):
        """The Keras model over the features (None for an ONNX network)."""
        return getattr(self.network, "model", None)

    def predict(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> np.ndarray:
        """The head's outputs, (N, output_units), for RGB images of shape (N, size, size, 3), 0-255."""
        return self.network.predict(extract_features(images, self.settings), batch_size=batch_size)

    def predict_with_features(self, images: np.ndarray, batch_size: int = config.BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
        """The head's outputs and the network's penultimate features, for unknown detection."""
        return self.network.predict_with_features(extract_features(images, self.settings), batch_size=batch_size)

    def grad_cam(self) -> "GradCam":
        """Refused: the MLP reads histograms, not pixels through convolutions.

        Raises:
            ValueError: Always, naming the fix.
        """
        raise ValueError(
            f"`explain`: {self.path} is an MLP over colour-histogram and HOG features, which has no convolution "
            "for Grad-CAM to read; train a convolutional network (`train.py --arch smallervggnet`) to explain its answers."
        )


def for_images(predictor: "Predictor") -> "Predictor":
    """The predictor that takes RGB images for a loaded network: itself, or a `FeaturePredictor`
    for a network over image features.

    Raises:
        ValueError: For a network trained on a feature table, which labels table rows, not images.
    """
    kind = predictor.metadata.get("input", INPUT_IMAGES)
    if kind == INPUT_FEATURE_TABLE:
        raise ValueError(
            f"`model` {predictor.path} was trained on a feature table, not on images: it cannot label image files. "
            "Load it with pyimagesearch.inference.model_io.load_model and call predict on rows of the same columns."
        )
    if kind == INPUT_IMAGE_FEATURES:
        return FeaturePredictor(predictor, FeatureSettings.from_json(predictor.metadata["features"]))
    return predictor
