"""Training: one frozen config, Keras callbacks, a checkpoint every epoch and ``--resume``.

The output folder holds, while training:
- ``checkpoint.keras`` + ``state.json``: the latest epoch, optimizer included (one file,
  replaced each epoch, so an interrupted run resumes where it stopped);
- ``best.keras``: the best epoch on the validation split (PublicTest by default);
- ``log.csv``: one row per epoch.
At the end the best epoch is exported as an inference model (``model.keras`` +
``metadata.json``) that :mod:`fer_core.model` loads.
"""
from __future__ import annotations

import json
import logging
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from fer_core.data import FerData, file_sha256, load_fer2013, resolve_data_path
from fer_core.labels import LABELS, NUM_CLASSES
from fer_core.model import save_model
from fer_core.preprocess import InputSpec, preprocess_faces

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.keras"
STATE = "state.json"
BEST = "best.keras"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved with the checkpoint and the model."""

    arch: str = "vgg"
    out: str = "runs/vgg32"
    data: str | None = None
    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "adamw"  # adam | adamw | sgd
    learning_rate: float = 2e-3
    weight_decay: float = 0.05
    schedule: str = "cosine"  # cosine (warm-up + cosine decay) | plateau (ReduceLROnPlateau)
    warmup_epochs: int = 1
    label_smoothing: float = 0.1
    class_weight: bool = False
    augment: str = "strong"  # none | standard | strong
    width: int = 32  # base width of vgg and student
    early_stopping: int = 0  # patience in epochs on val accuracy; 0 = off
    lr_patience: int = 5
    lr_factor: float = 0.5
    train_split: str = "Training"
    val_split: str = "PublicTest"
    limit: int = 0  # rows per split, for smoke tests; 0 = all
    init_from: str | None = None  # a model folder whose weights start this run (fine-tuning, warm restarts)
    teacher: str | None = None  # a model folder to distil from (soft targets on the training images)
    teacher_tta: str = "tencrop"
    distill_weight: float = 0.8  # target = w * teacher + (1 - w) * label
    ema: float = 0.0  # momentum of the weights' moving average (e.g. 0.999), used for validation and export; 0 = off
    seed: int = 42


#: The seed report's settings, and the default recipe for the compact VGG.
RECIPES: dict[str, dict] = {
    "seed": dict(
        optimizer="adam", learning_rate=3e-4, weight_decay=0.0, batch_size=32, schedule="plateau",
        early_stopping=7, lr_patience=5, lr_factor=0.5, label_smoothing=0.0, augment="standard",
    ),
    "vgg": dict(
        optimizer="adamw", learning_rate=2e-3, weight_decay=0.05, batch_size=64, schedule="cosine",
        early_stopping=0, label_smoothing=0.1, augment="strong", width=32,
    ),
    # The fast path: distilled from the default ensemble's ten-crop probabilities, weights EMA.
    "student": dict(
        optimizer="adamw", learning_rate=3e-3, weight_decay=0.05, batch_size=128, schedule="cosine",
        early_stopping=0, label_smoothing=0.0, augment="strong", width=16, epochs=60,
        teacher="models/vgg32x2", teacher_tta="tencrop", distill_weight=0.8, ema=0.998,
    ),
}


def recipe(arch: str, **overrides) -> TrainConfig:
    """The default config of an architecture with the given fields replaced (None = keep)."""
    base = TrainConfig(arch=arch, **RECIPES.get(arch, {}))
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def _subsample(images: np.ndarray, labels: np.ndarray, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not limit or limit >= len(labels):
        return images, labels
    idx = np.sort(np.random.default_rng(seed).choice(len(labels), size=limit, replace=False))
    return images[idx], labels[idx]


def _arch_options(config: TrainConfig, augment: str) -> dict:
    options = {"augment": augment}
    if config.arch in ("vgg", "student"):
        options["width"] = config.width
    return options


def _optimizer(config: TrainConfig, steps_per_epoch: int):
    import keras

    lr = config.learning_rate
    if config.schedule == "cosine":
        total = steps_per_epoch * config.epochs
        warmup = min(steps_per_epoch * config.warmup_epochs, total // 2)
        lr = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=config.learning_rate * 0.1, decay_steps=max(1, total - warmup),
            alpha=0.01, warmup_target=config.learning_rate, warmup_steps=warmup,
        )
    elif config.schedule != "plateau":
        raise ValueError(f"unknown schedule {config.schedule!r}; expected cosine or plateau")
    ema = dict(use_ema=True, ema_momentum=config.ema) if config.ema else {}
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=config.weight_decay, **ema)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr, **ema)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=config.weight_decay or None, **ema)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; expected adam, adamw or sgd")


def _read_state(out: Path) -> dict:
    return json.loads((out / STATE).read_text())


def _write_state(out: Path, state: dict) -> None:
    tmp = out / (STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, out / STATE)


def _make_callbacks(out: Path, state: dict, config: TrainConfig, resumed: bool) -> list:
    import keras

    class ResumableCheckpoint(keras.callbacks.Callback):
        """Save the whole training state after every epoch, replacing the previous one."""

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.time()

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            logs["seconds"] = round(time.time() - self._t0, 1)
            state["history"].append({"epoch": epoch + 1, **logs})
            state["epochs_done"] = epoch + 1
            state["wall_time_s"] = round(state["wall_time_s"] + logs["seconds"], 1)
            if logs.get("val_accuracy", -1) > state.get("best_val_accuracy", -1):
                state["best_val_accuracy"], state["best_epoch"] = logs["val_accuracy"], epoch + 1
            tmp = out / ("tmp-" + CHECKPOINT)
            self.model.save(tmp)
            os.replace(tmp, out / CHECKPOINT)
            _write_state(out, state)
            log.info(
                "epoch %d/%d  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f  lr %.2e  %.0fs",
                epoch + 1, config.epochs, logs.get("loss", math.nan), logs.get("accuracy", math.nan),
                logs.get("val_loss", math.nan), logs.get("val_accuracy", math.nan),
                logs["learning_rate"], logs["seconds"],
            )

    callbacks = []
    if config.ema:
        # Validate and checkpoint the averaged weights: they are in the model at each epoch's end.
        swap = keras.callbacks.SwapEMAWeights(swap_on_epoch=True)
        # A resumed checkpoint was saved with the averages in the model and the raw weights in
        # the optimizer's slots; the first epoch's start swaps them back.
        swap._ema_weights_in_model = resumed
        callbacks.append(swap)
    callbacks += [
        keras.callbacks.ModelCheckpoint(
            out / BEST, monitor="val_accuracy", mode="max", save_best_only=True,
            initial_value_threshold=state.get("best_val_accuracy"),
        ),
        keras.callbacks.CSVLogger(out / "log.csv", append=True),
        keras.callbacks.TerminateOnNaN(),
        ResumableCheckpoint(),
    ]
    if config.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_accuracy", mode="max", factor=config.lr_factor, patience=config.lr_patience, verbose=1))
    if config.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=config.early_stopping, verbose=1))
    return callbacks


def _copy_weights(source, target) -> None:
    """Copy weights layer by layer in order, skipping augmentation layers (they hold only RNG state)."""
    src = [layer for layer in source.layers if layer.weights and not layer.name.startswith("random_")]
    dst = [layer for layer in target.layers if layer.weights and not layer.name.startswith("random_")]
    if len(src) != len(dst):
        raise ValueError(f"architectures differ: {len(src)} weighted layers in {source.name}, {len(dst)} in {target.name}")
    for a, b in zip(src, dst):
        b.set_weights(a.get_weights())


def export_inference_model(trained, config: TrainConfig):
    """The trained network rebuilt without augmentation layers, weights copied in order."""
    from fer_core.architectures import build

    clean, _ = build(config.arch, NUM_CLASSES, **_arch_options(config, "none"))
    _copy_weights(trained, clean)
    return clean


def train(
    config: TrainConfig, *, resume: bool = False, data: FerData | None = None, command: str | None = None,
    callbacks: list | None = None,
) -> Path:
    """Train (or resume) a model and export it to ``config.out``; returns that folder.

    ``callbacks`` are extra Keras callbacks, run after the checkpointing ones.

    Raises:
        FileExistsError: ``out`` already holds a checkpoint and ``resume`` is False.
        FileNotFoundError: ``resume`` is True but there is no checkpoint to resume.
    """
    import keras

    from fer_core.architectures import build

    out = Path(config.out)
    has_checkpoint = (out / CHECKPOINT).is_file() and (out / STATE).is_file()
    if resume and not has_checkpoint:
        raise FileNotFoundError(f"--resume: no {CHECKPOINT} and {STATE} in {out}")
    if has_checkpoint and not resume:
        raise FileExistsError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
    if resume:
        state = _read_state(out)
        config = TrainConfig(**state["config"])  # the saved run decides; a resumed run is the same run
        log.info("resuming %s after epoch %d of %d", out, state["epochs_done"], config.epochs)

    data_path = resolve_data_path(config.data)
    if data is None:
        data = load_fer2013(data_path)
    # Empty splits are refused here, before any model is built or the output folder exists.
    x_train, y_train = _subsample(*data.require_split(config.train_split), config.limit, config.seed)
    x_val, y_val = _subsample(
        *data.require_split(config.val_split, hint="choose another split with --val-split"), config.limit, config.seed)
    keras.utils.set_random_seed(config.seed + (state["epochs_done"] if resume else 0))
    builder_spec = build(config.arch, NUM_CLASSES, **_arch_options(config, "none"))[1]
    spec: InputSpec = builder_spec
    out.mkdir(parents=True, exist_ok=True)  # only now: a refused run leaves no half-made folder
    y_train_1h = keras.utils.to_categorical(y_train, NUM_CLASSES)
    if config.teacher:
        from fer_core.distill import cached_teacher_probabilities

        soft = cached_teacher_probabilities(
            out, config.teacher, x_train, config.teacher_tta, file_sha256(data_path) if data_path.is_file() else None)
        log.info("distilling from %s (%s): teacher accuracy on %s %.4f, weight %.2f", config.teacher,
                 config.teacher_tta, config.train_split, float((soft.argmax(1) == y_train).mean()), config.distill_weight)
        y_train_1h = config.distill_weight * soft + (1 - config.distill_weight) * y_train_1h
    x_train, x_val = preprocess_faces(x_train, spec), preprocess_faces(x_val, spec)
    y_val_1h = keras.utils.to_categorical(y_val, NUM_CLASSES)
    steps_per_epoch = math.ceil(len(x_train) / config.batch_size)

    if resume:
        model = keras.models.load_model(out / CHECKPOINT, safe_mode=True)
    else:
        model, _ = build(config.arch, NUM_CLASSES, **_arch_options(config, config.augment))
        if config.init_from:
            from fer_core.model import load_keras_model

            _copy_weights(load_keras_model(config.init_from)[0], model)
            log.info("starting from the weights of %s", config.init_from)
        model.compile(
            optimizer=_optimizer(config, steps_per_epoch),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
            metrics=["accuracy"],
        )
        state = {
            "config": asdict(config), "epochs_done": 0, "wall_time_s": 0.0, "history": [],
            "command": command or " ".join(sys.argv), "data_sha256": file_sha256(data_path) if data_path.is_file() else None,
        }
        _write_state(out, state)
    class_weight = None
    if config.class_weight:
        from sklearn.utils.class_weight import compute_class_weight

        weights = compute_class_weight("balanced", classes=np.arange(NUM_CLASSES), y=y_train)
        class_weight = dict(enumerate(weights.tolist()))
    log.info("training %s on %d %s images, validating on %d %s images, %d epochs",
             model.name, len(x_train), config.train_split, len(x_val), config.val_split, config.epochs)
    if state["epochs_done"] < config.epochs:
        model.fit(
            x_train, y_train_1h, validation_data=(x_val, y_val_1h), epochs=config.epochs,
            initial_epoch=state["epochs_done"], batch_size=config.batch_size, class_weight=class_weight,
            callbacks=_make_callbacks(out, state, config, resume) + list(callbacks or []), verbose=1 if sys.stdout.isatty() else 2,
        )
    state = _read_state(out)
    best = keras.models.load_model(out / BEST, safe_mode=True) if (out / BEST).is_file() else model
    final = export_inference_model(best, config)
    metadata = build_metadata(final, config, spec, state, data)
    save_model(final, out, metadata)
    from fer_core.litert import export_model_folder

    export_model_folder(out)  # the fast runtime, checked against Keras
    log.info("saved %s (best epoch %s, %s accuracy %.4f)", out, state.get("best_epoch"),
             config.val_split, state.get("best_val_accuracy", float("nan")))
    return out


def build_metadata(model, config: TrainConfig, spec: InputSpec, state: dict, data: FerData) -> dict:
    """The metadata stored beside an exported model (see :mod:`fer_core.model`)."""
    import keras
    import tensorflow as tf

    return {
        "name": Path(config.out).name,
        "labels": list(LABELS),
        "input_spec": spec.to_dict(),
        "architecture": {"name": config.arch, "options": _arch_options(config, "none"), "params": int(model.count_params())},
        "inference": {"tta": "none"},
        "training": {
            "config": asdict(config),
            "command": state.get("command"),
            "epochs_run": state["epochs_done"],
            "best_epoch": state.get("best_epoch"),
            "wall_time_s": state["wall_time_s"],
            "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores",
            "framework": f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
        },
        "data": {"source": data.source, "sha256": state.get("data_sha256"), "class_counts": data.class_counts()},
        "history": state["history"],
        "metrics": {config.val_split: {"accuracy": state.get("best_val_accuracy")}},
    }
