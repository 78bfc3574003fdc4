"""Distributed training benchmark: 1 and 2 workers of MultiWorkerMirroredStrategy on loopback, and
the input pipeline's decode rate per core.

Variants, each a fresh set of processes, interleaved, several times:

- ``workers_1``: train.py from a manifest of the real photos with a one-worker TF_CONFIG, pinned
  to one core (`os.sched_setaffinity`): one "machine" of one core;
- ``workers_2``: two train.py workers on 127.0.0.1, each pinned to a core of its own: two such
  machines, the per-replica batch unchanged, so each step trains twice the images;
- ``decode``: the manifest path's reading and decoding (`images.load_image_batch`, which a training
  batch of `data.ImageFiles` calls) with one thread on one core, images per second.

Training throughput is the training images of an epoch over that epoch's time (its row of the
metrics CSV, validation included), the first epoch (tracing) left out. Scaling efficiency is the
2-worker throughput over twice the 1-worker one. From the decode rate the README derives the
input cores a GPU needs; from the per-step cost of the second worker, where scaling stops being
linear.

Usage:
    python bench/bench_distributed.py              # prints a Markdown table, writes bench/results/distributed.json
    python bench/bench_distributed.py --repeats 1 --images 300
"""

import argparse
import csv
import json
import os
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
    machine,
    markdown_table,
    run_child,
    setup_paths,
    summarise,
    write_results,
)

setup_paths()

from pyimagesearch.training.distribution import loopback_cluster  # noqa: E402

VARIANTS = ("workers_1", "workers_2", "decode")


def write_manifest(dataset: Path, count: int, target: Path) -> Path:
    """A CSV manifest of the first ``count`` photos of ``dataset`` taken round-robin over its label folders."""
    folders = [sorted(folder.iterdir()) for folder in sorted(dataset.iterdir()) if folder.is_dir()]
    rows = []
    for index in range(max(len(files) for files in folders)):
        rows += [(files[index], files[index].parent.name) for files in folders if index < len(files)]
    with open(target, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "labels"])
        writer.writerows(rows[:count])
    return target


def run_workers(workers: int, manifest: Path, args: argparse.Namespace) -> dict:
    """Train with ``workers`` processes, each pinned to core ``index``; the chief's epochs' throughput."""
    cluster = loopback_cluster(workers)
    with tempfile.TemporaryDirectory() as folder:
        processes = []
        for index in range(workers):
            env = {**child_environment(), "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
            command = [
                sys.executable,
                str(PROJECT_ROOT / "train.py"),
                "--dataset",
                str(manifest),
                "--epochs",
                str(args.epochs),
                "--image-size",
                str(args.image_size),
                "--batch-size",
                str(args.batch_size),
                "--patience",
                "0",
                "--split",
                "random",
                "--arch",
                "smallervggnet",
                "--model",
                f"{folder}/fashion.model",
            ]
            processes.append(
                subprocess.Popen(
                    command,
                    env=env,
                    cwd=folder,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    preexec_fn=lambda core=index: os.sched_setaffinity(0, {core}),
                )
            )
        errors = [process.communicate(timeout=3600)[1] for process in processes]
        if any(process.returncode for process in processes):
            raise RuntimeError(f"{workers} workers failed:\n{errors[0][-3000:]}")
        with open(Path(folder) / "fashion.metrics.csv") as handle:
            rows = list(csv.DictReader(handle))
    train_images = round(args.images * (1 - 0.2))
    epoch_seconds = [float(b["elapsed_seconds"]) - float(a["elapsed_seconds"]) for a, b in zip(rows, rows[1:])]
    return {"images_per_second": train_images * len(epoch_seconds) / sum(epoch_seconds), "epoch_seconds": epoch_seconds}


def decode_rate(manifest: Path, image_size: int) -> dict:
    """Images per second that one thread on one core reads and decodes from the manifest."""
    os.sched_setaffinity(0, {0})
    from pyimagesearch.data.images import load_image_batch
    from pyimagesearch.data.manifest import read_manifest

    paths, _ = read_manifest(manifest)
    for path in paths:  # The files from the page cache, as on a warm machine.
        Path(path).read_bytes()
    start = time.perf_counter()
    for begin in range(0, len(paths), 64):
        load_image_batch(paths[begin : begin + 64], image_size, workers=1)
    return {"images_per_second": len(paths) / (time.perf_counter() - start)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Benchmark training on 1 and 2 workers on loopback, and the decode rate per core.")
    parser.add_argument("--dataset", type=Path, default=FASHION_DIR, help="folder of label folders to list in the manifest")
    parser.add_argument("--images", type=int, default=600, help="photos in the manifest")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32, help="per replica")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=("decode",), help=argparse.SUPPRESS)
    parser.add_argument("--manifest", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child == "decode":
        print(json.dumps(decode_rate(args.manifest, args.image_size)))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        manifest = write_manifest(args.dataset, args.images, Path(folder) / "fashion.csv")
        runs: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        for _ in range(args.repeats):
            for workers in (1, 2):
                runs[f"workers_{workers}"].append(run_workers(workers, manifest, args)["images_per_second"])
            decoded = run_child(Path(__file__), ["--child", "decode", "--manifest", str(manifest), "--image-size", str(args.image_size)])
            runs["decode"].append(decoded["images_per_second"])
    summary = {variant: summarise(values) for variant, values in runs.items()}
    efficiency = summary["workers_2"]["median"] / (2 * summary["workers_1"]["median"])
    results = {
        "machine": machine(),
        "settings": {key: str(value) for key, value in vars(args).items() if key not in ("child", "manifest")},
        "images_per_second": summary,
        "scaling_efficiency": efficiency,
    }
    path = write_results("distributed", results)
    print(
        markdown_table(
            ["variant", "images/s (median)", "min", "max"],
            [[variant, f"{s['median']:.1f}", f"{s['min']:.1f}", f"{s['max']:.1f}"] for variant, s in summary.items()],
        )
    )
    print(f"scaling efficiency, 2 workers: {efficiency:.2f}; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
