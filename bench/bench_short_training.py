"""A short training's fixed cost: the optimizer's variables created before the first step, or in it.

Keras (without a distribution strategy) creates the optimizer's variables inside the first training
step's trace, and tf.function then traces that step a second time. `build.compile_classifier`
creates them right after compiling. Variants, each a whole `pipeline.train` in a fresh process,
interleaved round after round on the generated demo data (`make demo`'s, 480 images):

- ``compile_classifier``: the library as it is;
- ``keras default``: the same, with `compile_classifier` replaced by a plain ``model.compile``
  (the optimizer built lazily, as before).

Networks: ``smallervggnet`` (one epoch at 32 pixels, the suite's library trainings) and
``mobilenetv2`` (the default: one epoch on the frozen backbone and one of fine-tuning at 64
pixels, from the shared ImageNet weights). Reported: the median wall time of ``train`` (loading,
fitting, evaluation, unknown detection and writing; no ONNX export) and how many times the
training step was traced.

Usage:
    python bench/bench_short_training.py --rounds 5
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MODELS_DIR, machine, markdown_table, run_child, setup_paths, write_results  # noqa: E402

setup_paths()

VARIANTS = ("compile_classifier", "keras default")
NETWORKS = ("smallervggnet", "mobilenetv2")
WEIGHTS = MODELS_DIR / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


def child(arguments: argparse.Namespace) -> dict:
    """One training in this process; its time and the training step's traces."""
    import keras

    from pyimagesearch.models import build
    from pyimagesearch.training import fit
    from pyimagesearch.training.options import TrainOptions
    from pyimagesearch.training.pipeline import train

    if arguments.variant == "keras default":

        def plain_compile(model, task, optimizer, jit_compile) -> None:
            model.compile(optimizer=optimizer, loss=task.loss, metrics=task.metrics(), jit_compile=jit_compile)

        build.compile_classifier = fit.compile_classifier = plain_compile
    traces = 0
    train_step = keras.Model.train_step

    def counted(self, data):
        nonlocal traces
        traces += 1
        return train_step(self, data)

    keras.Model.train_step = counted
    work = Path(arguments.work)
    pretrained = arguments.network == "mobilenetv2"
    options = TrainOptions.of(
        dataset=Path(arguments.dataset),
        model=work / "m.model",
        labelbin=work / "mlb.pickle",
        plot=work / "plot.png",
        arch=arguments.network,
        image_size=64 if pretrained else 32,
        epochs=1,
        seed=42,
        export=False,
        **({"weights": str(WEIGHTS), "fine_tune_epochs": 1} if pretrained else {}),
    )
    start = time.perf_counter()
    train(options, verbose=0)
    return {"seconds": time.perf_counter() - start, "traces": traces}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="trainings of each variant and network, interleaved")
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    parser.add_argument("--output", default="short_training", help="results file name in bench/results/, without .json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--network", choices=NETWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    from pyimagesearch.data.demo import generate

    runs: dict[str, list[dict]] = {f"{network} {variant}": [] for network in args.networks for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as folder:
        dataset = Path(folder) / "dataset"
        generate(dataset, Path(folder) / "examples")
        for round_index in range(args.rounds):
            for network in args.networks:
                # Alternate which variant goes first, so that neither always follows the other.
                for variant in VARIANTS if round_index % 2 == 0 else VARIANTS[::-1]:
                    with tempfile.TemporaryDirectory(dir=folder) as work:
                        flags = ["--child", "--variant", variant, "--network", network, "--dataset", str(dataset), "--work", work]
                        runs[f"{network} {variant}"].append(run_child(Path(__file__), flags))
                    print(f"round {round_index + 1} {network} {variant}: {runs[f'{network} {variant}'][-1]}", flush=True)
    results = {"machine": machine(), "rounds": args.rounds, "runs": runs}
    rows = []
    for network in args.networks:
        medians = {variant: statistics.median(run["seconds"] for run in runs[f"{network} {variant}"]) for variant in VARIANTS}
        results[network] = {**medians, "ratio": medians["keras default"] / medians["compile_classifier"]}
        for variant in VARIANTS:
            traces = sorted({run["traces"] for run in runs[f"{network} {variant}"]})
            rows.append([network, variant, f"{medians[variant]:.1f}", ", ".join(map(str, traces))])
        rows.append([network, "ratio (keras default / compile_classifier)", f"{results[network]['ratio']:.2f}", ""])
    print(markdown_table(["network", "variant", "median seconds", "training-step traces"], rows))
    print(f"wrote {write_results(args.output, results)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
