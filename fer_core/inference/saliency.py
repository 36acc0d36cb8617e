"""Where the classifier looked: a heat map for one face crop, on LiteRT or on Keras.

A model running on LiteRT is explained on LiteRT, without TensorFlow (:mod:`fer_core.inference.cam`):
CAM, which equals Grad-CAM for the shipped networks' pooled heads, or occlusion sensitivity for a
network without such a head. A model on Keras gets Grad-CAM through TensorFlow's gradients:

Grad-CAM (Selvaraju et al., 2017) weights the last convolutional feature maps by the mean
gradient of the class score, keeps the positive part and upsamples it to the crop. The
class score is taken before the softmax, as in the paper, when the model ends in a softmax
Dense layer. Models without a usable convolutional map fall back to the absolute input
gradient. Nothing here changes the model, so it is safe beside the live path.
"""
from __future__ import annotations

import threading
import weakref

import cv2
import numpy as np

from fer_core.catalog.model import litert_files
from fer_core.inference.cam import cam_runner, normalised
from fer_core.inference.classifier import Classifier
from fer_core.inference.preprocess import preprocess_faces

#: Feature maps smaller than this (per side) are too coarse for Grad-CAM.
MIN_MAP_SIDE = 3

_probes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_probes_lock = threading.Lock()


def _target_layer(model, min_side: int = MIN_MAP_SIDE):
    """The last layer (not the input) with a 4-D output of at least ``min_side`` per side, or None."""
    import keras

    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        shape = getattr(layer, "output", None) is not None and tuple(layer.output.shape)
        if shape and len(shape) == 4 and shape[1] is not None and min(shape[1], shape[2]) >= min_side:
            return layer
    return None


def _probe(model):
    """A model returning (feature maps or None, class scores), built once per Keras model."""
    with _probes_lock:
        if model in _probes:
            return _probes[model]
        import keras

        head = model.layers[-1]
        pre_softmax = (isinstance(head, keras.layers.Dense)
                       and getattr(head.activation, "__name__", "") == "softmax")
        scores = head.input if pre_softmax else model.output
        layer = _target_layer(model)
        outputs = [layer.output, scores] if layer is not None else [scores]
        probe = (keras.Model(model.inputs, outputs), layer is not None, head if pre_softmax else None)
        _probes[model] = probe
        return probe


def _class_score(head, scores, class_index: int):
    """The class score: the logit when ``head`` is a softmax Dense layer, else the output itself."""
    import tensorflow as tf

    if head is None:
        return scores[:, class_index]
    kernel = tf.convert_to_tensor(head.kernel)
    logit = tf.linalg.matvec(scores, kernel[:, class_index])
    if head.use_bias:
        logit += tf.convert_to_tensor(head.bias)[class_index]
    return logit


def _parts(model) -> list:
    """The networks to explain: an ensemble's member networks, or the model itself."""
    import keras

    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return nested or [model]


def _cam(model, x, class_index: int) -> np.ndarray:
    """Grad-CAM (or input-gradient saliency) of one network, scaled to [0, 1], at its map's size."""
    import tensorflow as tf

    probe, has_maps, head = _probe(model)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = probe(x, training=False)
        maps, scores = (outputs[0], outputs[1]) if has_maps else (x, outputs[0] if isinstance(outputs, list) else outputs)
        score = _class_score(head, scores, class_index)
    grads = tape.gradient(score, maps)
    if has_maps:
        weights = tf.reduce_mean(grads, axis=(1, 2))  # one weight per feature map
        cam = tf.nn.relu(tf.reduce_sum(maps * weights[:, None, None, :], axis=-1))[0].numpy()
    else:
        cam = tf.reduce_max(tf.abs(grads), axis=-1)[0].numpy()  # gradient saliency
    cam = cam.astype(np.float32)
    top = float(cam.max())
    cam = cam / top if top > 0 else np.zeros_like(cam)
    side = x.shape[1]
    return cv2.resize(cam, (side, side), interpolation=cv2.INTER_CUBIC)  # members' maps may differ in size


def heatmap(classifier: Classifier, crop: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """The heat map of a face crop, in ``[0, 1]``, the crop's height and width: on LiteRT when the
    classifier runs there (CAM or occlusion, :mod:`fer_core.inference.cam`), else Keras Grad-CAM.

    Args:
        classifier: the loaded model.
        crop: a face crop of any size (RGB, RGBA or grey uint8), as given to ``predict_proba``.
        class_index: the class to explain (default: the predicted class).

    Raises:
        ValueError: ``class_index`` outside the model's classes.
    """
    x = preprocess_faces([crop], classifier.spec)
    if class_index is None:
        class_index = int(np.argmax(classifier.predict_batch(x, "none")[0]))
    if not 0 <= class_index < len(classifier.labels):
        raise ValueError(f"class_index {class_index} is outside 0-{len(classifier.labels) - 1}")
    # an ensemble: the mean of its members' maps, each normalised, so every member counts alike (as the
    # ensemble averages their probabilities with equal weights)
    if classifier.runtime == "litert":
        cam = np.mean([litert_map(path, x, class_index) for path in litert_files(classifier.folder, required=True)], axis=0)
    else:
        cam = keras_grad_cam(classifier, x, class_index)
    top = float(cam.max())
    cam = cam / top if top > 0 else np.zeros_like(cam)
    height, width = crop.shape[:2]
    return np.clip(cv2.resize(cam, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def litert_map(path, x: np.ndarray, class_index: int) -> np.ndarray:
    """One ``.tflite`` network's map (CAM or occlusion), scaled to [0, 1], at the input's side."""
    return normalised(cam_runner(path).class_map(x, class_index), x.shape[1])


def keras_grad_cam(classifier: Classifier, x: np.ndarray, class_index: int) -> np.ndarray:
    """The mean of the Keras networks' Grad-CAM maps (each scaled to [0, 1]) at the input's side (TensorFlow)."""
    from fer_core.common.quiet import import_tensorflow_quietly

    tf = import_tensorflow_quietly()
    tensor = tf.convert_to_tensor(x)
    return np.mean([_cam(part, tensor, class_index) for part in _parts(classifier.model)], axis=0)


def overlay(rgb: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The heat map in the JET colour map blended over an image (grey or RGB uint8) -> RGB uint8."""
    if rgb.ndim == 2:
        rgb = cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB)
    elif rgb.shape[2] == 4:
        rgb = cv2.cvtColor(rgb, cv2.COLOR_RGBA2RGB)
    if heat.shape != rgb.shape[:2]:
        heat = cv2.resize(heat, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_CUBIC)
    colored = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET)
    colored = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(colored, alpha, np.ascontiguousarray(rgb), 1 - alpha, 0)


def saliency_overlay(classifier: Classifier, crop: np.ndarray, class_index: int | None = None,
                     size: int | None = 192) -> np.ndarray:
    """The heat map over the face crop, resized to ``size`` pixels square (None: keep the crop's size)."""
    heat = heatmap(classifier, crop, class_index)
    if size is not None and crop.shape[:2] != (size, size):
        interp = cv2.INTER_AREA if max(crop.shape[:2]) > size else cv2.INTER_LINEAR
        crop = cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interp)
        heat = cv2.resize(heat, (size, size), interpolation=cv2.INTER_CUBIC)
    return overlay(crop, heat)
