import numpy as np
import pytest

from pyimagesearch.classification import Prediction, annotate, annotated_paths, expand_image_arguments


def test_images_are_found_from_files_folders_and_globs(demo_data):
    _, examples = demo_data
    first = examples / "example_01.jpg"
    found = expand_image_arguments([str(first), str(examples), str(examples / "example_0[12].jpg")])
    assert found[0] == first
    assert len(found) == 7 and len(set(found)) == 7


def test_missing_image_argument_names_it(tmp_path):
    with pytest.raises(ValueError, match=r"--image .*nothing.jpg: no such file"):
        expand_image_arguments([str(tmp_path / "nothing.jpg")])
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="notes.txt: not an image file"):
        expand_image_arguments([str(tmp_path / "notes.txt")])


def test_annotated_copies_go_to_a_folder_without_clashes(tmp_path):
    inputs = [tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg", tmp_path / "c.gif"]
    targets = annotated_paths(inputs, tmp_path / "out")
    assert [target.relative_to(tmp_path).as_posix() for target in targets] == ["out/x.jpg", "out/x_2.jpg", "out/c.png"]
    assert annotated_paths(inputs[:1], tmp_path / "one.png") == [tmp_path / "one.png"]


def test_annotated_copies_never_replace_an_input(tmp_path):
    image = tmp_path / "x.jpg"
    image.write_bytes(b"")
    with pytest.raises(ValueError, match="would overwrite the input image"):
        annotated_paths([image], tmp_path)
    with pytest.raises(ValueError, match="is a file name but 2 images"):
        annotated_paths([image, tmp_path / "y.jpg"], tmp_path / "out.jpg")


def test_annotation_writes_the_labels_on_a_400_pixel_wide_copy():
    image = np.full((100, 200, 3), 255, dtype=np.uint8)
    prediction = Prediction(path=None, labels=["red", "dress"], probabilities={"red": 0.9, "dress": 0.8, "blue": 0.1})
    annotated = annotate(image, prediction)
    assert annotated.shape == (200, 400, 3)
    text_region = annotated[:70, :200]
    assert (text_region[..., 1] > 200).any() and (text_region[..., 0] < 50).any()
    assert (image == 255).all()
