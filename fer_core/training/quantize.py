"""Full-integer post-training quantization of a trained network (``model.int8.tflite``), no retraining.

Why: these CPUs run 8-bit networks through LiteRT's XNNPACK about 3x faster than float32, at the
same accuracy (the gates in :mod:`fer_core.evaluation.int8_gates` check that for each network).
Weights and activations are int8; the input and output stay float32, so the preprocessing, the
TTA and everything reading probabilities are unchanged.

The activation ranges come from a *representative set*: a fixed, seeded sample of Training faces
(never PublicTest or PrivateTest), prepared exactly as the classifier prepares its input
(scaled to [0, 1], then the model's input blur).
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fer_core.catalog.input_spec import InputSpec
from fer_core.common.quiet import silenced_stderr
from fer_core.inference.preprocess import input_blur, preprocess_faces

#: Training faces in the representative set, and the seed that draws them (recorded in the metadata).
REPRESENTATIVE_SIZE = 1000
REPRESENTATIVE_SEED = 0
#: The split the representative set is drawn from: fitting anything on a test split is not allowed.
REPRESENTATIVE_SPLIT = "Training"


def representative_faces(training_images: np.ndarray, spec: InputSpec, blur_sigma: float,
                         size: int = REPRESENTATIVE_SIZE, seed: int = REPRESENTATIVE_SEED) -> np.ndarray:
    """``size`` Training faces drawn without replacement by ``seed``, as the network's input ``(size, h, w, c)``."""
    if len(training_images) == 0:
        raise ValueError("the representative set needs Training faces; the data has none")
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(training_images), size=min(size, len(training_images)), replace=False))
    return input_blur(preprocess_faces(training_images[picked], spec), blur_sigma)


def quantize_tflite(keras_model, faces: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a full-integer ``.tflite`` of ``keras_model`` (int8 inside, float32 input and output), atomically.

    ``faces`` is the representative set (see :func:`representative_faces`), fed one face at a time
    so that every activation range is calibrated on the same inputs whatever the batch.
    """
    from fer_core.common.quiet import import_tensorflow_quietly

    tf = import_tensorflow_quietly()

    def samples() -> Iterator[list[np.ndarray]]:
        for face in faces:
            yield [face[np.newaxis].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = samples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # float32 in and out: the network's neighbours (preprocessing, TTA, probabilities) do not change
    converter.inference_input_type = tf.float32
    converter.inference_output_type = tf.float32
    # the converter prints the traced graph's signature (a screenful) and MLIR notices: not for the user
    with contextlib.redirect_stdout(io.StringIO()), silenced_stderr(), warnings.catch_warnings():
        # float32 input is kept on purpose, so the converter has no input statistics to expect
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        flat = converter.convert()
    path = Path(path)
    tmp = path.with_name("tmp-" + path.name)
    tmp.write_bytes(flat)
    os.replace(tmp, path)
    return path
