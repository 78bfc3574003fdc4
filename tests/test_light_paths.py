"""The light paths: classifying or evaluating with an ONNX model, downloading, and refusing
train.py's options, import neither TensorFlow nor Keras (TensorFlow alone takes seconds and
hundreds of MB to import).

Each test runs the real script in its own process under ``python -X importtime`` on real files,
and reads the top-level packages that process imported from its own import log on stderr: an
import anywhere on the path, at module level or inside a function, shows there. Each also checks
a package the path needs (onnxruntime, requests) is in the log, so an unreadable log cannot pass.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT
from download_support import (  # noqa: F401 (fixtures)
    httpserver,
    image_files,
    loopback_server,
    run_process,
    serve_pictures,
)

from pyimagesearch.evaluation.metrics import format_report, summary_line
from pyimagesearch.inference.labelbin import unpickle_labelbin

HEAVY = {"tensorflow", "keras", "tf_keras"}


def imported_modules(stderr: str) -> set[str]:
    """Top-level packages named in ``python -X importtime`` output."""
    return {line.split("|")[-1].strip().split(".")[0] for line in stderr.splitlines() if line.startswith("import time:")}


def import_routes(stderr: str, packages: set[str]) -> dict[str, str]:
    """For each of ``packages`` in a ``python -X importtime`` log, the chain of imports that first
    brought it in, e.g. ``{"tensorflow": "pyimagesearch.evaluation.scoring -> ... -> tensorflow"}``.

    The log names each module after the ones it imported, one indent deeper: a module's importer is
    the next line indented less. Within one of ``packages`` the chain shows only its first module;
    a package imported inside a function while the script runs is its own route (``{"keras": "keras"}``).
    """
    names = [line.split("|")[-1] for line in stderr.splitlines() if line.startswith("import time:")]
    entries = [(len(name) - len(name.lstrip()), name.strip()) for name in names]
    routes = {}
    for index, (depth, name) in enumerate(entries):
        package = name.split(".")[0]
        if package not in packages or package in routes:
            continue
        chain = [name]
        for importer_depth, importer in entries[index + 1 :]:
            if importer_depth < depth:
                chain.append(importer)
                depth = importer_depth
        route: list[str] = []
        for step in reversed(chain):
            top = step.split(".")[0]
            if top in packages and any(shown.split(".")[0] == top for shown in route):
                continue
            route.append(step)
            if top == package:
                break
        routes[package] = " -> ".join(route)
    return routes


def assert_light(stderr: str, needed: set[str], heavy: set[str] = HEAVY) -> None:
    """The process whose import log is ``stderr`` imported ``needed`` (the log was read) and none of ``heavy``."""
    modules = imported_modules(stderr)
    assert needed <= modules
    routes = import_routes(stderr, heavy & modules)
    assert not routes, "imported " + "; ".join(f"{package} by {route}" for package, route in sorted(routes.items()))


def script_output(stderr: str) -> str:
    """What the script itself wrote to stderr, without the import log."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("import time:"))


def run_logged(script: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    """Run the project's ``script`` with ``args`` under ``python -X importtime``."""
    return run_process(["-X", "importtime", str(PROJECT_ROOT / script), *map(str, args)], cwd=cwd)


def test_classify_with_an_onnx_model_imports_neither_tensorflow_nor_keras(exported_model, demo_data, tmp_path):
    _, examples = demo_data
    result = run_logged(
        "classify.py",
        "--model",
        exported_model / "fashion.onnx",
        "--labelbin",
        exported_model / "mlb.pickle",
        "--image",
        examples,
        "--output",
        tmp_path / "annotated",
        cwd=tmp_path,
    )

    assert result.returncode == 0, script_output(result.stderr)
    assert_light(result.stderr, needed={"onnxruntime"}, heavy=HEAVY | {"sklearn"})
    # Each image: its labels and annotated copy on one line, then a probability per label.
    classes = set(unpickle_labelbin(exported_model / "mlb.pickle").classes_)
    printed: dict[str, set[str]] = {}
    for line in result.stdout.splitlines():
        if not line.startswith("  "):
            image, labels = line.split(": ", 1)
            assert Path(labels.split("  -> ")[1]).is_file()
            printed[image] = set()
        elif line.endswith("%"):
            printed[image].add(line.strip().split(": ")[0])
    assert printed == {str(path): classes for path in sorted(examples.iterdir())}


def test_evaluate_with_an_onnx_model_imports_neither_tensorflow_nor_keras(exported_model, demo_data, tmp_path):
    dataset, _ = demo_data
    # A small labelled folder: five images of four combinations, one of a label the model never
    # learnt (green) and a file that is no image, so that every part of the report is written.
    small = tmp_path / "small"
    for folder in ("red_dress", "black_jeans", "blue_shirt", "blue_jeans"):
        (small / folder).mkdir(parents=True)
        for path in sorted((dataset / folder).iterdir())[:5]:
            shutil.copy(path, small / folder / path.name)
    (small / "green_dress").mkdir()
    shutil.copy(sorted((dataset / "blue_dress").iterdir())[0], small / "green_dress" / "0000.jpg")
    (small / "red_dress" / "broken.jpg").write_bytes(b"not an image")
    output = tmp_path / "evaluation"

    result = run_logged(
        "evaluate.py",
        "--model",
        exported_model / "fashion.onnx",
        "--labelbin",
        exported_model / "mlb.pickle",
        "--dataset",
        small,
        "--output",
        output,
        cwd=tmp_path,
    )

    assert result.returncode == 0, script_output(result.stderr)
    assert_light(result.stderr, needed={"onnxruntime", "sklearn"})
    # Its metrics printed, as report.json holds them, and every output written.
    report = json.loads((output / "report.json").read_text())
    assert report["images"] == 20 and report["out_of_vocabulary"]["images"] == 1 and len(report["skipped"]) == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "20 images scored"
    assert [f"  {line}" for line in format_report(report)] == lines[1 : 1 + len(format_report(report))]
    for name, scores in report["decodings"].items():
        assert f"  {name:<22} {summary_line(scores)}" in lines
    assert (output / "misclassified.csv").read_text().splitlines()[0] == "image,true,predicted,loss"
    assert len((output / "misclassified.csv").read_text().splitlines()) == len(report["misclassified"]) + 1
    assert (output / "pr_curves.png").read_bytes().startswith(b"\x89PNG")
    assert "</html>" in (output / "report.html").read_text()
    assert (
        lines[-1] == f"wrote {output / 'report.json'}, {output / 'misclassified.csv'}, {output / 'pr_curves.png'}, {output / 'report.html'}"
    )


def test_download_imports_neither_tensorflow_nor_keras(httpserver, tmp_path):
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join(serve_pictures(httpserver, 2)) + "\n")
    output = tmp_path / "dataset" / "red_dress"

    result = run_logged("search_bing_api.py", "--urls", listing, "--output", output, cwd=tmp_path)

    assert result.returncode == 0, script_output(result.stderr)
    assert_light(result.stderr, needed={"requests", "PIL"})
    assert image_files(output) == ["00000000.png", "00000001.png"]


@pytest.mark.parametrize(
    "args, error",
    [
        (["--epochs", "0"], "--epochs must be at least 1. Received: 0"),
        (["--precision", "auto", "--lr", "0"], "--lr must be positive, e.g. 1e-3. Received: 0.0"),
        (["--arch", "mlp", "--recolour", "on"], "--recolour on paints training images; --arch mlp trains on features"),
        (["--resume"], "--resume needs --work-dir: the folder the interrupted run backed up to"),
        (["--model", "."], "--model . is an existing folder: give a file name."),
        (["--dataset", "nowhere"], "--dataset nowhere: no such folder. Pass a folder with one sub-folder per label set"),
        (["--dataset", "nowhere.npy", "--arch", "mlp"], "--dataset nowhere.npy: no such file. Give a .csv or .npy feature table"),
    ],
)
def test_train_refuses_a_bad_option_before_loading_tensorflow(tmp_path, args, error):
    (tmp_path / "dataset").mkdir()  # an (empty) folder: the flag under test is refused before the images are read
    (tmp_path / "run").mkdir()
    result = run_logged("train.py", "--dataset", tmp_path / "dataset", *args, cwd=tmp_path / "run")
    assert result.returncode == 2
    last_line = script_output(result.stderr).strip().splitlines()[-1]
    assert last_line.startswith(f"train.py: error: {error}")
    assert_light(result.stderr, needed={"pyimagesearch"}, heavy={*HEAVY, "sklearn"})
    assert list((tmp_path / "run").iterdir()) == []


@pytest.mark.parametrize(
    "args, error",
    [
        (["--gallery", "-1"], "--gallery must be 0 or more (0 shows no image). Received: -1"),
        (["--dataset", "nowhere"], "--dataset nowhere: no such folder."),
        (["--model", "nowhere.model"], "--model nowhere.model"),
    ],
)
def test_evaluate_refuses_a_bad_input_before_loading_the_scoring_libraries(exported_model, demo_data, tmp_path, args, error):
    result = run_logged(
        "evaluate.py", "--model", exported_model / "fashion.onnx", "--labelbin", exported_model / "mlb.pickle", "--dataset", demo_data[0],
        *args, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    last_line = script_output(result.stderr).strip().splitlines()[-1]
    assert last_line.startswith(f"evaluate.py: error: {error}")
    assert_light(result.stderr, needed={"pyimagesearch"}, heavy={*HEAVY, "sklearn", "matplotlib"})
    assert list(tmp_path.iterdir()) == []
