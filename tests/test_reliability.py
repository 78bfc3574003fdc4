"""Nothing breaks, nothing is lost: the cheap cases of the bad-input corpus (tests/bad_inputs.py) through
the real CLIs, and the bugs the campaign (bench/reliability.py) found, each with its regression test."""

import os
import signal
import sys
from pathlib import Path

import pytest
from bad_inputs import (
    BAD_IMAGES,
    FLAGS,
    LAYOUTS,
    ODD_IMAGES,
    TRAINING_FLAGS,
    Run,
    Verdict,
    campaign_runs,
    make_dataset,
    png_with_header,
    run_and_judge,
    write_image,
)
from conftest import PROCESS_TIMEOUT, PROJECT_ROOT

from pyimagesearch import config
from pyimagesearch.data.image_headers import image_dimensions
from pyimagesearch.data.images import UnreadableImageError, decode_image_bytes


def _jpeg_claiming(height: int, width: int) -> bytes:
    """A small real JPEG whose start-of-frame header is rewritten to claim ``height`` x ``width``."""
    import cv2
    import numpy as np

    data = bytearray(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def _gif_claiming(height: int, width: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = width.to_bytes(2, "little") + height.to_bytes(2, "little")  # the logical screen size
    return bytes(data)


@pytest.mark.parametrize(
    "data, size",
    [
        (png_with_header(20000, 20000), (20000, 20000)),  # a real 400-megapixel PNG in 400 KB
        (_jpeg_claiming(12000, 9000), (12000, 9000)),
        (_gif_claiming(60000, 2000), (60000, 2000)),
    ],
    ids=["png", "jpeg", "gif"],
)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # pytest resets the filter images.py sets
def test_a_decompression_bomb_is_refused_before_it_is_decoded(data, size):
    # Found by the campaign: training, classification and evaluation decoded a 400 KB PNG into 1.2 GB
    # of pixels (2.3 GB peak, 5 s) while only the downloader refused it.
    assert image_dimensions(data) == size
    with pytest.raises(UnreadableImageError, match=rf"^bomb\.png: {size[1]}x{size[0]} pixels, more than the 89,478,485 "):
        decode_image_bytes(data, "bomb.png")
    assert size[0] * size[1] > config.MAX_IMAGE_PIXELS


# ---- The corpus through the real CLIs --------------------------------------------------------------


def command(script: str, args: list[str]) -> list[str]:
    return [sys.executable, str(PROJECT_ROOT / script), *args]


ENVIRONMENT = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


def check(run: Run, tmp_path: Path, trained: Path) -> Verdict:
    """Run one case as a user would, in a folder holding an earlier run's outputs, and fail on any broken promise."""
    verdict = run_and_judge(run, tmp_path / "run", trained, command, ENVIRONMENT, PROCESS_TIMEOUT)
    assert verdict.problems == [], (verdict.problems, verdict.error_line)
    return verdict


@pytest.fixture(scope="module")
def corpus(exported_model, tmp_path_factory) -> dict[str, Run]:
    """The corpus's runs without training, built once: case and script -> its run. A hostile pickle
    that ran would create a file in its folder, which the run's input hashes would show."""
    runs = campaign_runs(tmp_path_factory.mktemp("corpus"), exported_model, training=False)
    return {f"{run.case} {run.script}": run for run in runs}


# The cases cheap enough for the suite (a second or two each); bench/reliability.py runs every case through every CLI.
CHEAP = (
    [f"{kind.name} classify.py" for kind in BAD_IMAGES + ODD_IMAGES]
    + [
        f"{layout.name} classify.py"
        for layout in LAYOUTS  # evaluate.py and train.py on each layout: bench/reliability.py
    ]
    + [
        f"{name} {script}"
        for name in (
            "model_truncated_1",
            "model_empty",
            "model_is_a_jpeg",
            "model_is_a_folder",
            "onnx_not_onnx",
            "onnx_truncated",
            "model_beside_a_broken_export",
        )
        for script in ("classify.py", "evaluate.py")
    ]
    + [
        f"{name} {script}"
        for name in (
            "labelbin_from_another_run",
            "labelbin_hostile_pickle",
            "labelbin_truncated",
            "labelbin_empty",
            "labelbin_a_pickled_dict",
            "labelbin_is_a_folder",
            "labelbin_is_a_jpeg",
        )
        for script in ("classify.py", "evaluate.py")
    ]
    + [f"flag {script} {flag} {value} {script}" for script, flag, value in FLAGS if script != "train.py"]
)


@pytest.mark.parametrize("case", CHEAP)
def test_a_bad_input_is_refused_or_read_breaking_nothing(corpus, case, exported_model, tmp_path):
    check(corpus[case], tmp_path, exported_model)


@pytest.mark.parametrize("case", ["manifest_with_an_unreadable_image", "manifest_binary_garbage"])
def test_a_bad_manifest_is_a_one_line_error(case, tmp_path, exported_model):
    # Found by the campaign: an unreadable image listed in a manifest (read only when a batch needs it)
    # stopped training with TensorFlow's traceback, saying it "could be read when training started";
    # a manifest that is not text was refused without naming it ('utf-8' codec can't decode byte 0xff).
    runs = {run.case: run for run in campaign_runs(tmp_path / "cases", exported_model, ("manifests",))}
    run = runs[case]
    run.expect = (2,)
    verdict = check(run, tmp_path, exported_model)
    assert verdict.error_line.startswith("train.py: error: ")
    if case == "manifest_with_an_unreadable_image":
        assert verdict.error_line.endswith(
            "broken.jpg: not an image, or a format neither OpenCV nor Pillow reads. "
            "A manifest's images are read as training needs them: fix the file or remove its row."
        )
    else:
        assert "manifest_binary_garbage.csv: not a text file" in verdict.error_line


def test_train_skips_names_and_counts_every_bad_image_and_reads_every_odd_one(tmp_path, exported_model):
    # README: "Zero-byte, truncated, corrupt and non-image files are skipped, each named in a warning, and
    # counted in the summary. Nothing in dataset/ is ever modified." Every kind at once, through train.py.
    dataset = make_dataset(tmp_path / "dataset", per_combination=3)
    for number, kind in enumerate(BAD_IMAGES + ODD_IMAGES):
        write_image(dataset / "red_dress", kind, seed=number)
    refused = [kind for kind in ODD_IMAGES if kind.maybe_readable and _unreadable(dataset / "red_dress" / kind.filename)]
    skipped = len(BAD_IMAGES) + len(refused)
    run = Run(
        "every image kind",
        "train.py",
        ["--dataset", dataset, *TRAINING_FLAGS],
        (0,),
        "",
        [dataset],
        f"images: {6 * 3 + len(ODD_IMAGES) - len(refused)} loaded, {skipped} skipped",
    )
    verdict = check(run, tmp_path, exported_model)  # exit 0, no traceback, data set and outputs intact
    for kind in BAD_IMAGES + tuple(refused):
        assert any(line.startswith("warning: skipped ") and kind.filename in line for line in verdict.warning_lines), kind.name


def _unreadable(path: Path) -> bool:
    try:
        decode_image_bytes(path.read_bytes(), path)
    except UnreadableImageError:
        return True
    return False


# The fault campaign's cheap kinds run here; training's (a training and its resumption per fault) and export's run
# from bench/reliability.py, as does every seed beyond the first.
sys.path.insert(0, str(PROJECT_ROOT / "bench"))
from reliability_faults import classification_faults, download_faults  # noqa: E402


def test_classify_killed_or_interrupted_while_writing_copies_leaves_each_old_or_new_and_reruns_alike(exported_model, tmp_path):
    results = classification_faults(tmp_path, 1, exported_model, ENVIRONMENT, PROCESS_TIMEOUT)
    assert [(result["fault"], result["problems"]) for result in results] == [("SIGKILL", []), ("SIGINT", [])]
    assert results[0]["exit_code"] in (-signal.SIGKILL, 0) and results[1]["exit_code"] in (130, 0)


def test_a_download_killed_or_interrupted_resumes_to_the_same_images(tmp_path):
    results = download_faults(tmp_path / "download", 1, ENVIRONMENT, PROCESS_TIMEOUT)
    assert [(result["fault"], result["problems"]) for result in results] == [("SIGKILL", []), ("SIGINT", [])]
    assert results[0]["exit_code"] in (-signal.SIGKILL, 0) and results[1]["exit_code"] in (130, 0)


def test_a_data_set_whose_images_all_carry_the_same_labels_is_refused(tmp_path, exported_model):
    # Found by the campaign: a single folder red_dress/ trained for its epochs a model that answers "red, dress"
    # whatever it sees (two labels, so the single-label refusal did not apply), writing over the earlier model.
    from pyimagesearch.data.labels import detect_task

    with pytest.raises(ValueError, match=r"^Every image carries the same labels \(dress, red\): a classifier needs images that differ"):
        detect_task([("red", "dress"), ("dress", "red")])
    runs = {(run.case, run.script): run for run in campaign_runs(tmp_path / "cases", exported_model, ("layouts",))}
    verdict = check(runs["one_label_folder", "train.py"], tmp_path, exported_model)
    assert verdict.returncode == 2 and "Every image carries the same labels (dress, red)" in verdict.error_line
