"""Plain backgrounds found and replaced (pyimagesearch/data/backgrounds.py, on scenes of pyimagesearch/data/scenes.py):
on generated images, in the training pipeline, in a real training, and on the real photos."""

import logging

import cv2
import numpy as np
import pytest
from conftest import FASHION_DIR

from pyimagesearch.data.backgrounds import (
    BackgroundReplacement,
    composite,
    framing_transforms,
    replace_backgrounds,
    resolve_background,
    segment_background,
    segment_backgrounds,
)
from pyimagesearch.data.scenes import random_scenes

SIZE = 64
# A dress: shoulders, a waist, a flared skirt (x, y in pixels of a 64-pixel image).
DRESS = np.array([[24, 6], [40, 6], [38, 24], [50, 58], [14, 58], [26, 24]], np.int32)


def garment_mask(size: int = SIZE) -> np.ndarray:
    """True on the dress polygon."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [DRESS], 1)
    return mask.astype(bool)


def interior(size: int = SIZE) -> np.ndarray:
    """True on the dress, 3 pixels or more inside its edge: what replacement must never touch."""
    return cv2.erode(garment_mask(size).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)


def dress_on(background: np.ndarray, colour=(190, 20, 30)) -> np.ndarray:
    """A shaded red dress on ``background`` (uint8 RGB, SIZE x SIZE)."""
    image = background.copy()
    shade = np.linspace(0.8, 1.0, SIZE)[:, None, None]
    image[garment_mask()] = (np.array(colour) * shade).astype(np.uint8).repeat(SIZE, axis=1)[garment_mask()]
    return image


def plain(colour=(250, 250, 250)) -> np.ndarray:
    return np.full((SIZE, SIZE, 3), colour, np.uint8)


def gradient() -> np.ndarray:
    """A studio backdrop: light grey at the top to white at the bottom, as lit from below."""
    ramp = np.linspace(205, 250, SIZE)[:, None, None]
    return np.broadcast_to(ramp, (SIZE, SIZE, 3)).astype(np.uint8)


def noise(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


@pytest.mark.parametrize("background", [plain(), plain((40, 120, 200)), gradient()], ids=["white", "blue", "gradient"])
def test_a_garment_on_a_plain_or_smoothly_shaded_background_is_segmented(background):
    mask = segment_background(dress_on(background))
    assert mask is not None
    garment, inside = garment_mask(), interior()
    assert (mask[inside] == 0).all()
    # Outside the dress's 2-pixel rim, everything is background.
    outside = ~cv2.dilate(garment.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert (mask[outside] == 255).all()


def test_a_garment_on_noise_gets_no_mask():
    assert segment_background(dress_on(noise())) is None
    assert segment_background(noise(1)) is None


def test_a_photo_filled_by_its_garment_or_without_one_gets_no_mask():
    red = plain((190, 20, 30))
    red[:, 0] = red[:, -1] = 250  # a plain border two pixels wide around almost nothing
    assert segment_background(plain()) is None
    assert segment_background(red) is None


def test_segmentation_refuses_what_is_not_an_rgb_image():
    with pytest.raises(ValueError, match=r"uint8 RGB image of shape \(H, W, 3\).*Received: ndarray of shape \(64, 64\)"):
        segment_background(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match="dtype float32"):
        segment_background(np.zeros((64, 64, 3), np.float32))


def test_segment_backgrounds_stacks_masks_with_zeros_where_there_is_none():
    masks = segment_backgrounds(np.stack([dress_on(plain()), dress_on(noise())]))
    assert masks.shape == (2, SIZE, SIZE) and masks.dtype == np.uint8
    assert masks[0].any() and not masks[1].any()


def test_replacement_changes_the_background_and_keeps_every_pixel_of_the_garment():
    image = dress_on(plain())
    masks = segment_backgrounds(image[None])
    for kind in ("colour", "gradient", "clutter"):
        scene = random_scenes(np.random.default_rng(3), SIZE, [kind])
        out = composite(image[None], masks, scene)[0]
        np.testing.assert_array_equal(out[interior()], image[interior()])
        background = masks[0] == 255
        np.testing.assert_array_equal(out[background], scene[0][background])
        assert (out[background] != image[background]).any(), kind


def test_a_red_field_behind_a_red_dress_is_the_field_asked_for():
    image = dress_on(plain())
    field = random_scenes(np.random.default_rng(0), SIZE, ["colour"], colours=np.array([[200, 20, 30]]))
    assert (field == (200, 20, 30)).all()
    out = composite(image[None], segment_backgrounds(image[None]), field)[0]
    assert (out[0, 0] == (200, 20, 30)).all()


def test_framings_cut_or_shrink_the_garment_and_fill_the_rest_with_scene():
    image = dress_on(plain())
    masks = segment_backgrounds(image[None])
    scene = random_scenes(np.random.default_rng(0), SIZE, ["colour"], colours=np.array([[20, 160, 40]]))
    rng = np.random.default_rng(1)
    small, upper, lower = (
        composite(image[None], masks, scene, framing_transforms(rng, SIZE, [framing]))[0] for framing in ("small", "upper", "lower")
    )
    red = (small[..., 0] > 100) & (small[..., 1] < 80)
    assert 0 < red.sum() < 0.7 * garment_mask().sum()
    # The dress touches no edge; zoomed about the top, its shoulders stay near the top and the bottom edge
    # cuts its skirt; zoomed about the bottom, its hem stays and the top edge cuts its bodice.
    assert not (image[[0, -1], :, 0] < 200).any()
    assert (upper[12:16, 28:36, 0] > 100).all() and (upper[-1, 28:36, 0] > 100).all()
    assert (lower[50:54, 28:36, 0] > 100).all() and (lower[0, 28:36, 0] > 100).all()


def test_images_without_a_mask_keep_their_pixels():
    images = np.stack([dress_on(noise(2)), dress_on(plain())])
    masks = np.zeros((2, SIZE, SIZE), np.uint8)
    np.testing.assert_array_equal(replace_backgrounds(images, masks, np.random.default_rng(0), probability=1.0), images)


def test_replacement_is_deterministic_for_a_seed_and_varies_with_it():
    images = np.stack([dress_on(plain()), dress_on(gradient()), dress_on(plain((40, 120, 200)))])
    masks = segment_backgrounds(images)

    def replaced(seed: int) -> np.ndarray:
        return replace_backgrounds(images, masks, np.random.default_rng(seed), probability=1.0)

    np.testing.assert_array_equal(replaced(5), replaced(5))
    assert (replaced(5) != replaced(6)).any()
    unchanged = replace_backgrounds(images, masks, np.random.default_rng(5), probability=0.0)
    np.testing.assert_array_equal(unchanged, images)
    framed_as_is = replace_backgrounds(images, masks, np.random.default_rng(5), probability=1.0, framings=("as-is",))
    np.testing.assert_array_equal(framed_as_is[:, interior()], images[:, interior()])
    assert (framed_as_is[:, ~garment_mask()] != images[:, ~garment_mask()]).any()


def test_streamed_images_are_segmented_batch_by_batch_alike():
    images = np.stack([dress_on(plain()), dress_on(noise()), dress_on(gradient())])
    rows = np.array([2, 0, 1])
    held = BackgroundReplacement(segment_backgrounds(images), probability=1.0, seed=0)
    streamed = BackgroundReplacement(None, probability=1.0, seed=0)
    np.testing.assert_array_equal(held(rows, images[rows], 9), streamed(rows, images[rows], 9))
    assert held.plain_count == 2 and streamed.plain_count == 0
    with pytest.raises(ValueError, match="between 0 and 1. Received: 1.5"):
        BackgroundReplacement(None, probability=1.5, seed=0)


def test_the_pipeline_replaces_backgrounds_and_keeps_every_label():
    from pyimagesearch.data.dataset import make_dataset

    images = np.stack([dress_on(plain()) for _ in range(6)] + [dress_on(noise(seed)) for seed in range(2)])
    targets = np.eye(8, dtype=np.float32)
    replacement = BackgroundReplacement(segment_backgrounds(images), probability=1.0, seed=3)

    dataset = make_dataset(images, targets, 3, backgrounds=replacement)

    def epoch() -> tuple[np.ndarray, np.ndarray]:
        batches = list(dataset.as_numpy_iterator())
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])

    first, labels = epoch()
    np.testing.assert_array_equal(labels, targets)
    assert all((first[row] != images[row]).any() for row in range(6))
    np.testing.assert_array_equal(first[6:], images[6:])  # no plain background: pixels kept
    second, _ = epoch()  # a new epoch draws new scenes; the same run draws the same ones
    assert (second[:6] != first[:6]).any()
    dataset = make_dataset(images, targets, 3, backgrounds=replacement)
    np.testing.assert_array_equal(epoch()[0], first)


def test_background_choices():
    assert resolve_background("auto", "smallervggnet") and resolve_background("auto", "mobilenetv2")
    assert not resolve_background("auto", "mlp")
    assert resolve_background("on", "smallervggnet") and not resolve_background("off", "smallervggnet")
    with pytest.raises(ValueError, match="`background` must be one of auto, on, off. Received: `background` yes"):
        resolve_background("yes", "smallervggnet")
    with pytest.raises(ValueError, match="`background` on replaces .*`arch` mlp .*drop `background`"):
        resolve_background("on", "mlp")


def test_training_with_background_replacement(demo_data, tmp_path, caplog):
    from pyimagesearch.training.options import TrainOptions
    from pyimagesearch.training.pipeline import train

    with caplog.at_level(logging.INFO, logger="pyimagesearch"):
        result = train(
            TrainOptions.of(
                dataset=demo_data[0],
                model=tmp_path / "m.model",
                labelbin=tmp_path / "m.pickle",
                plot=tmp_path / "m.png",
                epochs=1,
                image_size=32,
                background="on",
                arch="smallervggnet",
            ),
            verbose=0,
        )
    assert result.metadata["background"] is True
    line = next(record.getMessage() for record in caplog.records if record.getMessage().startswith("backgrounds:"))
    plain_count, images = int(line.split()[1]), int(line.split()[3])
    # The demo photos' backgrounds are shaded and grainy: few are plain enough to replace.
    assert images == 360 and 0 < plain_count < images and "replaced in each epoch" in line
    assert (tmp_path / "m.model").is_file()


def test_train_cli_refuses_background_on_with_the_mlp(demo_data, tmp_path, capsys):
    from train import main as train_main

    arguments = ["--dataset", str(demo_data[0]), "--arch", "mlp", "--background", "on", "--model", str(tmp_path / "m.model")]
    assert train_main(arguments) == 2
    error = capsys.readouterr().err
    assert error.startswith("train.py: error: --background on replaces training images' backgrounds; --arch mlp")
    assert error.count("\n") == 1 and not (tmp_path / "m.model").exists()


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="the real photos are not beside the project")
def test_most_real_product_photos_have_a_plain_background():
    from pyimagesearch.data.images import list_images, load_images

    images, _, _ = load_images(list_images(FASHION_DIR)[::10], 64)
    masks = segment_backgrounds(images)
    has_mask = masks.reshape(len(masks), -1).any(axis=1)
    # 88 % of the 1,813 photos at 64 px (bench/README.md, "Robustness").
    assert has_mask.mean() > 0.8
    garment_share = (masks[has_mask] == 0).mean(axis=(1, 2))
    assert (garment_share > 0.05).all() and np.median(garment_share) > 0.2
