"""Grad-CAM: where in an image the network looked to predict a label.

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization" (2017): the last convolution layer's feature maps, weighted by the mean gradient
of the label's score over each map, summed, and kept where positive.
"""

import cv2
import keras
import numpy as np
import tensorflow as tf

from pyimagesearch.data.images import resize_image
from pyimagesearch.models.colour_and_shape import COLOUR_ATTENTION, COLOUR_ATTENTION_HIDDEN

_CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D)


_ATTENTION_LAYERS = (COLOUR_ATTENTION_HIDDEN, COLOUR_ATTENTION)


def find_last_conv_layer(model: keras.Model) -> str:
    """The name of the model's last 2-D convolution layer that sees a neighbourhood (top level, in layer order).

    1x1 convolutions, such as the colour branch's of `colour_and_shape`, are passed over: each of
    their outputs sees one pixel, so their maps locate colours, not the shapes a label stands for.
    So are the colour branch's attention layers: their maps say where to read a colour, and no
    label's score flows through them but by that weighting.

    Raises:
        ValueError: If the model has no Conv2D, SeparableConv2D or DepthwiseConv2D layer.
    """
    convolutions = [layer for layer in model.layers if isinstance(layer, _CONVOLUTIONS)]
    spatial = [layer for layer in convolutions if tuple(layer.kernel_size) != (1, 1) and layer.name not in _ATTENTION_LAYERS]
    if spatial or convolutions:
        return (spatial or convolutions)[-1].name
    raise ValueError(f"`explain` needs a convolution layer, and model {model.name!r} has none at its top level.")


class GradCam:
    """Grad-CAM maps of one model, set up once for many images and labels.

    Scores are taken before the final sigmoid or softmax when that is a layer of its own (as
    in SmallerVGGNet): a saturated probability has a vanishing gradient, its logit does not.

    Args:
        model: A single-input image model, Sequential (with an Input) or functional.
        layer_name: Convolution layer whose maps are weighted. Defaults to the last one
            (`find_last_conv_layer`).
        input_size: Side of the square model input. Defaults to the model's input shape.

    Raises:
        ValueError: For a model with several inputs, no convolution layer, an unknown
            ``layer_name`` or one without 2-D feature maps, or a non-square or undefined input
            size and no ``input_size``.

    Example:
        >>> explain = GradCam(model)
        >>> heatmap = explain(image, class_index=2)
    """

    def __init__(self, model: keras.Model, layer_name: str | None = None, input_size: int | None = None):
        if len(model.inputs) != 1:
            raise ValueError(f"Grad-CAM needs a single-input model; {model.name!r} has {len(model.inputs)} inputs.")
        if input_size is None:
            height, width = model.input_shape[1:3]
            if height is None or height != width:
                raise ValueError(f"Grad-CAM needs input_size for a model whose input is {height}x{width}.")
            input_size = height
        self.input_size = int(input_size)
        self.layer_name = layer_name or find_last_conv_layer(model)
        try:
            convolution = model.get_layer(self.layer_name)
        except ValueError as error:
            raise ValueError(f"Grad-CAM: model {model.name!r} has no layer {self.layer_name!r}.") from error
        if len(convolution.output.shape) != 4:
            raise ValueError(
                f"Grad-CAM needs a layer with 2-D feature maps. Received: layer {self.layer_name!r} "
                f"of output shape {convolution.output.shape}"
            )
        last = model.layers[-1]
        activation = getattr(getattr(last, "activation", None), "__name__", None)
        self._head = (
            last
            if isinstance(last, keras.layers.Softmax)
            or (isinstance(last, keras.layers.Activation) and activation in ("sigmoid", "softmax"))
            else None
        )
        self._model = model
        self._graph = None
        self._fallback = None
        if not isinstance(model, keras.Sequential):
            scores = model.outputs[0] if self._head is None else self._head.input
            self._graph = keras.Model(model.inputs[0], [convolution.output, scores])
            # A label of another branch (the colour branch of `colour_and_shape`) does not depend
            # on that layer: it is explained on the last convolution of all, where it does.
            last = [layer for layer in model.layers if isinstance(layer, _CONVOLUTIONS)][-1]
            if layer_name is None and last is not convolution:
                self._fallback = keras.Model(model.inputs[0], [last.output, scores])
        self._units = model.output_shape[-1]

    def _maps_and_scores(self, batch: tf.Tensor, graph: keras.Model | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        if graph is not None:
            return graph(batch, training=False)
        # Keras rebuilds a Sequential's graph at every add(), so its layers' .output tensors
        # belong to different graphs and no gradient joins them; running the layers in turn does.
        outputs = batch
        for layer in self._model.layers:
            if layer is self._head:
                break
            outputs = layer(outputs, training=False)
            if layer.name == self.layer_name:
                feature_maps = outputs
        return feature_maps, outputs

    def __call__(self, image: np.ndarray, class_index: int, *, invert: bool = False) -> np.ndarray:
        """The Grad-CAM map of one output unit for one image.

        Args:
            image: RGB uint8 image of any size, shape (height, width, 3), as decoded from disk.
            class_index: The output unit to explain (for single-label and multi-label heads,
                the label's index).
            invert: Explain the opposite of the unit's score: for a one-unit binary head, the
                first class. Defaults to False.

        Returns:
            float32 array of shape (height, width), the image's own, with values in [0, 1];
            all zeros when nothing in the image raises the score.

        Raises:
            ValueError: For an image that is not (height, width, 3), or a ``class_index``
                outside the model's outputs.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"Grad-CAM needs an RGB image of shape (height, width, 3). Received: shape {image.shape}")
        if not 0 <= class_index < self._units:
            raise ValueError(f"class_index must be between 0 and {self._units - 1}. Received: {class_index}")
        # The resize of training and classification, so the map explains the same input.
        batch = resize_image(image, self.input_size)[np.newaxis].astype("float32")
        for graph in (self._graph, self._fallback):
            with tf.GradientTape() as tape:
                feature_maps, scores = self._maps_and_scores(tf.constant(batch), graph)
                score = scores[:, class_index]
                score = -score if invert else score
            gradients = tape.gradient(score, feature_maps)
            if gradients is not None or self._fallback is None:
                break
        if gradients is None:
            raise ValueError(f"Grad-CAM: the output does not depend on layer {self.layer_name!r} in this model's graph.")
        weights = tf.reduce_mean(gradients[0], axis=(0, 1))
        heatmap = tf.nn.relu(tf.reduce_sum(feature_maps[0] * weights, axis=-1)).numpy().astype(np.float32)
        height, width = image.shape[:2]
        heatmap = cv2.resize(heatmap, (width, height), interpolation=cv2.INTER_LINEAR)
        peak = float(heatmap.max())
        return np.clip(heatmap / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(heatmap)


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """The image with the heat-map blended over it in OpenCV's JET colours (red = high).

    Args:
        image: RGB uint8 image of shape (height, width, 3).
        heatmap: Values in [0, 1], shape (height, width).
        alpha: Weight of the heat-map in the blend, in [0, 1]. Defaults to 0.4.

    Returns:
        RGB uint8 array of the image's shape.

    Raises:
        ValueError: For a heat-map of another size than the image, or ``alpha`` outside [0, 1].
    """
    image, heatmap = np.asarray(image), np.asarray(heatmap)
    if heatmap.shape != image.shape[:2]:
        raise ValueError(f"The heat-map's shape {heatmap.shape} must be the image's {image.shape[:2]}.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1. Received: {alpha}")
    levels = np.uint8(np.round(np.clip(heatmap, 0.0, 1.0) * 255))
    colours = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(colours, alpha, image.astype(np.uint8), 1.0 - alpha, 0.0)
