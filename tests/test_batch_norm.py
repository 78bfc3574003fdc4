"""The fused BatchNormalization computes what Keras' own layer computes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from pyimagesearch.inference.model_io import load_model, save_model
from pyimagesearch.models.batch_norm import FusedBatchNormalization


def _pair(shape, **kwargs):
    """A Keras BatchNormalization and a fused one, built with the same random weights."""
    keras_layer = keras.layers.BatchNormalization(**kwargs)
    fused_layer = FusedBatchNormalization(**kwargs)
    keras_layer.build(shape)
    fused_layer.build(shape)
    rng = np.random.default_rng(0)
    channels = shape[kwargs.get("axis", -1)]
    weights = [
        rng.uniform(0.5, 2.0, channels),  # gamma
        rng.normal(0.0, 1.0, channels),  # beta
        rng.normal(0.0, 1.0, channels),  # moving mean
        rng.uniform(0.5, 2.0, channels),  # moving variance
    ]
    keras_layer.set_weights(weights)
    fused_layer.set_weights(weights)
    return keras_layer, fused_layer


@pytest.mark.parametrize("shape", [(8, 6, 5, 4), (16, 7)])
def test_training_step_matches_keras_outputs_gradients_and_moving_averages(shape):
    keras_layer, fused_layer = _pair(shape, momentum=0.9)
    inputs = tf.constant(np.random.default_rng(1).normal(3.0, 2.0, shape), "float32")
    results = []
    for layer in (keras_layer, fused_layer):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs, training=True)
            loss = tf.reduce_sum(outputs * tf.range(outputs.shape[-1], dtype="float32"))
        gradients = tape.gradient(loss, [inputs, layer.gamma, layer.beta])
        results.append((outputs.numpy(), [g.numpy() for g in gradients], layer.get_weights()))
    (keras_out, keras_grads, keras_weights), (fused_out, fused_grads, fused_weights) = results
    np.testing.assert_allclose(fused_out, keras_out, atol=1e-4)
    for fused_grad, keras_grad in zip(fused_grads, keras_grads):
        np.testing.assert_allclose(fused_grad, keras_grad, atol=1e-3)
    np.testing.assert_allclose(fused_weights[2], keras_weights[2], atol=1e-5)  # moving mean
    # The fused kernel averages the unbiased batch variance, Keras the biased one.
    rows = int(np.prod(shape[:-1]))
    batch_variance = np.var(inputs.numpy().reshape(-1, shape[-1]), axis=0)
    expected = keras_weights[3] + 0.1 * batch_variance * (rows / (rows - 1) - 1)
    np.testing.assert_allclose(fused_weights[3], expected, rtol=1e-4)


def test_inference_uses_the_moving_statistics_as_keras_does():
    keras_layer, fused_layer = _pair((4, 5, 5, 3))
    inputs = np.random.default_rng(2).normal(size=(4, 5, 5, 3)).astype("float32")
    np.testing.assert_allclose(fused_layer(inputs, training=False), keras_layer(inputs, training=False), atol=1e-5)


def test_a_frozen_layer_normalises_with_its_moving_statistics_even_in_training():
    keras_layer, fused_layer = _pair((4, 5, 5, 3))
    fused_layer.trainable = False
    before = fused_layer.get_weights()
    inputs = np.random.default_rng(3).normal(size=(4, 5, 5, 3)).astype("float32")
    np.testing.assert_allclose(fused_layer(inputs, training=True), keras_layer(inputs, training=False), atol=1e-5)
    for after, weight in zip(fused_layer.get_weights(), before):
        np.testing.assert_array_equal(after, weight)


def test_other_axes_fall_back_to_the_keras_computation():
    keras_layer, fused_layer = _pair((4, 3, 5, 5), axis=1)
    inputs = np.random.default_rng(4).normal(size=(4, 3, 5, 5)).astype("float32")
    np.testing.assert_allclose(fused_layer(inputs, training=True), keras_layer(inputs, training=True), atol=1e-5)


def test_bfloat16_activations_stay_bfloat16_and_close_to_float32():
    float_layer = FusedBatchNormalization()
    mixed_layer = FusedBatchNormalization(dtype="mixed_bfloat16")
    inputs = np.random.default_rng(5).normal(2.0, 3.0, size=(8, 6, 6, 4)).astype("float32")
    float_out = float_layer(inputs, training=True)
    mixed_out = mixed_layer(inputs, training=True)
    assert mixed_out.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(mixed_out, "float32"), float_out, atol=0.05)
    assert mixed_layer.moving_mean.dtype == "float32"


def test_a_saved_model_reloads_with_the_fused_layer_and_predicts_the_same(tmp_path):
    model = keras.Sequential([keras.Input((5, 5, 3)), keras.layers.Conv2D(4, 3), FusedBatchNormalization()])
    inputs = np.random.default_rng(6).normal(size=(2, 5, 5, 3)).astype("float32")
    model(inputs, training=True)  # moves the moving statistics away from their initial values
    save_model(model, tmp_path / "bn.model", {"classes": []})
    loaded, _ = load_model(tmp_path / "bn.model")
    assert isinstance(loaded.layers[-1], FusedBatchNormalization)
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0), atol=1e-6)
