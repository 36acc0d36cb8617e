"""Which tracker library fits: ID switches, faces left without an ID and cost per frame on the tracking scenes.

The scenes (:func:`fer_core.evaluation.sample_frames.tracking_scene`) are two real faces moving: sizes crossing
over, one face gone for 8 frames, two faces passing close. Each frame is detected once (the
photo/video detector), then every candidate tracker is fed the same boxes. A face is matched to
its true person by IoU; an ID switch is a person whose ID differs from the one it had before.
"Largest first" is the old numbering, for comparison. Candidates that cannot be imported are
skipped with the reason, so the script runs wherever some are installed::

    .venv/bin/python scripts/tracker_fit.py --every 1 3 5     # the candidates installed here
    PYTHONPATH=/tmp/trk_env .venv/bin/python scripts/tracker_fit.py   # plus a side folder holding the others
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_core.inference.detect import DEFAULT_DETECTOR, Box, make_detector  # noqa: E402
from fer_core.evaluation.sample_frames import SCENE_FPS, TRACKING_SCENES, tracking_scene  # noqa: E402

#: boxes of one frame -> an ID per box (None: none given)
Step = Callable[[list[Box]], list[int | None]]


def _xyxy(boxes: list[Box]) -> np.ndarray:
    return np.array([[b.x, b.y, b.x + b.w, b.y + b.h] for b in boxes], dtype=np.float32).reshape(-1, 4)


def _by_iou(boxes: list[Box], tracked: np.ndarray, ids) -> list[int | None]:
    """IDs of ``boxes`` from a tracker's output boxes (which may be reordered or fewer)."""
    out: list[int | None] = []
    for box in boxes:
        scores = [Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0)).iou(box) for x0, y0, x1, y1 in tracked]
        best = int(np.argmax(scores)) if scores else -1
        out.append(int(ids[best]) if best >= 0 and scores[best] > 0.9 and ids[best] >= 0 else None)
    return out


def largest_first(rate: float) -> Step:
    """The old numbering: 1 the largest face of the frame, 2 the next, ..."""
    def step(boxes: list[Box]) -> list[int | None]:
        order = sorted(range(len(boxes)), key=lambda k: -boxes[k].w * boxes[k].h)
        return [order.index(k) + 1 for k in range(len(boxes))]
    return step


def ours(rate: float) -> Step:
    from fer_core.inference.tracking import FaceTracker

    tracker = FaceTracker(frame_rate=rate)
    return lambda boxes: tracker.update(boxes)


def supervision_bytetrack(rate: float) -> Step:
    import supervision as sv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation notice (ByteTrack moved to `trackers`)
        tracker = sv.ByteTrack(frame_rate=rate, lost_track_buffer=30, minimum_consecutive_frames=1)

    def step(boxes: list[Box]) -> list[int | None]:
        detections = sv.Detections(xyxy=_xyxy(boxes), confidence=np.array([b.score for b in boxes], np.float32))
        tracked = tracker.update_with_detections(detections)
        return _by_iou(boxes, tracked.xyxy, tracked.tracker_id)
    return step


def _trackers_step(tracker) -> Step:
    import supervision as sv

    def step(boxes: list[Box]) -> list[int | None]:
        detections = sv.Detections(xyxy=_xyxy(boxes), confidence=np.array([b.score for b in boxes], np.float32))
        tracked = tracker.update(detections)
        return _by_iou(boxes, tracked.xyxy, tracked.tracker_id)
    return step


def trackers_bytetrack(rate: float) -> Step:
    from trackers import ByteTrackTracker

    return _trackers_step(ByteTrackTracker(frame_rate=rate, minimum_consecutive_frames=1,
                                           track_activation_threshold=0.5))


def trackers_sort(rate: float) -> Step:
    from trackers import SORTTracker

    return _trackers_step(SORTTracker(frame_rate=rate, minimum_consecutive_frames=1))


def norfair_iou(rate: float) -> Step:
    import norfair

    tracker = norfair.Tracker(distance_function="iou", distance_threshold=0.9, hit_counter_max=max(1, round(rate)),
                              initialization_delay=0)

    def step(boxes: list[Box]) -> list[int | None]:
        detections = [norfair.Detection(np.array([[b.x, b.y], [b.x + b.w, b.y + b.h]], float)) for b in boxes]
        objects = tracker.update(detections)
        out: list[int | None] = [None] * len(boxes)
        for obj in objects:  # each object knows the detection that last updated it
            for i, det in enumerate(detections):
                if obj.last_detection is det and obj.id is not None:
                    out[i] = obj.id
        return out
    return step


CANDIDATES: dict[str, Callable[[float], Step]] = {
    "largest first (old)": largest_first, "supervision 0.30 ByteTrack": supervision_bytetrack,
    "trackers ByteTrack": trackers_bytetrack, "trackers SORT": trackers_sort, "norfair (IoU)": norfair_iou,
    "fer_core.inference.tracking": ours,
}


def truth(boxes: list[Box], true: list[Box | None]) -> list[int | None]:
    """Which true person (0, 1) each detected box is, by IoU > 0.5 (None: a false detection)."""
    out = []
    for box in boxes:
        scores = [box.iou(t) if t is not None else 0.0 for t in true]
        out.append(int(np.argmax(scores)) if max(scores, default=0) > 0.5 else None)
    return out


def evaluate(make: Callable[[float], Step], scene: list[tuple[list[Box], list[Box | None]]],
             rate: float) -> tuple[int, int, float]:
    """(ID switches, faces without an ID, median microseconds per frame) of a fresh tracker on a scene."""
    step, last, switches, missing, times = make(rate), {}, 0, 0, []
    for boxes, true in scene:
        started = time.perf_counter()
        ids = step(boxes)
        times.append((time.perf_counter() - started) * 1e6)
        for person, given in zip(truth(boxes, true), ids):
            if person is None:
                continue
            if given is None:
                missing += 1
                continue
            switches += person in last and last[person] != given
            last[person] = given
    return switches, missing, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default=DEFAULT_DETECTOR)
    parser.add_argument("--every", type=int, nargs="+", default=[1, 3],
                        help="analysis steps to try: every N-th frame (as `--every` of video and batch)")
    args = parser.parse_args()
    detector = make_detector(args.detector)
    scenes = {name: [(detector.detect(rgb), true) for rgb, true in tracking_scene(name)] for name in TRACKING_SCENES}
    for name, scene in scenes.items():
        faces = sum(len(boxes) for boxes, _ in scene)
        expected = sum(t is not None for _, true in scene for t in true)
        print(f"{name}: {len(scene)} frames at {SCENE_FPS} fps, {faces} faces detected of {expected}")
    for every in args.every:
        print(f"\nevery {every}: ID switches, faces without an ID, microseconds per frame (median)")
        print(f"{'candidate':28} " + " ".join(f"{n:>22}" for n in TRACKING_SCENES))
        for label, make in CANDIDATES.items():
            try:
                figures = [evaluate(make, scene[::every], SCENE_FPS / every) for scene in scenes.values()]
            except ImportError as exc:
                print(f"{label:28} not installed ({exc})")
                continue
            print(f"{label:28} " + " ".join(f"{s:>8d} {m:>5d} {us:>7.0f}" for s, m, us in figures))

if __name__ == "__main__":
    main()
