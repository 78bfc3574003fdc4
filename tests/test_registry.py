"""The registry of networks: each entry builds, and the toolkit follows what an entry declares."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import PROJECT_ROOT

from pyimagesearch.models.registry import FEATURES, IMAGES, NETWORKS, network
from pyimagesearch.models.tasks import get_task
from pyimagesearch.training.options import TrainOptions
from pyimagesearch.training.recipe import recipe_of


@pytest.mark.parametrize("arch", list(NETWORKS))
def test_every_network_builds_from_its_entry_and_reads_what_it_declares(arch):
    import keras

    from pyimagesearch.models.build import build_classifier

    entry = NETWORKS[arch]
    size = entry.min_image_size or 32
    inputs = np.random.default_rng(0).integers(0, 256, (4, size, size, 3)).astype("uint8")
    if entry.reads == FEATURES:
        inputs = np.random.default_rng(0).normal(size=(4, 12)).astype("float32")
    model = build_classifier(get_task("multilabel"), 5, size, keras.optimizers.Adam(), train_images=inputs, arch=arch, weights=None)
    assert model.predict(inputs, verbose=0).shape == (4, 5)
    assert entry.over_images == (entry.reads == IMAGES) and (entry.min_image_size is None) == (entry.reads == FEATURES)


def test_what_an_entry_declares_decides_the_checks():
    smallest = {name: entry.min_image_size for name, entry in NETWORKS.items() if entry.min_image_size}
    for name, size in smallest.items():
        recipe_of(TrainOptions.of(dataset="d", arch=name, image_size=size, weights="none"))
        with pytest.raises(ValueError, match=rf"`image_size` must be at least {size} pixels"):
            recipe_of(TrainOptions.of(dataset="d", arch=name, image_size=size - 1, weights="none"))
    over_features = [name for name, entry in NETWORKS.items() if not entry.over_images]
    for name in over_features:
        with pytest.raises(ValueError, match=rf"`normalize` scales image pixels; `arch` {name} standardises its features itself"):
            recipe_of(TrainOptions.of(dataset="d", arch=name, normalize="center"))
    assert recipe_of(TrainOptions.of(dataset="d", arch="smallervggnet")).epochs != recipe_of(TrainOptions.of(dataset="d")).epochs
    with pytest.raises(ValueError, match="`arch` must be one of smallervggnet, mlp, mobilenetv2"):
        network("vgg16")


def test_train_py_offers_the_registered_networks_without_loading_keras():
    code = (
        "import json, sys, train; "
        "choices = next(a.choices for a in train.build_parser()._actions if '--arch' in a.option_strings); "
        "print(json.dumps([list(choices), sorted({m.split('.')[0] for m in sys.modules})]))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    choices, modules = json.loads(completed.stdout)
    assert choices == list(NETWORKS)
    assert not {"tensorflow", "keras"} & set(modules)
