"""train.py's health features end to end: the overfit check and stop on stall."""

from conftest import TRAINING, run_script

from pyimagesearch.training.options import TrainOptions
from pyimagesearch.training.overfit import check_overfit


def test_overfit_check_passes_on_the_demo_data(demo_data, tmp_path):
    result = run_script("train.py", "--dataset", demo_data[0], "--overfit-check", "--image-size", "48", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "overfit check: 10 images, multilabel task" in result.stdout
    assert ", --normalize " in result.stdout and ", --lr " in result.stdout
    assert "overfit check passed" in result.stdout
    assert list(tmp_path.iterdir()) == []  # a check, not a training run: nothing written


def test_overfit_check_with_a_far_too_low_learning_rate_fails_and_names_it(demo_data):
    result = check_overfit(TrainOptions.of(dataset=demo_data[0], lr=1e-8, image_size=32, **TRAINING), images=6)
    assert not result.success
    assert result.diagnosis.causes[0].remedy == "`lr` 0.001"  # train.py prints it as --lr


def test_stop_on_stall_stops_a_diverging_run_and_keeps_the_old_model(demo_data, tmp_path):
    (tmp_path / "fashion.model").write_bytes(b"the user's previous model")
    result = run_script(
        "train.py",
        "--dataset",
        demo_data[0],
        # The tutorial's network: one phase, quick to build; the health check watches any network alike.
        "--arch",
        "smallervggnet",
        "--epochs",
        "3",
        "--image-size",
        "32",
        "--lr",
        "10",
        "--stop-on-stall",
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "training is not learning at epoch 1" in result.stderr
    assert "learning rate too high" in result.stderr
    assert "--lr 0.001" in result.stderr and "`lr`" not in result.stderr  # the library's `lr`, as train.py's flag
    assert result.stderr.strip().splitlines()[-1].startswith("train.py: error: training stopped at epoch 1")
    assert (tmp_path / "fashion.model").read_bytes() == b"the user's previous model"
    assert not (tmp_path / "mlb.pickle").exists() and not (tmp_path / "plot.png").exists()
