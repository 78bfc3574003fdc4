"""Every default of the toolkit, in one place, shared by the CLIs and the library."""

# Training (train.py); the tutorial's values unless a comment says why not.
# --epochs: 75 for a network trained from scratch (the tutorial's); a pretrained backbone needs
# fewer on its frozen layers, PRETRAINED_EPOCHS, before FINE_TUNE_EPOCHS of fine-tuning.
EPOCHS = 75
PRETRAINED_EPOCHS = 10
LEARNING_RATE = 1e-3
BATCH_SIZE = 32
# --batch-size auto: the CPU kind's large batch (AUTO_TRAINING) when the training split has at least
# LARGE_BATCH_MIN_STEPS steps of it, else BATCH_SIZE: a small data set would get too few steps per
# epoch to learn in a few epochs.
TRAIN_BATCH_SIZE = "auto"
LARGE_BATCH_MIN_STEPS = 16
# The automatic training choices per kind of CPU (hardware.cpu_kind: "bfloat16" with AVX512-BF16 or
# AMX, "float32" otherwise), each the fastest measured there by bench/bench_auto_choices.py
# (bench/README.md, "Automatic choices"): --precision auto, --batch-size auto's large batch, and the
# input pipeline's threads on the CPU (None: tf.data's tuning).
AUTO_TRAINING = {
    "bfloat16": {"precision": "bfloat16", "large_batch_size": 64, "pipeline_threads": 1},
    "float32": {"precision": "float32", "large_batch_size": 64, "pipeline_threads": 1},
}
IMAGE_SIZE = 96
VAL_SPLIT = 0.2
SEED = 42
LABEL_SEP = "_"
MODEL_PATH = "fashion.model"
LABELBIN_PATH = "mlb.pickle"
PLOT_PATH = "plot.png"

TASKS = ("auto", "multilabel", "multiclass", "binary")
# --head: "flat", one sigmoid per label (the tutorial's); "grouped", one softmax per label group
# (one colour, one type; pyimagesearch/models/grouped_head.py); "auto", grouped for multi-label data
# whose folder names give the groups, else flat.
HEADS = ("auto", "flat", "grouped")
HEAD = "auto"
# --recolour: label-aware recolouring of training images (pyimagesearch/data/recolouring.py): "on",
# "off", or "auto", on with the grouped head when a label group holds two colours it can paint.
# RECOLOUR_PROBABILITY is the share of eligible training images recoloured.
RECOLOURS = ("auto", "on", "off")
RECOLOUR = "auto"
RECOLOUR_PROBABILITY = 0.5
# --background: replace the plain backgrounds of training images by colour fields, gradients and
# cluttered scenes, the garment reframed as photos of people frame it (pyimagesearch/data/backgrounds.py):
# "on", "off", or "auto", on for networks over images. BACKGROUND_PROBABILITY is the share of the
# images with a plain background that get a new scene in each epoch: a quarter, because at 64 px
# over 3 seeds it kept validation exact-match within the seeds' spread and got both labels of
# composited photos right more often than half did, which also cost validation more (measured:
# bench/README.md, "Robustness").
BACKGROUNDS = ("auto", "on", "off")
BACKGROUND = "auto"
BACKGROUND_PROBABILITY = 0.25
# --colour-branch: with the grouped head, read the colour group from a branch of per-pixel
# convolutions and the other groups from a grey copy of the image, by SmallerVGGNet's layers or
# the --arch backbone (colour_and_shape.build_colour_and_shape): "on", "off", or "auto", on when a
# group holds colours (never for the MLP).
COLOUR_BRANCHES = ("auto", "on", "off")
COLOUR_BRANCH = "auto"
# --arch: the network; "mobilenetv2" (alpha 0.35 from the ImageNet weights shipped in
# pyimagesearch/weights, so no download), "smallervggnet" (the tutorial's, from scratch) or another
# keras.applications backbone (pyimagesearch/models/backbones.py), pretrained by --weights. With pretrained
# weights, training fits the head on the frozen backbone for --epochs, then fine-tunes the
# backbone's top FINE_TUNE_LAYERS layers for FINE_TUNE_EPOCHS more at FINE_TUNE_LR (chosen in
# bench/README.md, "Transfer learning"; 20 epochs of fine-tuning rather than 10 lifted seen and
# composited photos at each of three seeds, and left new combinations as they were: "Robustness").
# MobileNetV2 is the default: it beat SmallerVGGNet on every benchmark that ran both, in less
# training time (bench/README.md, "The default network").
ARCH = "mobilenetv2"
# Every --arch choice is an entry of pyimagesearch/models/registry.py.
FINE_TUNE_LAYERS = 80
FINE_TUNE_EPOCHS = 20
FINE_TUNE_LR = 3e-4
# --arch mlp: the tutorial's fully connected network over image features (pyimagesearch/models/mlp.py),
# hidden layers of MLP_HIDDEN ReLU units, each followed by dropout at MLP_DROPOUT in training.
MLP_HIDDEN = (500, 100)
MLP_DROPOUT = 0.5
# Its image features (pyimagesearch/data/features.py): a hue x saturation x value histogram with the
# bins of PyImageSearch's colour descriptor, and OpenCV's HOG of a 64-pixel grey copy in 8-pixel
# cells, 9 orientations: 288 + 1,764 = 2,052 values per image.
FEATURE_HSV_BINS = (8, 12, 3)
FEATURE_HOG_SIZE = 64
FEATURE_HOG_CELL = 8
FEATURE_HOG_BINS = 9
# A feature table (--dataset table.csv or table.npy): the column holding each row's labels,
# separated by --label-sep like folder names ("red_dress").
LABEL_COLUMN = "labels"
SCHEDULES = ("cosine", "tutorial")
# Cosine decay to zero ends as well as the tutorial's lr / epochs decay but settles: the last
# epoch, whose weights are saved, no longer lands on a dip (see README, "Results").
SCHEDULE = "cosine"

# Validation split: "grouped" keeps near-duplicate photos on one side and stratifies over labels
# and combinations; "random" is the tutorial's train_test_split, which leaks copies across.
SPLITS = ("grouped", "random")
SPLIT = "grouped"
# Near-duplicates: 16x16 difference hashes (256 bits) within 6 bits (see splitting.py).
DUPLICATE_HASH_SIZE = 16
DUPLICATE_RADIUS = 6

# Training health: --normalize and --init choices (pyimagesearch/models/normalization.py), epochs of
# flat loss and metrics from the start that count as a stall, and the overfit check's images.
NORMALIZATIONS = ("unit", "center", "standardize")
NORMALIZE = "unit"
INITS = ("glorot", "he")
INIT = "glorot"
STALL_PATIENCE = 3
OVERFIT_CHECK_IMAGES = 10

# Early stopping (--patience): epochs without a better validation exact-match before training
# stops; the best epoch's weights are kept. 0 trains every epoch, as the tutorial.
PATIENCE = 15
# --precision: "bfloat16" trains in mixed bfloat16; "auto" uses it where the hardware computes in
# bfloat16 (recent GPUs; CPUs with AVX512-BF16 or AMX).
PRECISIONS = ("auto", "float32", "bfloat16")
PRECISION = "auto"
# --jit-compile: XLA; "auto" lets Keras decide (on for GPUs, off on CPUs).
JIT_COMPILES = ("auto", "on", "off")
JIT_COMPILE = "auto"

# Where training keeps the decoded images (--cache): "memory", one uint8 array; "disk", the same
# through the on-disk cache, mapped on the next run; "none", decoded from the files for every
# batch. "auto" picks memory when the images take at most CACHE_MEMORY_SHARE of the memory
# available, else none.
CACHES = ("auto", "memory", "disk", "none")
CACHE = "auto"
CACHE_MEMORY_SHARE = 0.25

# Distribution (--strategy, pyimagesearch/training/distribution.py): "none", TensorFlow's default strategy
# (one device); "mirrored", MirroredStrategy over this machine's GPUs; "multiworker",
# MultiWorkerMirroredStrategy over the machines of TF_CONFIG; "auto", multiworker when TF_CONFIG
# is set, mirrored with more than one GPU, else none. --batch-size is per replica.
STRATEGIES = ("auto", "none", "mirrored", "multiworker")
STRATEGY = "auto"
# Validation images whose predictions --logdir shows in TensorBoard each epoch.
SAMPLE_PREDICTIONS = 4

# Images: extensions matched case-insensitively.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Larger images are refused unread as decompression bombs (Pillow's own MAX_IMAGE_PIXELS): a
# 400-megapixel PNG of 400 KB would take 1.2 GB and seconds to decode.
MAX_IMAGE_PIXELS = 89_478_485
# Images are fed to the network as RGB, uint8 0-255; the model itself rescales to [0, 1].
CHANNEL_ORDER = "RGB"

# The tutorial's augmentation: rotation +-25 degrees, shifts 0.1, shear 0.2, zoom 0.2, h-flip.
AUGMENT_ROTATION_DEGREES = 25.0
AUGMENT_SHIFT = 0.1
AUGMENT_SHEAR = 0.2
AUGMENT_ZOOM = 0.2

# Classification (classify.py, evaluate.py). THRESHOLD is the untuned default; train.py stores
# per-label thresholds tuned on validation data with the model. "groups" decoding picks the most
# probable label of each label group (e.g. one colour and one type).
THRESHOLD = 0.5
DECODINGS = ("threshold", "groups")
# export.py --quantize: int8 (onnxruntime's dynamic quantization of the dense layers' weights) or
# float16 weights; see pyimagesearch/inference/quantization.py.
QUANTIZATIONS = ("int8", "float16")
OUTPUT_DIR = "output"
EVALUATION_DIR = "evaluation"
ANNOTATION_WIDTH = 400

# HTML reports (evaluate.py's report.html, classify.py --report): images are embedded as JPEG
# thumbnails of at most REPORT_THUMBNAIL pixels a side, so one file holds the whole
# page. evaluate.py shows at most REPORT_GALLERY images in each gallery (worst mistakes, images
# flagged unknown, images with labels the model never learnt); report.json lists them all.
REPORT_THUMBNAIL = 160
REPORT_GALLERY = 24
