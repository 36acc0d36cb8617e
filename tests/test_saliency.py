"""fer_core.inference.saliency: Grad-CAM on hand-built models with a known answer, and on a real face."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers
from skimage import data

from fer_core.inference import saliency
from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import make_detector
from fer_core.inference.crops import crop_face
from fer_core.inference.infer import analyse_image
from fer_core.catalog.model import list_models

META = {"name": "probe", "labels": ["top", "bottom"], "input_spec": {"size": 48, "channels": 1, "scale": 255.0}}


def _half_image() -> np.ndarray:
    image = np.zeros((48, 48), dtype=np.uint8)
    image[:24] = 255  # bright top half, dark bottom half
    return image


def _two_channel_model() -> keras.Model:
    """Feature map 0 is the image, map 1 its negative; class 0 reads map 0 only, class 1 map 1 only."""
    inputs = keras.Input((48, 48, 1))
    maps = layers.Conv2D(2, 1, name="maps")(inputs)
    flat = layers.Flatten()(maps)
    outputs = layers.Dense(2, activation="softmax")(flat)
    model = keras.Model(inputs, outputs)
    model.get_layer("maps").set_weights([np.array([[[[1.0, -1.0]]]]), np.array([0.0, 1.0])])
    kernel = np.zeros((48 * 48 * 2, 2), dtype=np.float32)
    kernel[0::2, 0] = 1 / 2304
    kernel[1::2, 1] = 1 / 2304
    model.layers[-1].set_weights([kernel, np.zeros(2)])
    return model


def test_grad_cam_follows_the_class():
    classifier = Classifier(_two_channel_model(), META)
    image = _half_image()
    top = saliency.heatmap(classifier, image, class_index=0)
    bottom = saliency.heatmap(classifier, image, class_index=1)
    assert top.shape == bottom.shape == (48, 48)
    assert top[:20].mean() > 0.9 and top[28:].mean() < 0.1
    assert bottom[28:].mean() > 0.9 and bottom[:20].mean() < 0.1


def test_gradient_saliency_without_feature_maps():
    inputs = keras.Input((48, 48, 1))
    outputs = layers.Dense(2, activation="softmax")(layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((2304, 2), dtype=np.float32)
    corner = np.zeros((48, 48), dtype=bool)
    corner[:10, :10] = True
    kernel[corner.ravel(), 0] = 1.0
    model.layers[-1].set_weights([kernel, np.zeros(2)])
    heat = saliency.heatmap(Classifier(model, META), _half_image(), class_index=0)
    assert heat[:8, :8].min() > 0.9 and heat[14:, 14:].max() < 0.05


def test_class_index_is_checked():
    classifier = Classifier(_two_channel_model(), META)
    with pytest.raises(ValueError, match="class_index 2"):
        saliency.heatmap(classifier, _half_image(), class_index=2)


def test_overlay_blends_colour_map():
    rgb = np.full((60, 40, 3), 100, dtype=np.uint8)
    heat = np.zeros((60, 40), dtype=np.float32)
    heat[:30] = 1.0
    out = saliency.overlay(rgb, heat, alpha=0.5)
    assert out.shape == (60, 40, 3) and out.dtype == np.uint8
    assert out[5, 5, 0] > out[5, 5, 2]  # hot: red in JET
    assert out[50, 5, 2] > out[50, 5, 0]  # cold: blue
    grey = saliency.overlay(np.full((10, 10), 50, dtype=np.uint8), np.zeros((5, 5)))
    assert grey.shape == (10, 10, 3)


@pytest.fixture(scope="module")
def real_face():
    models = list_models()
    assert models, "a bundled model is needed (models/ or FER_MODELS_DIR)"
    classifier = Classifier.load(models[0])
    detector = make_detector("blazeface")
    rgb = data.astronaut()
    faces = analyse_image(rgb, classifier, detector)
    assert len(faces) == 1
    return classifier, crop_face(rgb, faces[0].box, detector.crop_scale), faces[0]


def test_grad_cam_on_a_real_face(real_face):
    classifier, crop, face = real_face
    before = classifier.predict_proba([crop], "none")
    heat = saliency.heatmap(classifier, crop)
    assert heat.shape == crop.shape[:2] and heat.dtype == np.float32
    assert 0.0 <= heat.min() and heat.max() == pytest.approx(1.0, abs=0.05)
    assert heat.std() > 0.05  # a map with structure, not a flat field
    same = saliency.heatmap(classifier, crop, classifier.labels.index(face.label))
    if face.label == classifier.labels[int(np.argmax(before[0]))]:
        assert np.allclose(heat, same)  # the default explains the predicted class
    assert np.allclose(classifier.predict_proba([crop], "none"), before)  # the model is unchanged
    shown = saliency.saliency_overlay(classifier, crop, size=160)
    assert shown.shape == (160, 160, 3) and shown.dtype == np.uint8
