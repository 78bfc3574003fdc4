"""Procedural scenes (pyimagesearch/data/scenes.py): their kinds, their colours, their determinism."""

import numpy as np
import pytest

from pyimagesearch.data.scenes import PALETTE, SCENES, random_scenes


def test_scenes_of_each_kind_are_uint8_images_of_the_size_asked():
    scenes = random_scenes(np.random.default_rng(0), 48, list(SCENES) * 2)
    assert scenes.shape == (6, 48, 48, 3) and scenes.dtype == np.uint8
    fields, gradients, clutter = scenes[0], scenes[1], scenes[2]
    assert len(np.unique(fields.reshape(-1, 3), axis=0)) == 1
    # A gradient changes smoothly; clutter (grain, shapes, stripes) does not.
    assert np.abs(np.diff(gradients.astype(int), axis=1)).max() <= 12
    assert np.abs(np.diff(clutter.astype(int), axis=1)).max() > 12


def test_colour_fields_take_the_colours_given():
    colours = np.array([PALETTE["red"], PALETTE["blue"]])
    scenes = random_scenes(np.random.default_rng(0), 16, ["colour", "colour"], colours=colours)
    assert (scenes[0] == PALETTE["red"]).all() and (scenes[1] == PALETTE["blue"]).all()


def test_the_same_seed_draws_the_same_scenes():
    kinds = ["clutter", "gradient", "colour", "clutter"]
    first = random_scenes(np.random.default_rng(4), 32, kinds)
    np.testing.assert_array_equal(first, random_scenes(np.random.default_rng(4), 32, kinds))
    assert (first != random_scenes(np.random.default_rng(5), 32, kinds)).any()


def test_unknown_scene_kinds_are_refused():
    with pytest.raises(ValueError, match="Scene kinds must be of colour, gradient, clutter. Received: sky"):
        random_scenes(np.random.default_rng(0), 16, ["colour", "sky"])
