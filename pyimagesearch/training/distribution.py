"""Training beyond one device with tf.distribute: which strategy, which process writes, and what a lost worker means.

MultiWorkerMirroredStrategy must exist before TensorFlow runs any operation, so train.py creates
the strategy first (`create_strategy`) and hands it to `training.train`. Every worker then runs
the same training, saving included; only the chief's files land where asked (`is_chief`).
"""

import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyimagesearch import config

logger = logging.getLogger(__name__)

TF_CONFIG_EXAMPLE = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'


class WorkerLost(ValueError):
    """A worker of a multi-worker run stopped; the message says how to resume."""


def read_tf_config(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The ``TF_CONFIG`` environment variable, parsed and checked; None when it is unset or empty.

    Raises:
        ValueError: For text that is not JSON, a missing or empty ``cluster``, or a ``task`` that
            does not name one of the cluster's addresses.
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not text.strip():
        return None
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not JSON ({error.msg} at character {error.pos}). Expected e.g. {TF_CONFIG_EXAMPLE}") from None
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    if not isinstance(cluster, dict) or not cluster or not all(isinstance(hosts, list) and hosts for hosts in cluster.values()):
        raise ValueError(
            'TF_CONFIG needs a "cluster" mapping each job to a list of host:port addresses. '
            f"Expected e.g. {TF_CONFIG_EXAMPLE}. Received: {text}"
        )
    task = tf_config.get("task")
    if (
        not isinstance(task, dict)
        or task.get("type") not in cluster
        or isinstance(task.get("index"), bool)
        or not isinstance(task.get("index"), int)
        or not 0 <= task["index"] < len(cluster[task["type"]])
    ):
        raise ValueError(
            f'TF_CONFIG needs a "task" naming this process: a job of the cluster ({", ".join(cluster)}) and an index '
            f"into its address list. Expected e.g. {TF_CONFIG_EXAMPLE}. Received: {text}"
        )
    return tf_config


def resolve_strategy(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The concrete ``--strategy``: ``auto`` is ``multiworker`` when ``TF_CONFIG`` is set, ``mirrored``
    with more than one GPU, else ``none``.

    Raises:
        ValueError: For a name not in `config.STRATEGIES`, a malformed ``TF_CONFIG``, or
            ``multiworker`` without ``TF_CONFIG``.
    """
    if name not in config.STRATEGIES:
        raise ValueError(f"`strategy` must be one of {', '.join(config.STRATEGIES)}. Received: `strategy` {name}")
    tf_config = read_tf_config(environ)
    if name == "multiworker" and tf_config is None:
        raise ValueError(f"`strategy` multiworker needs TF_CONFIG describing the cluster, e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}'")
    if name != "auto":
        return name
    if tf_config is not None:
        return "multiworker"
    import tensorflow as tf

    return "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "none"


def create_strategy(name: str = config.STRATEGY):
    """The `tf.distribute.Strategy` of a ``--strategy`` choice (see `resolve_strategy`).

    Call it before anything else runs in TensorFlow: MultiWorkerMirroredStrategy configures the
    collective operations of the whole process and connects to the other workers, waiting for them.

    Returns:
        ``MirroredStrategy()``, ``MultiWorkerMirroredStrategy()`` (from ``TF_CONFIG``), or the
        default strategy for ``none``.

    Raises:
        ValueError: As `resolve_strategy`.
    """
    name = resolve_strategy(name)
    import tensorflow as tf

    if name == "multiworker":
        _let_keras_fit_on_several_workers()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def loopback_cluster(workers: int) -> dict[str, list[str]]:
    """A ``TF_CONFIG`` cluster of ``workers`` workers on 127.0.0.1, at ports free now: a cluster on one
    machine, to try multi-worker training (the tests and bench/bench_distributed.py run on it)."""
    sockets = [socket.socket() for _ in range(workers)]
    for handle in sockets:
        handle.bind(("127.0.0.1", 0))
    addresses = [f"127.0.0.1:{handle.getsockname()[1]}" for handle in sockets]
    for handle in sockets:
        handle.close()
    return {"worker": addresses}


def is_chief(strategy) -> bool:
    """Whether this process writes the outputs: always, but in a multi-worker cluster only the
    ``chief`` task, or worker 0 when the cluster has no chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type in (None, "chief"):
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


@contextmanager
def scratch_folder(chief: bool) -> Iterator[Path | None]:
    """None for the chief; for any other worker a temporary folder for its copy of the outputs,
    removed afterwards. Every worker must save (saving may synchronise them), but one writes."""
    if chief:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="pyimagesearch-worker-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def lost_workers_reported() -> Iterator[None]:
    """Turn TensorFlow's errors for a worker that stopped (unhealthy task, aborted collective) into
    `WorkerLost`, whose one-line message says how to go on."""
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError) as error:
        cause = next((line.strip() for line in str(error.message).splitlines() if "unhealthy" in line), type(error).__name__)
        raise WorkerLost(
            f"a worker of the cluster stopped ({cause}): training cannot go on with fewer workers. Start every worker "
            "again with the same command and `resume`: training continues from the last finished epoch."
        ) from None


def _let_keras_fit_on_several_workers() -> None:
    """Work around Keras 3's `fit` under MultiWorkerMirroredStrategy (Keras 3.15.1, the newest release here).

    With more than one worker, Keras 3.15 passes the (images, targets) tuple of a distributed batch
    to ``Strategy.reduce`` only to learn the input shapes, and averages each step's scalar metrics
    over axis 0; both raise. One replica's batch has the shapes, and a scalar's mean over the
    replicas needs no axis. Other strategies reduce as Keras has it.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_pyimagesearch_multi_worker", False):
        return
    keras_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction == "auto" and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return keras_reduce(values, strategy, reduction)

    def maybe_symbolic_build(model, iterator=None, data_batch=None):
        if model._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(lambda value: model.distribute_strategy.experimental_local_results(value)[0], next(batches))
                break
        with model.distribute_strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer._pyimagesearch_multi_worker = True
