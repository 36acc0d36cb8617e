"""Training input pipelines (tf.data): mixup, and the teacher run on each augmented view.

By default augmentation lives inside the model (:mod:`fer_core.training.architectures`) and a teacher's
probabilities are computed once per clean image (:mod:`fer_core.training.distill`). Distillation works
best when the teacher labels the very view the student sees, crop, flip, erasing and mixup
included ("Knowledge distillation: a good teacher is patient and consistent", Beyer et al.
2022). :func:`teacher_view_batches` moves augmentation into the pipeline to do that: each
batch is augmented, mixed, then labelled by the teacher, on the cores the training step
leaves free.
"""
from __future__ import annotations

import numpy as np


def mix(images, targets, alpha: float, seed: int):
    """Mix each example with another of its batch (mixup, Zhang et al. 2018), images and targets alike.

    The weight of the first example is ``max(l, 1 - l)`` with ``l ~ Beta(alpha, alpha)``, so it
    stays the dominant one.
    """
    import tensorflow as tf

    n = tf.shape(images)[0]
    a, b = tf.random.gamma([n], alpha, seed=seed), tf.random.gamma([n], alpha, seed=seed + 1)
    weight = tf.maximum(a / (a + b), b / (a + b))
    other = tf.random.shuffle(tf.range(n), seed=seed)
    wx, wy = tf.reshape(tf.cast(weight, images.dtype), [-1, 1, 1, 1]), tf.reshape(tf.cast(weight, targets.dtype), [-1, 1])
    return wx * images + (1 - wx) * tf.gather(images, other), wy * targets + (1 - wy) * tf.gather(targets, other)


def _shuffled_batches(x: np.ndarray, targets: np.ndarray, batch_size: int, seed: int):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, targets.astype(np.float32)))
    return dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)


def mixup_batches(x: np.ndarray, targets: np.ndarray, batch_size: int, alpha: float, seed: int):
    """Shuffled batches in which each example is mixed with another of its batch (:func:`mix`)."""
    import tensorflow as tf

    return (_shuffled_batches(x, targets, batch_size, seed)
            .map(lambda images, t: mix(images, t, alpha, seed), num_parallel_calls=tf.data.AUTOTUNE).prefetch(2))


def teacher_view_batches(
    x: np.ndarray, labels: np.ndarray, batch_size: int, *, augmenter, teacher, distill_weight: float,
    mixup: float, seed: int,
):
    """Shuffled batches of augmented (and mixed) views with ``w * teacher(view) + (1 - w) * label`` targets.

    ``augmenter`` is a Keras layer stack run in training mode (None: no augmentation), ``teacher``
    a Keras model taking the same input; ``labels`` are one-hot.
    """
    import tensorflow as tf

    def view(images, targets):
        if augmenter is not None:
            images = augmenter(images, training=True)
        if mixup:
            images, targets = mix(images, targets, mixup, seed)
        soft = tf.cast(teacher(images, training=False), targets.dtype)
        return images, distill_weight * soft + (1 - distill_weight) * targets

    return _shuffled_batches(x, labels, batch_size, seed).map(view, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
