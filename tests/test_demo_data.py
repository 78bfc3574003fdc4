import hashlib

import pytest

from pyimagesearch.data.demo import COMBINATIONS, generate, main


def digest(folder):
    return {path.relative_to(folder).as_posix(): hashlib.sha1(path.read_bytes()).hexdigest() for path in sorted(folder.rglob("*.jpg"))}


def test_layout_leaves_out_black_dress_and_examples_include_it(demo_data):
    dataset, examples = demo_data
    assert sorted(path.name for path in dataset.iterdir()) == sorted(COMBINATIONS)
    assert "black_dress" not in COMBINATIONS
    assert sorted(path.name for path in examples.iterdir()) == [f"example_{n:02d}.jpg" for n in range(1, 8)]


def test_generation_is_deterministic_for_a_seed(tmp_path):
    generate(tmp_path / "a", images_per_combination=2, size=32, seed=3)
    generate(tmp_path / "b", images_per_combination=2, size=32, seed=3)
    generate(tmp_path / "c", images_per_combination=2, size=32, seed=4)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_existing_folders_are_never_overwritten(tmp_path, capsys):
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "mine.txt").write_text("user data")
    with pytest.raises(ValueError, match="already exists"):
        generate(tmp_path / "dataset", images_per_combination=1, size=32)
    assert main(["--dataset", str(tmp_path / "dataset"), "--examples", str(tmp_path / "examples")]) == 0
    assert "exists: left as it is" in capsys.readouterr().out
    assert [path.name for path in (tmp_path / "dataset").iterdir()] == ["mine.txt"]
    assert len(list((tmp_path / "examples").iterdir())) == 7
