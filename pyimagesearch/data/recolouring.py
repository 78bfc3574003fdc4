"""Label-aware recolouring: a training image's garment changes colour, and its colour label with it.

A network that only ever saw black on jeans learns "dark trousers" as one thing, and calls a
black dress "black jeans". Recolouring a red dress black (value and saturation down) or blue
(hue rotated), and labelling it so, shows it every colour on every type, so colour and type are
learnt apart. Only the pixels of the source colour change (a hue window with some saturation,
or dark pixels for black), so white backgrounds stay white; an image where too few pixels match
keeps its pixels and its label. Colours are recognised by name (`COLOUR_HUES`, `DARK_COLOURS`).
"""

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from pyimagesearch import config

# Hue of each colour name this module can paint, on TensorFlow's HSV scale (0-1, red at 0).
COLOUR_HUES = {"red": 0.0, "orange": 0.08, "yellow": 0.16, "green": 0.33, "blue": 0.62, "purple": 0.77, "pink": 0.92}
# Colours made by darkening: value and saturation down, hue kept.
DARK_COLOURS = ("black",)
# Pixels of a chromatic colour: hue within this distance (soft over the last third), saturation
# and value above the floors below; of black: value and saturation under their ceilings.
HUE_TOLERANCE = 0.09
SATURATION_FLOOR = 0.15
VALUE_FLOOR = 0.1
DARK_VALUE_CEILING = 0.35
DARK_SATURATION_CEILING = 0.4
# An image is recoloured (pixels and label) only if at least this share of it has the source colour.
MIN_COVERAGE = 0.02


def colour_group(label_groups: Sequence[Sequence[str]] | None) -> int | None:
    """Index of the first label group holding two or more colours this module knows (`COLOUR_HUES`,
    `DARK_COLOURS`), or None."""
    for index, group in enumerate(label_groups or []):
        if sum(label in COLOUR_HUES or label in DARK_COLOURS for label in group) >= 2:
            return index
    return None


def recolourable_labels(classes: Sequence[str], label_groups: Sequence[Sequence[str]] | None) -> tuple[int, ...]:
    """Indices in ``classes`` of the colours recolouring can paint, from the `colour_group`.

    Returns:
        The indices, e.g. ``(0, 1, 4)`` for black, blue and red; empty when no group has two
        colours of `COLOUR_HUES` or `DARK_COLOURS`.
    """
    group = colour_group(label_groups)
    if group is None:
        return ()
    return tuple(classes.index(label) for label in label_groups[group] if label in COLOUR_HUES or label in DARK_COLOURS)


def resolve_recolour(
    recolour: str,
    head: str,
    classes: Sequence[str],
    label_groups: Sequence[Sequence[str]] | None,
    colour_branch: bool = False,
    pretrained: bool = False,
) -> tuple[int, ...]:
    """The colour labels ``--recolour`` swaps: `recolourable_labels` for ``on``, and for ``auto`` with the
    grouped head on one SmallerVGGNet (``colour_branch`` and ``pretrained`` False); none for ``off``.

    The colour-and-shape network (`colour_and_shape`) needs no recolouring: its colour branch
    cannot see shape and its shape branch sees no hue. Recolouring it even hurts: painted
    colours mislead the colour branch (bench/README.md, "Unseen combinations"). A pretrained
    backbone (``pretrained``) is hurt too: MobileNetV2 ended at a lower validation exact-match with
    recolouring than without (measured: bench/README.md, "Transfer learning").

    Raises:
        ValueError: For an unknown choice, or ``on`` when no label group holds two colours it knows.
    """
    if recolour not in config.RECOLOURS:
        raise ValueError(f"`recolour` must be one of {', '.join(config.RECOLOURS)}. Received: `recolour` {recolour}")
    labels = recolourable_labels(classes, label_groups)
    if recolour == "on" and not labels:
        known = ", ".join([*COLOUR_HUES, *DARK_COLOURS])
        raise ValueError(
            f"`recolour` on needs a label group with two or more of the colours {known}; "
            f"the labels have none (groups: {label_groups}). Use `recolour` off."
        )
    if recolour == "off" or (recolour == "auto" and (head != "grouped" or colour_branch or pretrained)):
        return ()
    return labels


def _source_weight(hsv: tf.Tensor, hue: tf.Tensor, dark: tf.Tensor) -> tf.Tensor:
    """How much each pixel has the source colour, 0-1, shape (B, H, W); ``hue`` and ``dark`` are (B, 1, 1)."""
    h, s, v = tf.unstack(hsv, axis=-1)
    distance = tf.abs(h - hue)
    distance = tf.minimum(distance, 1.0 - distance)  # Hue is circular.
    soft = HUE_TOLERANCE / 3
    chromatic = (
        tf.clip_by_value((HUE_TOLERANCE - distance) / soft, 0.0, 1.0)
        * tf.clip_by_value((s - SATURATION_FLOOR) / 0.1, 0.0, 1.0)
        * tf.clip_by_value((v - VALUE_FLOOR) / 0.1, 0.0, 1.0)
    )
    darkness = tf.clip_by_value((DARK_VALUE_CEILING - v) / 0.1, 0.0, 1.0) * tf.clip_by_value((DARK_SATURATION_CEILING - s) / 0.1, 0.0, 1.0)
    return tf.where(dark, darkness, chromatic)


def build_recolouring(
    classes: Sequence[str],
    colour_labels: Sequence[int],
    probability: float = config.RECOLOUR_PROBABILITY,
    seed: int = config.SEED,
) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """A tf.data map that recolours a share of each training batch into another colour of the group.

    Each image carrying one of ``colour_labels`` is, with probability ``probability``, given
    another of them, uniformly: a chromatic colour has its pixels' hue rotated onto the target's
    (red to blue keeps the shading), or is darkened into black; black is painted with the
    target's hue and brightened. Its colour label becomes the target.

    Args:
        classes: The labels, in the targets' column order.
        colour_labels: Indices of the colours to swap (`recolourable_labels`), two or more.
        probability: Share of the eligible images recoloured. Defaults to 0.5.
        seed: Seed of the random choices. Defaults to 42.

    Returns:
        ``recolour(images, targets)`` for float32 RGB batches (B, H, W, 3) with values 0-255 and
        their multi-hot targets (B, labels); it returns both, changed.

    Raises:
        ValueError: For fewer than two colour labels, or a label that is not a known colour.

    Example:
        >>> dataset = dataset.map(build_recolouring(["black", "blue", "dress", "jeans", "red"], [0, 1, 4]))
    """
    names = [classes[index] for index in colour_labels]
    unknown = [name for name in names if name not in COLOUR_HUES and name not in DARK_COLOURS]
    if len(names) < 2 or unknown:
        raise ValueError(f"Recolouring needs two or more known colours (of {', '.join([*COLOUR_HUES, *DARK_COLOURS])}). Received: {names}")
    count = len(names)
    columns = tf.constant(colour_labels, tf.int32)
    hues = tf.constant([COLOUR_HUES.get(name, 0.0) for name in names], tf.float32)
    darks = tf.constant([name in DARK_COLOURS for name in names])
    # Row j puts colour j back into its column of the targets.
    placement = tf.constant(np.eye(len(classes), dtype="float32")[list(colour_labels)])
    colour_columns = tf.reduce_sum(placement, axis=0)

    def recolour(images: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        batch = tf.shape(images)[0]
        colours = tf.gather(targets, columns, axis=1)
        source = tf.argmax(colours, axis=1, output_type=tf.int32)
        target = (source + tf.random.uniform([batch], 1, count, dtype=tf.int32, seed=seed)) % count
        chosen = (tf.reduce_max(colours, axis=1) > 0.5) & (tf.random.uniform([batch], seed=seed + 1) < probability)

        def per_image(values: tf.Tensor) -> tf.Tensor:
            return tf.reshape(values, (-1, 1, 1))  # Broadcasts over an image's pixels.

        source_hue, target_hue = per_image(tf.gather(hues, source)), per_image(tf.gather(hues, target))
        source_dark, target_dark = per_image(tf.gather(darks, source)), per_image(tf.gather(darks, target))
        hsv = tf.image.rgb_to_hsv(images / 255.0)
        h, s, v = tf.unstack(hsv, axis=-1)
        weight = _source_weight(hsv, source_hue, source_dark)

        def draw(low: float, high: float) -> tf.Tensor:
            return per_image(tf.random.uniform([batch], low, high, seed=seed + 2))

        # Chromatic to chromatic: rotate the hue, keep saturation and shading.
        rotated = tf.stack([tf.math.floormod(h + target_hue - source_hue, 1.0), s, v], axis=-1)
        # To black: most of the value and saturation gone, the shading kept.
        darkened = tf.stack([h, s * draw(0.0, 0.4), v * draw(0.1, 0.3)], axis=-1)
        # From black: the target's hue, a garment's saturation, brightened shading.
        painted = tf.stack(
            [
                tf.broadcast_to(target_hue, tf.shape(h)),
                tf.broadcast_to(draw(0.5, 0.9), tf.shape(h)),
                tf.clip_by_value(v * draw(2.0, 4.0) + draw(0.05, 0.2), 0.0, 1.0),
            ],
            axis=-1,
        )
        new_hsv = tf.where(target_dark[..., None], darkened, tf.where(source_dark[..., None], painted, rotated))
        recoloured = tf.image.hsv_to_rgb(new_hsv) * 255.0
        # A label changes only with enough pixels: otherwise the label would lie about the image.
        chosen &= tf.reduce_mean(weight, axis=[1, 2]) >= MIN_COVERAGE
        weight = weight * tf.cast(per_image(chosen), tf.float32)
        images = images * (1.0 - weight[..., None]) + recoloured * weight[..., None]
        relabelled = targets * (1.0 - colour_columns) + tf.one_hot(target, count) @ placement
        return images, tf.where(chosen[:, None], relabelled, targets)

    return recolour
