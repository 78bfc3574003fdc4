import pytest

from pyimagesearch.atomic import atomic_path, write_bytes_atomic


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
