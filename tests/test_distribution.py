"""tf.distribute training, manifests and resumable runs: real strategies, real processes, real signals."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import PROCESS_TIMEOUT, PROJECT_ROOT, SEED, interruptible

from pyimagesearch.data.manifest import read_manifest
from pyimagesearch.training.distribution import is_chief, loopback_cluster, read_tf_config, resolve_strategy
from pyimagesearch.training.recipe import Recipe, RunContext, backed_up_epochs

# SmallerVGGNet: one quick phase. The default network's two phases have a test of their own.
SCRATCH_FLAGS = ("--arch", "smallervggnet")
TRAIN_FLAGS = (*SCRATCH_FLAGS, "--image-size", "32", "--patience", "0", "--precision", "float32", "--batch-size", "8", "--seed", str(SEED))
# Interrupted runs are stopped once the first epoch is backed up, with this many epochs to go: however
# late the signal lands on a busy machine, it lands while training still runs. They resume to a total
# this many epochs past where they stopped (`--resume` trains to the --epochs given then).
LONG_RUN_EPOCHS = 30
RESUMED_EPOCHS = 2


@pytest.fixture(scope="module")
def manifest(demo_data, tmp_path_factory) -> Path:
    """A CSV manifest of 8 demo images per label folder (48 in all), with absolute paths."""
    rows = ["path,labels"]
    for folder in sorted(demo_data[0].iterdir()):
        rows += [f"{path},{folder.name}" for path in sorted(folder.iterdir())[:8]]
    path = tmp_path_factory.mktemp("manifest") / "fashion.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def processes():
    """Started processes, killed at teardown whatever the test did."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def start_train(processes: list, log: Path, *args: str, tf_config: dict | None = None) -> subprocess.Popen:
    """train.py in the background, its output in ``log`` (a pipe could fill and block it)."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    with open(log, "w") as handle:
        process = subprocess.Popen(
            # --no-export: these runs test distribution; exporting would add its seconds to each.
            interruptible("train.py", "--no-export", *args),
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=log.parent,
        )
    processes.append(process)
    return process


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = PROCESS_TIMEOUT) -> None:
    """Wait until ``condition()`` holds (a file written); fail if ``process`` ends first or never gets there."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the process ended ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_tf_config_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="TF_CONFIG is not JSON"):
        read_tf_config({"TF_CONFIG": "{cluster: 1}"})
    with pytest.raises(ValueError, match='needs a "cluster"'):
        read_tf_config({"TF_CONFIG": '{"task": {"type": "worker", "index": 0}}'})
    with pytest.raises(ValueError, match='needs a "task".*Received'):
        read_tf_config({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}'})
    assert read_tf_config({}) is None


def test_auto_strategy_is_multiworker_with_tf_config_and_none_without():
    tf_config = json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}})
    assert resolve_strategy("auto", {"TF_CONFIG": tf_config}) == "multiworker"
    assert resolve_strategy("auto", {}) == "none"  # This machine has no GPU.
    with pytest.raises(ValueError, match="`strategy` multiworker needs TF_CONFIG"):
        resolve_strategy("multiworker", {})


def test_the_default_strategy_is_the_chief():
    import tensorflow as tf

    assert is_chief(tf.distribute.get_strategy())


def test_manifest_rows_give_paths_relative_to_the_manifest_and_labels(tmp_path, demo_data):
    image = next((demo_data[0] / "red_dress").iterdir())
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(image.read_bytes())
    (tmp_path / "m.jsonl").write_text(json.dumps({"path": "images/a.jpg", "labels": ["red", "dress"]}) + "\n")
    (tmp_path / "m.csv").write_text(f"path,labels,source\nimages/a.jpg,red_dress,shop\n{image},red_dress,\n")
    assert read_manifest(tmp_path / "m.jsonl") == ([tmp_path / "images" / "a.jpg"], [("red", "dress")])
    assert read_manifest(tmp_path / "m.csv") == ([tmp_path / "images" / "a.jpg", image], [("red", "dress")] * 2)


def test_manifest_errors_name_the_file_and_the_fix(tmp_path):
    (tmp_path / "columns.csv").write_text("file,labels\na.jpg,red_dress\n")
    with pytest.raises(ValueError, match=r"columns\.csv: the CSV header lacks the column path"):
        read_manifest(tmp_path / "columns.csv")
    (tmp_path / "missing.csv").write_text("path,labels\nnowhere/a.jpg,red_dress\n")
    with pytest.raises(ValueError, match=r"missing\.csv: .*nowhere/a\.jpg not found\. Fix the paths or remove those rows"):
        read_manifest(tmp_path / "missing.csv")
    (tmp_path / "lines.jsonl").write_text('{"path": "a.jpg"}\n')
    with pytest.raises(ValueError, match=r"lines\.jsonl, line 1: no labels"):
        read_manifest(tmp_path / "lines.jsonl")


def test_resume_without_a_work_folder_is_refused_before_any_work(tmp_path, manifest):
    from pyimagesearch.training.options import TrainOptions
    from pyimagesearch.training.pipeline import train

    with pytest.raises(ValueError, match=r"`resume` needs `work_dir`: the folder the interrupted run backed up to"):
        train(
            TrainOptions.of(
                dataset=manifest, model=tmp_path / "m.model", labelbin=tmp_path / "m.pickle", plot=tmp_path / "p.png", resume=True
            )
        )


@pytest.mark.parametrize("left_over", ["backup", "phase1"])
def test_a_work_folder_holding_an_interrupted_run_is_refused_without_resume(tmp_path, manifest, left_over):
    """Without --resume, an older run's backup would be resumed silently by Keras, and its phase 1
    would be picked up by a later --resume: the new run is refused before any work, nothing removed."""
    from pyimagesearch.training.options import TrainOptions
    from pyimagesearch.training.pipeline import train

    (tmp_path / "work" / left_over).mkdir(parents=True)
    with pytest.raises(ValueError, match=rf"`work_dir` \S+work holds an interrupted run \({left_over}\): add `resume` to continue it"):
        train(
            TrainOptions.of(
                dataset=manifest,
                model=tmp_path / "m.model",
                labelbin=tmp_path / "m.pickle",
                plot=tmp_path / "p.png",
                work_dir=tmp_path / "work",
            )
        )
    assert (tmp_path / "work" / left_over).is_dir() and not (tmp_path / "m.model").exists()


def test_resuming_to_a_total_already_trained_is_refused_and_a_larger_one_allowed(tmp_path):
    # The first phase's case (the fine-tuning one runs through train.py below): a backup of 3 epochs,
    # in the file the atomic backup writes.
    (tmp_path / "work" / "backup").mkdir(parents=True)
    (tmp_path / "work" / "backup" / "training_metadata.json").write_text(json.dumps({"epoch": 3}))
    run = RunContext(work_dir=tmp_path / "work", resume=True)
    recipe = Recipe(3, 1e-3, 8, 32, "cosine", SEED)
    with pytest.raises(ValueError, match=r"^`epochs` 3: the run in `work_dir` \S+ has already trained 3 epochs; give more to resume it\.$"):
        run.check_resumable(recipe)
    run.check_resumable(replace(recipe, epochs=5))


def test_a_malformed_tf_config_gets_a_one_line_error(tmp_path, manifest):
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "train.py"), "--dataset", str(manifest)],
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        env={**os.environ, "TF_CONFIG": "{not json", "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=tmp_path,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1].startswith("train.py: error: TF_CONFIG is not JSON (Expecting property name")


MIRRORED_SCRIPT = """
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pyimagesearch.training.options import TrainOptions
from pyimagesearch.training.pipeline import train

manifest, work, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
common = dict(dataset=manifest, epochs=2, image_size=32, patience=0, precision="float32", arch="smallervggnet", seed=seed, export=False)
mirrored = train(TrainOptions.of(model=f"{work}/m.model", labelbin=f"{work}/m.pickle", plot=f"{work}/m.png", batch_size=8, **common),
                 strategy=tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), verbose=0)
single = train(TrainOptions.of(model=f"{work}/s.model", labelbin=f"{work}/s.pickle", plot=f"{work}/s.png", batch_size=16, **common),
               verbose=0)
print(json.dumps({"replicas": 2, "mirrored": mirrored.history["loss"], "single": single.history["loss"],
                  "mirrored_exact": mirrored.report["exact_match"], "single_exact": single.report["exact_match"]}))
"""


def test_mirrored_over_two_cpu_devices_trains_as_one_device_with_the_same_global_batch(tmp_path, manifest, record_score):
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(manifest), str(tmp_path), str(SEED)],
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    record_score("loss_ratio", result["mirrored"][-1] / result["single"][-1])
    record_score("exact_match_difference", result["mirrored_exact"] - result["single_exact"])
    # Two replicas of 8 images take the steps one device takes with 16; only the batch
    # normalisation statistics (per replica) and dropout masks differ, most in the first epoch.
    # Over 10 runs (5 seeds, both CPUs; bench/test_spread.py) the loss ratio was 0.98-1.12 and the
    # exact-matches differed by at most 0.2 (one of the 5 validation images).
    assert result["mirrored"][-1] == pytest.approx(result["single"][-1], rel=0.25)
    assert result["mirrored_exact"] == pytest.approx(result["single_exact"], abs=0.4)


def test_multiworker_trains_from_a_manifest_stops_when_a_worker_dies_and_resumes(tmp_path, manifest, processes):
    cluster = loopback_cluster(2)

    def start_workers(epochs: int, *extra: str, run: str) -> list[subprocess.Popen]:
        return [
            start_train(
                processes,
                tmp_path / f"{run}-{index}.log",
                *("--dataset", str(manifest), "--epochs", str(epochs), "--work-dir", "work", *TRAIN_FLAGS),
                *extra,
                tf_config={"cluster": cluster, "task": {"type": "worker", "index": index}},
            )
            for index in range(2)
        ]

    chief, worker = start_workers(LONG_RUN_EPOCHS, run="first")
    wait_for(lambda: backed_up_epochs(tmp_path / "work") >= 1, chief, "the first epoch's backup")
    worker.send_signal(signal.SIGKILL)
    assert chief.wait(timeout=PROCESS_TIMEOUT) == 2
    last_line = (tmp_path / "first-0.log").read_text().strip().splitlines()[-1]
    assert last_line.startswith("train.py: error: a worker of the cluster stopped")
    assert last_line.endswith(
        "Start every worker again with the same command and --resume: training continues from the last finished epoch."
    )
    assert not (tmp_path / "fashion.model").exists()
    done = backed_up_epochs(tmp_path / "work")
    assert 1 <= done < LONG_RUN_EPOCHS

    total = done + RESUMED_EPOCHS
    resumed = start_workers(total, "--resume", run="resumed")
    for process in resumed:
        assert process.wait(timeout=PROCESS_TIMEOUT) == 0, (tmp_path / "resumed-0.log").read_text()[-3000:]
    log = (tmp_path / "resumed-0.log").read_text()
    assert f"Epoch {done}/{total}" not in log and f"Epoch {done + 1}/{total}" in log
    rows = (tmp_path / "fashion.metrics.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == [str(epoch) for epoch in range(1, total + 1)]
    # Only the chief wrote: into its folder, none of the other worker's files anywhere near.
    for name in ("fashion.model", "mlb.pickle", "plot.png", "work/best.keras"):
        assert (tmp_path / name).is_file()
    assert not list(Path(tmp_path).glob("pyimagesearch-worker-*"))


def test_sigint_while_fine_tuning_then_resume_trains_only_the_remaining_epochs_in_their_phase(tmp_path, manifest, processes):
    """Ctrl-C stops a run with exit 130 and writes no model; --resume goes on from the last finished
    epoch. The default network trains in two phases: stopped while fine-tuning, --resume goes on with
    fine-tuning from the phase-1 head it kept, training neither phase's finished epochs again. (A run
    stopped in its first phase resumes in test_multiworker_trains_from_a_manifest_stops_when_a_worker_dies_and_resumes.)"""
    head_epochs = 2
    args = ("--dataset", str(manifest), "--epochs", str(head_epochs), "--fine-tune-layers", "10", "--work-dir", "work", "--logdir", "logs")
    args = (*args, *TRAIN_FLAGS[len(SCRATCH_FLAGS) :])
    first = start_train(processes, tmp_path / "first.log", *args, "--fine-tune-epochs", str(LONG_RUN_EPOCHS))
    # The backup's epoch counts both phases: past head_epochs, fine-tuning has finished an epoch.
    wait_for(lambda: backed_up_epochs(tmp_path / "work") > head_epochs, first, "a fine-tuning epoch's backup")
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=PROCESS_TIMEOUT) == 130, (tmp_path / "first.log").read_text()[-3000:]
    assert not (tmp_path / "fashion.model").exists()
    done = backed_up_epochs(tmp_path / "work")
    assert head_epochs < done < head_epochs + LONG_RUN_EPOCHS and (tmp_path / "work" / "phase1" / "state.json").is_file()
    backup = (tmp_path / "work" / "backup" / "training_metadata.json").read_bytes()

    # Fine-tuning's total is what --resume can change now; one it has reached is refused in one line
    # before any work, the backup kept; so is a run that no longer fine-tunes.
    fine_tuned = done - head_epochs
    refused = start_train(processes, tmp_path / "refused.log", *args, "--fine-tune-epochs", str(fine_tuned), "--resume")
    assert refused.wait(timeout=PROCESS_TIMEOUT) == 2
    assert (tmp_path / "refused.log").read_text().strip().splitlines()[-1] == (
        f"train.py: error: --fine-tune-epochs {fine_tuned}: the run in --work-dir work has already fine-tuned {fine_tuned} epochs; "
        "give more to resume it."
    )
    assert (tmp_path / "work" / "backup" / "training_metadata.json").read_bytes() == backup
    run = RunContext(work_dir=tmp_path / "work", resume=True)
    recipe = Recipe(head_epochs, 1e-3, 8, 32, "cosine", SEED, weights="imagenet", fine_tune_epochs=0)
    with pytest.raises(ValueError, match=r"holds a run stopped while fine-tuning: keep `fine_tune_epochs`"):
        run.check_resumable(recipe)

    total = done + RESUMED_EPOCHS
    resumed = start_train(processes, tmp_path / "resumed.log", *args, "--fine-tune-epochs", str(total - head_epochs), "--resume")
    assert resumed.wait(timeout=PROCESS_TIMEOUT) == 0, (tmp_path / "resumed.log").read_text()[-3000:]
    log = (tmp_path / "resumed.log").read_text()
    assert "resuming at fine-tuning: phase 1 ended after 2 epochs" in log and "phase 1: the head" not in log
    epochs = range(1, total + 1)
    assert [f"Epoch {epoch}/{total}" in log for epoch in epochs] == [epoch > done for epoch in epochs], log[-3000:]
    with open(tmp_path / "fashion.metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(int(row["epoch"]), int(row["phase"])) for row in rows] == [(epoch, 1 if epoch <= head_epochs else 2) for epoch in epochs]
    from pyimagesearch.inference.model_io import read_model_metadata

    assert read_model_metadata(tmp_path / "fashion.model")["epochs_trained"] == total
    assert (tmp_path / "mlb.pickle").stat().st_size > 0 and (tmp_path / "plot.png").stat().st_size > 0
    # Once training has finished, the backup and phase 1's head are gone; TensorBoard has the metrics and the samples.
    assert not (tmp_path / "work" / "backup").exists() and not (tmp_path / "work" / "phase1").exists()
    assert list((tmp_path / "logs" / "validation").iterdir()) and list((tmp_path / "logs" / "samples").iterdir())
