"""Feature tables: CSV and .npy layouts read alike, and bad tables refused naming the place and the fix."""

import numpy as np
import pytest

from pyimagesearch.data.feature_table import is_feature_table, load_feature_table


def _write_csv(path, text: str):
    path.write_text(text)
    return path


def test_csv_and_npy_tables_give_the_same_rows(tmp_path):
    csv_path = _write_csv(tmp_path / "t.csv", "width,labels,height\n1.5,red_dress,2\n-3,blue,4e1\n")
    rows = np.zeros(2, dtype=[("width", "f8"), ("labels", "U16"), ("height", "i4")])
    rows["width"], rows["labels"], rows["height"] = [1.5, -3], ["red_dress", "blue"], [2, 40]
    np.save(tmp_path / "t.npy", rows)
    for table in (load_feature_table(csv_path), load_feature_table(tmp_path / "t.npy")):
        assert table.columns == ["width", "height"]
        np.testing.assert_array_equal(table.features, np.array([[1.5, 2.0], [-3.0, 40.0]], dtype=np.float32))
        assert table.label_names == ["red_dress", "blue"]
        assert table.label_sets == [("red", "dress"), ("blue",)]
    assert load_feature_table(csv_path, label_sep="-").label_sets == [("red_dress",), ("blue",)]


def test_label_column_is_chosen_by_name(tmp_path):
    path = _write_csv(tmp_path / "iris.csv", "a,species\n1,setosa\n")
    with pytest.raises(ValueError, match=r"iris\.csv has no column 'labels' \(columns: a, species\).*`label_column`"):
        load_feature_table(path)
    assert load_feature_table(path, label_column="species").label_sets == [("setosa",)]


@pytest.mark.parametrize(
    "text, message",
    [
        ("x,labels\n1,a\nfoo,b\n", r"line 3, column 'x': 'foo' is not a number"),
        ("x,labels\n1,a\n2\n", r"line 3: 1 cells where the header has 2"),
        ("x,labels\n1,a\nnan,b\n", r"row 2 has nan in column 'x'; fill or drop it"),
        ("x,labels\n1,a\n2,_\n", r"row 2 has no label in column 'labels' \('_'\)"),
        ("labels\na\n", r"1 rows and 0 feature columns"),
        ("", r"is empty: expected a header row"),
    ],
)
def test_bad_csv_tables_are_refused_naming_the_place(tmp_path, text, message):
    path = _write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(ValueError, match=rf"`dataset` .*bad\.csv.*{message}"):
        load_feature_table(path)


def test_bad_npy_tables_and_missing_files_are_refused_with_the_fix(tmp_path):
    np.save(tmp_path / "plain.npy", np.zeros((3, 2)))
    with pytest.raises(
        ValueError, match=r"not a structured array with a 'labels' field \(found a plain array of shape \(3, 2\)\).*np\.save"
    ):
        load_feature_table(tmp_path / "plain.npy")
    with pytest.raises(ValueError, match=r"missing\.csv: no such file"):
        load_feature_table(tmp_path / "missing.csv")
    (tmp_path / "folder.csv").mkdir()
    _write_csv(tmp_path / "T.CSV", "a,labels\n1,x\n")
    _write_csv(tmp_path / "manifest.csv", "path,labels\nimages/1.jpg,red_dress\n")
    assert is_feature_table(tmp_path / "t.npy") and is_feature_table(tmp_path / "T.CSV")
    # A CSV with a path column lists images: a manifest (pyimagesearch/data/manifest.py).
    assert not is_feature_table(tmp_path / "manifest.csv")
    assert not is_feature_table(tmp_path / "folder.csv") and not is_feature_table(tmp_path)
