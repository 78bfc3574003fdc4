"""Image features without a CNN: their size, their determinism, and that they see colour and shape."""

import numpy as np
import pytest

from pyimagesearch.data.features import FeatureSettings, extract_features


def _images(seed: int = 0, count: int = 5, size: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def test_feature_vector_has_the_size_its_settings_give():
    default = extract_features(_images())
    assert default.shape == (5, FeatureSettings().size) and default.dtype == np.float32
    assert FeatureSettings().size == 8 * 12 * 3 + 7 * 7 * 4 * 9  # 288 histogram bins + 1,764 HOG values
    small = FeatureSettings(hsv_bins=(4, 2, 2), hog_size=32, hog_cell=8, hog_bins=6)
    assert extract_features(_images(), small).shape == (5, 16 + 3 * 3 * 4 * 6) == (5, small.size)
    assert extract_features(np.zeros((0, 32, 32, 3), dtype=np.uint8)).shape == (0, FeatureSettings().size)


def test_features_are_deterministic_and_each_row_depends_on_its_image_alone():
    images = _images(count=150)  # more than one chunk of work
    first = extract_features(images)
    np.testing.assert_array_equal(first, extract_features(images, workers=1))
    np.testing.assert_array_equal(first[[7]], extract_features(images[[7]]))
    np.testing.assert_array_equal(first, extract_features(images.astype("float32")))


def test_histogram_sees_colour_and_hog_sees_orientation():
    settings = FeatureSettings()
    bins = int(np.prod(settings.hsv_bins))
    red, blue = np.zeros((1, 64, 64, 3), np.uint8), np.zeros((1, 64, 64, 3), np.uint8)
    red[..., 0], blue[..., 2] = 200, 200
    red_features, blue_features = extract_features(red), extract_features(blue)
    np.testing.assert_allclose(red_features[0, :bins].sum(), 1.0, rtol=1e-6)
    assert red_features[0, :bins].argmax() != blue_features[0, :bins].argmax()
    np.testing.assert_array_equal(red_features[0, bins:], blue_features[0, bins:])  # same (flat) shape
    vertical = np.zeros((1, 64, 64, 3), np.uint8)
    vertical[:, :, ::8] = 255
    horizontal = vertical.transpose(0, 2, 1, 3).copy()
    np.testing.assert_array_equal(extract_features(vertical)[0, :bins], extract_features(horizontal)[0, :bins])
    assert not np.allclose(extract_features(vertical)[0, bins:], extract_features(horizontal)[0, bins:])


def test_settings_round_trip_through_json_and_bad_ones_are_refused():
    settings = FeatureSettings(hsv_bins=(4, 4, 4), hog_size=32)
    assert FeatureSettings.from_json(settings.to_json()) == settings
    with pytest.raises(ValueError, match="hog_size must be a multiple of hog_cell"):
        FeatureSettings(hog_size=12, hog_cell=8)
    with pytest.raises(ValueError, match="three positive bin counts"):
        FeatureSettings(hsv_bins=(8, 0, 3))
    with pytest.raises(ValueError, match=r"RGB images of shape \(N, height, width, 3\)"):
        extract_features(np.zeros((2, 32, 32), np.uint8))
