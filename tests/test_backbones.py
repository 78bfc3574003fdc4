"""Pretrained backbones: every registered architecture builds and trains with every head and task, a
weights file lands in the backbone unchanged, and a misfitting file is refused naming what fits it.
The default network's fine-tuning, reloading and export are tested on test_end_to_end's training."""

from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import MOBILENETV2_035, MOBILENETV2_050, MODELS_DIR, file_weights, run_script, weighted_backbone_layers

from pyimagesearch.models import backbones
from pyimagesearch.models.backbones import (
    BACKBONES,
    backbone_layers,
    identify_weights_file,
    resolve_alpha,
    resolve_weights,
    set_backbone_trainable,
    shipped_weights,
)
from pyimagesearch.models.build import build_classifier
from pyimagesearch.models.colour_and_shape import COLOUR_FEATURES
from pyimagesearch.models.registry import BACKBONE_NAMES, NETWORKS, SMALLERVGGNET
from pyimagesearch.models.tasks import get_task, grouped_task

needs_weights = pytest.mark.skipif(not MOBILENETV2_035.is_file(), reason=f"no shared weights at {MODELS_DIR}")
needs_both_weights = pytest.mark.skipif(
    not (MOBILENETV2_035.is_file() and MOBILENETV2_050.is_file()), reason=f"the alpha 0.35 and 0.5 weights are not both at {MODELS_DIR}"
)


@pytest.mark.parametrize("arch", list(BACKBONES))
def test_each_architecture_builds_and_trains_a_step_without_pretrained_weights(arch):
    keras.utils.set_random_seed(0)
    task = get_task("multilabel")
    model = build_classifier(task, 4, 32, keras.optimizers.Adam(1e-3), arch=arch, weights=None)
    # Without pretrained weights nothing is frozen: the whole backbone trains.
    assert all(layer.trainable for layer in backbone_layers(model))
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    targets = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 0, 1], [0, 1, 1, 0]], dtype="float32")
    first = next(layer for layer in backbone_layers(model) if layer.trainable_weights)
    kernel = keras.ops.convert_to_numpy(first.trainable_weights[0]).copy()
    # Eagerly: tracing a graph of ResNet50's or EfficientNet's size for one step takes far longer than the step.
    model.compile(optimizer=model.optimizer, loss=task.loss, run_eagerly=True)
    loss = model.train_on_batch(images, targets)
    assert np.all(np.isfinite(loss)) and model(images).shape == (4, 4)
    assert not np.allclose(keras.ops.convert_to_numpy(first.trainable_weights[0]), kernel)


@pytest.mark.parametrize(
    "task",
    [
        get_task("multilabel"),
        get_task("multiclass"),
        get_task("binary"),
        grouped_task([[0, 2], [1, 3]]),
    ],
    ids=["flat sigmoid", "softmax", "binary", "grouped"],
)
def test_every_head_and_task_sits_on_a_backbone(task):
    model = build_classifier(task, 4, 32, keras.optimizers.Adam(1e-3), arch="mobilenetv2", alpha=0.35, weights=None)
    probabilities = model.predict(np.full((2, 32, 32, 3), 128.0, dtype="float32"), verbose=0)
    assert probabilities.shape == (2, task.output_units(4))
    assert model.layers[-1].name == "predictions"


@needs_weights
def test_loading_the_shared_file_gives_the_backbone_its_values_and_freezes_it():
    model = build_classifier(
        get_task("multilabel"),
        6,
        96,
        keras.optimizers.Adam(1e-3),
        arch="mobilenetv2",
        alpha=0.35,
        weights=str(MOBILENETV2_035),
    )
    layers = weighted_backbone_layers(model)
    for index in (0, 1, len(layers) - 1):  # the first convolution, its batch normalisation, the last layer
        for loaded, stored in zip(layers[index].get_weights(), file_weights(MOBILENETV2_035, index), strict=True):
            np.testing.assert_array_equal(loaded, stored)
    assert not any(layer.trainable for layer in backbone_layers(model))
    assert model.get_layer("logits").trainable


@needs_weights
def test_a_pretrained_shape_branch_is_frozen_beside_a_colour_branch_that_trains():
    task = grouped_task([[0, 1, 4], [2, 3, 5]], colour_group=0)
    model = build_classifier(task, 6, 32, keras.optimizers.Adam(1e-3), arch="mobilenetv2", alpha=0.35, weights=str(MOBILENETV2_035))
    layers = weighted_backbone_layers(model)
    for index in (0, len(layers) - 1):
        for loaded, stored in zip(layers[index].get_weights(), file_weights(MOBILENETV2_035, index), strict=True):
            np.testing.assert_array_equal(loaded, stored)
    backbone = backbone_layers(model)
    assert not any(layer.trainable for layer in backbone)
    # The backbone is the shape branch's alone: the colour branch and the grey copy stay outside it and train.
    colour_branch = [model.get_layer(name) for name in (COLOUR_FEATURES, "logits_0", "logits_1")]
    assert all(layer.trainable and layer not in backbone for layer in colour_branch)
    assert model.get_layer("grey") not in backbone
    assert set_backbone_trainable(model, 20) == 20 and all(layer.trainable for layer in colour_branch)


@needs_both_weights
def test_a_weights_file_is_recognised_and_a_misfit_refused_naming_what_fits():
    assert identify_weights_file(MOBILENETV2_035) == ("mobilenetv2", 0.35)
    assert identify_weights_file(MOBILENETV2_050) == ("mobilenetv2", 0.5)
    # Without --alpha, the file's is taken.
    assert resolve_alpha("mobilenetv2", None, str(MOBILENETV2_050)) == 0.5
    with pytest.raises(
        ValueError,
        match=r"0\.35_224_no_top\.h5 does not fit `arch` mobilenetv2 `alpha` 0\.5: it holds "
        r"the weights of `arch` mobilenetv2 `alpha` 0\.35",
    ):
        resolve_alpha("mobilenetv2", 0.5, str(MOBILENETV2_035))
    with pytest.raises(ValueError, match=r"does not fit `arch` resnet50: it holds the weights of `arch` mobilenetv2 `alpha` 0\.35"):
        resolve_alpha("resnet50", None, str(MOBILENETV2_035))


def test_bad_weights_arguments_are_refused_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"`weights` .*missing\.h5: no such file"):
        resolve_weights("mobilenetv2", str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="`arch` smallervggnet has no pretrained weights"):
        resolve_weights(SMALLERVGGNET, "imagenet")
    with pytest.raises(ValueError, match="`arch` mlp has no pretrained weights"):
        resolve_weights("mlp", "imagenet")
    with pytest.raises(ValueError, match=r"`alpha` 0\.3: mobilenetv2 is built with alpha 0\.35, 0\.5"):
        resolve_alpha("mobilenetv2", 0.3, None)
    not_weights = tmp_path / "notes.h5"
    not_weights.write_text("not HDF5")
    with pytest.raises(ValueError, match="not a Keras HDF5 weights file"):
        resolve_alpha("mobilenetv2", None, str(not_weights))
    assert resolve_weights(SMALLERVGGNET, None) is None and resolve_weights("mlp", None) is None
    assert resolve_weights("mobilenetv2", None, 1.0) == "imagenet" and resolve_weights("resnet50", None) == "imagenet"


def test_mobilenetv2_defaults_to_the_shipped_weights_checked_against_their_checksum(tmp_path, monkeypatch):
    shipped = resolve_weights("mobilenetv2", None)
    assert shipped == resolve_weights("mobilenetv2", None, 0.35) == str(shipped_weights("mobilenetv2"))
    assert Path(shipped).parent.name == "weights" and Path(shipped).parent.parent.name == "pyimagesearch"
    assert identify_weights_file(shipped) == ("mobilenetv2", 0.35)
    assert resolve_alpha("mobilenetv2", None, shipped) == 0.35
    if MOBILENETV2_035.is_file():  # the very file the shared folder holds
        assert Path(shipped).read_bytes() == MOBILENETV2_035.read_bytes()
    altered = tmp_path / Path(shipped).name
    altered.write_bytes(Path(shipped).read_bytes()[:-1] + b"\0")
    monkeypatch.setattr(backbones, "SHIPPED_WEIGHTS_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"`weights`: the shipped .*0\.35_224_no_top\.h5 is missing or altered"):
        resolve_weights("mobilenetv2", None)
    assert set(NETWORKS) == {SMALLERVGGNET, "mlp", "mobilenetv2", "mobilenetv3small", "efficientnetb0", "resnet50"}
    # The registry's pretrained entries (train.py's choices, read before Keras loads) are the backbones built here.
    assert BACKBONE_NAMES == tuple(BACKBONES)


@needs_weights
def test_train_cli_refuses_a_mismatched_weights_file_in_one_line(demo_data, tmp_path):
    completed = run_script(
        "train.py",
        "--dataset",
        demo_data[0],
        "--model",
        tmp_path / "m.model",
        "--labelbin",
        tmp_path / "l.pickle",
        "--plot",
        tmp_path / "p.png",
        "--arch",
        "mobilenetv2",
        "--alpha",
        "0.5",
        "--weights",
        MOBILENETV2_035,
        cwd=tmp_path,
    )
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert lines[-1].startswith("train.py: error: --weights") and "--alpha 0.35" in lines[-1]
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "m.model").exists()


def test_auto_precision_and_recolouring_follow_what_was_measured_for_backbones():
    from pyimagesearch.data.recolouring import resolve_recolour
    from pyimagesearch.training.resolve import resolve_precision

    # Depthwise convolutions run slower in bfloat16 on the CPU; ResNet50's dense ones faster.
    assert resolve_precision("auto", "mobilenetv2") == "float32"
    assert resolve_precision("auto", "efficientnetb0") == "float32"
    assert resolve_precision("auto", "resnet50") == resolve_precision("auto", SMALLERVGGNET)
    assert resolve_precision("bfloat16", "mobilenetv2") == "bfloat16"
    classes, groups = ["black", "blue", "dress", "jeans", "red", "shirt"], [["black", "blue", "red"], ["dress", "jeans", "shirt"]]
    assert resolve_recolour("auto", "grouped", classes, groups) != ()
    assert resolve_recolour("auto", "grouped", classes, groups, pretrained=True) == ()
    assert resolve_recolour("on", "grouped", classes, groups, pretrained=True) != ()
