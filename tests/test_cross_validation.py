"""train(folds=K): K group-aware folds, their summary, then the saved model on the usual split."""

import csv

import numpy as np
import pytest
from conftest import TRAINING

from pyimagesearch.training.options import TrainOptions
from pyimagesearch.training.pipeline import train


def test_cross_validation_scores_every_image_once_and_writes_fold_metrics(demo_data, tmp_path):
    dataset, _ = demo_data
    result = train(
        TrainOptions.of(
            dataset=dataset,
            model=tmp_path / "cv.model",
            labelbin=tmp_path / "mlb.pickle",
            plot=tmp_path / "plot.png",
            epochs=1,
            image_size=32,
            folds=2,
            **TRAINING,
        ),
        verbose=0,
    )
    assert len(result.fold_reports) == 2
    assert sum(report["images"] for report in result.fold_reports) == 360
    with open(tmp_path / "cv.folds.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["fold"] for row in rows] == ["1", "2", "mean", "std"]
    for name in ("exact_match", "hamming_loss", "micro_f1", "macro_f1", "map"):
        values = [report[name] for report in result.fold_reports]
        assert float(rows[2][name]) == pytest.approx(np.mean(values))
        assert float(rows[3][name]) == pytest.approx(np.std(values))
    # The saved model is the one trained afterwards on the usual 80/20 split.
    assert result.metadata["validation"]["images"] == 72
    assert (tmp_path / "cv.model").exists() and (tmp_path / "cv.metrics.csv").exists()
