#!/usr/bin/env python
"""Train a multi-label (or multi-class, or binary) image classifier on a folder of images.

python train.py --dataset dataset --model fashion.model --labelbin mlb.pickle
python train.py --dataset dataset --arch mlp          # an MLP over colour and HOG features
python train.py --dataset table.csv --arch mlp        # an MLP over a table of feature vectors
"""

import argparse
import signal
import sys

from pyimagesearch import config
from pyimagesearch.cli import configure_logging, quiet_libraries, run


def batch_size_choice(text: str) -> int | str:
    """A --batch-size value: ``auto`` or a whole number (its range is checked by `training.train`)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of images such as 64, or auto. Received: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train SmallerVGGNet, or fine-tune a pretrained backbone, on images in label folders (e.g. dataset/red_dress/).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "-d",
        "--dataset",
        required=True,
        help="folder with one sub-folder per label set, or a manifest (.csv with path,labels columns, or .jsonl) "
        "of image paths or URIs (gs://...) read through tf.io.gfile and streamed; with --arch mlp, also a feature "
        "table (.csv without a path column, or .npy, with a label column)",
    )
    parser.add_argument("-m", "--model", default=config.MODEL_PATH, help="model file to write (any name)")
    parser.add_argument("-l", "--labelbin", default=config.LABELBIN_PATH, help="label binarizer file to write")
    parser.add_argument("-p", "--plot", default=config.PLOT_PATH, help="training curves image to write")
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"passes over the training set (fewer when --patience stops training early); default: {config.EPOCHS} "
        f"from scratch, {config.PRETRAINED_EPOCHS} on a pretrained backbone's frozen layers, then --fine-tune-epochs",
    )
    parser.add_argument("--lr", type=float, default=config.LEARNING_RATE, help="initial learning rate (Adam)")
    parser.add_argument(
        "--batch-size",
        type=batch_size_choice,
        default=config.TRAIN_BATCH_SIZE,
        help="images per step; auto: 64 when the training split holds at least 1,024 images, else 32",
    )
    parser.add_argument("--image-size", type=int, default=config.IMAGE_SIZE, help="side of the square input, pixels")
    parser.add_argument("--val-split", type=float, default=config.VAL_SPLIT, help="share held out for validation")
    parser.add_argument("--seed", type=int, default=config.SEED, help="seed of split, weights and augmentation")
    parser.add_argument("--label-sep", default=config.LABEL_SEP, help="separator of labels in folder names (and label cells)")
    parser.add_argument("--label-column", default=config.LABEL_COLUMN, help="a feature table's column of labels")
    parser.add_argument("--task", choices=config.TASKS, default="auto", help="kind of labelling; auto reads it from the labels")
    parser.add_argument(
        "--head",
        choices=config.HEADS,
        default=config.HEAD,
        help="multi-label head: flat, a sigmoid per label (the tutorial's); grouped, a softmax per label group "
        "(folders named <colour>_<type>), decoded to exactly one label per group; auto: grouped when the "
        "folder names give groups, else flat",
    )
    parser.add_argument(
        "--colour-branch",
        choices=config.COLOUR_BRANCHES,
        default=config.COLOUR_BRANCH,
        help="with the grouped head, read colours from a shape-blind branch and the other labels from a grey "
        "copy of the image (by SmallerVGGNet or the --arch backbone), so unseen combinations (a black dress) are "
        "labelled right; auto: on when a label group holds colours (black, blue, red, ...), off for --arch mlp",
    )
    parser.add_argument(
        "--recolour",
        choices=config.RECOLOURS,
        default=config.RECOLOUR,
        help="label-aware recolouring of training images (a red dress painted blue or black is labelled so); "
        "auto: on with the grouped head on one network (--colour-branch off) when a label group holds colours",
    )
    parser.add_argument(
        "--background",
        choices=config.BACKGROUNDS,
        default=config.BACKGROUND,
        help="replace the plain backgrounds of training images (found from each photo's border) by colour fields, "
        "gradients and cluttered scenes, the garment reframed (cut by the frame, or small in the scene), so the scene "
        "cannot decide the labels; photos without a plain background keep theirs; auto: on for networks over images",
    )
    parser.add_argument(
        "--arch",
        choices=config.ARCHITECTURES,
        default=config.ARCH,
        help="network: mobilenetv2, pretrained on ImageNet (the weights ship with the toolkit; see --weights); "
        "smallervggnet, the tutorial's network, trained from scratch; mlp, the tutorial's fully connected network "
        "(500 and 100 ReLU units) over an HSV colour histogram and HOG of each image, or over a feature table; or a "
        "another keras.applications backbone, pretrained (see --weights) under the same head",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="width multiplier of a MobileNet backbone (0.35, 0.5, 0.75, 1.0, ...); default: the weights file's "
        "(0.35 for mobilenetv2's shipped one), else 1.0",
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="backbone weights: imagenet (downloaded by Keras, then cached in ~/.keras/models), none (random), "
        "or the path of a no-top Keras applications weights file (offline); default: for mobilenetv2 (alpha 0.35) the "
        "ImageNet weights shipped in pyimagesearch/weights (no download), imagenet for another backbone, none for smallervggnet",
    )
    parser.add_argument(
        "--fine-tune-layers",
        type=int,
        default=config.FINE_TUNE_LAYERS,
        help="with pretrained weights, after --epochs on the frozen backbone, unfreeze its top N layers "
        "(batch normalisation stays frozen) and train on; 0: no fine-tuning",
    )
    parser.add_argument(
        "--fine-tune-epochs",
        type=int,
        default=config.FINE_TUNE_EPOCHS,
        help="epochs of fine-tuning (0: none)",
    )
    parser.add_argument("--fine-tune-lr", type=float, default=config.FINE_TUNE_LR, help="initial learning rate of fine-tuning")
    parser.add_argument(
        "--schedule",
        choices=config.SCHEDULES,
        default=config.SCHEDULE,
        help="learning-rate schedule: cosine decay, or the tutorial's lr/epochs decay",
    )
    parser.add_argument(
        "--split",
        choices=config.SPLITS,
        default=config.SPLIT,
        help="grouped: near-duplicate photos stay on one side, stratified by labels; random: the tutorial's split",
    )
    parser.add_argument(
        "--duplicate-radius",
        type=int,
        default=config.DUPLICATE_RADIUS,
        help="images whose 256-bit difference hashes differ in at most this many bits are near-duplicates",
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=None,
        help="cross-validate with K group-aware folds first (mean and std per metric, per-fold CSV); "
        "the saved model is then trained on the usual split",
    )
    parser.add_argument(
        "--normalize",
        choices=("unit", "center", "standardize"),
        default=config.NORMALIZE,
        help="input scaling inside the model: [0, 1] as the tutorial, per-channel zero mean, or per-channel "
        "standardisation (statistics from the training images)",
    )
    parser.add_argument("--init", choices=("glorot", "he"), default=config.INIT, help="kernel initialisation")
    parser.add_argument(
        "--stop-on-stall",
        action="store_true",
        help="stop, writing nothing, when the health check sees training stall (it always explains what it saw)",
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=config.PATIENCE,
        help="stop after this many epochs without a better validation exact-match, keeping the best epoch's weights; 0 trains every epoch",
    )
    parser.add_argument(
        "--cache",
        choices=config.CACHES,
        default=config.CACHE,
        help="where the decoded images are kept: memory; disk (a cache that makes the next run start at once); "
        "none (decoded from the files for every batch: bounded memory); auto: memory if they fit, else none",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="folder of the on-disk image cache (default: $XDG_CACHE_HOME/pyimagesearch or ~/.cache/pyimagesearch)",
    )
    parser.add_argument(
        "--precision",
        choices=config.PRECISIONS,
        default=config.PRECISION,
        help="bfloat16 trains in mixed precision; auto uses it where the hardware computes in bfloat16 (GPUs "
        "of compute capability 8+, CPUs with AVX512-BF16 or AMX; on a CPU not for the MobileNet and EfficientNet backbones, "
        "slower in it), else float32; the saved model is float32",
    )
    parser.add_argument(
        "--jit-compile",
        choices=config.JIT_COMPILES,
        default=config.JIT_COMPILE,
        help="XLA compilation of the training step; auto: on GPUs only (on CPUs it is slower)",
    )
    parser.add_argument(
        "--export",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also write the model as ONNX beside it (fashion.model -> fashion.onnx), stamped with the same run id, "
        "which classify.py and evaluate.py then run without TensorFlow; default: on, off for --arch mlp",
    )
    parser.add_argument(
        "--strategy",
        choices=config.STRATEGIES,
        default=config.STRATEGY,
        help="tf.distribute strategy: none (one device), mirrored (this machine's GPUs), multiworker (the machines "
        "of TF_CONFIG); auto: multiworker when TF_CONFIG is set, mirrored with several GPUs, else none. "
        "--batch-size is per replica",
    )
    parser.add_argument(
        "--work-dir",
        default=None,
        help="folder where training backs itself up after every epoch and keeps the best model by validation "
        "exact-match (best.keras), so that an interrupted run can --resume",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run backed up in --work-dir from its last finished epoch",
    )
    parser.add_argument("--logdir", default=None, help="write TensorBoard logs here (metrics, learning rate, sample predictions)")
    parser.add_argument(
        "--overfit-check",
        type=int,
        nargs="?",
        const=config.OVERFIT_CHECK_IMAGES,
        default=None,
        metavar="N",
        help=f"instead of training, check that the set-up can memorise N images (default {config.OVERFIT_CHECK_IMAGES}); "
        "the first thing to try when training does not learn",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries()
    configure_logging()

    def train() -> int:
        strategy = None
        if args.overfit_check is None:
            from pyimagesearch.training.distribution import create_strategy

            # Before any other TensorFlow work: MultiWorkerMirroredStrategy sets up the process's collectives.
            strategy = create_strategy(args.strategy)
            # A scheduler's SIGTERM (preemption, scancel) stops training as Ctrl-C does, leaving the backup.
            signal.signal(signal.SIGTERM, signal.default_int_handler)

        from tqdm import tqdm

        from pyimagesearch.training.overfit import check_overfit
        from pyimagesearch.training.pipeline import train as train_classifier

        if args.export and args.arch == "mlp":
            raise ValueError(
                "--export writes networks over images as ONNX; --arch mlp computes its features outside the network: drop --export."
            )
        export = args.arch != "mlp" if args.export is None else args.export
        if args.overfit_check is not None:
            result = check_overfit(
                args.dataset,
                images=args.overfit_check,
                learning_rate=args.lr,
                image_size=args.image_size,
                seed=args.seed,
                label_sep=args.label_sep,
                task=args.task,
                normalize=args.normalize,
                init=args.init,
                head=args.head,
                colour_branch=args.colour_branch,
                arch=args.arch,
                alpha=args.alpha,
                weights=args.weights,
            )
            for line in result.lines():
                print(line)
            return 0 if result.success else 1
        result = train_classifier(
            args.dataset,
            model_path=args.model,
            labelbin_path=args.labelbin,
            plot_path=args.plot,
            epochs=args.epochs,
            learning_rate=args.lr,
            batch_size=args.batch_size,
            image_size=args.image_size,
            val_split=args.val_split,
            seed=args.seed,
            label_sep=args.label_sep,
            task=args.task,
            schedule=args.schedule,
            split=args.split,
            duplicate_radius=args.duplicate_radius,
            folds=args.folds,
            normalize=args.normalize,
            init=args.init,
            stop_on_stall=args.stop_on_stall,
            patience=args.patience or None,
            precision=args.precision,
            jit_compile=args.jit_compile,
            cache=args.cache,
            cache_dir=args.cache_dir,
            head=args.head,
            recolour=args.recolour,
            background=args.background,
            colour_branch=args.colour_branch,
            arch=args.arch,
            alpha=args.alpha,
            weights=args.weights,
            fine_tune_layers=args.fine_tune_layers,
            fine_tune_epochs=args.fine_tune_epochs,
            fine_tune_lr=args.fine_tune_lr,
            strategy=strategy,
            work_dir=args.work_dir,
            resume=args.resume,
            logdir=args.logdir,
            label_column=args.label_column,
            progress=lambda items, total: tqdm(items, total=total, desc="loading images", unit="img", file=sys.stderr),
            verbose=1 if sys.stdout.isatty() else 2,
        )
        from pyimagesearch.training.distribution import is_chief

        # Only the process that wrote the model writes its export (see `distribution.is_chief`).
        if export and is_chief(strategy):
            from pyimagesearch.inference.model_files import default_onnx_path
            from pyimagesearch.inference.onnx_export import export_model_onnx

            print(f"wrote {export_model_onnx(result.model, result.metadata, default_onnx_path(args.model))}")
        return 0

    return run(train, "train.py")


if __name__ == "__main__":
    raise SystemExit(main())
