"""Loading benchmark: decode and resize a whole data set, the tutorial's way against the toolkit's.

Variants, each run in a fresh process, interleaved, several times:

- ``reference``: `reference_tutorial.load`, the tutorial's serial ``cv2.imread`` + ``cv2.resize``
  into a list, then one float64 array;
- ``parallel``: `pyimagesearch.data.images.load_images`: threads on every core, reduced-scale JPEG
  decoding, one uint8 array;
- ``cache_cold``: `pyimagesearch.data.cache.load_images_cached` with an empty cache folder: the
  same decoding plus writing the cache (a first training run);
- ``cache_warm``: the same with the cache written and the folder unchanged (a second run).

Each timed call starts from the list of paths (listing the folder is not timed, and both sides
get the same list) and ends once every page of the returned array has been touched, so a lazily
mapped array pays for its pages inside the timing. The photos are read once beforehand, so every
variant reads them from the operating system's file cache.

Data sets: the real photos (``../shared/data/fashion``, or ``$FASHION_DATA_DIR``) and generated
full-size photos (the real ones enlarged to 1200x1000 with sensor-like noise, JPEG quality 90,
in a temporary folder), where reduced-scale decoding matters most.

Usage:
    python bench/bench_loading.py                 # prints a Markdown table, writes bench/results/loading.json
    python bench/bench_loading.py --repeats 3 --large-count 0
"""

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    FASHION_DIR,
    cpu_seconds,
    current_rss_mb,
    machine,
    markdown_table,
    peak_rss_mb,
    run_child,
    settle,
    setup_paths,
    summarise,
    write_results,
)

setup_paths()

VARIANTS = ("reference", "parallel", "cache_cold", "cache_warm")
TARGETS = {"parallel": 5.0, "cache_warm": 50.0}  # the targets, as speed-ups over the reference
LARGE_SIZE = (1200, 1000)  # width, height of the generated full-size photos


def touch_pages(array: np.ndarray) -> int:
    """Read one byte in every 4 KiB page of ``array``, so that a lazily mapped array is resident."""
    flat = array.reshape(-1).view(np.uint8) if array.dtype != np.uint8 else array.reshape(-1)
    return int(flat[::4096].sum())


def run_variant(variant: str, dataset: Path, size: int, cache_dir: Path) -> dict:
    """One timed load in this process; what the child prints."""
    from pyimagesearch.data.images import list_images

    paths = list_images(dataset)
    if variant == "reference":
        import reference_tutorial  # Imports TensorFlow: before the clock starts.

        def load():
            return reference_tutorial.load(paths, size)[0]
    elif variant == "parallel":
        from pyimagesearch.data.images import load_images

        def load():
            return load_images(paths, size)[0]
    elif variant in ("cache_cold", "cache_warm"):
        from pyimagesearch.data.cache import load_images_cached

        def load():
            return load_images_cached(paths, size, cache_dir=cache_dir)[0]
    else:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")

    settle()
    rss_before = current_rss_mb()
    cpu_start, start = cpu_seconds(), time.perf_counter()
    images = load()
    touch_pages(images)
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    peak = peak_rss_mb()
    return {
        "variant": variant,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "images": len(images),
        "dtype": str(images.dtype),
        "array_mb": images.nbytes / 2**20,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
        # The toolkit's variants must return the same pixels, cached or not.
        "sha256": hashlib.sha256(np.ascontiguousarray(images)).hexdigest() if variant != "reference" else None,
    }


def generate_large_photos(source: Path, target: Path, count: int, seed: int = 0) -> int:
    """Write ``count`` full-size JPEGs into label folders under ``target``, from the photos in ``source``.

    Each is a real photo enlarged to `LARGE_SIZE` with Gaussian noise (sigma 4) standing in for a
    camera's fine detail, at JPEG quality 90: about the bytes per pixel of a phone photo. Without
    ``source`` photos, random shapes on noise.
    """
    import cv2

    from pyimagesearch.data.images import list_images

    rng = np.random.default_rng(seed)
    width, height = LARGE_SIZE
    sources = list_images(source) if source.is_dir() else []
    step = max(1, len(sources) // count) if sources else 1
    for index in range(count):
        if sources:
            origin = sources[(index * step) % len(sources)]
            image = cv2.imread(str(origin), cv2.IMREAD_COLOR)
            folder = origin.parent.name
        else:
            image = None
            folder = "synthetic_photo"
        if image is None:
            image = np.full((height, width, 3), rng.integers(0, 256, 3), dtype=np.uint8)
            for _ in range(8):
                centre = tuple(int(value) for value in rng.integers(0, (width, height)))
                colour = tuple(int(value) for value in rng.integers(0, 256, 3))
                cv2.circle(image, centre, int(rng.integers(40, 300)), colour, -1)
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        image += rng.normal(0.0, 4.0, image.shape).astype(np.float32)
        (target / folder).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target / folder / f"{index:05d}.jpg"), np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return count


def read_all(folder: Path) -> int:
    """Read every file once, so that all variants find them in the operating system's file cache."""
    return sum(len(path.read_bytes()) for path in folder.rglob("*") if path.is_file())


def bench_dataset(name: str, dataset: Path, size: int, repeats: int, work: Path) -> dict:
    """Every variant ``repeats`` times on one data set, interleaved; summaries and ratios."""
    script = Path(__file__).resolve()
    data_bytes = read_all(dataset)
    cold_dir, warm_dir = work / f"{name}-cold", work / f"{name}-warm"

    def child(variant: str, cache_dir: Path) -> dict:
        return run_child(script, ["--child", variant, "--dataset", str(dataset), "--size", str(size), "--cache-dir", str(cache_dir)])

    child("cache_cold", warm_dir)  # Writes the warm variant's cache; not timed.
    runs: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
    for repeat in range(repeats):
        for variant in VARIANTS:
            if variant == "cache_cold":
                shutil.rmtree(cold_dir, ignore_errors=True)
            runs[variant].append(child(variant, warm_dir if variant == "cache_warm" else cold_dir))
            print(f"  {name} run {repeat + 1}/{repeats} {variant}: {runs[variant][-1]['seconds']:.3f} s", file=sys.stderr)

    hashes = {run["sha256"] for variant in VARIANTS[1:] for run in runs[variant]}
    reference_seconds = [run["seconds"] for run in runs["reference"]]
    reference_median = summarise(reference_seconds)["median"]
    variants = {}
    for variant, measured in runs.items():
        seconds = summarise([run["seconds"] for run in measured])
        variants[variant] = {
            "seconds": seconds,
            "speedup": reference_median / seconds["median"],
            # Each round runs every variant back to back: the median of the rounds' ratios is
            # less sensitive than the ratio of medians to the machine slowing down for a while.
            "speedup_paired": summarise([ref / run["seconds"] for ref, run in zip(reference_seconds, measured)])["median"],
            "images": measured[0]["images"],
            "dtype": measured[0]["dtype"],
            "array_mb": measured[0]["array_mb"],
            "cores_used": summarise([run["cpu_seconds"] / run["seconds"] for run in measured])["median"],
            "peak_rss_mb": summarise([run["peak_rss_mb"] for run in measured])["median"],
            "added_rss_mb": summarise([run["peak_rss_mb"] - run["rss_before_mb"] for run in measured])["median"],
            "target_speedup": TARGETS.get(variant),
        }
    return {
        "dataset": str(dataset),
        "files": sum(1 for path in dataset.rglob("*") if path.is_file()),
        "megabytes": data_bytes / 2**20,
        "image_size": size,
        "identical_pixels_across_toolkit_variants": len(hashes) == 1,
        "variants": variants,
        "runs": runs,
    }


def table(results: dict) -> str:
    """The Markdown table of every data set and variant."""
    labels = {
        "reference": "reference (tutorial: serial, float64)",
        "parallel": "parallel + reduced decode (uint8)",
        "cache_cold": "on-disk cache, first run (decode + write)",
        "cache_warm": "on-disk cache, second run",
    }
    rows = []
    for name, dataset in results["datasets"].items():
        for variant, summary in dataset["variants"].items():
            seconds = summary["seconds"]
            target = summary["target_speedup"]
            ratio = f"{summary['speedup']:.1f}x" + (f" (target {target:g}x)" if target else "")
            paired = f"{summary['speedup_paired']:.1f}x"
            rows.append(
                [
                    f"{name} ({dataset['files']} files, {dataset['megabytes']:.0f} MB)",
                    labels[variant],
                    f"{seconds['median'] * 1000:.0f} ms",
                    f"{seconds['min'] * 1000:.0f}–{seconds['max'] * 1000:.0f}",
                    ratio,
                    paired,
                    f"{summary['images'] / seconds['median']:.0f}",
                    f"{summary['cores_used']:.2f}",
                    f"{summary['peak_rss_mb']:.0f}",
                    f"{summary['added_rss_mb']:.0f}",
                ]
            )
    header = [
        "data set",
        "variant",
        "median",
        "range (ms)",
        "speed-up",
        "paired",
        "images/s",
        "CPU s / s",
        "peak RSS (MB)",
        "RSS added by loading (MB)",
    ]
    return markdown_table(header, rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Benchmark loading a data set: the tutorial's way against the toolkit's.")
    parser.add_argument("--dataset", type=Path, default=FASHION_DIR, help="real photos (default: %(default)s)")
    parser.add_argument("--size", type=int, default=96, help="side of the loaded images in pixels (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each variant, at least 3 (default: %(default)s)")
    parser.add_argument("--large-count", type=int, default=200, help="generated 1200x1000 photos, 0 to skip them (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=None, help="results JSON (default: bench/results/loading.json)")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        print(json.dumps(run_variant(args.child, args.dataset, args.size, args.cache_dir)))
        return 0
    if args.repeats < 3:
        print(f"--repeats must be at least 3 for a median. Received: {args.repeats}", file=sys.stderr)
        return 2
    results = {"benchmark": "loading", "machine_before": machine(), "repeats": args.repeats, "datasets": {}}
    with tempfile.TemporaryDirectory(prefix="bench-loading-") as work:
        work = Path(work)
        if args.dataset.is_dir():
            results["datasets"]["fashion"] = bench_dataset("fashion", args.dataset, args.size, args.repeats, work)
        else:
            print(f"{args.dataset}: no such folder, skipping the real photos (set FASHION_DATA_DIR)", file=sys.stderr)
        if args.large_count > 0:
            large = work / "large-photos"
            generate_large_photos(args.dataset, large, args.large_count)
            results["datasets"]["large"] = bench_dataset("large", large, args.size, args.repeats, work)
    results["machine_after"] = machine()
    output = write_results("loading", results) if args.output is None else args.output
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    before, after = results["machine_before"], results["machine_after"]
    print(
        f"{before['cpu']}, {before['cpus']} CPUs; load average {before['load_average']} before, "
        f"{after['load_average']} after; medians of {args.repeats} runs, each in a fresh process\n"
    )
    print(table(results))
    print(f"\nresults: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
