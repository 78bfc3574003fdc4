"""Memory: peak RSS of training on a generated 20,000-image data set, for each --cache choice.

The data set is the demo generator's (six ``<color>_<type>`` folders of JPEGs), written once to a
temporary folder. Each variant is a fresh process whose peak resident set (``VmHWM``) is read
after it finishes:

- ``train.py --cache X``: loading, near-duplicate grouping, one epoch of training at 96x96 and
  writing the outputs, for X in ``--caches``;
- ``reference loading``: the tutorial's loading alone (`reference_tutorial.load`, a float64
  array), for scale; its training would need that array and more.

Usage:
    python bench/bench_memory.py --images 20000 --caches auto,none
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, markdown_table, peak_rss_mb, run_child, setup_paths, summarise, write_results  # noqa: E402

setup_paths()

LIMIT_MB = 2048


def child(kind: str, dataset: str, cache: str, work: str) -> dict:
    """Run one variant in this (fresh) process and report its peak RSS."""
    started = time.perf_counter()
    if kind == "reference":
        import reference_tutorial

        data, _ = reference_tutorial.load(reference_tutorial.list_image_paths(dataset))
        held = data.nbytes
    else:
        import train

        work = Path(work)
        code = train.main(
            [
                "--dataset",
                dataset,
                "--model",
                str(work / "m.model"),
                "--labelbin",
                str(work / "mlb.pickle"),
                "--plot",
                str(work / "plot.png"),
                "--epochs",
                "1",
                "--cache",
                cache,
                "--cache-dir",
                str(work / "cache"),
                "--arch",
                "smallervggnet",  # one epoch, the network these figures were measured with
            ]
        )
        if code != 0:
            raise SystemExit(code)
        held = None
    return {"peak_rss_mb": peak_rss_mb(), "seconds": time.perf_counter() - started, "array_bytes": held}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--images", type=int, default=20000, help="images to generate")
    parser.add_argument("--caches", default="auto,none", help="comma-separated --cache choices to train with")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each variant (peak RSS varies by a few MB)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference's loading")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "DATASET", "CACHE", "WORK"), help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    from pyimagesearch.data.demo import generate

    root = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    try:
        dataset = root / "dataset"
        started = time.perf_counter()
        generate(dataset, None, images_per_combination=-(-args.images // 6), size=128, seed=1)
        count = sum(1 for _ in dataset.rglob("*.jpg"))
        print(f"generated {count} images in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        variants = [("train", cache) for cache in args.caches.split(",")]
        if not args.no_reference:
            variants.append(("reference", "-"))
        runs: dict[str, list[dict]] = {}
        for _ in range(args.repeats):
            for kind, cache in variants:
                name = f"train.py --cache {cache}" if kind == "train" else "reference loading (float64)"
                work = root / "work"
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir()
                result = run_child(Path(__file__), ["--child", kind, str(dataset), cache, str(work)], timeout=7200)
                runs.setdefault(name, []).append(result)
                print(f"{name}: peak {result['peak_rss_mb']:.0f} MB in {result['seconds']:.0f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    summary = {
        name: {"peak_rss_mb": summarise([r["peak_rss_mb"] for r in results]), "seconds": summarise([r["seconds"] for r in results])}
        for name, results in runs.items()
    }
    rows = [
        [
            name,
            f"{entry['peak_rss_mb']['median']:.0f}",
            "yes" if entry["peak_rss_mb"]["median"] < LIMIT_MB else "no",
            f"{entry['seconds']['median']:.0f}",
        ]
        for name, entry in summary.items()
    ]
    print(f"\n{count} generated images (128x128 JPEGs), 96x96 training, 1 epoch; medians of {args.repeats} run(s).\n")
    print(markdown_table(["variant", "peak RSS (MB)", f"under {LIMIT_MB} MB", "seconds"], rows))
    write_results("memory", {"machine": machine(), "images": count, "repeats": args.repeats, "summary": summary, "runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
