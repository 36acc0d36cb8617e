"""The integer export and its accuracy gates: ``model.int8.tflite`` is kept only if it matches its float twin.

Each network (each member of an ensemble) is quantized (:mod:`fer_core.training.quantize`) and
compared with its float LiteRT twin on PublicTest, one pass with the model's input blur:

- accuracy may drop by at most :data:`MAX_ACCURACY_DROP` (half a point);
- the expected calibration error may rise by at most :data:`MAX_ECE_RISE`;
- the top label must agree on at least :data:`MIN_AGREEMENT` of the faces.

A network that fails keeps running in float32: its integer file is removed and the metadata
records why (``runtimes.litert_int8.accepted`` false, ``gates.reasons``). PrivateTest is never used.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fer_core.catalog.input_spec import InputSpec
from fer_core.catalog.model import (INT8_FILE, MODEL_FILE, TFLITE_FILE, ModelError, input_blur_sigma, is_ensemble,
                                    load_keras_model, member_dirs, read_metadata, write_metadata)
from fer_core.common.hashing import file_sha256
from fer_core.evaluation.evaluate import reliability_bins
from fer_core.inference.litert import LiteRTRunner
from fer_core.inference.preprocess import input_blur, preprocess_faces
from fer_core.training.export import exporter_versions
from fer_core.training.quantize import REPRESENTATIVE_SEED, REPRESENTATIVE_SPLIT, quantize_tflite, representative_faces

#: Largest PublicTest accuracy drop, integer vs float, that is accepted (0.5 point).
MAX_ACCURACY_DROP = 0.005
#: Largest rise in PublicTest expected calibration error (10 bins) that is accepted. Why not 0: the
#: integer softmax comes in steps of 1/256, which moves faces across the bins' edges, and on the whole
#: of PublicTest the ECE difference of each shipped float/int8 pair has a 95% bootstrap interval
#: 0.006-0.019 wide (:func:`slice_gates`); their ECE rose by 0.0000-0.0038 (recorded per network).
MAX_ECE_RISE = 0.005
#: Smallest share of PublicTest faces on which both precisions give the same top label.
MIN_AGREEMENT = 0.95
#: The split the gates are measured on (the model-selection split; PrivateTest stays the reported test).
GATE_SPLIT = "PublicTest"


def gate_metrics(labels: np.ndarray, float_probs: np.ndarray, int8_probs: np.ndarray) -> dict:
    """The gates' figures and verdict for one network: accuracies, ECEs, agreement, ``accepted``, ``reasons``."""
    labels = np.asarray(labels)
    float_top, int8_top = float_probs.argmax(axis=1), int8_probs.argmax(axis=1)
    figures = {
        "n": int(len(labels)),
        "accuracy_float32": float((float_top == labels).mean()),
        "accuracy_int8": float((int8_top == labels).mean()),
        "ece_float32": reliability_bins(float_probs.max(axis=1), float_top == labels)["ece"],
        "ece_int8": reliability_bins(int8_probs.max(axis=1), int8_top == labels)["ece"],
        "agreement": float((float_top == int8_top).mean()),
    }
    reasons = []
    drop = figures["accuracy_float32"] - figures["accuracy_int8"]
    if drop > MAX_ACCURACY_DROP:
        reasons.append(f"accuracy drops {drop * 100:.2f} points (> {MAX_ACCURACY_DROP * 100:g})")
    rise = figures["ece_int8"] - figures["ece_float32"]
    if rise > MAX_ECE_RISE:
        reasons.append(f"calibration error rises {rise:.4f} (> {MAX_ECE_RISE:g})")
    if figures["agreement"] < MIN_AGREEMENT:
        reasons.append(f"top label agrees on {figures['agreement']:.1%} of faces (< {MIN_AGREEMENT:.0%})")
    return {**{k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()},
            "accepted": not reasons, "reasons": reasons}


def slice_gates(labels: np.ndarray, float_probs: np.ndarray, int8_probs: np.ndarray, *, confidence: float = 0.95,
                resamples: int = 999) -> dict:
    """The gates on a slice of PublicTest (a suite's few hundred faces): whether the slice is consistent with them.

    Why not :func:`gate_metrics` as is: on 400 faces the accuracy difference moves by about a point
    and the ECE difference by about 0.01 from one slice to the next (measured on the shipped networks),
    so a slice can neither prove nor refute a half-point gate. Here a gate fails only if the slice's
    paired bootstrap interval (``confidence``, faces resampled) lies wholly beyond it: the accuracy
    drop or ECE rise is surely too large, or the agreement surely too small.
    """
    from scipy.stats import bootstrap

    labels = np.asarray(labels)
    float_top, int8_top = float_probs.argmax(axis=1), int8_probs.argmax(axis=1)
    float_conf, int8_conf = float_probs.max(axis=1), int8_probs.max(axis=1)

    def differences(i: np.ndarray) -> np.ndarray:
        right_f, right_q = float_top[i] == labels[i], int8_top[i] == labels[i]
        ece_rise = reliability_bins(int8_conf[i], right_q)["ece"] - reliability_bins(float_conf[i], right_f)["ece"]
        return np.array([right_f.mean() - right_q.mean(), ece_rise, (float_top[i] == int8_top[i]).mean()])

    ci = bootstrap((np.arange(len(labels)),), differences, vectorized=False, n_resamples=resamples,
                   confidence_level=confidence, method="percentile", rng=0).confidence_interval
    reasons = []
    if ci.low[0] > MAX_ACCURACY_DROP:
        reasons.append(f"accuracy drops {ci.low[0] * 100:.2f}-{ci.high[0] * 100:.2f} points (> {MAX_ACCURACY_DROP * 100:g})")
    if ci.low[1] > MAX_ECE_RISE:
        reasons.append(f"calibration error rises {ci.low[1]:.4f}-{ci.high[1]:.4f} (> {MAX_ECE_RISE:g})")
    if ci.high[2] < MIN_AGREEMENT:
        reasons.append(f"top label agrees on {ci.low[2]:.1%}-{ci.high[2]:.1%} of faces (< {MIN_AGREEMENT:.0%})")
    return {"n": int(len(labels)), "confidence": confidence,
            "accuracy_drop": [float(ci.low[0]), float(ci.high[0])], "ece_rise": [float(ci.low[1]), float(ci.high[1])],
            "agreement": [float(ci.low[2]), float(ci.high[2])], "consistent": not reasons, "reasons": reasons}


def network_input(images: np.ndarray, metadata: dict) -> np.ndarray:
    """FER2013 images as one network's plain input (scaled, the model's input blur), as the classifier feeds it."""
    return input_blur(preprocess_faces(images, InputSpec.from_dict(metadata["input_spec"])), input_blur_sigma(metadata))


def run_litert(path: str | os.PathLike, batch: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Probabilities of a ``.tflite`` network on a prepared batch, in chunks."""
    runner = LiteRTRunner(path)
    return np.concatenate([runner(batch[i : i + batch_size]) for i in range(0, len(batch), batch_size)])


def export_int8_folder(folder: str | os.PathLike, training_images: np.ndarray, gate_images: np.ndarray,
                       gate_labels: np.ndarray) -> list[tuple[Path, dict]]:
    """Quantize each network of a model folder, gate it against its float twin, record the verdict.

    ``training_images`` give the representative set; ``gate_images``/``gate_labels`` are PublicTest.
    Every member needs an up-to-date ``model.tflite`` first (``export`` writes it). Returns each
    member's folder with its ``runtimes.litert_int8`` record.
    """
    folder = Path(folder)
    done = []
    for member in member_dirs(folder, read_metadata(folder)):
        meta = read_metadata(member)
        if is_ensemble(meta):
            continue
        keras_sha = file_sha256(member / MODEL_FILE)
        float_record = meta.get("runtimes", {}).get("litert", {})
        if not (member / TFLITE_FILE).is_file() or float_record.get("keras_sha256") != keras_sha:
            raise ModelError(f"{member}: no up-to-date {TFLITE_FILE} to compare with; run `python -m fer_core export {member}`")
        model, _ = load_keras_model(member)
        spec = InputSpec.from_dict(meta["input_spec"])
        faces = representative_faces(training_images, spec, input_blur_sigma(meta))
        path = quantize_tflite(model, faces, member / INT8_FILE)
        batch = network_input(gate_images, meta)
        gates = gate_metrics(gate_labels, run_litert(member / TFLITE_FILE, batch), run_litert(path, batch))
        record = {
            "file": INT8_FILE, "sha256": file_sha256(path), "keras_sha256": keras_sha,
            "float_file": TFLITE_FILE, "float_sha256": file_sha256(member / TFLITE_FILE),
            "quantization": "full integer (int8 weights and activations), float32 input and output",
            "representative_set": {"split": REPRESENTATIVE_SPLIT, "size": len(faces), "seed": REPRESENTATIVE_SEED},
            "gates": {"split": GATE_SPLIT, "tta": "none", "max_accuracy_drop": MAX_ACCURACY_DROP,
                      "max_ece_rise": MAX_ECE_RISE, "min_agreement": MIN_AGREEMENT, **gates},
            "accepted": gates["accepted"], "exported_with": exporter_versions(),
        }
        if not gates["accepted"]:
            path.unlink()  # the network stays float; the record says why
            record.update(file=None, sha256=None)
        meta.setdefault("runtimes", {})["litert_int8"] = record
        meta["runtimes"]["litert"]["sha256"] = record["float_sha256"]
        write_metadata(member, meta)
        done.append((member, record))
    return done
