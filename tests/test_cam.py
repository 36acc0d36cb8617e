"""Saliency on LiteRT (fer_core.inference.cam): CAM of the shipped networks equals Keras Grad-CAM on real
faces; a network without a pooled head is explained by occlusion; the LiteRT path never imports TensorFlow."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import spearmanr

from fer_core.catalog.model import MODELS_DIR
from fer_core.inference import saliency
from fer_core.inference.cam import CamRunner
from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import make_detector
from fer_core.inference.crops import crop_face
from fer_core.inference.infer import analyse_image

#: The least rank correlation a LiteRT map may show with Keras Grad-CAM's on the same face and class.
MIN_SPEARMAN = 0.99


@pytest.fixture(scope="module")
def real_faces(astronaut, fer_data):
    """The astronaut's face crop and four PublicTest faces (model selection's split, never the test set)."""
    detector = make_detector("blazeface")
    classifier = Classifier.load(MODELS_DIR / "student16")
    face = analyse_image(astronaut, classifier, detector)[0]
    images, _ = fer_data.split("PublicTest")
    return [crop_face(astronaut, face.box, detector.crop_scale), *images[:4]]


@pytest.mark.parametrize("model", ["student16", "mix3c"])  # mix3c: the other three shipped networks
def test_litert_maps_rank_like_keras_grad_cam(model, real_faces):
    on_litert = Classifier.load(MODELS_DIR / model, runtime="litert")
    on_keras = Classifier.load(MODELS_DIR / model, runtime="keras")
    for number, crop in enumerate(real_faces):
        probabilities = on_litert.predict_proba([crop], "none")[0]
        for class_index in np.argsort(probabilities)[::-1][:2]:  # the predicted class and the runner-up
            litert = saliency.heatmap(on_litert, crop, int(class_index))
            keras = saliency.heatmap(on_keras, crop, int(class_index))
            where = f"{model}, face {number}, class {class_index}"
            assert litert.shape == keras.shape == crop.shape[:2]
            assert np.abs(litert - keras).max() < 0.02, where
            if keras.std() == 0:  # no positive evidence anywhere (a 3x3 map can be all negative): both blank
                assert litert.std() == 0, where
                continue
            rho = spearmanr(litert.ravel(), keras.ravel()).statistic
            assert rho >= MIN_SPEARMAN, f"{where}: Spearman {rho:.4f}"
            print(f"{where}: Spearman {rho:.5f}")


def test_the_shipped_networks_have_a_pooled_head():
    for name in ("student16", "vgg32b", "vgg48-camera-s2", "resnet32-150"):
        runner = CamRunner(MODELS_DIR / name / "model.tflite")
        assert runner.method == "cam", name
        assert runner.head.kernel.shape[0] == 7, name


def test_a_network_without_a_pooled_head_is_explained_by_occlusion(tmp_path):
    """A dense layer reading only the top-left 10x10 corner: occluding the corner alone lowers its class."""
    import keras
    from keras import layers

    from fer_core.training.export import export_tflite

    inputs = keras.Input((48, 48, 1))
    outputs = layers.Dense(2, activation="softmax")(layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((48 * 48, 2), dtype=np.float32)
    corner = np.zeros((48, 48), dtype=bool)
    corner[:10, :10] = True
    kernel[corner.ravel(), 0] = 0.03
    model.layers[-1].set_weights([kernel, np.zeros(2)])
    runner = CamRunner(export_tflite(model, tmp_path / "model.tflite"))
    assert runner.method == "occlusion"
    image = np.zeros((1, 48, 48, 1), dtype=np.float32)
    image[:, :24] = 1.0  # bright top half
    heat = runner.class_map(image, 0)
    assert heat.shape == (48, 48)
    assert heat[:8, :8].min() > 0 and heat[20:, 20:].max() == 0
    assert not runner.class_map(image, 1)[:8, :8].any()  # occluding the corner raises class 1: no drop


def test_the_photo_pages_map_runs_without_tensorflow(tmp_path):
    code = """
import sys
import numpy as np
from skimage import data
from fer_core.catalog.model import MODELS_DIR
from fer_core.inference import saliency
from fer_core.inference.classifier import Classifier
classifier = Classifier.load(MODELS_DIR / "mix3c", runtime="litert")
shown = saliency.saliency_overlay(classifier, data.astronaut()[30:230, 150:330], size=160)
assert shown.shape == (160, 160, 3)
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "TensorFlow was imported"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
