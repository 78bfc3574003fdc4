"""Shared fixtures: generated demo data, the real photos' location, and running the CLIs."""

import json
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
MOBILENETV2_050 = MODELS_DIR / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5"

# Every training the tests run takes its seed and precision from here: train.py's defaults, unless
# bench/test_spread.py reruns the suite under other seeds and under float32 (what --precision auto
# picks on a CPU without bfloat16) to measure the spread that each asserted score's margin comes from.
SEED = int(os.environ.get("PYIMAGESEARCH_TEST_SEED", "42"))
PRECISION = os.environ.get("PYIMAGESEARCH_TEST_PRECISION", "auto")
TRAINING_FLAGS = ("--seed", str(SEED), "--precision", PRECISION)
# The library-level trainings test mechanics (splits, caches, heads, health, export) on the
# tutorial's network trained from scratch: one phase, quick at 32 px, and the network their
# bounds were measured on, without the ONNX export (the tests of it export). The CLI runs
# (run_script) train the default network, MobileNetV2.
TRAINING = {"seed": SEED, "precision": PRECISION, "arch": "smallervggnet", "export": False}
# No process a test starts outlives this: a hang fails its test instead of the whole run.
PROCESS_TIMEOUT = 900
# Runs a script given as the first argument as a user starts it from a terminal, where Ctrl-C raises
# KeyboardInterrupt. A background job of a non-interactive shell (as CI may run the suite) inherits
# SIGINT ignored; this restores the default in the child itself (a preexec_fn would run in the test
# process, after TensorFlow has started its threads).
_WITH_CTRL_C = (
    "import os, runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = sys.argv[1:]; sys.path.insert(0, os.path.dirname(sys.argv[0])); "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def interruptible(script: str, *args: str) -> list[str]:
    """The command that runs the project's ``script`` with ``args`` and stops on SIGINT as on Ctrl-C."""
    return [sys.executable, "-c", _WITH_CTRL_C, str(PROJECT_ROOT / script), *map(str, args)]


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> tuple[Path, Path]:
    """A small generated demo data set and its example photos: ``(dataset_dir, examples_dir)``."""
    from pyimagesearch.data.demo import generate

    root = tmp_path_factory.mktemp("demo")
    generate(root / "dataset", root / "examples", images_per_combination=60, size=64, seed=7)
    return root / "dataset", root / "examples"


@pytest.fixture(scope="session")
def exported_model(demo_data, tmp_path_factory) -> Path:
    """A folder with a model trained for one epoch at 32 pixels on the demo data, its labelbin and
    its ONNX export: ``fashion.model``, ``mlb.pickle``, ``fashion.onnx``."""
    from pyimagesearch.inference.onnx_export import export_onnx
    from pyimagesearch.training.options import TrainOptions
    from pyimagesearch.training.pipeline import train

    work = tmp_path_factory.mktemp("exported")
    train(
        TrainOptions.of(
            dataset=demo_data[0],
            model=work / "fashion.model",
            labelbin=work / "mlb.pickle",
            plot=work / "plot.png",
            epochs=1,
            image_size=32,
            **TRAINING,
        ),
        verbose=0,
    )
    export_onnx(work / "fashion.model")
    return work


def run_script(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run one of the project's CLIs as a user would, in ``cwd`` (a test's own folder, so that a CLI
    writing a default output never writes into the project), capturing its output.

    train.py gets the suite's seed and precision first, so that a test's own flags win. A run
    still going after the timeout is killed (`subprocess.run` kills it) and fails the test.
    """
    if script == "train.py":
        args = (*TRAINING_FLAGS, *args)
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / script), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )


@pytest.fixture
def record_score(record_property):
    """``record_score(name, value)``: keep a score the test asserts in the JUnit report (pytest's
    ``record_property``), where bench/test_spread.py collects its spread over seeds and CPUs.
    Values become plain JSON types, which pytest-xdist can send between processes (numpy's cannot)."""

    def record(name: str, value) -> None:
        record_property(name, json.loads(json.dumps(value, default=lambda item: item.item())))

    return record


@pytest.fixture(autouse=True)
def restore_package_logger():
    """CLIs called in-process (``main([...])``) install their own handlers; undo that after each test."""
    import logging

    logger = logging.getLogger("pyimagesearch")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def file_weights(path: Path, layer_index: int) -> list:
    """The weights (numpy arrays) of the ``layer_index``-th layer with weights in a Keras HDF5 weights file."""
    import h5py
    import numpy as np

    with h5py.File(path, "r") as handle:
        names = [name.decode() for name in handle.attrs["layer_names"]]
        with_weights = [name for name in names if len(handle[name].attrs["weight_names"])]
        group = handle[with_weights[layer_index]]
        return [np.asarray(group[weight.decode()]) for weight in group.attrs["weight_names"]]


def weighted_backbone_layers(model) -> list:
    """The layers with weights of ``model``'s pretrained backbone, in the weights file's order."""
    from pyimagesearch.models.backbones import backbone_layers

    return [layer for layer in backbone_layers(model) if layer.weights]
