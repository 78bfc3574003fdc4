"""Training on the real product photos in ../shared/data/fashion (skipped where they are absent)."""

import cv2
import numpy as np
import pytest
from conftest import EXAMPLES_DIR, FASHION_DIR, TRAINING

from pyimagesearch.data.recolouring import COLOUR_HUES, DARK_COLOURS
from pyimagesearch.inference.classification import Classifier
from pyimagesearch.training.options import TrainOptions
from pyimagesearch.training.pipeline import train

# The colour labels the colour tests look for.
COLOURS = (*COLOUR_HUES, *DARK_COLOURS)

pytestmark = pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=f"real photos not found at {FASHION_DIR}")


@pytest.fixture(scope="module")
def trained_on_photos(tmp_path_factory):
    work = tmp_path_factory.mktemp("photos")
    before = sorted((path, path.stat().st_mtime_ns) for path in FASHION_DIR.rglob("*"))
    result = train(
        TrainOptions.of(
            dataset=FASHION_DIR,
            model=work / "fashion.model",
            labelbin=work / "mlb.pickle",
            plot=work / "plot.png",
            epochs=5,
            image_size=48,
            **TRAINING,
        ),
        verbose=0,
    )
    assert sorted((path, path.stat().st_mtime_ns) for path in FASHION_DIR.rglob("*")) == before
    return work, result


def test_real_photos_train_to_a_sensible_exact_match(trained_on_photos, record_score):
    _, result = trained_on_photos
    record_score("exact_match", result.report["exact_match"])
    record_score("lowest_f1", min(scores["f1"] for scores in result.report["per_label"].values()))
    assert result.task.name == "multilabel"
    # At this test's 5 epochs, 0.868-0.911 and 0.857-0.917 over 5 seeds (bench/test_spread.py).
    assert result.report["exact_match"] >= 0.6
    assert all(scores["f1"] >= 0.6 for scores in result.report["per_label"].values())


def test_every_format_of_the_real_photos_is_read(trained_on_photos):
    from pyimagesearch.data.images import list_images

    suffixes = {path.suffix.lower() for path in list_images(FASHION_DIR)}
    assert {".jpg", ".jpeg", ".png", ".gif"} <= suffixes


@pytest.mark.skipif(not EXAMPLES_DIR.is_dir(), reason="example photos absent")
def test_real_example_photos_get_their_labels(trained_on_photos, record_score):
    work, _ = trained_on_photos
    classifier = Classifier.load(work / "fashion.model", work / "mlb.pickle")
    predictions, skipped = classifier.classify(sorted(EXAMPLES_DIR.glob("example_0[1-6].jpg")), classifier.decoding(top_k=2))
    assert not skipped
    expected = [{"red", "dress"}, {"blue", "dress"}, {"red", "shirt"}, {"blue", "shirt"}, {"blue", "jeans"}, {"black", "jeans"}]
    right = sum(set(prediction.labels) == labels for prediction, labels in zip(predictions, expected))
    record_score("examples_right", right)
    record_score("labels", [sorted(prediction.labels) for prediction in predictions])
    assert right >= 4


def test_real_photos_have_near_duplicates_that_the_split_keeps_together():
    import numpy as np

    from pyimagesearch.data.dataset import load_labelled_images
    from pyimagesearch.data.splitting import near_duplicate_groups, split_indices

    data = load_labelled_images(FASHION_DIR, 48)
    groups = near_duplicate_groups(data.images)
    assert groups.duplicate_groups >= 50  # the scrape holds many copies of the same product shots
    train, val = split_indices(data.label_sets, 0.2, seed=42, groups=groups)
    assert not set(groups.group_of[train]) & set(groups.group_of[val])
    # The tutorial's random split, by contrast, puts copies of one photo on both sides.
    random_train, random_val = split_indices(data.label_sets, 0.2, seed=42)
    assert set(groups.group_of[random_train]) & set(groups.group_of[random_val])
    assert abs(len(val) / len(data.label_sets) - 0.2) < 0.02
    assert np.isin(np.arange(len(data.label_sets)), np.concatenate([train, val])).all()


def _colours(classifier: Classifier, images: np.ndarray) -> list[str | None]:
    """The colour each image is given (one label per group), None where none is."""
    decided = classifier.decide(classifier.predict_probabilities(images), classifier.decoding(decode="groups"))
    colours = [label for label in classifier.classes if label in COLOURS]
    return [next((label for label, on in zip(classifier.classes, row) if on and label in colours), None) for row in decided]


def _painted(images: np.ndarray, masks: np.ndarray, hue: int) -> np.ndarray:
    """The images with their garments (where the background mask is 0) painted ``hue`` (OpenCV's 0-179),
    saturated, keeping each pixel's brightness: the folds and shading stay, the colour changes."""
    hsv = cv2.cvtColor(images.reshape(-1, images.shape[2], 3), cv2.COLOR_RGB2HSV).reshape(images.shape)
    garment = masks == 0
    hsv[..., 0][garment] = hue
    hsv[..., 1][garment] = 220
    hsv[..., 2][garment] = np.maximum(hsv[..., 2][garment], 120)
    return cv2.cvtColor(hsv.reshape(-1, images.shape[2], 3), cv2.COLOR_HSV2RGB).reshape(images.shape)


def test_the_colour_is_read_from_the_garment_not_from_the_background(trained_on_photos, record_score):
    """A product photo's white background replaced by a saturated red or blue field keeps its colour;
    the garment painted the other colour takes it (issue #20)."""
    from pyimagesearch.data.backgrounds import composite, segment_backgrounds
    from pyimagesearch.data.images import list_images, load_images

    work, _ = trained_on_photos
    classifier = Classifier.load(work / "fashion.model", work / "mlb.pickle")
    rng = np.random.default_rng(0)
    paths = [
        path
        for folder in ("red_dress", "red_shirt", "blue_dress", "blue_shirt")
        for path in rng.permutation(list_images(FASHION_DIR / folder))[:60]
    ]
    images, kept, _ = load_images(paths, classifier.image_size)
    masks = segment_backgrounds(images)
    plain = masks.reshape(len(masks), -1).max(axis=1) > 0  # a white background the segmentation found
    images, masks = images[plain], masks[plain]
    truth = [path.parent.name.split("_")[0] for path, keep in zip(kept, plain) if keep]
    assert len(truth) >= 100
    before = _colours(classifier, images)
    for field, rgb in (("red", (220, 20, 30)), ("blue", (25, 40, 210))):
        scenes = np.broadcast_to(np.array(rgb, np.uint8), images.shape).copy()
        after = _colours(classifier, composite(images, masks, scenes))
        kept_colour = np.mean([b == a for b, a in zip(before, after)])
        record_score(f"colour_kept_on_{field}_field", kept_colour)
        # 0.854-0.934 on red, 0.97-0.985 on blue over 5 seeds at 5 epochs (10 epochs, both CPUs: 0.87-0.97,
        # 0.97-0.99; bench/test_spread.py).
        assert kept_colour >= 0.8, field
    for name, hue in (("red", 0), ("blue", 112)):
        painted = _colours(classifier, _painted(images, masks, hue))
        others = [colour != name for colour in truth]
        took = np.mean([colour == name for colour, other in zip(painted, others) if other])
        record_score(f"painted_{name}_taken", took)
        assert took >= 0.9, name  # 0.96-1.0 over the same runs, at 5 epochs and at 10
