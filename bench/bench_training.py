"""Training: throughput, time to accuracy and the FLOP rate, against the tutorial's pipeline.

Variants, each in a fresh process, interleaved round after round on the real photos:

- ``reference``: `reference_tutorial.train` (tf_keras, ImageDataGenerator, legacy Adam with the
  tutorial's decay, random split), ``--epochs`` epochs;
- ``toolkit``: ``train.py`` with its defaults (MobileNetV2 from the shipped ImageNet weights as the
  grey shape branch, grouped split, cosine schedule, early stopping, precision and batch size as
  ``auto`` picks them), ``--epochs`` epochs on the frozen backbone, then its fine-tuning epochs.
  It has no GFLOP/s column, which counts SmallerVGGNet's cost: compare images/s and time to accuracy;
- ``toolkit smallervggnet``: ``train.py --arch smallervggnet``, the tutorial's network (train.py's
  default before MobileNetV2; these runs were named ``toolkit`` then), the same ``--epochs``;
- ``toolkit smallervggnet float32`` and ``toolkit smallervggnet XLA``: the same with
  ``--precision float32`` and ``--jit-compile on`` for ``--probe-epochs`` epochs: throughput only.

The yardstick is the machine's own float32 matrix-product rate through TensorFlow (`common.matmul_gflops`,
measured before and after the runs): the training rates are reported in GFLOP/s and as a share of it.
Throughput is training images per second over the steady-state epochs (all but the first, whose
graph tracing and compilation would count otherwise), each epoch's validation pass included on
both sides. Time to accuracy is the wall time from the start of training (loading excluded on
both sides) to the end of the first epoch whose validation exact-match (threshold 0.5) reaches
the reference's final value, that of the median reference run.

Usage:
    python bench/bench_training.py --epochs 25 --repeats 3
"""

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    FASHION_DIR,
    PROJECT_ROOT,
    describe_machine,
    machine,
    markdown_table,
    matmul_gflops,
    run_child,
    setup_paths,
    summarise,
    write_results,
)

setup_paths()


# What --variants names; "reference" runs whatever is asked.
VARIANTS = ("toolkit", "toolkit smallervggnet", "toolkit smallervggnet float32", "toolkit smallervggnet XLA")
# The variants that train SmallerVGGNet, whose training FLOPs the GFLOP/s column counts (the reference's network too).
SMALLERVGGNET_VARIANTS = ("reference", "toolkit smallervggnet", "toolkit smallervggnet float32", "toolkit smallervggnet XLA")


def reference_run(dataset: str, epochs: int) -> dict:
    """One reference training in this process: load as the tutorial does, then train."""
    import reference_tutorial

    paths = reference_tutorial.list_image_paths(dataset)
    data, labels = reference_tutorial.load(paths)
    result = reference_tutorial.train(data, labels, epochs=epochs)
    records = result["epochs"]
    return {
        "images_per_second": result["images_per_second_with_validation"],
        "train_only_images_per_second": result["images_per_second"],
        "curve": [(record["elapsed"], record["val_exact_match"]) for record in records],
        "final_exact_match": result["val_exact_match"],
        "epochs_trained": len(records),
    }


def toolkit_run(dataset: str, epochs: int, extra: list[str]) -> dict:
    """One train.py run in a child process, read back from its metrics CSV."""
    import subprocess

    from common import child_environment

    from pyimagesearch.inference.model_io import read_model_metadata

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        command = [
            sys.executable,
            str(PROJECT_ROOT / "train.py"),
            "--dataset",
            dataset,
            "--model",
            str(work / "fashion.model"),
            "--labelbin",
            str(work / "mlb.pickle"),
            "--plot",
            str(work / "plot.png"),
            "--epochs",
            str(epochs),
            "--no-export",
            *extra,  # training alone is measured
        ]
        started = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, env=child_environment(), cwd=PROJECT_ROOT)
        wall = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
        with open(work / "fashion.metrics.csv") as handle:
            rows = list(csv.DictReader(handle))
        precision = read_model_metadata(work / "fashion.model")["precision"]
        train_images = next(
            int(line.split("split (")[1].split(": ")[1].split(" training")[0])
            for line in completed.stdout.splitlines()
            if "split (" in line
        )
    elapsed = [float(row["elapsed_seconds"]) for row in rows]
    epoch_seconds = [b - a for a, b in zip([0.0, *elapsed], elapsed)]
    steady = epoch_seconds[1:] or epoch_seconds
    return {
        "images_per_second": train_images / statistics.median(steady),
        "curve": [(seconds, float(row["val_exact_match"])) for seconds, row in zip(elapsed, rows)],
        "final_exact_match": float(rows[-1]["val_exact_match"]),
        "best_exact_match": max(float(row["val_exact_match"]) for row in rows),
        "epochs_trained": len(rows),
        "precision": precision,
        "command_seconds": wall,
    }


def time_to(curve: list[tuple[float, float]], target: float) -> float | None:
    """Seconds until the first epoch whose exact-match reaches ``target``; None if none does."""
    return next((seconds for seconds, value in curve if value >= target - 1e-9), None)


def training_flops_per_image(image_size: int) -> float:
    """Floating-point operations to train SmallerVGGNet on one image: three times the forward pass.

    The forward pass counts the convolutions and dense layers (two operations per
    multiply-add); the backward pass costs two more of it (gradients of the inputs and of
    the weights). Normalisation, activations and pooling are left out: they are a few percent.
    """
    import keras

    from pyimagesearch.models.smallervggnet import SmallerVGGNet

    model = SmallerVGGNet.build(image_size, image_size, 3, classes=6, finalAct="sigmoid")
    forward = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            height, width, filters = layer.output.shape[1:]
            kernel_height, kernel_width, channels, _ = layer.kernel.shape
            forward += 2 * height * width * filters * kernel_height * kernel_width * channels
        elif isinstance(layer, keras.layers.Dense):
            forward += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return 3.0 * forward


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default=str(FASHION_DIR), help="labelled photo folders")
    parser.add_argument("--epochs", type=int, default=25, help="epochs of the reference and toolkit runs")
    parser.add_argument("--probe-epochs", type=int, default=2, help="epochs of the float32 and XLA throughput runs")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (medians over them); at least 3")
    parser.add_argument("--output", default="training", help="results file name in bench/results/, without .json")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=list(VARIANTS),
        help="the variants to run (the reference always runs: every ratio is against it)",
    )
    parser.add_argument("--child", choices=("reference",), help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child == "reference":
        import json

        print(json.dumps(reference_run(args.dataset, args.epochs)))
        return 0
    if not Path(args.dataset).is_dir():
        print(f"bench_training.py: error: no photos at {args.dataset}; set FASHION_DATA_DIR.", file=sys.stderr)
        return 2
    if args.repeats < 3:
        print("bench_training.py: error: --repeats must be at least 3 (medians).", file=sys.stderr)
        return 2

    variants = {
        "reference": lambda: run_child(Path(__file__), ["--child", "reference", "--dataset", args.dataset, "--epochs", str(args.epochs)]),
        "toolkit": lambda: toolkit_run(args.dataset, args.epochs, []),
        "toolkit smallervggnet": lambda: toolkit_run(args.dataset, args.epochs, ["--arch", "smallervggnet"]),
        "toolkit smallervggnet float32": lambda: toolkit_run(
            args.dataset, args.probe_epochs, ["--arch", "smallervggnet", "--precision", "float32", "--patience", "0"]
        ),
        "toolkit smallervggnet XLA": lambda: toolkit_run(
            args.dataset, args.probe_epochs, ["--arch", "smallervggnet", "--jit-compile", "on", "--patience", "0"]
        ),
    }
    # What the machine's float32 arithmetic reaches through TensorFlow, before and after: the yardstick
    # of the training rates (oneDNN's convolutions are matrix products too).
    matmul = [matmul_gflops()]
    variants = {name: run for name, run in variants.items() if name == "reference" or name in args.variants}
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for round_number in range(1, args.repeats + 1):
        for name, run in variants.items():
            result = run()
            runs[name].append(result)
            print(
                f"round {round_number} {name}: {result['images_per_second']:.1f} img/s, "
                f"final exact-match {result['final_exact_match']:.3f}",
                file=sys.stderr,
                flush=True,
            )

    # The target: the final exact-match of the median reference run.
    references = sorted(runs["reference"], key=lambda run: run["final_exact_match"])
    target = references[len(references) // 2]["final_exact_match"]
    matmul.append(matmul_gflops())
    matmul_rate = statistics.mean(matmul)
    flops = training_flops_per_image(96)
    summary = {}
    for name, results in runs.items():
        throughput = summarise([run["images_per_second"] for run in results])
        times = [time_to(run["curve"], target) for run in results] if name in ("reference", "toolkit", "toolkit smallervggnet") else []
        reached = [value for value in times if value is not None]
        summary[name] = {
            "images_per_second": throughput,
            "final_exact_match": summarise([run["final_exact_match"] for run in results]),
            "time_to_target_seconds": summarise(reached) if reached else None,
            "reached_target": f"{len(reached)}/{len(times)}" if times else None,
        }
        if name in SMALLERVGGNET_VARIANTS:
            summary[name] |= {
                "gflops_per_second": throughput["median"] * flops / 1e9,
                "share_of_matmul_rate": throughput["median"] * flops / 1e9 / matmul_rate,
            }
    base = summary["reference"]
    rows = []
    for name, entry in summary.items():
        time_entry = entry["time_to_target_seconds"]
        rows.append(
            [
                name,
                f"{entry['images_per_second']['median']:.1f}",
                f"{entry['images_per_second']['median'] / base['images_per_second']['median']:.2f}x",
                f"{entry['final_exact_match']['median']:.3f}",
                "-" if time_entry is None else f"{time_entry['median']:.0f} s ({entry['reached_target']})",
                "-"
                if time_entry is None or base["time_to_target_seconds"] is None
                else f"{time_entry['median'] / base['time_to_target_seconds']['median']:.2f}",
                f"{entry['gflops_per_second']:.0f} ({entry['share_of_matmul_rate'] * 100:.0f} %)" if "gflops_per_second" in entry else "-",
            ]
        )
    print(
        f"\nTraining on {args.dataset}, 96x96, batch 32 (reference) and --batch-size auto (toolkit); {args.epochs} epochs "
        f"({args.probe_epochs} for float32 and XLA; toolkit: then its fine-tuning); "
        f"medians of {args.repeats} runs; target exact-match {target:.3f} (the median reference run's final value)."
    )
    print(
        f"Training cost {flops / 1e9:.3f} GFLOP per image; float32 matmul rate measured on this machine "
        f"{matmul[0]:.0f} GFLOP/s before the runs, {matmul[1]:.0f} after; {describe_machine(machine())}.\n"
    )
    print(
        markdown_table(
            [
                "variant",
                "img/s (val. included)",
                "vs reference",
                "final exact-match",
                "time to target",
                "time vs reference",
                "GFLOP/s (of the matmul rate)",
            ],
            rows,
        )
    )
    write_results(
        args.output,
        {
            "machine": machine(),
            "dataset": args.dataset,
            "epochs": args.epochs,
            "probe_epochs": args.probe_epochs,
            "repeats": args.repeats,
            "target_exact_match": target,
            "training_gflop_per_image": flops / 1e9,
            "matmul_gflops_float32": matmul,
            "summary": summary,
            "runs": runs,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
