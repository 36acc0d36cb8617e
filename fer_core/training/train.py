"""Training: one frozen config, Keras callbacks, a checkpoint every epoch and ``--resume``.

The output folder holds, while training:
- ``checkpoint.keras`` + ``state.json``: the latest epoch, optimizer included (one file,
  replaced each epoch, so an interrupted run resumes where it stopped);
- ``best.keras``: the best epoch on the validation split (PublicTest by default); only the
  checkpoint travels between machines, so a resume without it takes the checkpoint as the best;
- ``log.csv``: one row per epoch.
At the end the best epoch is exported as an inference model (``model.keras`` +
``metadata.json``) that :mod:`fer_core.catalog.model` loads.
"""
from __future__ import annotations

import json
import logging
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from fer_core.common.hashing import file_sha256
from fer_core.data.fer2013 import FerData, load_fer2013, resolve_data_path
from fer_core.common.labels import LABELS, NUM_CLASSES
from fer_core.catalog.model import TTA_MODES, save_model
from fer_core.catalog.input_spec import InputSpec
from fer_core.inference.preprocess import preprocess_faces

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.keras"
STATE = "state.json"
BEST = "best.keras"


Optimizer = Literal["adam", "adamw", "sgd"]
Schedule = Literal["cosine", "plateau"]  # warm-up + cosine decay | ReduceLROnPlateau
Augment = Literal["none", "standard", "strong", "camera"]  # fer_core.training.architectures.augmentation
#: Keras dtype policies for training: bfloat16 compute with float32 weights runs on the AMX/AVX512-BF16
#: units of recent Xeons (vgg32 trains about 1.4x faster here: experiments/bench_precision.py); exported models are always float32.
Precision = Literal["float32", "mixed_bfloat16"]
#: What the teacher labels: each clean training image once (its TTA, cached), or every augmented
#: and mixed view the student sees, during training (fer_core.training.train_inputs.teacher_view_batches).
TeacherView = Literal["clean", "augmented"]

#: Fields with a fixed set of values: field -> the values (a Literal's, or the model's TTA modes).
_CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": get_args(Optimizer), "schedule": get_args(Schedule), "augment": get_args(Augment),
    "teacher_tta": TTA_MODES, "precision": get_args(Precision), "teacher_view": get_args(TeacherView),
}


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything that defines a training run; saved with the checkpoint and the model.

    The recipe's hyperparameters (optimizer, learning rate, batch size, schedule,
    augmentation, width) have no default here: :func:`recipe` is the way to get an
    architecture's defaults (:data:`RECIPES`). Every other default is neutral (off, all rows,
    the standard splits). The field names are those of the saved ``state.json`` files, which
    a resumed run loads with ``TrainConfig(**state["config"])``: keep them all.

    Raises:
        ValueError: a value out of range or not one of the choices; the message names the
            field as its ``python -m fer_core train`` option (``--batch-size 0: expected 1 or more``).
    """

    arch: str
    out: str = "runs/vgg32"  # the CLI passes runs/<arch>
    data: str | None = None
    epochs: int = 30
    batch_size: int
    optimizer: Optimizer
    learning_rate: float
    weight_decay: float = 0.0
    schedule: Schedule
    warmup_epochs: int = 1
    label_smoothing: float = 0.0
    class_weight: bool = False
    augment: Augment
    width: int  # base width of vgg, student and resnet (seed has none)
    early_stopping: int = 0  # patience in epochs on val accuracy; 0 = off
    lr_patience: int = 5
    lr_factor: float = 0.5
    train_split: str = "Training"
    val_split: str = "PublicTest"
    limit: int = 0  # rows per split, for smoke tests; 0 = all
    init_from: str | None = None  # a model folder whose weights start this run (fine-tuning, warm restarts)
    teacher: str | None = None  # a model folder to distil from (soft targets on the training images)
    teacher_tta: str = "tencrop"  # one of fer_core.catalog.model.TTA_MODES; for teacher_view "clean"
    teacher_view: TeacherView = "clean"
    distill_weight: float = 0.8  # target = w * teacher + (1 - w) * label
    ema: float = 0.0  # momentum of the weights' moving average (e.g. 0.999), used for validation and export; 0 = off
    mixup: float = 0.0  # alpha of mixup's Beta(alpha, alpha) over images and targets (e.g. 0.2); 0 = off
    precision: Precision = "float32"  # the training graph's dtype policy; a checkpoint keeps its own
    seed: int = 42

    def __post_init__(self) -> None:
        from fer_core.training.architectures import ARCHITECTURES

        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; expected one of {', '.join(ARCHITECTURES)}")
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{_option(name)} {value!r}: expected one of {', '.join(allowed)}")
        # Numbers that would crash, or silently do nothing, an hour into training; the CLI prints
        # these messages as they are (fer_core.cli.main), so they name the options.
        rules = [
            ("epochs", self.epochs >= 1, "1 or more"),
            ("batch_size", self.batch_size >= 1, "1 or more"),
            ("width", self.width >= 1, "1 or more"),
            ("limit", self.limit >= 0, "0 (all rows) or more"),
            ("learning_rate", self.learning_rate > 0, "above 0"),
            ("weight_decay", self.weight_decay >= 0, "0 or more"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "from 0 up to (not including) 1"),
            ("early_stopping", self.early_stopping >= 0, "0 (off) or a patience in epochs"),
            ("distill_weight", 0 <= self.distill_weight <= 1, "between 0 and 1"),
            ("ema", 0 <= self.ema < 1, "0 (off) or a momentum below 1, e.g. 0.999"),
            ("mixup", self.mixup >= 0, "0 (off) or a positive Beta alpha, e.g. 0.2"),
            ("warmup_epochs", self.warmup_epochs >= 0, "0 or more"),
            ("lr_patience", self.lr_patience >= 0, "0 or more"),
            ("lr_factor", 0 < self.lr_factor < 1, "above 0 and below 1"),
        ]
        for name, ok, expected in rules:
            if not ok:
                raise ValueError(f"{_option(name)} {getattr(self, name)}: expected {expected}")
        if self.teacher_view == "augmented" and not self.teacher:
            raise ValueError("--teacher-view augmented: needs a --teacher to label the views")


def _option(field: str) -> str:
    """A config field as its command-line option: ``batch_size`` -> ``--batch-size``."""
    return "--" + field.replace("_", "-")


#: The recipes, the one place for each architecture's defaults: the seed report's settings,
#: the compact VGG's (the default), the distilled student's and the residual member's.
_VGG_RECIPE = dict(
    optimizer="adamw", learning_rate=2e-3, weight_decay=0.05, batch_size=64, schedule="cosine",
    early_stopping=0, label_smoothing=0.1, augment="strong", width=32,
)
RECIPES: dict[str, dict] = {
    "seed": dict(
        optimizer="adam", learning_rate=3e-4, weight_decay=0.0, batch_size=32, schedule="plateau",
        early_stopping=7, lr_patience=5, lr_factor=0.5, label_smoothing=0.0, augment="standard",
        width=32,  # unused by seed; kept so its saved configs read as before
    ),
    "vgg": _VGG_RECIPE,
    # The fast path: distilled from the accurate ensemble's flip probabilities, weights EMA
    # (models/student16 was distilled from a retired ensemble's ten-crop: docs/experiments.md).
    "student": dict(
        optimizer="adamw", learning_rate=3e-3, weight_decay=0.05, batch_size=128, schedule="cosine",
        early_stopping=0, label_smoothing=0.0, augment="strong", width=16, epochs=60,
        teacher="models/mix3c", teacher_tta="flip", distill_weight=0.8, ema=0.998,
    ),
    # A residual member for the ensembles (issue 12): vgg's optimiser and schedule.
    "resnet": _VGG_RECIPE,
}


def recipe(arch: str, **overrides) -> TrainConfig:
    """The default config of an architecture with the given fields replaced (None = keep).

    Raises:
        ValueError: an unknown architecture, or a value :class:`TrainConfig` refuses.
    """
    if arch not in RECIPES:
        from fer_core.training.architectures import ARCHITECTURES

        known = ", ".join(ARCHITECTURES)
        raise ValueError(f"unknown architecture {arch!r}; expected one of {known}"
                         if arch not in ARCHITECTURES else f"architecture {arch!r} has no recipe in RECIPES")
    fields = dict(RECIPES[arch])
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(arch=arch, **fields)


def _subsample(images: np.ndarray, labels: np.ndarray, limit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not limit or limit >= len(labels):
        return images, labels
    idx = np.sort(np.random.default_rng(seed).choice(len(labels), size=limit, replace=False))
    return images[idx], labels[idx]


def _arch_options(config: TrainConfig, augment: str) -> dict:
    options = {"augment": augment}
    if config.arch != "seed":  # every other builder takes a width
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


def _swap_ema_weights(averages_in_model: bool):
    """Keras' ``SwapEMAWeights(swap_on_epoch=True)``, told whether the model starts holding the averaged weights.

    A resumed checkpoint was saved at an epoch's end, with the averages in the model and the raw
    weights in the optimizer's slots; the first epoch's start must swap them back. Keras 3.15 has
    no public way to say so (the constructor takes ``swap_on_epoch`` only; the callback keeps the
    state in ``_ema_weights_in_model``), so this one place sets that private attribute: check it
    when Keras is upgraded (``tests/test_train.py`` resumes an EMA run).
    """
    import keras

    swap = keras.callbacks.SwapEMAWeights(swap_on_epoch=True)
    swap._ema_weights_in_model = averages_in_model  # private: see the docstring
    return swap


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
        callbacks.append(_swap_ema_weights(averages_in_model=resumed))
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


def export_inference_model(trained, config: TrainConfig):
    """The trained network rebuilt without augmentation layers, weights copied in order."""
    from fer_core.training.architectures import build, copy_weights

    clean, _ = build(config.arch, NUM_CLASSES, **_arch_options(config, "none"))
    copy_weights(trained, clean)
    return clean


@dataclass
class Prepared:
    """The run's data, ready for ``fit``: preprocessed images and their (possibly distilled) targets."""

    data: FerData
    data_path: Path
    spec: InputSpec
    x_train: np.ndarray
    y_train: np.ndarray  # class indices (class weights, the teacher's accuracy)
    targets: np.ndarray  # one-hot labels, or the blend with the teacher's probabilities
    x_val: np.ndarray
    y_val: np.ndarray  # one-hot


def _open_run(config: TrainConfig, resume: bool) -> tuple[TrainConfig, dict | None]:
    """Check ``out`` against ``resume``; a resumed run's config and state come from its ``state.json``."""
    out = Path(config.out)
    has_checkpoint = (out / CHECKPOINT).is_file() and (out / STATE).is_file()
    if resume and not has_checkpoint:
        raise FileNotFoundError(f"--resume: no {CHECKPOINT} and {STATE} in {out}")
    if has_checkpoint and not resume:
        raise FileExistsError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
    if not resume:
        return config, None
    state = _read_state(out)
    config = TrainConfig(**state["config"])  # the saved run decides; a resumed run is the same run
    log.info("resuming %s after epoch %d of %d", out, state["epochs_done"], config.epochs)
    return config, _restore_best(out, state, config.val_split)


def _restore_best(out: Path, state: dict, val_split: str) -> dict:
    """A resumed run without ``best.keras`` (a fresh clone carries only the checkpoint): the
    checkpoint's epoch becomes the best, so the exported weights and the best epoch in their
    metadata always agree. A lost better epoch stays in ``history`` and ``log.csv``."""
    last = state["history"][-1] if state["history"] else {}
    if (out / BEST).is_file() or "val_accuracy" not in last:
        return state
    if state.get("best_epoch") != last["epoch"]:
        log.warning("%s: no %s, so epoch %s's weights (%s %.4f) are gone; epoch %d, the checkpoint (%.4f), "
                    "is the best from here", out, BEST, state.get("best_epoch"), val_split,
                    state.get("best_val_accuracy", float("nan")), last["epoch"], last["val_accuracy"])
    shutil.copyfile(out / CHECKPOINT, out / BEST)  # the same model, saved at the same epoch's end
    state = {**state, "best_val_accuracy": last["val_accuracy"], "best_epoch": last["epoch"]}
    _write_state(out, state)
    return state


def _prepare(config: TrainConfig, data: FerData | None, epochs_done: int) -> Prepared:
    """Load and split the data, seed the run, make ``out`` and the targets (the teacher's included).

    Empty splits are refused before any model is built or the output folder exists.
    """
    import keras

    from fer_core.training.architectures import build

    out = Path(config.out)
    data_path = resolve_data_path(config.data)
    if data is None:
        data = load_fer2013(data_path)
    x_train, y_train = _subsample(*data.require_split(config.train_split), config.limit, config.seed)
    x_val, y_val = _subsample(
        *data.require_split(config.val_split, hint="choose another split with --val-split"), config.limit, config.seed)
    keras.utils.set_random_seed(config.seed + epochs_done)
    spec: InputSpec = build(config.arch, NUM_CLASSES, **_arch_options(config, "none"))[1]
    out.mkdir(parents=True, exist_ok=True)  # only now: a refused run leaves no half-made folder
    targets = _targets(config, out, x_train, y_train, data_path)
    return Prepared(
        data=data, data_path=data_path, spec=spec,
        x_train=preprocess_faces(x_train, spec), y_train=y_train, targets=targets,
        x_val=preprocess_faces(x_val, spec), y_val=keras.utils.to_categorical(y_val, NUM_CLASSES),
    )


def _targets(config: TrainConfig, out: Path, images: np.ndarray, labels: np.ndarray, data_path: Path) -> np.ndarray:
    """One-hot labels, blended with the teacher's probabilities (cached in ``out``) when distilling."""
    import keras

    one_hot = keras.utils.to_categorical(labels, NUM_CLASSES)
    if not config.teacher or config.teacher_view == "augmented":  # the latter labels its views in _fit
        return one_hot
    from fer_core.training.distill import cached_teacher_probabilities

    soft = cached_teacher_probabilities(
        out, config.teacher, images, config.teacher_tta, file_sha256(data_path) if data_path.is_file() else None)
    log.info("distilling from %s (%s): teacher accuracy on %s %.4f, weight %.2f", config.teacher,
             config.teacher_tta, config.train_split, float((soft.argmax(1) == labels).mean()), config.distill_weight)
    return config.distill_weight * soft + (1 - config.distill_weight) * one_hot


def _build_or_resume(config: TrainConfig, prepared: Prepared, state: dict | None, command: str | None):
    """The model, its optimizer and the run's state: loaded from the checkpoint, or new (and saved)."""
    import keras

    from fer_core.training.architectures import build, copy_weights, dtype_policy

    out = Path(config.out)
    if state is not None:  # the checkpoint's layers carry their dtype policy
        import fer_core.training.camera_layers  # noqa: F401  registers --augment camera's layers for a fresh process

        return keras.models.load_model(out / CHECKPOINT, safe_mode=True), state
    with dtype_policy(config.precision):
        model, _ = build(config.arch, NUM_CLASSES, **_arch_options(config, _model_augment(config)))
    if config.init_from:
        from fer_core.catalog.model import load_keras_model

        copy_weights(load_keras_model(config.init_from)[0], model)
        log.info("starting from the weights of %s", config.init_from)
    model.compile(
        optimizer=_optimizer(config, math.ceil(len(prepared.x_train) / config.batch_size)),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )
    data_path = prepared.data_path
    state = {
        "config": asdict(config), "epochs_done": 0, "wall_time_s": 0.0, "history": [],
        "command": command or " ".join(sys.argv), "data_sha256": file_sha256(data_path) if data_path.is_file() else None,
    }
    _write_state(Path(config.out), state)
    return model, state


def _class_weight(config: TrainConfig, labels: np.ndarray) -> dict[int, float] | None:
    if not config.class_weight:
        return None
    from sklearn.utils.class_weight import compute_class_weight

    weights = compute_class_weight("balanced", classes=np.arange(NUM_CLASSES), y=labels)
    return dict(enumerate(weights.tolist()))


def _model_augment(config: TrainConfig) -> str:
    """The augmentation inside the model: none when the input pipeline augments (for the teacher's views)."""
    return "none" if config.teacher_view == "augmented" else config.augment


def _fit_inputs(config: TrainConfig, prepared: Prepared, seed: int) -> dict:
    """``fit``'s training inputs: arrays, or a shuffled dataset for mixup and the teacher's views."""
    from fer_core.training import train_inputs
    if config.teacher_view == "augmented":
        import keras

        from fer_core.training.architectures import augmentation
        from fer_core.training.distill import teacher_network

        teacher, spec = teacher_network(config.teacher, config.precision)
        if spec != prepared.spec:
            raise ValueError(f"--teacher {config.teacher}: input {spec.to_dict()} differs from the "
                             f"{config.arch} network's {prepared.spec.to_dict()}; label the clean images instead")
        layers = augmentation(config.augment)
        log.info("distilling from %s on every augmented view, weight %.2f", config.teacher, config.distill_weight)
        dataset = train_inputs.teacher_view_batches(
            prepared.x_train, prepared.targets, config.batch_size, augmenter=keras.Sequential(layers) if layers else None,
            teacher=teacher, distill_weight=config.distill_weight, mixup=config.mixup, seed=seed)
        return dict(x=dataset, shuffle=False)  # shuffled by the dataset
    if config.mixup:
        # mixup needs pairs of examples: a shuffled, batched dataset whose batches are mixed
        return dict(x=train_inputs.mixup_batches(prepared.x_train, prepared.targets, config.batch_size, config.mixup, seed),
                    shuffle=False)
    return dict(x=prepared.x_train, y=prepared.targets, batch_size=config.batch_size)


def _fit(model, config: TrainConfig, prepared: Prepared, state: dict, resumed: bool, callbacks: list | None) -> None:
    """Train the epochs not done yet; every epoch is checkpointed (see :func:`_make_callbacks`)."""
    log.info("training %s on %d %s images, validating on %d %s images, %d epochs",
             model.name, len(prepared.x_train), config.train_split, len(prepared.x_val), config.val_split, config.epochs)
    if state["epochs_done"] >= config.epochs:
        return
    model.fit(
        **_fit_inputs(config, prepared, config.seed + state["epochs_done"]), validation_data=(prepared.x_val, prepared.y_val), epochs=config.epochs,
        initial_epoch=state["epochs_done"],
        class_weight=_class_weight(config, prepared.y_train),
        callbacks=_make_callbacks(Path(config.out), state, config, resumed) + list(callbacks or []),
        verbose=1 if sys.stdout.isatty() else 2,
    )


def _export(model, config: TrainConfig, prepared: Prepared) -> Path:
    """Export the best epoch (else the last) as an inference model, Keras and LiteRT, with its metadata."""
    import keras

    from fer_core.training.export import export_model_folder

    out = Path(config.out)
    state = _read_state(out)
    best = keras.models.load_model(out / BEST, safe_mode=True) if (out / BEST).is_file() else model
    final = export_inference_model(best, config)
    save_model(final, out, build_metadata(final, config, prepared.spec, state, prepared.data))
    export_model_folder(out)  # the fast runtime, checked against Keras
    log.info("saved %s (best epoch %s, %s accuracy %.4f)", out, state.get("best_epoch"),
             config.val_split, state.get("best_val_accuracy", float("nan")))
    return out


def train(
    config: TrainConfig, *, resume: bool = False, data: FerData | None = None, command: str | None = None,
    callbacks: list | None = None,
) -> Path:
    """Train (or resume) a model and export it to ``config.out``; returns that folder.

    The steps: open the run (check ``out``; a resumed run's saved config and state), prepare
    the data and targets, build the model (or load the checkpoint), fit, export.
    ``callbacks`` are extra Keras callbacks, run after the checkpointing ones.

    Raises:
        FileExistsError: ``out`` already holds a checkpoint and ``resume`` is False.
        FileNotFoundError: ``resume`` is True but there is no checkpoint to resume.
    """
    config, state = _open_run(config, resume)
    prepared = _prepare(config, data, state["epochs_done"] if state else 0)
    model, state = _build_or_resume(config, prepared, state, command)
    _fit(model, config, prepared, state, resume, callbacks)
    return _export(model, config, prepared)


def build_metadata(model, config: TrainConfig, spec: InputSpec, state: dict, data: FerData) -> dict:
    """The metadata stored beside an exported model (see :mod:`fer_core.catalog.model`)."""
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
