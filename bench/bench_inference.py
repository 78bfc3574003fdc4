"""Inference benchmark: classify.py with the ONNX export against the Keras model file and the tutorial's way.

Measures, each run in a fresh process, variants interleaved round after round:

- one image, whole command: the wall time of ``classify.py --model fashion.onnx`` and of
  ``classify.py --model fashion.model`` on one photo, from starting Python to exiting (imports,
  model loading, decoding, prediction, the annotated copy), and of the tutorial's classify.py
  (`reference_tutorial.classify`: tf_keras, an HDF5 model, plain pickle) run the same way;
- a folder: images per second over the real photos at 96x96, for the library call
  (`Classifier.classify` on the list of paths: decoding, network, labels; the model loaded
  before the clock starts) with the ONNX export and with the Keras model, and for the whole
  ``classify.py`` command with the ONNX export, annotated copies included and with
  ``--no-annotate`` (labels only);
- parity: the largest difference between the ONNX and the Keras model's probabilities over the
  same images, and the share of images given the same labels.

The models are made by the benchmark: train.py for 1 epoch at 96 pixels on the photos (a model
whose outputs vary from photo to photo; its accuracy does not matter here), export.py for its
ONNX copy, and an untrained tutorial SmallerVGGNet in tf_keras saved as HDF5 for the reference.

Usage:
    python bench/bench_inference.py              # prints Markdown tables, writes bench/results/inference.json
    python bench/bench_inference.py --single-repeats 3 --repeats 3 --images 500
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    FASHION_DIR, PROJECT_ROOT, child_environment, cpu_seconds, machine, markdown_table, run_child, settle,
    setup_paths, summarise, write_results,
)

setup_paths()

IMAGE_SIZE = 96
SINGLE_VARIANTS = ("onnx", "keras", "reference")
FOLDER_VARIANTS = ("onnx_library", "keras_library", "onnx_command", "onnx_command_labels")
TARGETS = {"single_seconds": 1.0, "images_per_second": 300.0, "max_difference": 1e-4}  # the issue's


def run_command(arguments: Sequence[str], timeout: float = 1800) -> float:
    """Run ``python arguments`` in a fresh process from the project's folder; its wall time in seconds.

    Raises:
        RuntimeError: If the process fails; the message holds its stderr.
    """
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, *arguments], capture_output=True, text=True, timeout=timeout,
                               env=child_environment(), cwd=PROJECT_ROOT)
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return seconds


def folder_paths(dataset: Path, count: int) -> list[Path]:
    """The first ``count`` photos of the folder, spread over every label folder (every k-th of the sorted list)."""
    from pyimagesearch.images import list_images

    paths = list_images(dataset)
    step = max(1, len(paths) // count)
    return paths[::step][:count]


def run_library(model: Path, dataset: Path, count: int) -> dict:
    """One timed `Classifier.classify` over the photos in this process; what the child prints."""
    from pyimagesearch.classification import Classifier

    paths = folder_paths(dataset, count)
    classifier = Classifier.load(model)
    classifier.classify(paths[:8])  # First-call set-up (Keras' predict function, onnxruntime's buffers).
    settle()
    cpu_start, start = cpu_seconds(), time.perf_counter()
    predictions, skipped = classifier.classify(paths)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu_seconds": cpu_seconds() - cpu_start, "images": len(predictions), "skipped": len(skipped)}


def run_parity(keras_model: Path, onnx_model: Path, dataset: Path, count: int) -> dict:
    """The ONNX and the Keras model's probabilities and labels on the same decoded photos."""
    import numpy as np

    from pyimagesearch.classification import Classifier
    from pyimagesearch.images import load_images

    images, kept, _ = load_images(folder_paths(dataset, count), IMAGE_SIZE)
    keras_classifier, onnx_classifier = Classifier.load(keras_model), Classifier.load(onnx_model)
    keras_probabilities = keras_classifier.predict_probabilities(images)
    onnx_probabilities = onnx_classifier.predict_probabilities(images)
    same = np.all(keras_classifier.decide(keras_probabilities) == onnx_classifier.decide(onnx_probabilities), axis=1)
    return {
        "images": len(kept),
        "max_difference": float(np.max(np.abs(onnx_probabilities - keras_probabilities))),
        "same_labels": float(np.mean(same)),
        "probability_spread": float(np.std(keras_probabilities)),
    }


def prepare_models(work: Path, dataset: Path, keras_model: Path | None) -> dict:
    """Train (unless given) and export the toolkit's model, save the reference's; where they are and how long it took."""
    script = Path(__file__).resolve()
    models = {"keras": work / "fashion.model", "onnx": work / "fashion.onnx", "labelbin": work / "mlb.pickle",
              "reference": work / "reference.h5"}
    if keras_model is None:
        models["train_seconds"] = run_command([
            "train.py", "--dataset", str(dataset), "--model", str(models["keras"]), "--labelbin", str(models["labelbin"]),
            "--plot", str(work / "plot.png"), "--epochs", "1", "--image-size", str(IMAGE_SIZE),
        ])
    else:
        models["keras"] = keras_model
        models["labelbin"] = keras_model.parent / "mlb.pickle"
    models["export_seconds"] = run_command(["export.py", "--model", str(models["keras"]), "--output", str(models["onnx"])])
    from pyimagesearch.labelbin import unpickle_labelbin

    classes = len(unpickle_labelbin(models["labelbin"]).classes_)
    run_child(script, ["--child", "save-reference", "--model", str(models["reference"]), "--classes", str(classes)])
    return models


def bench_single(models: dict, image: Path, repeats: int, work: Path) -> dict:
    """Whole-command wall time for one image, each variant ``repeats`` times after one untimed round."""
    script = str(Path(__file__).resolve())
    commands = {
        # Every command gets the labelbin, so that no mlb.pickle in the project's folder is picked up.
        "onnx": ["classify.py", "--model", str(models["onnx"]), "--labelbin", str(models["labelbin"]),
                 "--image", str(image), "--output", str(work / "onnx.jpg")],
        "keras": ["classify.py", "--model", str(models["keras"]), "--labelbin", str(models["labelbin"]),
                  "--image", str(image), "--output", str(work / "keras.jpg")],
        "reference": [script, "--child", "reference-classify", "--model", str(models["reference"]),
                      "--labelbin", str(models["labelbin"]), "--image", str(image), "--output", str(work / "reference.jpg")],
    }
    for command in commands.values():  # Warms the file cache with the models and the libraries.
        run_command(command)
    runs: dict[str, list[float]] = {variant: [] for variant in SINGLE_VARIANTS}
    for repeat in range(repeats):
        for variant in SINGLE_VARIANTS:
            runs[variant].append(run_command(commands[variant]))
            print(f"  one image, run {repeat + 1}/{repeats} {variant}: {runs[variant][-1]:.2f} s", file=sys.stderr)
    return {variant: summarise(seconds) for variant, seconds in runs.items()}


def bench_folder(models: dict, dataset: Path, count: int, repeats: int, work: Path) -> dict:
    """Images per second over ``count`` photos: the library call with each model, and the ONNX command."""
    script = Path(__file__).resolve()
    images = folder_paths(dataset, count)
    runs: dict[str, list[dict]] = {variant: [] for variant in FOLDER_VARIANTS}
    for repeat in range(repeats):
        for variant in FOLDER_VARIANTS:
            if variant.startswith("onnx_command"):
                output = Path(tempfile.mkdtemp(dir=work, prefix="annotated-"))
                # The photos as arguments, so the command classifies exactly the library call's images.
                annotate = [] if variant == "onnx_command" else ["--no-annotate"]
                seconds = run_command(["classify.py", "--model", str(models["onnx"]), "--labelbin", str(models["labelbin"]),
                                       "--output", str(output), "--json", *annotate, "--image", *map(str, images)])
                shutil.rmtree(output)
                run = {"seconds": seconds, "images": len(images)}
            else:
                model = models["onnx" if variant == "onnx_library" else "keras"]
                run = run_child(script, ["--child", "library", "--model", str(model), "--dataset", str(dataset),
                                         "--images", str(count)])
            runs[variant].append(run)
            print(f"  folder, run {repeat + 1}/{repeats} {variant}: {run['images'] / run['seconds']:.0f} images/s",
                  file=sys.stderr)
    results = {}
    for variant, measured in runs.items():
        seconds = summarise([run["seconds"] for run in measured])
        results[variant] = {
            "images": measured[0]["images"],
            "seconds": seconds,
            "images_per_second": measured[0]["images"] / seconds["median"],
            "cores_used": summarise([run["cpu_seconds"] / run["seconds"] for run in measured])["median"]
            if "cpu_seconds" in measured[0] else None,
        }
    return {"runs": runs, "variants": results}


def tables(results: dict) -> str:
    """The Markdown tables of the results."""
    single = results["single_image"]
    labels = {"onnx": "classify.py, ONNX export (onnxruntime)", "keras": "classify.py, Keras model file",
              "reference": "tutorial's classify (tf_keras, HDF5)"}
    rows = [[labels[variant], f"{summary['median']:.2f} s", f"{summary['min']:.2f}–{summary['max']:.2f}",
             f"{single['reference']['median'] / summary['median']:.1f}x",
             f"≤ {TARGETS['single_seconds']:g} s" if variant == "onnx" else ""]
            for variant, summary in single.items()]
    text = [markdown_table(["one image, whole command", "median", "range (s)", "vs tutorial", "target"], rows)]
    folder = results["folder"]["variants"]
    labels = {"onnx_library": "Classifier.classify, ONNX export", "keras_library": "Classifier.classify, Keras model",
              "onnx_command": "classify.py, ONNX export (whole command, annotated copies)",
              "onnx_command_labels": "classify.py --no-annotate, ONNX export (whole command, labels only)"}
    rows = [[labels[variant], summary["images"], f"{summary['seconds']['median']:.2f} s",
             f"{summary['seconds']['min']:.2f}–{summary['seconds']['max']:.2f}", f"{summary['images_per_second']:.0f}",
             "" if summary["cores_used"] is None else f"{summary['cores_used']:.2f}",
             f"≥ {TARGETS['images_per_second']:g}" if variant.startswith("onnx") else ""]
            for variant, summary in folder.items()]
    text.append(markdown_table(
        [f"folder at {IMAGE_SIZE}x{IMAGE_SIZE}", "images", "median", "range (s)", "images/s", "CPU s / s", "target"], rows))
    parity = results["parity"]
    text.append(markdown_table(
        ["parity", "images", "max abs difference of probabilities", "same labels", "target"],
        [["ONNX export vs Keras model", parity["images"], f"{parity['max_difference']:.1e}",
          f"{parity['same_labels'] * 100:.1f} %", f"≤ {TARGETS['max_difference']:g}"]],
    ))
    return "\n\n".join(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Benchmark classification: ONNX export, Keras model file, tutorial.")
    parser.add_argument("--dataset", type=Path, default=FASHION_DIR, help="real photos (default: %(default)s)")
    parser.add_argument("--images", type=int, default=1813, help="photos of the folder runs (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each folder variant, at least 3 (default: %(default)s)")
    parser.add_argument("--single-repeats", type=int, default=7,
                        help="runs of each one-image command, at least 3 (default: %(default)s)")
    parser.add_argument("--model", type=Path, default=None,
                        help="benchmark this model file written by train.py (mlb.pickle beside it) instead of "
                        "training one for 1 epoch")
    parser.add_argument("--child", choices=("library", "parity", "reference-classify", "save-reference"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--onnx", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--labelbin", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--image", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--classes", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child == "library":
        print(json.dumps(run_library(args.model, args.dataset, args.images)))
        return 0
    if args.child == "parity":
        print(json.dumps(run_parity(args.model, args.onnx, args.dataset, args.images)))
        return 0
    if args.child == "reference-classify":
        import reference_tutorial

        print(json.dumps(reference_tutorial.classify(args.model, args.labelbin, args.image, args.output)))
        return 0
    if args.child == "save-reference":
        import reference_tutorial

        reference_tutorial.save_untrained(args.model, args.classes, IMAGE_SIZE)
        print(json.dumps({"saved": str(args.model)}))
        return 0
    if min(args.repeats, args.single_repeats) < 3:
        print(f"--repeats and --single-repeats must be at least 3 for a median. Received: {args.repeats}, "
              f"{args.single_repeats}", file=sys.stderr)
        return 2
    if not args.dataset.is_dir():
        print(f"--dataset {args.dataset}: no such folder (set FASHION_DATA_DIR or pass --dataset)", file=sys.stderr)
        return 2
    results = {"benchmark": "inference", "machine_before": machine(), "repeats": args.repeats,
               "single_repeats": args.single_repeats, "image_size": IMAGE_SIZE}
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as work:
        work = Path(work)
        models = prepare_models(work, args.dataset, args.model)
        results["models"] = {
            "trained": "given" if args.model else f"train.py --epochs 1 --image-size {IMAGE_SIZE} on {args.dataset}",
            "train_seconds": models.get("train_seconds"),
            "export_seconds": models["export_seconds"],
            "reference": "untrained tutorial SmallerVGGNet (tf_keras), HDF5",
        }
        image = folder_paths(args.dataset, 1)[0]
        results["single_image"] = bench_single(models, image, args.single_repeats, work)
        results["single_image_file"] = str(image)
        results["folder"] = bench_folder(models, args.dataset, args.images, args.repeats, work)
        results["parity"] = run_child(Path(__file__).resolve(), [
            "--child", "parity", "--model", str(models["keras"]), "--onnx", str(models["onnx"]),
            "--dataset", str(args.dataset), "--images", str(args.images),
        ])
    results["machine_after"] = machine()
    output = write_results("inference", results)
    before, after = results["machine_before"], results["machine_after"]
    print(f"{before['cpu']}, {before['cpus']} CPUs; load average {before['load_average']} before, "
          f"{after['load_average']} after; medians of {args.single_repeats} (one image) and {args.repeats} (folder) "
          "runs, each in a fresh process\n")
    print(tables(results))
    print(f"\nresults: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
