"""Plain backgrounds found and replaced: a garment photographed on white, shown on other scenes.

Product photos put the garment on a near-uniform background; photos of people put it in front
of red carpets, blue backdrops and streets, cut by the frame or small in it. A network trained on
white backgrounds learns that whatever is not white is the garment, and reads its colour from the
scene. This module finds the plain background (`segment_background`: a flood fill from the
border within a colour tolerance, cleaned up), draws scenes (`random_scenes`: saturated colour
fields, gradients between random colours, cluttered procedural scenes) and puts the garment on
them, reframed as photos of people frame it (`replace_backgrounds`). The labels never change:
only pixels of the background do, and the garment's pixels are kept. A photo whose border is not
plain gets no mask, and keeps its pixels.

Used by training (`BackgroundReplacement`, called in the tf.data pipeline) and by
bench/robustness.py. numpy and OpenCV only: importing it loads no TensorFlow.
"""

from collections.abc import Sequence

import cv2
import numpy as np

from pyimagesearch import config

# Scene kinds, for training and for bench/robustness.py.
SCENES = ("colour", "gradient", "clutter")
# Reframings: as framed, the garment small in a larger scene, its upper or its lower part only.
FRAMINGS = ("as-is", "small", "upper", "lower")
# Colours of the fields that fool a colour classifier, the garments' own among them (RGB).
PALETTE = {
    "red": (200, 20, 30), "blue": (25, 60, 190), "pink": (240, 120, 170), "green": (30, 150, 60),
    "yellow": (240, 210, 30), "black": (15, 15, 15), "orange": (240, 120, 20), "purple": (110, 40, 150),
    "grey": (128, 128, 128), "brown": (110, 70, 40),
}
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
# Channels OpenCV resizes in one call (its limit is 512): scenes' noise is resized 128 scenes at a time.
_RESIZE_CHANNELS = 384


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
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 \
            or min(image.shape[:2]) < 8:
        shape = getattr(image, "shape", None)
        raise ValueError(f"segment_background takes a uint8 RGB image of shape (H, W, 3), H and W at least 8. "
                         f"Received: {type(image).__name__} of shape {shape} and dtype {getattr(image, 'dtype', None)}")
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


def _random_colours(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` RGB colours, float32 (count, 3): half the time a `PALETTE` colour, jittered; else any colour."""
    palette = np.array(list(PALETTE.values()), np.float32)
    jittered = np.clip(palette[rng.integers(len(palette), size=count)] + rng.uniform(-25, 25, (count, 3)), 0, 255)
    return np.where(rng.random((count, 1)) < 0.5, jittered, rng.uniform(0, 255, (count, 3))).astype(np.float32)


def _ramps(rng: np.random.Generator, size: int, count: int, scale: np.ndarray | None = None) -> np.ndarray:
    """Coordinates along a random direction per scene, float32 (count, size, size): from 0 to 1, or
    in pixels divided by ``scale`` (count,) when given."""
    angle = rng.uniform(0, 2 * np.pi, count).astype(np.float32)[:, None, None]
    axis = np.arange(size, dtype=np.float32)
    ramps = np.cos(angle) * axis[None, None, :] + np.sin(angle) * axis[None, :, None]
    if scale is not None:
        return ramps / scale[:, None, None]
    low, high = ramps.min(axis=(1, 2), keepdims=True), ramps.max(axis=(1, 2), keepdims=True)
    return (ramps - low) / np.maximum(high - low, 1e-6)


def _noise_octaves(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    """Colour noise at several scales (2 to 16 cells a side), float32 (count, size, size, 3).

    Built coarse to fine: each octave is the one before, enlarged, plus its own noise, so only the
    last enlargement works at full size; every scene's channels side by side in one array.
    """
    noise = np.zeros((1, 1, 3 * count), np.float32)
    for cells, weight in ((2, 0.4), (4, 0.3), (8, 0.2), (16, 0.1)):
        cells = min(cells, size)
        noise = _resize_channels(noise, cells) + rng.uniform(0, 255 * weight, (cells, cells, 3 * count)).astype(np.float32)
    return np.ascontiguousarray(_resize_channels(noise, size).reshape(size, size, count, 3).transpose(2, 0, 1, 3))


def _resize_channels(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` (H, W, C) resized bilinearly to (size, size, C), any number of channels (OpenCV takes up to 512 at once)."""
    return np.concatenate([
        cv2.resize(image[..., start:start + _RESIZE_CHANNELS], (size, size), interpolation=cv2.INTER_LINEAR).reshape(size, size, -1)
        for start in range(0, image.shape[2], _RESIZE_CHANNELS)
    ], axis=2)


def _clutter(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    """Cluttered scenes, float32 (count, size, size, 3): noise at several scales, stripes on half
    of them, 2 to 8 random shapes (rectangles, discs, rings, lines) and fine grain."""
    scenes = _noise_octaves(rng, size, count)
    striped = np.flatnonzero(rng.random(count) < 0.5)
    if len(striped):
        period = rng.uniform(size / 16, size / 3, len(striped)).astype(np.float32)
        stripes = np.sin(2 * np.pi * _ramps(rng, size, len(striped), period)) > 0
        colours = _random_colours(rng, len(striped))
        scenes[striped] = np.where(stripes[..., None], colours[:, None, None], scenes[striped])
    # Every shape's parameters drawn at once; the loop only draws them.
    shapes = rng.integers(2, 9, count)
    total = int(shapes.sum())
    colours = _random_colours(rng, total).tolist()
    kinds, points = rng.integers(3, size=total).tolist(), rng.integers(0, size, (total, 4)).tolist()
    radii = rng.integers(1, max(2, size // 4), total).tolist()
    thicknesses = np.where(rng.random(total) < 0.6, -1, rng.integers(1, max(2, size // 24), total)).tolist()
    owners = np.repeat(np.arange(count), shapes).tolist()
    for owner, kind, (x1, y1, x2, y2), radius, thickness, colour in zip(owners, kinds, points, radii, thicknesses, colours):
        if kind == 0:
            cv2.rectangle(scenes[owner], (x1, y1), (x2, y2), colour, thickness)
        elif kind == 1:
            cv2.circle(scenes[owner], (x1, y1), radius, colour, thickness)
        else:
            cv2.line(scenes[owner], (x1, y1), (x2, y2), colour, max(thickness, 1))
    grain = np.empty_like(scenes)
    # cv2.randn: a third of numpy's cost for as many normal draws; its state is drawn from rng.
    cv2.setRNGSeed(int(rng.integers(2**31)))
    cv2.randn(grain.reshape(count * size, size, 3), 0.0, 1.0)
    return scenes + grain * rng.uniform(0, 12, (count, 1, 1, 1)).astype(np.float32)


def random_scenes(
    rng: np.random.Generator, size: int, kinds: Sequence[str], colours: np.ndarray | None = None
) -> np.ndarray:
    """Scenes to put garments on, one per entry of ``kinds``.

    Args:
        rng: The random generator: the same state gives the same scenes.
        size: Side of the square scenes in pixels.
        kinds: Each scene's kind, of `SCENES`: ``colour``, a uniform field; ``gradient``, a
            linear gradient between two random colours along a random direction; ``clutter``,
            colour noise at several scales, stripes, shapes and grain.
        colours: RGB colours of shape (len(kinds), 3) for the ``colour`` fields. Defaults to
            random ones (half the time a jittered `PALETTE` colour).

    Returns:
        uint8 RGB array of shape (len(kinds), size, size, 3).

    Raises:
        ValueError: For a kind not in `SCENES`.

    Example:
        >>> scenes = random_scenes(np.random.default_rng(0), 96, ["colour", "clutter"])
    """
    kinds = np.asarray(kinds, dtype=object)
    unknown = sorted(set(kinds) - set(SCENES))
    if unknown:
        raise ValueError(f"Scene kinds must be of {', '.join(SCENES)}. Received: {', '.join(map(str, unknown))}")
    scenes = np.empty((len(kinds), size, size, 3), np.uint8)
    fields = np.flatnonzero(kinds == "colour")
    field_colours = _random_colours(rng, len(kinds)) if colours is None else np.asarray(colours, np.float32)
    scenes[fields] = (np.clip(field_colours[fields], 0, 255) + 0.5).astype(np.uint8)[:, None, None]
    gradients = np.flatnonzero(kinds == "gradient")
    if len(gradients):
        first, second = _random_colours(rng, len(gradients)), _random_colours(rng, len(gradients))
        ramps = _ramps(rng, size, len(gradients))[..., None]
        # Between two colours of 0-255: no clipping needed.
        scenes[gradients] = (first[:, None, None] + ramps * (second - first)[:, None, None] + 0.5).astype(np.uint8)
    cluttered = np.flatnonzero(kinds == "clutter")
    if len(cluttered):
        scenes[cluttered] = (np.clip(_clutter(rng, size, len(cluttered)), 0, 255) + 0.5).astype(np.uint8)
    return scenes


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
        scenes: uint8 RGB (B, H, W, 3), e.g. `random_scenes`.
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
            moved = cv2.warpAffine(cv2.merge([images[row], masks[row]]), transforms[row], (width, height),
                                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 255))
            images[row], masks[row] = moved[..., :3], moved[..., 3]
    # One blend over the batch stacked into one tall image: OpenCV's is twice as fast as numpy's.
    count, height, width = masks.shape
    weight = masks.reshape(count * height, width).astype(np.float32)
    weight *= 1.0 / 255.0
    blended = cv2.blendLinear(np.ascontiguousarray(images).reshape(count * height, width, 3),
                              np.ascontiguousarray(scenes).reshape(count * height, width, 3), 1.0 - weight, weight)
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
    of a kind drawn from ``scenes`` (`random_scenes`), framed by a framing drawn from
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
        images[rows] = composite(images[rows], masks[rows], random_scenes(rng, size, kinds),
                                 framing_transforms(rng, size, chosen_framings))
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
    on for a network over images (every ``arch`` but ``mlp``, whose features are computed once).

    Raises:
        ValueError: For a choice not in `config.BACKGROUNDS`, or ``on`` with ``--arch mlp``.
    """
    if background not in config.BACKGROUNDS:
        raise ValueError(f"--background must be one of {', '.join(config.BACKGROUNDS)}. Received: --background {background}")
    if arch == "mlp" and background == "on":
        raise ValueError("--background on replaces training images' backgrounds; --arch mlp trains on features computed "
                         "once from them: drop --background.")
    return background == "on" or (background == "auto" and arch != "mlp")


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
