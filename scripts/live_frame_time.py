"""CPU time per frame of the live path (``LiveAnalyzer.process``: detect, quality, classify, track, neutral baseline,
temporal average, draw) on a tracking scene of two real faces: the figure the pipeline rewrite had to keep.

    FER_THREADS=1 python scripts/live_frame_time.py LABEL

Process time, not wall time, so that other jobs on the machine slow it less; run it before and after a change in
the same sitting, alternating. The imports fall back to the flat layout before the rooms (commit c8fa9f3), so
the same script measures both sides.
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
try:
    from fer_core.catalog.model import live_model_dir
    from fer_core.drivers.live import LiveAnalyzer
    from fer_core.evaluation.sample_frames import tracking_scene
    from fer_core.inference.classifier import Classifier
    from fer_core.inference.detect import LIVE_DETECTOR, make_detector
except ImportError:  # the flat layout before the rooms
    from fer_core.classifier import Classifier
    from fer_core.detect import LIVE_DETECTOR, make_detector
    from fer_core.live import LiveAnalyzer
    from fer_core.model import live_model_dir
    from tests.face_frames import tracking_scene


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "live path"
    analyzer = LiveAnalyzer(Classifier.load(live_model_dir()), make_detector(LIVE_DETECTOR))
    frames = [rgb for rgb, _ in tracking_scene("crossing")] * 4
    for rgb in frames[:10]:
        analyzer.process(rgb)
    wall = []
    started = time.process_time()
    for rgb in frames:
        t = time.perf_counter()
        analyzer.process(rgb)
        wall.append((time.perf_counter() - t) * 1000)
    cpu = 1000 * (time.process_time() - started) / len(frames)
    print(f"{label}: CPU {cpu:.2f} ms/frame (process time), wall median {statistics.median(wall):.2f} ms "
          f"over {len(frames)} frames")


if __name__ == "__main__":
    main()
