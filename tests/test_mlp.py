"""The MLP builder: the tutorial's shape, the task's head, optional dropout, standardisation inside."""

import keras
import numpy as np
import pytest

from pyimagesearch.models.mlp import LOGITS, STANDARDIZE, build_mlp, feature_standardization
from pyimagesearch.models.tasks import get_task, grouped_task


def test_mlp_has_the_tutorials_layers_500_and_100_relu_then_a_sigmoid_per_label():
    model = build_mlp(2052, 6)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert model.input_shape == (None, 2052) and model.output_shape == (None, 6)
    assert [layer.units for layer in dense] == [500, 100, 6]
    assert [layer.activation.__name__ for layer in dense] == ["relu", "relu", "linear"]
    assert model.get_layer("predictions").activation.__name__ == "sigmoid"
    assert model.count_params() == (2052 * 500 + 500) + (500 * 100 + 100) + (100 * 6 + 6)
    outputs = model.predict(np.random.default_rng(0).normal(size=(4, 2052)).astype("float32"), verbose=0)
    assert ((outputs > 0) & (outputs < 1)).all() and not np.allclose(outputs.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    "task, units",
    [
        (get_task("multiclass"), 4),
        (get_task("binary"), 1),
        (grouped_task([[0, 1], [2, 3]]), 4),
    ],
)
def test_mlp_head_is_the_tasks_final_layer(task, units):
    model = build_mlp(8, task.output_units(4), task.final_layer())
    outputs = model.predict(np.random.default_rng(1).normal(size=(5, 8)).astype("float32"), verbose=0)
    assert outputs.shape == (5, units)
    if task.name == "multiclass":
        np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-5)
    elif task.groups:
        np.testing.assert_allclose(outputs[:, :2].sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(outputs[:, 2:].sum(axis=1), 1.0, rtol=1e-5)
    else:
        assert ((outputs > 0) & (outputs < 1)).all()


def test_hidden_layers_and_dropout_are_configurable():
    plain = build_mlp(10, 2, hidden=(32,))
    assert [layer.units for layer in plain.layers if isinstance(layer, keras.layers.Dense)] == [32, 2]
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in plain.layers)
    dropped = build_mlp(10, 2, dropout=0.5)
    assert [layer.rate for layer in dropped.layers if isinstance(layer, keras.layers.Dropout)] == [0.5, 0.5]


def test_bad_mlp_arguments_are_refused():
    with pytest.raises(ValueError, match=r"hidden must give one or more layer sizes.*Received: \(\)"):
        build_mlp(10, 2, hidden=())
    with pytest.raises(ValueError, match=r"dropout must be a rate in \[0, 1\).*Received: 1.0"):
        build_mlp(10, 2, dropout=1.0)
    with pytest.raises(ValueError, match="at least one input and one output"):
        build_mlp(0, 2)
    with pytest.raises(ValueError, match=r"training rows of shape \(N, D\)"):
        feature_standardization(np.zeros((0, 3)))


def test_standardisation_inside_the_model_uses_the_training_rows_statistics():
    rng = np.random.default_rng(2)
    train = np.column_stack([rng.normal(50.0, 10.0, 400), rng.normal(-3.0, 0.01, 400), np.full(400, 7.0)]).astype("float32")
    model = build_mlp(3, 1, preprocessing=[feature_standardization(train)])
    scaled = keras.Model(model.input, model.get_layer(STANDARDIZE).output).predict(train, verbose=0)
    np.testing.assert_allclose(scaled[:, :2].mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(scaled[:, :2].std(axis=0), 1.0, atol=1e-3)
    assert np.isfinite(scaled).all() and np.allclose(scaled[:, 2], 0.0, atol=1e-3)  # a constant feature stays finite
    assert model.get_layer(LOGITS).units == 1
