"""Confidence calibration by temperature scaling (Guo et al., 2017): one number per model and TTA.

Why: the accurate ensemble averages 30 views (3 networks x 10 shifts) and comes out
under-confident, the fast student slightly otherwise, so one "minimum confidence 0.4" filtered
differently per model. Fitting ``T`` to minimise the negative log-likelihood of
``softmax(log p / T)`` on PublicTest (never PrivateTest: that is the reported test set) makes a
confidence of 60 % mean about 60 % correct for every model. The top label never changes, so
accuracy is untouched. The temperature is stored in the model's metadata
(``inference.temperature``: ``{precision: {tta: T}}``) and applied by
:meth:`fer_core.inference.classifier.Classifier.predict_batch`.
"""
from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar

from fer_core.catalog.model import read_metadata, write_metadata
from fer_core.evaluation.evaluate import reliability_bins
from fer_core.inference.classifier import Classifier, apply_temperature
from fer_core.inference.preprocess import preprocess_faces

#: the split temperatures are fitted on, and the one their effect is reported on
FIT_SPLIT, REPORT_SPLIT = "PublicTest", "PrivateTest"
#: temperatures searched (log-uniform bounds): far wider than any model here needs
T_BOUNDS = (0.05, 20.0)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean ``-log p(true label)`` after scaling by ``temperature``."""
    scaled = apply_temperature(np.asarray(probabilities, dtype=np.float64), temperature)
    return float(-np.mean(np.log(np.clip(scaled[np.arange(len(labels)), labels], 1e-12, 1.0))))


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the NLL of these probability rows (a 1-D bounded search on log T)."""
    labels = np.asarray(labels)
    if len(labels) == 0 or len(labels) != len(probabilities):
        raise ValueError(f"fitting a temperature needs one label per probability row ({len(probabilities)} rows, "
                         f"{len(labels)} labels)")
    result = minimize_scalar(lambda log_t: negative_log_likelihood(probabilities, labels, float(np.exp(log_t))),
                             bounds=tuple(np.log(T_BOUNDS)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """ECE over 10 equal-width confidence bins (the evaluation page's reliability diagram)."""
    probabilities = np.asarray(probabilities)
    return reliability_bins(probabilities.max(axis=1), probabilities.argmax(axis=1) == np.asarray(labels))["ece"]


def raw_probabilities(classifier: Classifier, images: np.ndarray, ttas: Sequence[str],
                      chunk: int = 512) -> dict[str, np.ndarray]:
    """Unscaled probabilities of ``images`` at each TTA, from one network pass where the TTAs share views.

    Shift's first two views are flip's, and its first is the plain face's, so fitting
    ``shift`` and ``none`` together costs shift's 10 views only.
    """
    derived = {"shift", "flip", "none"} if "shift" in ttas else set()
    passes = (["shift"] if derived else []) + [tta for tta in dict.fromkeys(ttas) if tta not in derived]
    out: dict[str, list[np.ndarray]] = {tta: [] for tta in ttas}
    for start in range(0, len(images), chunk):
        batch = preprocess_faces(images[start:start + chunk], classifier.spec)
        for tta in passes:
            views = classifier.predict_views(batch, tta)
            if tta == "shift":
                shared = {"shift": views, "flip": views[:2], "none": views[:1]}
                for name in set(ttas) & shared.keys():
                    out[name].append(shared[name].mean(axis=0))
            else:
                out[tta].append(views.mean(axis=0))
    return {tta: np.concatenate(parts) for tta, parts in out.items()}


def calibration_report(fit: dict[str, np.ndarray], fit_labels: np.ndarray,
                       report: dict[str, np.ndarray], report_labels: np.ndarray) -> dict[str, dict]:
    """Per TTA: the temperature fitted on ``fit``, and NLL and ECE before and after on both splits."""
    result = {}
    for tta, probabilities in fit.items():
        temperature = fit_temperature(probabilities, fit_labels)
        test = report[tta]
        before = reliability_bins(test.max(axis=1), test.argmax(axis=1) == report_labels)
        scaled = apply_temperature(test, temperature)
        after = reliability_bins(scaled.max(axis=1), scaled.argmax(axis=1) == report_labels)
        result[tta] = {
            "temperature": round(temperature, 4),
            f"{FIT_SPLIT}_nll_before": round(negative_log_likelihood(probabilities, fit_labels), 4),
            f"{FIT_SPLIT}_nll_after": round(negative_log_likelihood(probabilities, fit_labels, temperature), 4),
            f"{REPORT_SPLIT}_nll_before": round(negative_log_likelihood(test, report_labels), 4),
            f"{REPORT_SPLIT}_nll_after": round(negative_log_likelihood(test, report_labels, temperature), 4),
            f"{REPORT_SPLIT}_ece_before": round(before["ece"], 4),
            f"{REPORT_SPLIT}_ece_after": round(after["ece"], 4),
            "reliability_before": before, "reliability_after": after, "n_fit": int(len(fit_labels)),
            "n_report": int(len(report_labels)),
        }
    return result


def store_temperatures(folder: str | os.PathLike, precision: str, report: dict[str, dict], command: str) -> dict:
    """Write the fitted temperatures (``inference.temperature[precision][tta]``) and the report
    (``inference.temperature_fit``) into the model's metadata; other precisions' entries are kept."""
    folder = Path(folder)
    metadata = read_metadata(folder)
    inference = metadata.setdefault("inference", {})
    temperatures = inference.get("temperature")
    temperatures = temperatures if isinstance(temperatures, dict) else {}
    temperatures[precision] = {tta: row["temperature"] for tta, row in report.items()}
    inference["temperature"] = temperatures
    fits = inference.get("temperature_fit")
    fits = fits if isinstance(fits, dict) else {}
    fits[precision] = {"split": FIT_SPLIT, "reported_on": REPORT_SPLIT, "method": "minimise NLL of softmax(log p / T)",
                       "command": command, "date": datetime.date.today().isoformat(), "by_tta": report}
    inference["temperature_fit"] = fits
    write_metadata(folder, metadata)
    return metadata
