"""Detection rate by face size for every face detector, and its speed per frame.

A real head-and-shoulders photo (scikit-image's astronaut, face about 150 px wide in the 512 px
original) is rescaled so that the face is a given fraction of the frame width and pasted into a
grey frame, centred and at off-centre positions (a face on a tile seam must be found too).
A face counts as found when a box overlaps where it was pasted (IoU > 0.3); any other box is a
false positive. Timings are medians over repeated frames; other load on the machine inflates them.

    python scripts/detection_sweep.py                  # the four named detectors
    python scripts/detection_sweep.py --variants       # also the multi-scale designs that were tried
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fer_core.inference.detect import Box, BlazeFaceDetector, FaceDetector, MultiScaleDetector, make_detector  # noqa: E402
from fer_core.evaluation.sample_frames import face_frame, head_and_shoulders  # noqa: E402

FRACTIONS = (0.04, 0.05, 0.06, 0.08, 0.10, 0.15, 0.20, 0.30, 0.45, 0.60)
FRAMES = ((800, 600), (1280, 720), (4000, 3000))
NAMES = ("blazeface", "blazeface-full", "blazeface-multiscale", "haar")


def outcome(boxes: list[Box], face: Box) -> tuple[bool, int]:
    """(face found, number of other boxes)."""
    hits = [b for b in boxes if b.iou(face) > 0.3]
    return bool(hits), len(boxes) - min(1, len(hits))


def positions(count: int) -> list[tuple[float, float]]:
    """The centre plus ``count - 1`` off-centre positions spread over the frame."""
    rng = np.random.default_rng(0)
    return [(0.5, 0.5)] + [tuple(rng.uniform(0.2, 0.8, 2)) for _ in range(count - 1)]


def sweep(detector: FaceDetector, head: np.ndarray, places: Sequence[tuple[float, float]]) -> dict:
    """{(frame, fraction): (found, tried, false positives)} over the given face positions."""
    table = {}
    for width, height in FRAMES:
        for fraction in FRACTIONS:
            found = extra = 0
            for centre in places:
                frame, face = face_frame(head, fraction, width, height, centre)
                hit, others = outcome(detector.detect(frame), face)
                found, extra = found + hit, extra + others
            table[(width, height), fraction] = (found, len(places), extra)
    return table


def median_ms(detectors: dict[str, FaceDetector], frame: np.ndarray, repeats: int) -> dict[str, float]:
    """Median ms per frame; the detectors take turns, so that other load hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in detectors}
    for name, det in detectors.items():
        det.detect(frame)  # warm-up
    for _ in range(repeats):
        for name, det in detectors.items():
            start = time.perf_counter()
            det.detect(frame)
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * float(np.median(t)) for name, t in times.items()}


def variants() -> dict[str, FaceDetector]:
    """The multi-scale designs compared before choosing the default (all with its NMS and zoomed check)."""
    short, full = BlazeFaceDetector("short"), BlazeFaceDetector("full")

    def tiled(whole: list, tiles: BlazeFaceDetector, largest: float, **options) -> MultiScaleDetector:
        return MultiScaleDetector(whole, tiles, max_tile_fraction=largest, overlap_fraction=0.1, **options)

    return {
        "short+full, whole frame only": tiled([short, full], full, 9.0),
        "pyramid: full + 2x2 full tiles (0.55)": tiled([full], full, 0.56),
        "default without the zoomed check": tiled([full], full, 0.45, confirm_below=0.0),
        "short+full + full tiles <=0.45": tiled([short, full], full, 0.45),
        "full + full tiles <=0.40": tiled([full], full, 0.40),
        "short+full + short tiles <=0.33": tiled([short, full], short, 0.33),
    }


def non_face_photos() -> dict[str, np.ndarray]:
    """Real photos without a (human) face: scikit-image's and scikit-learn's samples."""
    from skimage import data

    photos = {name: getattr(data, name)() for name in ("chelsea", "coffee", "rocket", "hubble_deep_field",
                                                      "immunohistochemistry", "retina")}
    photos["motorcycle"] = data.stereo_motorcycle()[0]
    try:
        from sklearn.datasets import load_sample_images

        photos.update(zip(("china", "flower"), load_sample_images().images))
    except ImportError:
        pass
    return photos


def false_positives(detector: FaceDetector, photos: dict[str, np.ndarray]) -> int:
    """Boxes on face-free photos, each as it is and blown up to 1280x720 and 4000x3000."""
    count = 0
    for photo in photos.values():
        for size in (None, (1280, 720), (4000, 3000)):
            image = photo if size is None else cv2.resize(photo, size, interpolation=cv2.INTER_LINEAR)
            count += len(detector.detect(np.ascontiguousarray(image)))
    return count


def print_table(results: dict[str, dict]) -> None:
    print(f"{'detector':38s} {'frame':9s} " + "".join(f"{f:>7.0%}" for f in FRACTIONS) + "    FP")
    for name, table in results.items():
        for width, height in FRAMES:
            cells = [table[(width, height), f] for f in FRACTIONS]
            row = "".join(f"{f'{found}/{tried}':>7s}" for found, tried, _ in cells)
            print(f"{name:38s} {f'{width}x{height}':9s} {row} {sum(c[2] for c in cells):5d}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=5, help="face positions per cell (first: centred)")
    parser.add_argument("--repeats", type=int, default=20, help="timed frames per detector and size")
    parser.add_argument("--variants", action="store_true", help="also the multi-scale designs that were tried")
    parser.add_argument("--only", nargs="*", help="only these detectors (names as printed)")
    parser.add_argument("--speed-only", action="store_true", help="skip the sweep and the false-positive count")
    args = parser.parse_args(argv)
    detectors = {name: make_detector(name) for name in NAMES}
    if args.variants:
        detectors.update(variants())
    if args.only:
        detectors = {k: v for k, v in detectors.items() if k in args.only}
    if not args.speed_only:
        report_sweep(detectors, args.positions)
    report_speed(detectors, args.repeats)
    return 0


def report_sweep(detectors: dict[str, FaceDetector], count: int) -> None:
    head, places, photos = head_and_shoulders(), positions(count), non_face_photos()
    print(f"faces found / tried ({len(places)} positions per cell, the first centred); "
          "FP: boxes that are not the face")
    print_table({name: sweep(det, head, places) for name, det in detectors.items()})
    print(f"\nboxes on {len(photos)} face-free photos, each as it is, at 1280x720 and at 4000x3000")
    for name, det in detectors.items():
        print(f"{name:38s} {false_positives(det, photos):3d}")


def report_speed(detectors: dict[str, FaceDetector], repeats: int) -> None:
    """Median ms on the astronaut photo stretched to each size (texture everywhere, as Haar's cost needs)."""
    from skimage import data

    sizes = ((640, 480), (1280, 720))
    speed = [median_ms(detectors, cv2.resize(data.astronaut(), size), repeats) for size in sizes]
    print(f"\nmedian ms per frame over {repeats} frames (the astronaut photo stretched to the size)")
    for name in detectors:
        print(f"{name:38s} " + "   ".join(f"{w}x{h} {s[name]:6.1f} ms" for (w, h), s in zip(sizes, speed)))


if __name__ == "__main__":
    raise SystemExit(main())
