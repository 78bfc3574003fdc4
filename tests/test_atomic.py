import signal

import pytest

from pyimagesearch.atomic import atomic_path, interrupts_deferred, write_bytes_atomic


def test_atomic_write_replaces_the_file(tmp_path):
    write_bytes_atomic(tmp_path / "a.bin", b"old")
    write_bytes_atomic(tmp_path / "a.bin", b"new")
    assert (tmp_path / "a.bin").read_bytes() == b"new"
    assert [path.name for path in tmp_path.iterdir()] == ["a.bin"]


def test_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    write_bytes_atomic(tmp_path / "a.bin", b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "a.bin") as temporary:
            temporary.write_bytes(b"half")
            raise KeyboardInterrupt
    assert (tmp_path / "a.bin").read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["a.bin"]


def test_temporary_file_keeps_the_extension_writers_choose_formats_by(tmp_path):
    with atomic_path(tmp_path / "plot.png") as temporary:
        assert temporary.suffix == ".png" and temporary.parent == tmp_path
        temporary.write_bytes(b"x")
    with atomic_path(tmp_path / "fashion.model", suffix=".keras") as temporary:
        assert temporary.suffix == ".keras"
        temporary.write_bytes(b"x")


def test_written_file_gets_the_usual_permissions_not_private_ones(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "a.bin", b"x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644


@pytest.fixture
def ctrl_c():
    """Ctrl-C raises KeyboardInterrupt, as in a terminal (a pytest-xdist worker ignores SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_inside_interrupts_deferred_arrives_when_the_block_ends(ctrl_c):
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            signal.raise_signal(signal.SIGINT)
            steps.append("after the signal")
    assert steps == ["after the signal"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_interrupts_deferred_leaves_an_ignored_ctrl_c_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts_deferred():
            signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_backup_interrupted_while_it_is_written_stays_whole_and_resumable(tmp_path, ctrl_c):
    import json

    import keras
    import numpy as np

    from pyimagesearch.training.fit import AtomicBackupAndRestore

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    save_weights, saves = model.save_weights, []

    def interrupted_save(*args, **kwargs):
        saves.append(args)
        if len(saves) == 2:  # Ctrl-C in the middle of the second epoch's backup
            signal.raise_signal(signal.SIGINT)
        save_weights(*args, **kwargs)

    model.save_weights = interrupted_save
    with pytest.raises(KeyboardInterrupt):
        model.fit(
            np.ones((8, 3), "float32"), np.zeros((8, 2), "float32"), epochs=5, verbose=0, callbacks=[AtomicBackupAndRestore(str(tmp_path))]
        )
    # The write completed, then the interrupt landed: the backup is the second epoch's, whole.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["latest.weights.h5", "training_metadata.json"]
    assert json.loads((tmp_path / "training_metadata.json").read_text())["epoch"] == 2
    resumed = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    resumed.load_weights(tmp_path / "latest.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(resumed.get_weights(), model.get_weights()))
