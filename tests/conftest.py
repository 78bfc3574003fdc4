"""Shared fixtures: generated demo data, the real photos' location, and running the CLIs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The real photos live beside the project, never inside it.
FASHION_DIR = Path(os.environ.get("FASHION_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data" / "fashion"))
EXAMPLES_DIR = Path(os.environ.get("FASHION_EXAMPLES_DIR", PROJECT_ROOT.parent / "shared" / "data" / "examples"))
# ImageNet MobileNetV2 no-top weights (alpha 0.35 and 0.5) for the transfer-learning tests.
MODELS_DIR = Path(os.environ.get("SHARED_MODELS_DIR", PROJECT_ROOT.parent / "shared" / "models"))
MOBILENETV2_035 = MODELS_DIR / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> tuple[Path, Path]:
    """A small generated demo data set and its example photos: ``(dataset_dir, examples_dir)``."""
    from pyimagesearch.demo_data import generate

    root = tmp_path_factory.mktemp("demo")
    generate(root / "dataset", root / "examples", images_per_combination=60, size=64, seed=7)
    return root / "dataset", root / "examples"


@pytest.fixture(scope="session")
def exported_model(demo_data, tmp_path_factory) -> Path:
    """A folder with a model trained for one epoch at 32 pixels on the demo data, its labelbin and
    its ONNX export: ``fashion.model``, ``mlb.pickle``, ``fashion.onnx``."""
    from pyimagesearch.export import export_onnx
    from pyimagesearch.training import train

    work = tmp_path_factory.mktemp("exported")
    train(demo_data[0], model_path=work / "fashion.model", labelbin_path=work / "mlb.pickle", plot_path=work / "plot.png",
          epochs=1, image_size=32, verbose=0)
    export_onnx(work / "fashion.model")
    return work


def run_script(script: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run one of the project's CLIs as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / script), *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )


@pytest.fixture(autouse=True)
def restore_package_logger():
    """CLIs called in-process (``main([...])``) install their own handlers; undo that after each test."""
    import logging

    logger = logging.getLogger("pyimagesearch")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]
