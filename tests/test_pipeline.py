"""The one frame pipeline (fer_core.inference.pipeline) on real faces: every driver's faces are exactly what the
primitives give when composed by hand (detector -> crops -> classifier -> tracker -> neutral baseline -> EMA), the
carrier's per-face field ``face_px`` reaches every output, and the README's Python API example runs."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest

from fer_core.drivers.live import LiveAnalyzer
from fer_core.drivers.photo import analyse_photo
from fer_core.drivers.video import analyse_video
from fer_core.inference.crops import detect_and_crop
from fer_core.inference.detect import LIVE_DETECTOR, make_detector
from fer_core.inference.faces import ScoreKind
from fer_core.inference.infer import analyse_image
from fer_core.inference.neutral_baseline import NeutralBaseline
from fer_core.inference.pipeline import make_pipeline
from fer_core.inference.rows import FACE_COLUMNS
from fer_core.inference.temporal import ProbabilityEMA
from fer_core.inference.tracking import FaceTracker
from fer_core.evaluation.sample_frames import astronaut_frame, tracking_scene

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def detector():
    return make_detector(LIVE_DETECTOR)


@pytest.fixture(scope="module")
def baseline(classifier, detector):
    """A neutral baseline from the astronaut's own face (she smiles: so most faces then read Neutral)."""
    _, crops = detect_and_crop(astronaut_frame(), detector)
    return NeutralBaseline.from_faces(crops[:1], classifier)


def _by_hand(frames, classifier, detector, *, tracker=None, baseline=None, ema=None):
    """Labels, scores and people of each frame composed from the primitives, as the four drivers once did."""
    out = []
    for rgb in frames:
        boxes, crops = detect_and_crop(rgb, detector)
        scores = classifier.predict_proba(crops, None)
        people = tracker.update(boxes) if tracker else list(range(1, len(boxes) + 1))
        if baseline is not None and len(boxes):
            scores = baseline.apply(scores)
        if ema is not None:
            scores = ema.update(people, scores)
        out.append([(b.as_list(), p, classifier.labels[int(np.argmax(s))], s) for b, p, s in zip(boxes, people, scores)])
    return out


def _as_tuples(frames):
    """Each frame's faces as (box, person, label, scores)."""
    return [[(f.box.as_list(), f.person, f.label, np.array(list(f.scores.values()))) for f in faces] for faces in frames]


def _assert_same(got, expected):
    assert len(got) == len(expected)
    for g_frame, e_frame in zip(got, expected):
        assert [(b, p, label) for b, p, label, _ in g_frame] == [(b, p, label) for b, p, label, _ in e_frame]
        for (*_, g), (*_, e) in zip(g_frame, e_frame):
            np.testing.assert_allclose(g, e, atol=1e-6)


def test_video_frames_are_the_hand_composition(classifier, detector, baseline, tracking_clips):
    """analyse_video's faces = detect, classify, track and read against the baseline, frame by frame."""
    path, _ = tracking_clips["crossing"]
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)][::2]
        fps = float(container.streams.video[0].average_rate)
    result = analyse_video(path, classifier, detector, every=2, baseline=baseline)
    expected = _by_hand(frames, classifier, detector, tracker=FaceTracker(frame_rate=fps / 2), baseline=baseline)
    _assert_same(_as_tuples([r.faces for r in result.results]), expected)
    assert all(f.kind is ScoreKind.VS_NEUTRAL for r in result.results for f in r.faces)


def test_live_frames_are_the_hand_composition(classifier, detector):
    """LiveAnalyzer's faces = detect, classify, track, then each person's temporal EMA (no baseline yet)."""
    frames = [rgb for rgb, _ in tracking_scene("passing")][:20]
    analyzer = LiveAnalyzer(classifier, detector)
    got = [analyzer.process(rgb)[1].faces for rgb in frames]
    expected = _by_hand(frames, classifier, detector, tracker=FaceTracker(15), ema=ProbabilityEMA())
    _assert_same(_as_tuples(got), expected)


def test_photo_and_image_are_the_hand_composition(classifier, detector, baseline):
    rgb = astronaut_frame()
    for with_baseline in (None, baseline):
        expected = _by_hand([rgb], classifier, detector, baseline=with_baseline)
        _assert_same(_as_tuples([analyse_image(rgb, classifier, detector, baseline=with_baseline)]), expected)
        _assert_same(_as_tuples([analyse_photo(rgb, classifier, detector, explain=False,
                                               baseline=with_baseline).faces]), expected)


def test_one_baseline_at_a_time_and_a_detector_unless_aligned(classifier, detector, baseline):
    from fer_core.inference.live_baseline import LiveBaseline

    with pytest.raises(ValueError, match="one neutral baseline"):
        make_pipeline(classifier, detector, baseline=baseline,
                      live_baseline=LiveBaseline(classifier.name, classifier.labels))
    with pytest.raises(ValueError, match="detector"):
        make_pipeline(classifier, None)
    faces = make_pipeline(classifier, None, aligned=True).faces(np.full((48, 48, 3), 128, np.uint8))
    assert len(faces) == 1 and faces[0].fields["face_px"] == 48


def test_face_size_reaches_every_output(classifier, detector, tmp_path, tracking_clips):
    """``face_px`` (the box's larger side) is a column of every table and a key of every JSON face."""
    assert "face_px" in FACE_COLUMNS
    rgb = astronaut_frame()
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    result = analyse_photo(rgb, classifier, detector, explain=False)
    face = result.faces[0]
    assert face.fields["face_px"] == max(face.box.w, face.box.h) > 50
    assert json.loads(result.json("a.png", "m", "d"))["faces"][0]["face_px"] == face.fields["face_px"]
    assert pd.read_csv(io.BytesIO(result.csv("a.png")))["face_px"].tolist() == [face.fields["face_px"]]
    video = analyse_video(tracking_clips["gap"][0], classifier, detector, every=6)
    assert all(row["face_px"] == max(row["w"], row["h"]) for row in video.rows() if row.get("w"))

    cli = [sys.executable, "-m", "fer_core"]
    model = ["--model", str(ROOT / "models" / "student16")]
    out = subprocess.run([*cli, "predict", str(photo), *model, "--json", "--csv", str(tmp_path / "p.csv")],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(out.stdout)[0]["faces"][0]["face_px"] > 50
    assert pd.read_csv(tmp_path / "p.csv")["face_px"].iloc[0] > 50
    subprocess.run([*cli, "batch", str(photo), *model, "--out", str(tmp_path / "b.parquet")], check=True, cwd=ROOT,
                   capture_output=True)
    table = pd.read_parquet(tmp_path / "b.parquet")
    assert (table["face_px"] == table[["w", "h"]].max(axis=1)).all()


def test_readme_python_api_example_runs(tmp_path, tracking_clips):
    """The README's "Python API" block, run as it is on a real photo, a neutral photo and a real clip."""
    block = re.search(r"## Python API.*?```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "the README lost its Python API example"
    cv2.imwrite(str(tmp_path / "photo.jpg"), cv2.cvtColor(astronaut_frame(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "neutral.jpg"), cv2.cvtColor(astronaut_frame(), cv2.COLOR_RGB2BGR))
    (tmp_path / "clip.mp4").write_bytes(Path(tracking_clips["gap"][0]).read_bytes())
    out = subprocess.run([sys.executable, "-c", block.group(1)], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^1 Happy \d+% \[", out.stdout, re.M), out.stdout
    assert "'face_px'" in out.stdout and "student16" in out.stdout
