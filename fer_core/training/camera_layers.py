"""Training-only Keras layers for what a real camera adds and FER2013 lacks: JPEG artefacts
and a glasses-like band across the eyes.

Keras ships brightness, contrast, blur, noise and perspective layers; these two complete
the ``camera`` augmentation of :func:`fer_core.training.architectures.augmentation`. Both act on
``(N, H, W, C)`` images in ``[0, 1]``, each image with probability ``rate``, and are the
identity at inference. Their names start with ``random_`` like Keras' own augmentation
layers, so exporting an inference model skips them.
"""
from __future__ import annotations

from fer_core.common.quiet import import_tensorflow_quietly

import_tensorflow_quietly()  # before Keras: TensorFlow's start-up notices would bury the CLI's one-line errors

import keras  # noqa: E402
import tensorflow as tf


@keras.saving.register_keras_serializable(package="fer_core")
class RandomJpeg(keras.layers.Layer):
    """Re-encode an image as JPEG at a random quality (``quality`` range), as webcams and WebRTC do."""

    def __init__(self, rate: float = 0.3, quality: tuple[int, int] = (10, 60), seed: int | None = None, **kwargs):
        kwargs.setdefault("name", "random_jpeg")
        super().__init__(**kwargs)
        self.rate, self.quality, self.seed = float(rate), tuple(int(q) for q in quality), seed

    def call(self, inputs, training=None):
        if not training:
            return inputs

        def one(image):
            return tf.image.random_jpeg_quality(image, self.quality[0], self.quality[1])

        compressed = tf.map_fn(one, tf.clip_by_value(inputs, 0.0, 1.0), fn_output_signature=inputs.dtype)
        chosen = tf.random.uniform((tf.shape(inputs)[0], 1, 1, 1), seed=self.seed) < self.rate
        return tf.where(chosen, tf.reshape(compressed, tf.shape(inputs)), inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "quality": list(self.quality), "seed": self.seed}


@keras.saving.register_keras_serializable(package="fer_core")
class RandomEyeBand(keras.layers.Layer):
    """A dark horizontal band over the eyes, like glasses or sunglasses.

    FER2013's faces are aligned with the eyes at about 38% of the height; the band's centre
    moves a little around that line and its height and darkness vary.
    """

    def __init__(self, rate: float = 0.2, eye_line: float = 0.38, height: tuple[float, float] = (0.06, 0.2),
                 seed: int | None = None, **kwargs):
        kwargs.setdefault("name", "random_eye_band")
        super().__init__(**kwargs)
        self.rate, self.eye_line, self.height, self.seed = float(rate), float(eye_line), tuple(height), seed

    def call(self, inputs, training=None):
        if not training:
            return inputs
        shape = tf.shape(inputs)
        batch, rows, cols = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
        centre = (self.eye_line + tf.random.uniform((batch, 1, 1, 1), -0.04, 0.04, seed=self.seed)) * rows
        half = tf.random.uniform((batch, 1, 1, 1), self.height[0], self.height[1], seed=self.seed) * rows / 2
        y = tf.reshape(tf.range(rows), (1, -1, 1, 1))
        x = tf.reshape(tf.range(cols), (1, 1, -1, 1))
        band = (tf.abs(y - centre) <= half) & (x >= cols / 8) & (x < cols - cols / 8)
        chosen = tf.random.uniform((batch, 1, 1, 1), seed=self.seed) < self.rate
        darkness = tf.random.uniform((batch, 1, 1, 1), 0.0, 0.2, seed=self.seed)
        return tf.where(band & chosen, darkness * tf.ones_like(inputs), inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "eye_line": self.eye_line, "height": list(self.height),
                "seed": self.seed}
