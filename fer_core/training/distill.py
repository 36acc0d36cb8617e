"""Knowledge distillation: a teacher's probabilities on the training images, computed once.

A student learns from the soft targets of a stronger (slower) model. Running the teacher on
every augmented view each epoch would cost more than training the student on these 2 cores,
so the teacher's test-time-augmented probabilities (ten-crop averages flips and shifts, so
they hold for the student's flipped and shifted views too) are computed once per teacher,
TTA and data file, and cached in the run folder as ``teacher.npz``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TEACHER_FILE = "teacher.npz"


def teacher_probabilities(
    teacher_dir: str | Path, images: np.ndarray, tta: str = "tencrop", chunk: int = 1024,
) -> np.ndarray:
    """``(N, classes)`` probabilities of a model (an ensemble too) on grey ``(N, 48, 48)`` images."""
    from fer_core.inference.classifier import Classifier

    teacher = Classifier.load(teacher_dir)
    out = np.zeros((len(images), len(teacher.labels)), dtype=np.float32)
    for start in range(0, len(images), chunk):
        # no input blur: the targets every run so far used (and a resumed run's cache still matches)
        out[start : start + chunk] = teacher.predict_proba(images[start : start + chunk], tta=tta, input_blur_sigma=0.0)
        log.info("teacher %s (%s): %d/%d images", teacher.name, tta, min(start + chunk, len(images)), len(images))
    return out


def cached_teacher_probabilities(
    run_dir: str | Path, teacher_dir: str | Path, images: np.ndarray, tta: str, data_sha256: str | None,
) -> np.ndarray:
    """The teacher's probabilities, read from ``run_dir/teacher.npz`` when it matches, else computed and saved."""
    path = Path(run_dir) / TEACHER_FILE
    key = {"teacher": str(Path(teacher_dir).resolve().name), "tta": tta, "data": data_sha256 or "", "n": len(images)}
    if path.is_file():
        with np.load(path) as cached:
            if all(str(cached[k]) == str(v) for k, v in key.items() if k in cached):
                log.info("teacher targets from %s", path)
                return cached["probabilities"]
        log.info("%s is for another teacher, TTA or data; recomputing", path)
    probs = teacher_probabilities(teacher_dir, images, tta)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("tmp-" + path.name)
    with open(tmp, "wb") as f:
        np.savez(f, probabilities=probs, **{k: np.asarray(v) for k, v in key.items()})
    tmp.replace(path)
    return probs


def teacher_network(teacher_dir: str | Path, precision: str = "float32"):
    """The teacher as one Keras model (an ensemble averages its members), computing in ``precision``.

    Per-view distillation runs the teacher on every training batch, so its cost is paid each
    epoch; in ``mixed_bfloat16`` each member is rebuilt from its metadata under that policy and
    its weights copied (a saved model keeps the float32 policy it was built with).

    Returns:
        ``(model, input_spec)``.
    """
    from fer_core.training.architectures import build, copy_weights, dtype_policy
    from fer_core.catalog.model import average_members, is_ensemble, load_keras_model, load_members, read_metadata
    from fer_core.catalog.input_spec import InputSpec

    metadata = read_metadata(teacher_dir)
    spec = InputSpec.from_dict(metadata["input_spec"])
    if precision == "float32":
        return load_keras_model(teacher_dir)[0], spec
    loaded = load_members(teacher_dir, metadata)  # the same label and input checks as loading
    folders, members = [member_dir for member_dir, _, _ in loaded], []
    for _, trained, member_meta in loaded:
        architecture = member_meta["architecture"]
        with dtype_policy(precision):
            rebuilt, _ = build(architecture["name"], len(member_meta["labels"]),
                               **{**architecture.get("options", {}), "augment": "none"})
        copy_weights(trained, rebuilt)
        members.append(rebuilt)
    if not is_ensemble(metadata):
        return members[0], spec
    return average_members(members, folders, spec, metadata["name"]), spec
