"""The automatic training choices per machine: precision, batch size and input-pipeline threads.

Each configuration trains the default network on the real photos (`pipeline.train`, the path
train.py takes) for ``--epochs`` epochs in a fresh process, with oneDNN free to use every
instruction set of this CPU (``native``) or limited to AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``, an
AVX2-only CPU as oneDNN sees it); configurations alternate round after round. Throughput is
training images over the median steady-state epoch (all but the first), validation included,
beside the float32 matrix-product rate measured under the same limit (`common.matmul_gflops`).

bfloat16 is measured natively only: under ``ONEDNN_MAX_CPU_ISA=AVX2`` oneDNN refuses bfloat16
convolutions outright, where a real AVX2 CPU would run them through TensorFlow's own slow kernels.

Usage:
    python bench/bench_auto_choices.py --epochs 3 --repeats 3
"""

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    FASHION_DIR,
    describe_machine,
    machine,
    markdown_table,
    matmul_gflops,
    run_child,
    summarise,
    write_results,
)

# (instruction sets, precision, batch size, pipeline threads: 1, or 0 for tf.data's tuning)
CONFIGURATIONS = (
    ("native", "bfloat16", 32, 1),
    ("native", "bfloat16", 64, 1),
    ("native", "bfloat16", 64, 0),
    ("native", "float32", 64, 1),
    ("AVX2", "float32", 32, 1),
    ("AVX2", "float32", 64, 1),
    ("AVX2", "float32", 64, 0),
    ("AVX2", "float32", 128, 1),
)


def train_child(dataset: str, epochs: int, precision: str, batch_size: int, threads: int) -> dict:
    """One training in this process with the given choices; its steady-state images per second."""
    from pyimagesearch.data.dataset import find_labelled_images
    from pyimagesearch.training import fit
    from pyimagesearch.training.options import TrainOptions
    from pyimagesearch.training.pipeline import train

    # The pipeline's threads are not a train.py flag: `resolve.pipeline_threads` decides them, called by `fit`.
    fit.pipeline_threads = lambda: threads or None
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        options = TrainOptions.of(
            dataset=dataset,
            model=work / "m.model",
            labelbin=work / "mlb.pickle",
            plot=work / "plot.png",
            epochs=epochs,
            batch_size=batch_size,
            precision=precision,
            patience=0,
            arch="smallervggnet",
            export=False,
        )
        result = train(options, verbose=0)
        with open(work / "m.metrics.csv") as handle:
            elapsed = [float(row["elapsed_seconds"]) for row in csv.DictReader(handle)]
    epoch_seconds = [b - a for a, b in zip([0.0, *elapsed], elapsed)]
    train_images = len(find_labelled_images(dataset)[0]) - result.metadata["validation"]["images"]
    return {
        "images_per_second": train_images / statistics.median(epoch_seconds[1:] or epoch_seconds),
        "epoch_seconds": epoch_seconds,
        "precision": result.metadata["precision"],
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default=str(FASHION_DIR), help="labelled photo folders (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run, the first not counted (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds, at least 3 (default: %(default)s)")
    parser.add_argument("--isas", nargs="+", default=["native", "AVX2"], help="instruction sets to measure")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--precision", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        print(json.dumps(train_child(args.dataset, args.epochs, args.precision, args.batch_size, args.threads)))
        return 0
    if args.repeats < 3:
        print("bench_auto_choices.py: error: --repeats must be at least 3 (medians).", file=sys.stderr)
        return 2
    configurations = [configuration for configuration in CONFIGURATIONS if configuration[0] in args.isas]
    matmul, runs = {}, {configuration: [] for configuration in configurations}
    machines = {}
    for isa in args.isas:
        with limited(isa):
            matmul[isa] = [matmul_gflops()]
            machines[isa] = machine()
    for round_number in range(1, args.repeats + 1):
        for configuration in configurations:
            isa, precision, batch_size, threads = configuration
            with limited(isa):
                result = run_child(
                    Path(__file__),
                    [
                        "--child",
                        "--dataset",
                        args.dataset,
                        "--epochs",
                        str(args.epochs),
                        "--precision",
                        precision,
                        "--batch-size",
                        str(batch_size),
                        "--threads",
                        str(threads),
                    ],
                )
            runs[configuration].append(result)
            print(f"round {round_number} {configuration}: {result['images_per_second']:.1f} img/s", file=sys.stderr, flush=True)
    for isa in args.isas:
        with limited(isa):
            matmul[isa].append(matmul_gflops())
    rows, summary = [], []
    for configuration, results in runs.items():
        isa, precision, batch_size, threads = configuration
        throughput = summarise([run["images_per_second"] for run in results])
        rate = statistics.mean(matmul[isa])
        summary.append(
            {
                "isa": isa,
                "precision": precision,
                "batch_size": batch_size,
                "threads": threads or "tf.data",
                "images_per_second": throughput,
                "matmul_gflops": matmul[isa],
            }
        )
        rows.append(
            [
                describe_machine(machines[isa]),
                precision,
                batch_size,
                threads or "tf.data",
                f"{throughput['median']:.1f} ({throughput['min']:.0f}–{throughput['max']:.0f})",
                f"{rate:.0f}",
                f"{throughput['median'] / rate:.2f}",
            ]
        )
    print(
        f"\n{args.epochs} epochs per run (the first not counted), medians of {args.repeats} alternated rounds; "
        f"load average {os.getloadavg()[0]:.2f} at the end.\n"
    )
    print(
        markdown_table(
            [
                "machine (as oneDNN sees it)",
                "precision",
                "batch",
                "pipeline threads",
                "img/s",
                "float32 matmul GFLOP/s",
                "img/s per GFLOP/s",
            ],
            rows,
        )
    )
    write_results(
        "auto_choices",
        {
            "machines": machines,
            "epochs": args.epochs,
            "repeats": args.repeats,
            "summary": summary,
            "runs": {str(key): value for key, value in runs.items()},
        },
    )
    return 0


class limited:
    """Within it, child processes see oneDNN limited to ``isa`` (``native``: no limit)."""

    def __init__(self, isa: str):
        self.isa = isa

    def __enter__(self):
        self.previous = os.environ.pop("ONEDNN_MAX_CPU_ISA", None)
        if self.isa != "native":
            os.environ["ONEDNN_MAX_CPU_ISA"] = self.isa

    def __exit__(self, *exc):
        os.environ.pop("ONEDNN_MAX_CPU_ISA", None)
        if self.previous is not None:
            os.environ["ONEDNN_MAX_CPU_ISA"] = self.previous


if __name__ == "__main__":
    raise SystemExit(main())
