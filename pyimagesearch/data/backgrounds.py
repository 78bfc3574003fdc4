"""Plain backgrounds found and replaced: a garment photographed on white, shown on other scenes.

Product photos put the garment on a near-uniform background; photos of people put it in front
of red carpets, blue backdrops and streets, cut by the frame or small in it. A network trained on
white backgrounds learns that whatever is not white is the garment, and reads its colour from the
scene. This module finds the plain background (`segment_background`: a flood fill from the
border within a colour tolerance, cleaned up) and puts the garment on scenes (`scenes.random_scenes`:
saturated colour fields, gradients between random colours, cluttered procedural scenes),
reframed as photos of people frame it (`replace_backgrounds`). The labels never change:
only pixels of the background do, and the garment's pixels are kept. A photo whose border is not
plain gets no mask, and keeps its pixels.

Used by training (`BackgroundReplacement`, called in the tf.data pipeline) and by
bench/robustness.py. numpy and OpenCV only: importing it loads no TensorFlow.
"""

from collections.abc import Sequence

import cv2
import numpy as np

from pyimagesearch import config
from pyimagesearch.data.scenes import SCENES, random_scenes
from pyimagesearch.models.registry import network

# Reframings: as framed, the garment small in a larger scene, its upper or its lower part only.
FRAMINGS = ("as-is", "small", "upper", "lower")
# Segmentation: the fill spreads from a pixel to a neighbour within NEIGHBOUR_TOLERANCE per channel
# (a floating range: smooth shading and gradients are followed; a garment's edge, a step of many
# levels, is not).
NEIGHBOUR_TOLERANCE = 3
# The border is plain when at least this share of it is background once filled.
MIN_PLAIN_BORDER = 0.6
# A mask is kept only if the garment covers this share of the image or more (less: the fill
# leaked into it) and the background at least MIN_BACKGROUND (less: nothing to replace).
MIN_GARMENT = 0.05
MIN_BACKGROUND = 0.05
# Garment specks smaller than this share of the largest garment part are background (dust, text).
MIN_PART = 0.02
# Reframing ranges: "small" scales the garment by SMALL_SCALE, "upper"/"lower" zoom by CROP_ZOOM
# about the top or bottom edge (so 1 / zoom of the height stays in view).
SMALL_SCALE = (0.45, 0.8)
CROP_ZOOM = (1.2, 1.6)


def _border(image: np.ndarray) -> np.ndarray:
    """The pixels of the one-pixel frame of ``image`` (H, W, ...), as rows."""
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])


def segment_background(image: np.ndarray) -> np.ndarray | None:
    """The plain background of a photo, as a soft mask; None when its border is not plain.

    The fill starts from a frame of the border's median colour around the image, so every border
    pixel near that colour seeds it at once (one `cv2.floodFill`). Specks the fill left (smaller
    than `MIN_PART` of the largest garment part) are removed; the mask then reaches one pixel into
    the garment, softly, so that the anti-aliased rim of a white background goes with it.

    Args:
        image: uint8 RGB image of shape (H, W, 3), H and W at least 8.

    Returns:
        uint8 array of shape (H, W): 255 where the background is, 0 on the garment, between on
        its rim; or None when less than `MIN_PLAIN_BORDER` of the border is background, the
        garment would cover less than `MIN_GARMENT` of the image, or the background less than
        `MIN_BACKGROUND`.

    Raises:
        ValueError: For anything but a uint8 (H, W, 3) image of at least 8 x 8 pixels.

    Example:
        >>> mask = segment_background(load_image("red_dress/0001.jpg", 96))
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 8:
        shape = getattr(image, "shape", None)
        raise ValueError(
            f"segment_background takes a uint8 RGB image of shape (H, W, 3), H and W at least 8. "
            f"Received: {type(image).__name__} of shape {shape} and dtype {getattr(image, 'dtype', None)}"
        )
    height, width = image.shape[:2]
    median = np.median(_border(image), axis=0)
    framed = cv2.copyMakeBorder(image, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=[int(v) for v in median])
    # floodFill's mask is 2 pixels larger than its image: image[y, x] is filled[y + 2, x + 2].
    filled = np.zeros((height + 4, width + 4), np.uint8)
    tolerance = (NEIGHBOUR_TOLERANCE,) * 3
    cv2.floodFill(framed, filled, (0, 0), 0, tolerance, tolerance, 4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
    background = filled[2:-2, 2:-2].astype(bool)
    if _border(background).mean() < MIN_PLAIN_BORDER:
        return None
    garment = (~background).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(garment, connectivity=8)
    if count > 1:
        areas = stats[1:, cv2.CC_STAT_AREA]
        garment = np.isin(labels, 1 + np.flatnonzero(areas >= MIN_PART * areas.max())).astype(np.uint8)
    share = garment.mean()
    if share < MIN_GARMENT or share > 1.0 - MIN_BACKGROUND:
        return None
    # One pixel into the garment, then blurred: its rim blends, and a pixel 3 or more pixels inside keeps its value.
    reach = cv2.dilate((1 - garment) * 255, np.ones((3, 3), np.uint8))
    return cv2.blur(reach, (3, 3))


def segment_backgrounds(images: "np.ndarray | Sequence[np.ndarray]") -> np.ndarray:
    """`segment_background` of each image, stacked: uint8 of shape (N, H, W), all zeros for an image
    without a plain background (whose pixels then stay as they are).

    Args:
        images: uint8 RGB images of one shape (N, H, W, 3): an array, or any sequence of them.
    """
    count = len(images)
    height, width = images[0].shape[:2] if count else (0, 0)
    masks = np.zeros((count, height, width), np.uint8)
    for row in range(count):
        mask = segment_background(np.asarray(images[row]))
        if mask is not None:
            masks[row] = mask
    return masks


def framing_transforms(rng: np.random.Generator, size: int, framings: Sequence[str]) -> np.ndarray:
    """The affine maps of framings (input pixel to output pixel, as `cv2.warpAffine` takes them), one per entry.

    ``as-is`` keeps the photo's framing; ``small`` scales the garment by `SMALL_SCALE` and puts it
    anywhere in the scene; ``upper`` and ``lower`` zoom by `CROP_ZOOM` about the middle of the
    top or bottom edge, so the frame cuts the garment's lower or upper part.

    Returns:
        float32 of shape (len(framings), 2, 3).

    Raises:
        ValueError: For a framing not in `FRAMINGS`.
    """
    transforms = np.zeros((len(framings), 2, 3), np.float32)
    for transform, framing in zip(transforms, framings):
        if framing == "as-is":
            transform[:, :2] = np.eye(2)
        elif framing == "small":
            scale = rng.uniform(*SMALL_SCALE)
            left, top = rng.uniform(0, size * (1 - scale), 2)
            transform[:] = [[scale, 0, left], [0, scale, top]]
        elif framing in ("upper", "lower"):
            zoom, centre = rng.uniform(*CROP_ZOOM), (size - 1) / 2
            anchor = 0.0 if framing == "upper" else size - 1.0
            transform[:] = [[zoom, 0, centre * (1 - zoom)], [0, zoom, anchor * (1 - zoom)]]
        else:
            raise ValueError(f"Framings must be of {', '.join(FRAMINGS)}. Received: {framing!r}")
    return transforms


def composite(images: np.ndarray, masks: np.ndarray, scenes: np.ndarray, transforms: np.ndarray | None = None) -> np.ndarray:
    """Each image's garment on its scene: where its mask (255 = background) says, the scene's pixels.

    Args:
        images: uint8 RGB (B, H, W, 3).
        masks: uint8 (B, H, W), as `segment_backgrounds` returns them.
        scenes: uint8 RGB (B, H, W, 3), e.g. `scenes.random_scenes`.
        transforms: Optional affine maps (B, 2, 3) moving each garment and its mask first
            (`framing_transforms`); what one uncovers is scene.

    Returns:
        uint8 RGB (B, H, W, 3); a pixel whose mask is 0 keeps its value exactly.
    """
    if transforms is not None:
        height, width = masks.shape[1:]
        images, masks = images.copy(), masks.copy()
        identity = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
        for row in np.flatnonzero((transforms != identity).any(axis=(1, 2))):
            # The image and its mask in one warp: outside the photo, black pixels that are all background.
            moved = cv2.warpAffine(
                cv2.merge([images[row], masks[row]]),
                transforms[row],
                (width, height),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=(0, 0, 0, 255),
            )
            images[row], masks[row] = moved[..., :3], moved[..., 3]
    # One blend over the batch stacked into one tall image: OpenCV's is faster than numpy's
    # (measured: bench/README.md, "Robustness").
    count, height, width = masks.shape
    weight = masks.reshape(count * height, width).astype(np.float32)
    weight *= 1.0 / 255.0
    blended = cv2.blendLinear(
        np.ascontiguousarray(images).reshape(count * height, width, 3),
        np.ascontiguousarray(scenes).reshape(count * height, width, 3),
        1.0 - weight,
        weight,
    )
    return blended.reshape(count, height, width, 3)


def replace_backgrounds(
    images: np.ndarray,
    masks: np.ndarray,
    rng: np.random.Generator,
    probability: float,
    scenes: Sequence[str] | None = None,
    framings: Sequence[str] | None = None,
) -> np.ndarray:
    """A batch with a share of its plain backgrounds replaced by scenes, its garments reframed.

    Each image with a mask (not all zeros) is, with probability ``probability``, put on a scene
    of a kind drawn from ``scenes`` (`scenes.random_scenes`), framed by a framing drawn from
    ``framings`` (`framing_transforms`); the others keep their pixels. Labels are untouched by
    construction.

    Args:
        images: uint8 RGB batch (B, H, W, 3).
        masks: uint8 (B, H, W), as `segment_backgrounds` returns them.
        rng: The random generator: the same state gives the same batch.
        probability: Share of the images with a mask that get a new scene, 0 to 1.
        scenes: The scene kinds to draw from. Defaults to `SCENES`, every one.
        framings: The framings to draw from. Defaults to `FRAMINGS`, every one.

    Returns:
        A new uint8 batch (B, H, W, 3).
    """
    scenes, framings = scenes or SCENES, framings or FRAMINGS
    images = np.array(images, dtype=np.uint8, copy=True)
    masked = masks.reshape(len(masks), -1).any(axis=1)
    rows = np.flatnonzero(masked & (rng.random(len(images)) < probability))
    if len(rows):
        kinds = [scenes[index] for index in rng.integers(len(scenes), size=len(rows))]
        chosen_framings = [framings[index] for index in rng.integers(len(framings), size=len(rows))]
        size = images.shape[1]
        images[rows] = composite(images[rows], masks[rows], random_scenes(rng, size, kinds), framing_transforms(rng, size, chosen_framings))
    return images


class BackgroundReplacement:
    """The training pipeline's background replacement: `replace_backgrounds` on each batch.

    Args:
        masks: The masks of every image the pipeline's rows index (`segment_backgrounds`),
            computed once when the images were loaded; None to segment each batch as it comes
            (images streamed from their files, none held).
        probability: Share of the images with a plain background that get a new scene.
        seed: Seed of the pipeline's stream of per-batch seeds (see `data.make_dataset`).

    Example:
        >>> replacement = BackgroundReplacement(segment_backgrounds(images), probability=0.5, seed=42)
        >>> batch = replacement(rows, images[rows], seed=7)
    """

    def __init__(self, masks: np.ndarray | None, probability: float, seed: int):
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"The background replacement's probability must be between 0 and 1. Received: {probability}")
        self.masks = masks
        self.probability = probability
        self.seed = seed

    @property
    def plain_count(self) -> int:
        """How many of the images have a plain background (a mask); 0 when they are segmented batch by batch."""
        return 0 if self.masks is None else int(self.masks.reshape(len(self.masks), -1).any(axis=1).sum())

    def __call__(self, rows: np.ndarray, images: np.ndarray, seed: int) -> np.ndarray:
        """``images`` (the pipeline's rows ``rows``) with backgrounds replaced, drawn from ``seed``."""
        masks = self.masks[rows] if self.masks is not None else segment_backgrounds(images)
        return replace_backgrounds(images, masks, np.random.default_rng(seed), self.probability)


def resolve_background(background: str, arch: str) -> bool:
    """Whether training replaces backgrounds, for a ``--background`` choice: ``on``; ``off``; ``auto``,
    on for a network over images (every ``arch`` but the MLP, whose features are computed once).

    Raises:
        ValueError: For a choice not in `config.BACKGROUNDS`, or ``on`` with a network over features.
    """
    if background not in config.BACKGROUNDS:
        raise ValueError(f"`background` must be one of {', '.join(config.BACKGROUNDS)}. Received: `background` {background}")
    over_images = network(arch).over_images
    if not over_images and background == "on":
        raise ValueError(
            f"`background` on replaces training images' backgrounds; `arch` {arch} trains on features computed "
            "once from them: drop `background`."
        )
    return background == "on" or (background == "auto" and over_images)


def build_background_replacement(images, probability: float | None = None, seed: int = config.SEED) -> BackgroundReplacement:
    """The background replacement of a training run over ``images``: their masks computed now, once,
    and kept beside them when ``images`` is an array (held in memory or mapped from the disk
    cache); else (images streamed from their files) each batch is segmented as it comes.

    Args:
        images: uint8 RGB images (N, H, W, 3): an array, or an array-like that decodes on indexing.
        probability: Share of the images with a plain background that get a new scene. Defaults to
            `config.BACKGROUND_PROBABILITY`.
        seed: Seed of the replacement's random draws. Defaults to 42.
    """
    masks = segment_backgrounds(images) if isinstance(images, np.ndarray) else None
    return BackgroundReplacement(masks, config.BACKGROUND_PROBABILITY if probability is None else probability, seed)
