"""Model architectures, each a ``make_model(spec, num_classes)`` in the Keras examples' style.

- ``seed``: the seed report's CNN, layer for layer (8.7M parameters, RGB input).
- ``vgg``: the default, a compact VGG (two 3x3 convs per stage, BatchNorm, global average
  pooling) sized for a 2-core CPU: about 1.2M parameters at width 32.
- ``student``: the fast path, a narrow five-stage VGG (widths 16-32-64-128-256, about
  64 MFLOP per face, a quarter of ``vgg``), trained by distillation from the best ensemble.
- ``resnet``: a compact pre-activation ResNet (stages w-2w-4w-8w of 1-1-2-1 basic blocks,
  about 1.5M parameters at width 32): a differently built member for the ensembles (issue 12).

Data augmentation lives inside the model (Keras preprocessing layers are no-ops at
inference), so training and inference share one graph and one preprocessing function.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fer_core.common.quiet import import_tensorflow_quietly

import_tensorflow_quietly()  # before Keras: TensorFlow's start-up notices would bury the CLI's one-line errors

import keras  # noqa: E402
from keras import layers

from fer_core.common.sizes import IMAGE_SIZE
from fer_core.catalog.input_spec import InputSpec

DEFAULT_ARCH = "vgg"


def augmentation(strength: str = "standard") -> list[layers.Layer]:
    """Flips, small shifts, rotations and zooms (+ random erasing for ``strong``); training only.

    ``camera`` is ``strong`` plus what the studio's cameras bring and FER2013 lacks (issue 12):
    lighting and contrast changes, small out-of-plane poses, blur, sensor noise, JPEG
    artefacts and glasses-like bands, each image getting each with some probability.
    """
    if strength == "none":
        return []
    if strength == "camera":
        from fer_core.training.camera_layers import RandomEyeBand, RandomJpeg

        return augmentation("strong") + [
            layers.RandomPerspective(factor=(0.3, 0.3), scale=0.15, fill_value=0.5, dtype="float32"),
            layers.RandomBrightness(0.3, value_range=(0, 1), dtype="float32"),
            layers.RandomContrast(0.5, value_range=(0, 1), dtype="float32"),
            layers.RandomGaussianBlur(factor=(0.3, 0.3), kernel_size=5, sigma=(0.3, 1.6), value_range=(0, 1),
                                      dtype="float32"),
            RandomEyeBand(rate=0.15, dtype="float32"),
            RandomJpeg(rate=0.3, dtype="float32"),
            layers.GaussianNoise(0.03, name="random_gaussian_noise", dtype="float32"),
        ]
    aug: list[layers.Layer] = [
        layers.RandomFlip("horizontal", dtype="float32"),
        layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", dtype="float32"),
        layers.RandomRotation(10 / 360, fill_mode="reflect", dtype="float32"),
        layers.RandomZoom((-0.1, 0.1), fill_mode="reflect", dtype="float32"),
    ]
    if strength == "strong":
        aug.append(layers.RandomErasing(factor=0.5, scale=(0.02, 0.15), fill_value=0.5, value_range=(0, 1), dtype="float32"))
    elif strength != "standard":
        raise ValueError(f"unknown augmentation {strength!r}; expected none, standard, strong or camera")
    return aug


def build_seed(spec: InputSpec, num_classes: int, augment: str = "standard") -> keras.Model:
    """The seed report's CNN: Conv 64/128/512/512, Dense 256/512, Dropout 0.25 everywhere."""
    model = keras.Sequential(name="seed")
    model.add(keras.Input(shape=spec.shape))
    for aug_layer in augmentation(augment):
        model.add(aug_layer)
    for filters, kernel, pool in ((64, 3, 2), (128, 5, 2), (512, 5, 3), (512, 5, 3)):
        model.add(layers.Conv2D(filters, kernel, padding="same", activation="relu"))
        model.add(layers.BatchNormalization())
        model.add(layers.MaxPooling2D(pool))
        model.add(layers.Dropout(0.25))
    model.add(layers.Flatten())
    for units in (256, 512):
        model.add(layers.Dense(units, activation="relu"))
        model.add(layers.BatchNormalization())
        model.add(layers.Dropout(0.25))
    model.add(layers.Dense(num_classes, activation="softmax", dtype="float32"))
    return model


def _vgg_stages(
    spec: InputSpec, num_classes: int, augment: str, widths: tuple[int, ...], convs: tuple[int, ...],
    dropout: float, name: str,
) -> keras.Model:
    """Stages of 3x3 conv+BN+ReLU (``convs[i]`` at ``widths[i]``), 2x2 max-pool between them, GAP, softmax."""
    inputs = keras.Input(shape=spec.shape)
    x = inputs
    for aug_layer in augmentation(augment):
        x = aug_layer(x)
    for stage, (filters, count) in enumerate(zip(widths, convs)):
        for _ in range(count):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal")(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        if stage < len(widths) - 1:
            x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def build_vgg(spec: InputSpec, num_classes: int, augment: str = "strong", width: int = 32) -> keras.Model:
    """Compact VGG: stages of width w, 2w, 4w, 8w, two 3x3 conv+BN+ReLU each, then GAP."""
    widths = (width, width * 2, width * 4, width * 8)
    return _vgg_stages(spec, num_classes, augment, widths, (2, 2, 2, 2), 0.4, f"vgg{width}")


def build_student(spec: InputSpec, num_classes: int, augment: str = "strong", width: int = 16) -> keras.Model:
    """The fast student: ``vgg`` at width 16 plus a fifth one-conv stage at 3x3 (16w channels).

    Chosen by measured LiteRT speed on 2 cores (see the README): plain 3x3 convs beat
    depthwise-separable blocks per unit of accuracy at this size, and the cheap fifth stage
    adds capacity where the feature map is smallest.
    """
    widths = (width, width * 2, width * 4, width * 8, width * 16)
    return _vgg_stages(spec, num_classes, augment, widths, (2, 2, 2, 2, 1), 0.2, f"student{width}")


def _preact_block(x, filters: int, stride: int):
    """BN-ReLU-conv3x3, BN-ReLU-conv3x3, plus the input.

    Where the shape changes, the shortcut is a 2x2 average pool then a 1x1 conv (ResNet-D's):
    it keeps every input pixel, and a strided 1x1 conv crashes TensorFlow's float32 CPU kernels
    (a double free in its gradient, TF 2.21).
    """
    pre = layers.ReLU()(layers.BatchNormalization()(x))
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        pooled = layers.AveragePooling2D(stride)(pre) if stride != 1 else pre
        shortcut = layers.Conv2D(filters, 1, use_bias=False, kernel_initializer="he_normal")(pooled)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, kernel_initializer="he_normal")(pre)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal")(y)
    return layers.Add()([y, shortcut])


def build_resnet(spec: InputSpec, num_classes: int, augment: str = "strong", width: int = 32) -> keras.Model:
    """Pre-activation ResNet for 48x48 faces: a 3x3 stem, then 1-1-2-1 basic blocks at w, 2w, 4w, 8w
    (stride 2 between stages, so 48-24-12-6 pixels), BN-ReLU, GAP, dropout, softmax.

    Meant to err unlike the plain VGGs, which is what an ensemble member is for. After 36 epochs
    it did not beat mix3b's members on PublicTest; after 150 (resnet32-150) it is the best single
    network and a member of the default, mix3c (the README's recipe table). Costs about what
    ``vgg`` at width 48 does to train: 193 s against 194 s median per epoch here.
    """
    inputs = keras.Input(shape=spec.shape)
    x = inputs
    for aug_layer in augmentation(augment):
        x = aug_layer(x)
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer="he_normal")(x)
    for stage, blocks in enumerate((1, 1, 2, 1)):
        for block in range(blocks):
            x = _preact_block(x, width * 2 ** stage, 2 if stage and not block else 1)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"resnet{width}")


#: name -> (builder, default input spec)
ARCHITECTURES: dict[str, tuple[Callable[..., keras.Model], InputSpec]] = {
    "seed": (build_seed, InputSpec(size=IMAGE_SIZE, channels=3)),
    "vgg": (build_vgg, InputSpec(size=IMAGE_SIZE, channels=1)),
    "student": (build_student, InputSpec(size=IMAGE_SIZE, channels=1)),
    "resnet": (build_resnet, InputSpec(size=IMAGE_SIZE, channels=1)),
}


def build(arch: str, num_classes: int, **options) -> tuple[keras.Model, InputSpec]:
    """Build an architecture by name; returns the model and its input spec."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}")
    builder, spec = ARCHITECTURES[arch]
    return builder(spec, num_classes, **options), spec


def copy_weights(source, target) -> None:
    """Copy weights layer by layer in order, skipping augmentation layers (they hold only RNG state)."""
    src = [layer for layer in source.layers if layer.weights and not layer.name.startswith("random_")]
    dst = [layer for layer in target.layers if layer.weights and not layer.name.startswith("random_")]
    if len(src) != len(dst):
        raise ValueError(f"architectures differ: {len(src)} weighted layers in {source.name}, {len(dst)} in {target.name}")
    for a, b in zip(src, dst):
        b.set_weights(a.get_weights())


@contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy ``name``, then restore the global one.

    Only the training graph (and a per-view teacher) takes it: inference models are rebuilt in
    float32 (``fer_core.training.train.export_inference_model``), so nothing else in the process changes.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
