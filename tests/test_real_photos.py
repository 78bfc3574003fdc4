"""Training on the real product photos in ../shared/data/fashion (skipped where they are absent)."""

import pytest

from conftest import EXAMPLES_DIR, FASHION_DIR, TRAINING
from pyimagesearch.classification import Classifier
from pyimagesearch.training import train

pytestmark = pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=f"real photos not found at {FASHION_DIR}")


@pytest.fixture(scope="module")
def trained_on_photos(tmp_path_factory):
    work = tmp_path_factory.mktemp("photos")
    before = sorted((path, path.stat().st_mtime_ns) for path in FASHION_DIR.rglob("*"))
    result = train(FASHION_DIR, model_path=work / "fashion.model", labelbin_path=work / "mlb.pickle",
                   plot_path=work / "plot.png", epochs=10, image_size=48, verbose=0, **TRAINING)
    assert sorted((path, path.stat().st_mtime_ns) for path in FASHION_DIR.rglob("*")) == before
    return work, result


def test_real_photos_train_to_a_sensible_exact_match(trained_on_photos, record_score):
    _, result = trained_on_photos
    record_score("exact_match", result.report["exact_match"])
    record_score("lowest_f1", min(scores["f1"] for scores in result.report["per_label"].values()))
    assert result.task.name == "multilabel"
    assert result.report["exact_match"] >= 0.6
    assert all(scores["f1"] >= 0.6 for scores in result.report["per_label"].values())


def test_every_format_of_the_real_photos_is_read(trained_on_photos):
    from pyimagesearch.images import list_images

    suffixes = {path.suffix.lower() for path in list_images(FASHION_DIR)}
    assert {".jpg", ".jpeg", ".png", ".gif"} <= suffixes


@pytest.mark.skipif(not EXAMPLES_DIR.is_dir(), reason="example photos absent")
def test_real_example_photos_get_their_labels(trained_on_photos, record_score):
    work, _ = trained_on_photos
    classifier = Classifier.load(work / "fashion.model", work / "mlb.pickle")
    predictions, skipped = classifier.classify(sorted(EXAMPLES_DIR.glob("example_0[1-6].jpg")), top_k=2)
    assert not skipped
    expected = [{"red", "dress"}, {"blue", "dress"}, {"red", "shirt"}, {"blue", "shirt"}, {"blue", "jeans"},
                {"black", "jeans"}]
    right = sum(set(prediction.labels) == labels for prediction, labels in zip(predictions, expected))
    record_score("examples_right", right)
    record_score("labels", [sorted(prediction.labels) for prediction in predictions])
    assert right >= 4


def test_real_photos_have_near_duplicates_that_the_split_keeps_together():
    import numpy as np

    from pyimagesearch.data import load_labelled_images
    from pyimagesearch.splitting import near_duplicate_groups, split_indices

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
