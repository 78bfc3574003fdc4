"""A BatchNormalization that runs as one fused kernel on the TensorFlow backend.

Keras 3's own BatchNormalization casts every activation to float32 and computes the moments,
the moving averages and the normalisation as separate element-wise ops. Under mixed bfloat16
on a CPU that costs as much as the convolutions themselves: SmallerVGGNet trains markedly faster
with this layer (measured: bench/README.md, "Training").
TensorFlow's ``FusedBatchNormV3`` takes the bfloat16 activations as they are, keeps its
statistics in float32, and does the whole normalisation in one pass, as tf_keras did.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="pyimagesearch")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` computed by TensorFlow's fused kernel.

    Same arguments, weights and saved form as the Keras layer, so it trains, saves, clones
    and exports (ONNX) like it. It falls back to the Keras computation where the fused kernel
    does not apply: another backend, a normalised axis other than the last, inputs that are
    not rank 2 or 4, a mask, or batch renormalisation.

    Example:
        >>> layer = FusedBatchNormalization(momentum=0.9)
    """

    def _fusable(self, inputs, mask) -> bool:
        rank = len(inputs.shape)
        return (
            keras.backend.backend() == "tensorflow"
            and rank in (2, 4)
            and self.axis in (-1, rank - 1)
            and mask is None
            and not self.renorm
            and not self.synchronized
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        # The fused kernel wants NHWC; a (batch, features) input is a 1x1 image per row.
        images = inputs if len(inputs.shape) == 4 else tf.reshape(inputs, (-1, 1, 1, channels))
        scale = self.gamma.value if self.scale else tf.ones((channels,), "float32")
        offset = self.beta.value if self.center else tf.zeros((channels,), "float32")
        if training and self.trainable:
            # With exponential_avg_factor the kernel returns the moving averages already
            # updated: moving * momentum + batch * (1 - momentum), as the Keras layer does.
            outputs, moving_mean, moving_variance, *_ = tf.raw_ops.FusedBatchNormV3(
                x=images,
                scale=scale,
                offset=offset,
                mean=self.moving_mean.value,
                variance=self.moving_variance.value,
                epsilon=self.epsilon,
                exponential_avg_factor=1.0 - self.momentum,
                data_format="NHWC",
                is_training=True,
            )
            self.moving_mean.assign(moving_mean)
            self.moving_variance.assign(moving_variance)
        else:
            outputs = tf.raw_ops.FusedBatchNormV3(
                x=images,
                scale=scale,
                offset=offset,
                mean=self.moving_mean.value,
                variance=self.moving_variance.value,
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=False,
            )[0]
        if len(inputs.shape) == 2:
            outputs = tf.reshape(outputs, (-1, channels))
        return tf.cast(outputs, self.compute_dtype)
