"""Options declared once: the parsers, the library's settings objects and the README's flag tables agree."""

from pathlib import Path

import pytest
from conftest import run_script

import search_bing_api
import train
from pyimagesearch.download import options as download_options
from pyimagesearch.options import declared_options, flag, markdown_rows
from pyimagesearch.training.options import SETTINGS, TrainOptions, train_options

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_rows(heading: str) -> list[str]:
    """The rows (past the header and its rule) of the first table after the README line starting with ``heading``."""
    lines = README.read_text().splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(heading))
    first = next(index for index in range(start, len(lines)) if lines[index].startswith("|"))
    rows = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_the_readme_train_table_is_the_declared_options():
    """Each row (flags, default, meaning) comes from the declarations, in their order: to change one,
    change the declaration and paste `markdown_rows(SETTINGS)` into the README."""
    assert readme_rows("### train.py") == markdown_rows(SETTINGS)


def test_train_py_parses_into_the_declared_defaults():
    parser = train.build_parser()
    assert {option for action in parser._actions for option in action.option_strings} - {"-h", "--help"} == {
        name for declared in declared_options(SETTINGS) for name in (flag(declared), declared.metadata["short"]) if name
    } | {"--no-export"}
    assert train_options(parser.parse_args(["--dataset", "photos"])) == TrainOptions.of(dataset="photos")


def test_train_py_flags_land_in_their_groups():
    arguments = train.build_parser().parse_args(
        ["-d", "photos", "--lr", "0.01", "--batch-size", "auto", "--no-export", "-m", "a.model", "--resume", "--arch", "mlp"]
    )
    options = train_options(arguments)
    assert (options.data.dataset, options.fitting.lr, options.fitting.batch_size) == ("photos", 0.01, "auto")
    assert (options.outputs.export, options.outputs.model, options.run.resume, options.network.arch) == (False, "a.model", True, "mlp")
    assert options.flat()["lr"] == 0.01 and options.replace(lr=0.1).fitting.lr == 0.1


def test_a_name_that_is_no_option_is_refused():
    with pytest.raises(TypeError, match="TrainOptions has no option learning_rate"):
        TrainOptions.of(dataset="photos", learning_rate=0.1)


def test_a_bad_batch_size_is_one_line_from_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.build_parser().parse_args(["-d", "photos", "--batch-size", "many"])
    assert exit_info.value.code == 2
    assert "argument --batch-size: expected a whole number of images such as 64, or auto. Received: 'many'" in capsys.readouterr().err


def test_the_library_names_parameters_and_the_command_line_flags():
    from pyimagesearch.options import as_flags

    message = "`work_dir` run1 holds an interrupted run: pass `resume` to continue it, or change `lr`; `predict` is no option"
    assert as_flags(message, SETTINGS) == (
        "--work-dir run1 holds an interrupted run: pass --resume to continue it, or change --lr; `predict` is no option"
    )


def test_the_readme_search_bing_api_table_is_the_declared_options():
    assert readme_rows("## Building a data set") == markdown_rows(download_options.SETTINGS)
    parser = search_bing_api.build_parser()
    assert {option for action in parser._actions for option in action.option_strings} - {"-h", "--help"} == {
        name for declared in declared_options(download_options.SETTINGS) for name in (flag(declared), declared.metadata["short"]) if name
    }


@pytest.mark.parametrize(
    "name, value, raised, printed",
    [
        ("epochs", 0, "`epochs` must be at least 1. Received: 0", "--epochs must be at least 1. Received: 0"),
        (
            "duplicate_radius",
            -1,
            "`duplicate_radius` must be 0 or more bits. Received: -1",
            "--duplicate-radius must be 0 or more bits. Received: -1",
        ),
    ],
)
def test_a_library_error_names_the_parameter_and_train_py_the_flag(tmp_path, name, value, raised, printed):
    from pyimagesearch.training.recipe import recipe_of

    with pytest.raises(ValueError) as refused:
        recipe_of(TrainOptions.of(dataset="d", **{name: value}))
    assert str(refused.value) == raised
    completed = run_script("train.py", "--dataset", "d", flag(name), str(value), cwd=tmp_path)
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1] == f"train.py: error: {printed}"
    assert list(tmp_path.iterdir()) == []
