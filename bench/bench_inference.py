"""Inference benchmark: classify.py as the tutorial types it, against the Keras model file and the tutorial's way.

Measures, each run in a fresh process, variants interleaved round after round:

- one image, whole command: the wall time and peak RSS of the tutorial's command
  ``classify.py --model fashion.model --labelbin mlb.pickle --image examples/example_07.jpg`` in
  the folder train.py wrote (``fashion.onnx`` of the same run beside the model: onnxruntime runs),
  of the same command where no export lies beside the model (the Keras model file runs), from
  starting Python to exiting (imports, model loading, decoding, prediction, the annotated copy),
  and of the tutorial's classify.py (`reference_tutorial.classify`: tf_keras, an HDF5 model,
  plain pickle) run the same way;
- a folder: images per second over the real photos at 96x96, for the library call
  (`Classifier.classify` on the list of paths: decoding, network, labels; the model loaded
  before the clock starts) with the ONNX export and with the Keras model, and for the whole
  ``classify.py --model fashion.model`` command (its export runs), annotated copies included and
  with ``--no-annotate`` (labels only);
- quantization: ``export.py --quantize``'s int8 and float16 copies of the export: size, labels
  changed and exact-match on the photos (`quantization.compare_exports`), and the library call's
  images per second;
- parity: the largest difference between the ONNX and the Keras model's probabilities over the
  same images, and the share of images given the same labels.

The models are made by the benchmark: train.py for 1 epoch at 96 pixels on the photos (a model
whose outputs vary from photo to photo; its accuracy does not matter here), which writes its ONNX
export beside it, and an untrained tutorial SmallerVGGNet in tf_keras saved as HDF5 for the reference.

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
    FASHION_DIR,
    PROJECT_ROOT,
    child_environment,
    cpu_seconds,
    describe_machine,
    machine,
    markdown_table,
    run_child,
    run_measured,
    settle,
    setup_paths,
    summarise,
    write_results,
)

setup_paths()

IMAGE_SIZE = 96
SINGLE_VARIANTS = ("tutorial", "keras", "reference")
FOLDER_VARIANTS = ("onnx_library", "keras_library", "onnx_command", "onnx_command_labels")
QUANTIZATIONS = ("int8", "float16")
# Issue #25's: the tutorial's command within 0.6 s, 200 MiB and a tenth of the tutorial's time;
# 400 images/s for classify.py --no-annotate over the folder; the export within 1e-4 of Keras.
TARGETS = {"single_seconds": 0.6, "single_mib": 200.0, "single_speed_up": 10.0, "images_per_second": 400.0, "max_difference": 1e-4}
# The tutorial's example photo (a black dress), beside the project.
EXAMPLE_IMAGE = PROJECT_ROOT.parent / "shared" / "data" / "examples" / "example_07.jpg"


def run_command(arguments: Sequence[str], timeout: float = 1800) -> float:
    """Run ``python arguments`` in a fresh process from the project's folder; its wall time in seconds.

    Raises:
        RuntimeError: If the process fails; the message holds its stderr.
    """
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, *arguments], capture_output=True, text=True, timeout=timeout, env=child_environment(), cwd=PROJECT_ROOT
    )
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return seconds


def folder_paths(dataset: Path, count: int) -> list[Path]:
    """The first ``count`` photos of the folder, spread over every label folder (every k-th of the sorted list)."""
    from pyimagesearch.data.images import list_images

    paths = list_images(dataset)
    step = max(1, len(paths) // count)
    return paths[::step][:count]


def run_library(model: Path, dataset: Path, count: int) -> dict:
    """One timed `Classifier.classify` over the photos in this process; what the child prints."""
    from pyimagesearch.inference.classification import Classifier

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

    from pyimagesearch.data.images import load_images
    from pyimagesearch.inference.classification import Classifier

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
    """Train (unless given) the toolkit's model with its export beside it, as train.py writes them, and a copy
    of the model file alone; save the reference's. Where they are and how long it took."""
    script = Path(__file__).resolve()
    models = {
        "keras": work / "fashion.model",
        "onnx": work / "fashion.onnx",
        "labelbin": work / "mlb.pickle",
        "keras_alone": work / "alone" / "fashion.model",
        "reference": work / "reference.h5",
    }
    if keras_model is None:
        models["train_seconds"] = run_command(
            [
                "train.py",
                "--dataset",
                str(dataset),
                "--model",
                str(models["keras"]),
                "--labelbin",
                str(models["labelbin"]),
                "--plot",
                str(work / "plot.png"),
                "--epochs",
                "1",
                "--image-size",
                str(IMAGE_SIZE),
            ]
        )
    else:
        shutil.copy(keras_model, models["keras"])
        shutil.copy(keras_model.parent / "mlb.pickle", models["labelbin"])
        models["export_seconds"] = run_command(["export.py", "--model", str(models["keras"])])
    models["keras_alone"].parent.mkdir()
    for name in ("keras", "labelbin"):
        shutil.copy(models[name], models["keras_alone"].parent / models[name].name)
    from pyimagesearch.inference.labelbin import unpickle_labelbin

    classes = len(unpickle_labelbin(models["labelbin"]).classes_)
    run_child(script, ["--child", "save-reference", "--model", str(models["reference"]), "--classes", str(classes)])
    return models


def bench_single(models: dict, image: Path, repeats: int, work: Path) -> dict:
    """Whole-command wall time and peak RSS for one image, each variant ``repeats`` times after one untimed round."""
    script = str(Path(__file__).resolve())
    # The tutorial's command as typed, in the folder holding the model: with its export beside it, and without.
    tutorial = [str(PROJECT_ROOT / "classify.py"), "--model", "fashion.model", "--labelbin", "mlb.pickle", "--image", str(image)]
    commands = {
        "tutorial": (tutorial + ["--output", str(work / "tutorial.jpg")], models["keras"].parent),
        "keras": (tutorial + ["--output", str(work / "keras.jpg")], models["keras_alone"].parent),
        "reference": (
            [
                script,
                "--child",
                "reference-classify",
                "--model",
                str(models["reference"]),
                "--labelbin",
                str(models["labelbin"]),
                "--image",
                str(image),
                "--output",
                str(work / "reference.jpg"),
            ],
            PROJECT_ROOT,
        ),
    }
    for command, folder in commands.values():  # Warms the file cache with the models and the libraries.
        run_measured(command, cwd=folder)
    runs: dict[str, list[tuple[float, float]]] = {variant: [] for variant in SINGLE_VARIANTS}
    for repeat in range(repeats):
        for variant in SINGLE_VARIANTS:
            command, folder = commands[variant]
            runs[variant].append(run_measured(command, cwd=folder))
            seconds, mebibytes = runs[variant][-1]
            print(f"  one image, run {repeat + 1}/{repeats} {variant}: {seconds:.2f} s, {mebibytes:.0f} MiB", file=sys.stderr)
    results = {}
    for variant, measured in runs.items():
        results[variant] = {
            **summarise([seconds for seconds, _ in measured]),
            "peak_mib": summarise([mebibytes for _, mebibytes in measured]),
        }
    # Each round's own ratio: the tutorial's script over the tutorial's command, run one after the other.
    results["paired_speed_up"] = summarise([reference[0] / tutorial[0] for tutorial, reference in zip(runs["tutorial"], runs["reference"])])
    return results


def bench_quantization(models: dict, dataset: Path, count: int, work: Path) -> dict:
    """``export.py --quantize``'s copies of the export: size, labels changed, exact-match and library speed."""
    from pyimagesearch.inference.quantization import quantize_export

    script = Path(__file__).resolve()
    results = {
        "float32": run_child(
            script, ["--child", "library", "--model", str(models["onnx"]), "--dataset", str(dataset), "--images", str(count)]
        )
    }
    results["float32"]["bytes"] = models["onnx"].stat().st_size
    for quantization in QUANTIZATIONS:
        folder = work / quantization
        folder.mkdir()
        copy = folder / "fashion.onnx"
        shutil.copy(models["onnx"], copy)
        # Tolerance 1: every copy is kept here, so that it can be measured; the check's counts are the result.
        check = quantize_export(copy, quantization, dataset, tolerance=1.0)
        speed = run_child(script, ["--child", "library", "--model", str(copy), "--dataset", str(dataset), "--images", str(count)])
        results[quantization] = {
            **speed,
            "bytes": copy.stat().st_size,
            "images_checked": check.images,
            "labels_changed": len(check.changed),
            "exact_match": list(check.exact_match),
            "max_difference": check.max_difference,
        }
    return results


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
                # The model file, as the tutorial names it: its export of the same run runs.
                seconds = run_command(
                    [
                        "classify.py",
                        "--model",
                        str(models["keras"]),
                        "--labelbin",
                        str(models["labelbin"]),
                        "--output",
                        str(output),
                        "--json",
                        *annotate,
                        "--image",
                        *map(str, images),
                    ]
                )
                shutil.rmtree(output)
                run = {"seconds": seconds, "images": len(images)}
            else:
                model = models["onnx" if variant == "onnx_library" else "keras_alone"]
                run = run_child(script, ["--child", "library", "--model", str(model), "--dataset", str(dataset), "--images", str(count)])
            runs[variant].append(run)
            print(f"  folder, run {repeat + 1}/{repeats} {variant}: {run['images'] / run['seconds']:.0f} images/s", file=sys.stderr)
    results = {}
    for variant, measured in runs.items():
        seconds = summarise([run["seconds"] for run in measured])
        results[variant] = {
            "images": measured[0]["images"],
            "seconds": seconds,
            "images_per_second": measured[0]["images"] / seconds["median"],
            "cores_used": summarise([run["cpu_seconds"] / run["seconds"] for run in measured])["median"]
            if "cpu_seconds" in measured[0]
            else None,
        }
    return {"runs": runs, "variants": results}


def tables(results: dict) -> str:
    """The Markdown tables of the results."""
    single = results["single_image"]
    labels = {
        "tutorial": "the tutorial's classify.py command (fashion.model; its export runs)",
        "keras": "the same command, no export beside the model (Keras runs)",
        "reference": "tutorial's classify (tf_keras, HDF5)",
    }
    reference = single["reference"]["median"]
    rows = []
    for variant in SINGLE_VARIANTS:
        summary = single[variant]
        target = ""
        if variant == "tutorial":
            target = (
                f"≤ {TARGETS['single_seconds']:g} s, ≤ {TARGETS['single_mib']:g} MiB, ≥ {TARGETS['single_speed_up']:g}x "
                f"(paired {single['paired_speed_up']['median']:.1f}x)"
            )
        rows.append(
            [
                labels[variant],
                f"{summary['median']:.2f} s",
                f"{summary['min']:.2f}–{summary['max']:.2f}",
                f"{summary['peak_mib']['median']:.0f} MiB",
                f"{reference / summary['median']:.1f}x",
                target,
            ]
        )
    text = [markdown_table(["one image, whole command", "median", "range (s)", "peak RSS", "vs tutorial", "target"], rows)]
    folder = results["folder"]["variants"]
    labels = {
        "onnx_library": "Classifier.classify, ONNX export",
        "keras_library": "Classifier.classify, Keras model",
        "onnx_command": "classify.py --model fashion.model (its export runs; whole command, annotated copies)",
        "onnx_command_labels": "classify.py --model fashion.model --no-annotate (whole command, labels only)",
    }
    rows = [
        [
            labels[variant],
            summary["images"],
            f"{summary['seconds']['median']:.2f} s",
            f"{summary['seconds']['min']:.2f}–{summary['seconds']['max']:.2f}",
            f"{summary['images_per_second']:.0f}",
            "" if summary["cores_used"] is None else f"{summary['cores_used']:.2f}",
            f"≥ {TARGETS['images_per_second']:g}" if variant == "onnx_command_labels" else "",
        ]
        for variant, summary in folder.items()
    ]
    text.append(
        markdown_table([f"folder at {IMAGE_SIZE}x{IMAGE_SIZE}", "images", "median", "range (s)", "images/s", "CPU s / s", "target"], rows)
    )
    parity = results["parity"]
    text.append(
        markdown_table(
            ["parity", "images", "max abs difference of probabilities", "same labels", "target"],
            [
                [
                    "ONNX export vs Keras model",
                    parity["images"],
                    f"{parity['max_difference']:.1e}",
                    f"{parity['same_labels'] * 100:.1f} %",
                    f"≤ {TARGETS['max_difference']:g}",
                ]
            ],
        )
    )
    quantized = results.get("quantization")
    if quantized:
        rows = [
            [
                "float32",
                f"{quantized['float32']['bytes'] / 1e6:.1f} MB",
                f"{quantized['float32']['images'] / quantized['float32']['seconds']:.0f}",
                "-",
                "-",
                "-",
            ]
        ]
        rows += [
            [
                name,
                f"{entry['bytes'] / 1e6:.1f} MB",
                f"{entry['images'] / entry['seconds']:.0f}",
                f"{entry['labels_changed']} of {entry['images_checked']}",
                f"{entry['exact_match'][0]:.3f} -> {entry['exact_match'][1]:.3f}",
                f"{entry['max_difference']:.1e}",
            ]
            for name, entry in quantized.items()
            if name != "float32"
        ]
        text.append(
            markdown_table(
                ["export.py --quantize", "file", "library images/s (one run)", "labels changed", "exact-match", "max abs difference"], rows
            )
        )
    return "\n\n".join(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Benchmark classification: ONNX export, Keras model file, tutorial.")
    parser.add_argument("--dataset", type=Path, default=FASHION_DIR, help="real photos (default: %(default)s)")
    parser.add_argument("--images", type=int, default=1813, help="photos of the folder runs (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each folder variant, at least 3 (default: %(default)s)")
    parser.add_argument("--single-repeats", type=int, default=7, help="runs of each one-image command, at least 3 (default: %(default)s)")
    parser.add_argument("--image", type=Path, default=EXAMPLE_IMAGE, help="the one-image photo (default: %(default)s)")
    parser.add_argument("--no-quantization", dest="quantization", action="store_false", help="leave out the quantized exports")
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="benchmark this model file written by train.py (mlb.pickle beside it) instead of training one for 1 epoch",
    )
    parser.add_argument("--child", choices=("library", "parity", "reference-classify", "save-reference"), help=argparse.SUPPRESS)
    parser.add_argument("--onnx", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--labelbin", type=Path, help=argparse.SUPPRESS)
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
        print(
            f"--repeats and --single-repeats must be at least 3 for a median. Received: {args.repeats}, {args.single_repeats}",
            file=sys.stderr,
        )
        return 2
    if not args.dataset.is_dir():
        print(f"--dataset {args.dataset}: no such folder (set FASHION_DATA_DIR or pass --dataset)", file=sys.stderr)
        return 2
    results = {
        "benchmark": "inference",
        "machine_before": machine(),
        "repeats": args.repeats,
        "single_repeats": args.single_repeats,
        "image_size": IMAGE_SIZE,
    }
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as work:
        work = Path(work)
        models = prepare_models(work, args.dataset, args.model)
        results["models"] = {
            "trained": "given" if args.model else f"train.py --epochs 1 --image-size {IMAGE_SIZE} on {args.dataset}",
            "train_seconds": models.get("train_seconds"),
            "export_seconds": models.get("export_seconds"),
            "reference": "untrained tutorial SmallerVGGNet (tf_keras), HDF5",
        }
        image = args.image if args.image.is_file() else folder_paths(args.dataset, 1)[0]
        results["single_image"] = bench_single(models, image, args.single_repeats, work)
        results["single_image_file"] = str(image)
        results["folder"] = bench_folder(models, args.dataset, args.images, args.repeats, work)
        results["parity"] = run_child(
            Path(__file__).resolve(),
            [
                "--child",
                "parity",
                "--model",
                str(models["keras"]),
                "--onnx",
                str(models["onnx"]),
                "--dataset",
                str(args.dataset),
                "--images",
                str(args.images),
            ],
        )
        if args.quantization:
            results["quantization"] = bench_quantization(models, args.dataset, args.images, work)
    results["machine_after"] = machine()
    output = write_results("inference", results)
    before, after = results["machine_before"], results["machine_after"]
    print(
        f"{describe_machine(before)}; load average {before['load_average']} before, "
        f"{after['load_average']} after; medians of {args.single_repeats} (one image) and {args.repeats} (folder) "
        "runs, each in a fresh process\n"
    )
    print(tables(results))
    print(f"\nresults: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
