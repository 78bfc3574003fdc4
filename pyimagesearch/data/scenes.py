"""Procedural scenes to put garments on: saturated colour fields, gradients between random colours,
and cluttered scenes (colour noise at several scales, stripes, shapes, grain), drawn from a seeded
random generator, nothing downloaded. `backgrounds.replace_backgrounds` puts training garments on
them; bench/robustness.py, validation garments. numpy and OpenCV only.
"""

from collections.abc import Sequence

import cv2
import numpy as np

# Scene kinds, for training and for bench/robustness.py.
SCENES = ("colour", "gradient", "clutter")
# Colours of the fields that fool a colour classifier, the garments' own among them (RGB).
PALETTE = {
    "red": (200, 20, 30),
    "blue": (25, 60, 190),
    "pink": (240, 120, 170),
    "green": (30, 150, 60),
    "yellow": (240, 210, 30),
    "black": (15, 15, 15),
    "orange": (240, 120, 20),
    "purple": (110, 40, 150),
    "grey": (128, 128, 128),
    "brown": (110, 70, 40),
}
# Channels OpenCV resizes in one call (its limit is 512): scenes' noise is resized 128 scenes at a time.
_RESIZE_CHANNELS = 384


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
    return np.concatenate(
        [
            cv2.resize(image[..., start : start + _RESIZE_CHANNELS], (size, size), interpolation=cv2.INTER_LINEAR).reshape(size, size, -1)
            for start in range(0, image.shape[2], _RESIZE_CHANNELS)
        ],
        axis=2,
    )


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
    # Every shape's parameters drawn from rng at once (a numpy call each costs more than drawing a shape); the loop renders them.
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
    # cv2.randn: cheaper than numpy for as many normal draws (measured: bench/README.md, "Robustness");
    # its state is drawn from rng.
    cv2.setRNGSeed(int(rng.integers(2**31)))
    cv2.randn(grain.reshape(count * size, size, 3), 0.0, 1.0)
    return scenes + grain * rng.uniform(0, 12, (count, 1, 1, 1)).astype(np.float32)


def random_scenes(rng: np.random.Generator, size: int, kinds: Sequence[str], colours: np.ndarray | None = None) -> np.ndarray:
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
