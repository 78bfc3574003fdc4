"""The automatic training choices, resolved from what the machine has: precision, XLA, batch size,
input-pipeline threads, and the epochs a network defaults to."""

from pyimagesearch import config
from pyimagesearch.models.registry import SMALLERVGGNET, network
from pyimagesearch.training.hardware import cpu_kind


def resolve_precision(precision: str, arch: str = SMALLERVGGNET) -> str:
    """The concrete ``--precision``: ``auto`` is ``bfloat16`` where the hardware computes in it, else ``float32``.

    That is a GPU of compute capability 8.0 or more, or a CPU with AVX512-BF16 or AMX-BF16
    instructions that oneDNN may use (``ONEDNN_MAX_CPU_ISA``, when set, names a bfloat16 one;
    bench/README.md, "Training", has what it gains),
    unless ``arch`` is a network that runs slower in bfloat16 on the CPU (`registry.Network.bfloat16`).

    Raises:
        ValueError: For a choice not in `config.PRECISIONS`.
    """
    check_precision(precision)
    if precision != "auto":
        return precision
    import tensorflow as tf

    if not network(arch).bfloat16 and not tf.config.list_physical_devices("GPU"):
        return "float32"

    for gpu in tf.config.list_physical_devices("GPU"):
        if tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)) >= (8, 0):
            return "bfloat16"
    return config.AUTO_TRAINING[cpu_kind()]["precision"]


def check_precision(precision: str) -> None:
    """Raise `ValueError` for a ``--precision`` choice not in `config.PRECISIONS` (without loading TensorFlow)."""
    if precision not in config.PRECISIONS:
        raise ValueError(f"`precision` must be one of {', '.join(config.PRECISIONS)}. Received: `precision` {precision}")


def resolve_epochs(epochs: int | None, arch: str, weights: str | None) -> int:
    """``epochs``, or when None the default for ``arch`` with ``weights`` (as `train` takes them):
    `config.PRETRAINED_EPOCHS` on a pretrained backbone's frozen layers, else `config.EPOCHS`."""
    if epochs is not None:
        return epochs
    pretrained = network(arch).pretrained and weights != "none"
    return config.PRETRAINED_EPOCHS if pretrained else config.EPOCHS


def resolve_jit_compile(jit_compile: str) -> bool | str:
    """Keras' ``jit_compile`` for a ``--jit-compile`` choice: ``auto`` leaves it to Keras (XLA on GPUs only).

    On CPUs XLA is off: its convolutions do not use oneDNN and train several times slower
    (measured: bench/README.md, "Training").

    Raises:
        ValueError: For a choice not in `config.JIT_COMPILES`.
    """
    if jit_compile not in config.JIT_COMPILES:
        raise ValueError(f"`jit_compile` must be one of {', '.join(config.JIT_COMPILES)}. Received: `jit_compile` {jit_compile}")
    return {"auto": "auto", "on": True, "off": False}[jit_compile]


def pipeline_threads() -> int | None:
    """Threads for the input pipeline: on a CPU, this kind of CPU's (`config.AUTO_TRAINING`); with a GPU,
    as many as tf.data likes (None).

    On a CPU the network's operations split their work over every core; a pipeline thread
    taking a core stalls the operation until its other half ends: one pipeline thread trained
    faster than tf.data's tuning, whose epochs now and then took far longer (measured:
    bench/README.md, "Training"). With a GPU, the cores are the pipeline's.
    """
    import tensorflow as tf

    return None if tf.config.list_physical_devices("GPU") else config.AUTO_TRAINING[cpu_kind()]["pipeline_threads"]


def resolve_batch_size(batch_size: int | str, train_images: int, cpu: str | None = None) -> int:
    """The concrete ``--batch-size``: ``auto`` is the CPU kind's large batch (`config.AUTO_TRAINING`) for a
    training split of at least `config.LARGE_BATCH_MIN_STEPS` such batches, else `config.BATCH_SIZE`
    (the tutorial's 32). ``cpu`` is a `hardware.CPU_KINDS` entry; None: this machine's.

    Raises:
        ValueError: For anything but ``auto`` or a positive whole number.
    """
    if batch_size == "auto":
        large_batch = config.AUTO_TRAINING[cpu or cpu_kind()]["large_batch_size"]
        return large_batch if train_images >= large_batch * config.LARGE_BATCH_MIN_STEPS else config.BATCH_SIZE
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a whole number of at least 1, or auto. Received: {batch_size}")
    return batch_size
