"""Options declared once: the parsers, the library's settings objects and the README's flag tables agree."""

from pathlib import Path

import pytest
from conftest import run_script

import classify
import evaluate
import export
import search_bing_api
import train
from pyimagesearch.download import options as download_options
from pyimagesearch.evaluation.options import EVALUATE_SETTINGS, EvaluateOptions
from pyimagesearch.inference.decoding import resolve_decoding
from pyimagesearch.inference.options import CLASSIFY_SETTINGS, EXPORT_SETTINGS, ClassifyOptions, DecodingOptions, ExportOptions
from pyimagesearch.options import as_flags, declared_options, flag, flat, markdown_rows
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


@pytest.mark.parametrize(
    "heading, settings",
    [("### classify.py", CLASSIFY_SETTINGS), ("**evaluate.py** scores", EVALUATE_SETTINGS), ("### export.py", EXPORT_SETTINGS)],
)
def test_the_readme_classify_evaluate_and_export_tables_are_the_declared_options(heading, settings):
    assert readme_rows(heading) == markdown_rows(settings)


def parser_flags(parser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings} - {"-h", "--help"}


def declared_flags(settings, negated: tuple[str, ...] = ()) -> set[str]:
    return {name for declared in declared_options(settings) for name in (flag(declared), declared.metadata["short"]) if name} | set(negated)


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


def test_classify_evaluate_and_export_parse_into_the_declared_defaults():
    assert parser_flags(classify.build_parser()) == declared_flags(CLASSIFY_SETTINGS, ("--no-annotate",))
    assert parser_flags(evaluate.build_parser()) == declared_flags(EVALUATE_SETTINGS)
    assert parser_flags(export.build_parser()) == declared_flags(EXPORT_SETTINGS)
    assert ClassifyOptions.of(**vars(classify.build_parser().parse_args(["-i", "a.jpg"]))) == ClassifyOptions.of(image=["a.jpg"])
    assert EvaluateOptions.of(**vars(evaluate.build_parser().parse_args(["-d", "test"]))) == EvaluateOptions.of(dataset="test")
    assert ExportOptions.of(**vars(export.build_parser().parse_args([]))) == ExportOptions()


def test_classify_and_evaluate_share_one_declaration_of_the_model_and_its_decoding():
    arguments = ["-t", "0.3", "--decode", "groups", "-k", "2", "-m", "m.onnx"]
    classified = ClassifyOptions.of(**vars(classify.build_parser().parse_args([*arguments, "-i", "a.jpg", "b/", "--no-annotate"])))
    evaluated = EvaluateOptions.of(**vars(evaluate.build_parser().parse_args([*arguments, "-d", "test"])))
    assert classified.decoding == evaluated.decoding == DecodingOptions(threshold=0.3, decode="groups", top_k=2)
    assert flat(classified.decoding) == {"threshold": 0.3, "decode": "groups", "top_k": 2}  # Classifier.decoding's arguments
    assert classified.inputs.model == evaluated.inputs.model == "m.onnx"
    assert (classified.inputs.image, classified.outputs.annotate, classified.inputs.labelbin) == (["a.jpg", "b/"], False, None)
    assert evaluated.inputs.labelbin == "mlb.pickle"
    shared = {declared.name for declared in declared_options([DecodingOptions])} | {"model"}
    for settings in (CLASSIFY_SETTINGS, EVALUATE_SETTINGS):
        assert shared <= {declared.name for declared in declared_options(settings)}


def test_library_errors_name_parameters_that_classify_and_evaluate_write_as_their_flags():
    with pytest.raises(ValueError) as refused:
        resolve_decoding("multilabel", 4, [0.5] * 4, [[0, 1], [2, 3]], decode="groups", top_k=2)
    assert str(refused.value) == "`decode` groups picks one label per group: drop `top_k`."
    for settings in (CLASSIFY_SETTINGS, EVALUATE_SETTINGS):
        assert as_flags(str(refused.value), settings) == "--decode groups picks one label per group: drop --top-k."
    assert as_flags("`unknown_threshold` and `tolerance`", CLASSIFY_SETTINGS) == "--unknown-threshold and `tolerance`"
    assert as_flags("`quantize` int8 refused; raise `tolerance`", EXPORT_SETTINGS) == "--quantize int8 refused; raise --tolerance"
