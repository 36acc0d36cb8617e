"""The neutral baseline (fer_core.inference.neutral_baseline, fer_core.inference.live_baseline) on real faces: the astronaut
(a smiling person), FER2013 faces, and clips and live frames made from them."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image

from fer_core.drivers import batch
from fer_core.inference.neutral_reference import baseline_from_images
from fer_core.inference.baseline_file import baseline_from_dict, parse_baseline, read_baseline_file
from fer_core.evaluation.sample_frames import astronaut_frame as make_frame
from tests.test_baseline_file import GOOD
from fer_core.inference.neutral_baseline import (
    KEEP_NEUTRAL, MAX_MARGIN, MIN_MARGIN, BaselineError, NeutralBaseline, choose_margin,
    leave_one_out_gaps, log_probabilities,
)
from fer_core.inference.detect import LIVE_DETECTOR, make_detector
from fer_core.inference.infer import analyse_image
from fer_core.drivers.live import LiveAnalyzer
from fer_core.inference.live_baseline import COLLECTING, MIN_FRAMES, OFF, ON
from fer_core.drivers.video import analyse_video, baseline_from_video

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent
FAST = REPO / "models" / "student16"
OTHER = REPO / "models" / "vgg32b"


@pytest.fixture(scope="module")
def fast():
    from fer_core.inference.classifier import Classifier

    return Classifier.load(FAST)


@pytest.fixture(scope="module")
def detector():
    return make_detector()


@pytest.fixture(scope="module")
def neutral_face(fast, fer_data) -> np.ndarray:
    """The first PublicTest face labelled Neutral that the model also reads as Neutral: a real neutral face."""
    images, labels = fer_data.split("PublicTest")
    neutral = fast.labels.index("Neutral")
    candidates = images[labels == neutral][:50]
    read = fast.predict_proba(list(candidates)).argmax(axis=1)
    return candidates[int(np.flatnonzero(read == neutral)[0])]


# ------------------------------------------------------------------ the rule and the arithmetic


def test_a_face_read_against_itself_is_neutral(fast, detector, astronaut):
    [plain] = analyse_image(astronaut, fast, detector)
    assert plain.label == "Happy" and not plain.kind.vs_neutral
    baseline = baseline_from_images([("astronaut", astronaut)], fast, detector)
    assert baseline.frames == 1 and baseline.margin == pytest.approx(MIN_MARGIN) and baseline.spread is None
    [face] = analyse_image(astronaut, fast, detector, baseline=baseline)
    assert face.label == "Neutral" and face.kind.vs_neutral
    # at the baseline every label ties but Neutral, which leads by the margin: e^m / (e^m + 6)
    assert face.confidence == pytest.approx(math.exp(MIN_MARGIN) / (math.exp(MIN_MARGIN) + 6), abs=1e-3)
    assert sum(face.scores.values()) == pytest.approx(1.0, abs=1e-5)


def test_a_clear_smile_stays_happy_against_a_real_neutral_face(fast, detector, astronaut, neutral_face):
    baseline = baseline_from_images([("neutral.png", neutral_face)], fast, None, aligned=True)
    [face] = analyse_image(astronaut, fast, detector, baseline=baseline)
    assert face.label == "Happy" and face.kind.vs_neutral
    # and the neutral face itself, read against itself, is Neutral
    [same] = analyse_image(neutral_face, fast, aligned=True, baseline=baseline)
    assert same.label == "Neutral"


def test_the_margin_is_the_leave_one_out_quantile_between_its_bounds():
    neutral = 6
    still = log_probabilities(np.tile([0.05, 0.05, 0.05, 0.1, 0.15, 0.05, 0.55], (10, 1)))
    assert choose_margin(still, neutral) == (pytest.approx(MIN_MARGIN), pytest.approx(0.0, abs=1e-9))
    assert choose_margin(still[:1], neutral) == (MIN_MARGIN, None)
    rng = np.random.default_rng(0)
    for scale, expected in ((0.3, "between"), (3.0, "capped")):
        noisy = still + rng.normal(0, scale, still.shape)
        gaps = leave_one_out_gaps(noisy, neutral)
        margin, spread = choose_margin(noisy, neutral)
        assert spread == pytest.approx(np.sort(gaps)[math.ceil(KEEP_NEUTRAL * len(gaps)) - 1])
        if expected == "between":
            assert margin == pytest.approx(spread) and MIN_MARGIN < margin < MAX_MARGIN
            assert np.mean(gaps <= margin) >= KEEP_NEUTRAL  # what the rule promises: these frames stay Neutral
        else:
            assert margin == MAX_MARGIN < spread
    poor = NeutralBaseline.from_probabilities(np.exp(still + rng.normal(0, 3.0, still.shape)), "m",
                                              ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"])
    assert poor.warning and "disagreed" in poor.warning


def test_leave_one_out_keeps_real_neutral_frames_neutral(fast, neutral_face):
    """Frames of one real neutral face as a camera gives them (moved, lighter, darker): the rule's margin keeps
    at least KEEP_NEUTRAL of them Neutral when each is read against the others' baseline."""
    import cv2

    big = cv2.resize(neutral_face, (96, 96), interpolation=cv2.INTER_CUBIC)
    frames = [np.clip(np.roll(big, (dy, dx), axis=(0, 1)) * gain, 0, 255).astype(np.uint8)
              for dy in (-2, 0, 2) for dx in (-2, 0, 2) for gain in (0.85, 1.0, 1.15)]
    baseline = NeutralBaseline.from_faces(frames, fast)
    assert baseline.frames == 27 and MIN_MARGIN <= baseline.margin <= MAX_MARGIN
    logs = log_probabilities(fast.predict_proba(frames))
    kept = np.mean(leave_one_out_gaps(logs, fast.labels.index("Neutral")) <= baseline.margin)
    assert kept >= KEEP_NEUTRAL
    print(f"27 camera-like frames of one neutral face: margin {baseline.margin:.3f}, spread {baseline.spread:.3f}")


def test_another_models_baseline_is_refused(fast, detector, astronaut):
    from fer_core.inference.classifier import Classifier

    baseline = baseline_from_images([("astronaut", astronaut)], fast, detector)
    other = Classifier.load(OTHER)
    with pytest.raises(BaselineError, match="made with the model 'student16', not 'vgg32b'"):
        analyse_image(astronaut, other, detector, baseline=baseline)
    renamed = baseline_from_dict({**baseline.to_dict(), "labels": list(reversed(baseline.labels))})
    with pytest.raises(BaselineError, match="made with the labels"):
        renamed.check_classifier(fast)


def test_a_reference_without_a_face_is_a_clear_error(fast, detector):
    from skimage import data

    with pytest.raises(BaselineError, match="coffee.png: no face found in this neutral reference"):
        baseline_from_images([("coffee.png", data.coffee())], fast, detector)


# ------------------------------------------------------------------ the file


def test_json_round_trips(fast, detector, astronaut):
    baseline = baseline_from_images([("a", astronaut), ("b", astronaut[:, ::-1])], fast, detector)
    text = baseline.to_json()
    assert len(text) < 1000
    again = parse_baseline(text, "me.json")
    assert again.model == "student16" and again.labels == fast.labels and again.frames == 2
    assert again.log_probabilities == pytest.approx(baseline.log_probabilities, abs=1e-6)
    assert again.margin == pytest.approx(baseline.margin, abs=1e-6)
    probabilities = fast.predict_proba([astronaut])
    assert again.apply(probabilities) == pytest.approx(baseline.apply(probabilities), abs=1e-5)
    assert again.fingerprint == parse_baseline(again.to_json(), "me.json").fingerprint


# ------------------------------------------------------------------ the command line


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "fer_core", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_predict_neutral_saves_and_loads_a_baseline_file(tmp_path, astronaut_jpeg):
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(astronaut_jpeg)
    saved = tmp_path / "me.json"
    made = _cli("predict", "--model", FAST, "--neutral", photo, "--save-baseline", saved, photo, "--json")
    assert made.returncode == 0, made.stderr
    [entry] = json.loads(made.stdout)
    assert entry["vs_neutral"] is True and entry["faces"][0]["vs_neutral"] is True
    assert entry["faces"][0]["label"] == "Neutral"  # the reference itself
    assert "every face is read against it" in made.stderr and read_baseline_file(saved).model == "student16"
    csv = tmp_path / "rows.csv"
    loaded = _cli("predict", "--model", FAST, "--baseline", saved, photo, "--json", "--csv", csv)
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == [entry]
    header, row = csv.read_text().splitlines()[:2]
    assert header.split(",")[:6] == ["file", "face", "person", "label", "confidence", "vs_neutral"]
    assert row.split(",")[3:6] == ["Neutral", row.split(",")[4], "True"]


def test_predict_refuses_a_reference_without_a_face_and_another_models_file(tmp_path, astronaut_jpeg):
    from skimage import data

    photo, coffee = tmp_path / "astronaut.jpg", tmp_path / "coffee.png"
    photo.write_bytes(astronaut_jpeg)
    Image.fromarray(data.coffee()).save(coffee)
    result = _cli("predict", "--model", FAST, "--neutral", coffee, photo, "--json")
    assert result.returncode == 2 and result.stdout == ""  # before any other work: no result printed
    assert f"error: {coffee}: no face found in this neutral reference" in result.stderr
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**GOOD, "model": "vgg32b"}))
    result = _cli("predict", "--model", FAST, "--baseline", other, photo)
    assert result.returncode == 2 and result.stdout == ""
    assert "made with the model 'vgg32b', not 'student16'" in result.stderr
    result = _cli("predict", "--model", FAST, "--save-baseline", tmp_path / "x.json", photo)
    assert result.returncode == 2 and "--neutral" in result.stderr


# ------------------------------------------------------------------ batch and video


def _clip(path, frames):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_batch_reads_every_face_against_the_baseline_and_resumes_only_with_it(tmp_path, fast, detector, astronaut):
    import pandas as pd

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(astronaut).save(folder / "astronaut.jpg", quality=92)
    _clip(folder / "clip.mp4", [make_frame()] * 6)
    baseline = baseline_from_images([("astronaut", astronaut)], fast, detector)
    out = tmp_path / "t.parquet"
    summary = batch.run_batch([str(folder)], out, model=FAST, every=2, baseline=baseline)
    assert summary.errors == 0 and summary.faces == 4  # the photo and 3 analysed frames
    rows = pd.read_parquet(out)
    assert rows["vs_neutral"].tolist() == [True] * 4 and set(rows["label"]) == {"Neutral"}
    with pytest.raises(batch.BatchError, match="neutral baseline"):
        batch.run_batch([str(folder)], out, model=FAST, every=2)  # the same table without the baseline
    plain = batch.run_batch([str(folder)], tmp_path / "plain.parquet", model=FAST, every=2)
    assert plain.faces == 4 and set(pd.read_parquet(tmp_path / "plain.parquet")["label"]) == {"Happy"}


def test_video_baseline_from_its_first_seconds(tmp_path, fast, detector):
    frames = [make_frame()] * 10 + [np.full((480, 640, 3), 90, np.uint8)] * 5
    clip = _clip(tmp_path / "clip.mp4", frames)
    baseline = baseline_from_video(clip, fast, detector, seconds=0.5)
    assert baseline.frames == 5 and baseline.model == "student16"
    result = analyse_video(clip, fast, detector, baseline=baseline, every=5)
    assert [r.faces[0].label for r in result.results if r.faces] == ["Neutral", "Neutral"]
    blank = _clip(tmp_path / "blank.mp4", [np.full((480, 640, 3), 90, np.uint8)] * 10)
    with pytest.raises(BaselineError, match="no face in its first 0.5 s"):
        baseline_from_video(blank, fast, detector, seconds=0.5)
    with pytest.raises(BaselineError, match="no face in its first 0.5 s"):
        analyse_video(blank, fast, detector, neutral_seconds=0.5)


def test_video_first_seconds_in_one_pass_equal_two_passes(tracking_clips, fast, detector):
    """analyse_video(neutral_seconds=s) reads the video once, yet its rows are those of the two-pass way: a baseline
    from the first s seconds' main faces (read without one), then the whole video read against it."""
    path, _ = tracking_clips["crossing"]
    raw = analyse_video(path, fast, detector, every=2)
    main = [r.faces[0] for r in raw.results if r.faces and r.time_s < 1.0]
    reference = NeutralBaseline.from_probabilities(
        np.array([[f.scores[label] for label in fast.labels] for f in main]), fast.name, fast.labels)
    two_passes = analyse_video(path, fast, detector, every=2, baseline=reference)
    one_pass = analyse_video(path, fast, detector, every=2, neutral_seconds=1.0)
    assert one_pass.baseline == reference and one_pass.baseline.frames == len(main) > 3
    expected, got = two_passes.rows(), one_pass.rows()
    assert [(r["frame"], r["person"], r["label"], r["vs_neutral"]) for r in got] == \
        [(r["frame"], r["person"], r["label"], r["vs_neutral"]) for r in expected]
    assert all(g[k] == pytest.approx(e[k], abs=1e-4) for g, e in zip(got, expected) for k in fast.labels if e.get(k))


# ------------------------------------------------------------------ live


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(analyzer, clock, frame, seconds, fps=10):
    result = None
    for _ in range(round(seconds * fps)):
        clock.now += 1 / fps
        _, result = analyzer.process(frame)
    return result


def test_live_baseline_collects_the_main_face_then_reads_it_as_neutral(fast):
    clock = FakeClock()
    analyzer = LiveAnalyzer(fast, make_detector(LIVE_DETECTOR), clock=clock)
    face, blank = make_frame(), np.full((480, 640, 3), 90, np.uint8)
    assert _run(analyzer, clock, face, 0.5).faces[0].label == "Happy"
    live = analyzer.baseline
    assert live.status().state == OFF
    # no face while making the baseline: says so, and stays off
    live.start()
    _run(analyzer, clock, blank, 2.5)
    status = live.status()
    assert status.state == OFF and "No face was seen" in status.message
    # the astronaut's face as the "neutral" one: afterwards it reads as Neutral, marked calibrated
    live.start()
    _run(analyzer, clock, face, 1.0)
    assert live.status().state == COLLECTING and 0.4 <= live.status().progress <= 0.6
    _run(analyzer, clock, face, 1.5)
    status = live.status()
    assert status.state == ON and status.frames >= MIN_FRAMES and status.message is None
    result = _run(analyzer, clock, face, 2.0)  # the temporal EMA settles on the calibrated reading
    assert [(f.label, f.kind.vs_neutral) for f in result.faces] == [("Neutral", True)]
    # a stream restart keeps the person's baseline; a failed new baseline keeps it too
    analyzer.reset()
    live.start()
    _run(analyzer, clock, blank, 2.5)
    assert live.status().state == ON and live.status().message
    assert _run(analyzer, clock, face, 2.0).faces[0].kind.vs_neutral
    live.reset()
    assert live.status().state == OFF
    assert _run(analyzer, clock, face, 2.0).faces[0].label == "Happy"


def test_live_baseline_follows_its_face_and_leaves_the_other_uncalibrated(fast):
    clock = FakeClock()
    analyzer = LiveAnalyzer(fast, make_detector(), clock=clock)  # multi-scale: two faces in a wide frame
    face = make_frame()
    live = analyzer.baseline
    live.load(baseline_from_images([("astronaut", face)], fast, make_detector()))
    two = np.concatenate([face, face], axis=1)  # the same person twice, side by side (1280 x 480)
    result = _run(analyzer, clock, two, 1.0)
    assert sorted(f.kind.vs_neutral for f in result.faces) == [False, True]
    followed = next(f for f in result.faces if f.kind.vs_neutral)
    assert followed.label == "Neutral"
    assert next(f for f in result.faces if not f.kind.vs_neutral).label == "Happy"
    # the followed face keeps its baseline wherever it is matched, not by size order
    x = followed.box.x
    result = _run(analyzer, clock, two, 0.5)
    assert next(f for f in result.faces if f.kind.vs_neutral).box.x == pytest.approx(x, abs=8)
    with pytest.raises(BaselineError, match="not 'student16'"):
        live.load(baseline_from_dict({**GOOD, "model": "vgg32b"}))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_large_reference_is_decoded_no_larger_than_the_detector_needs(fast, detector, astronaut, fmt):
    import io

    from fer_core.inference.neutral_reference import REFERENCE_PIXELS, read_reference

    large = np.asarray(Image.fromarray(astronaut).resize((3000, 2000)))  # 6 MP, 3:2
    buffer = io.BytesIO()
    Image.fromarray(large).save(buffer, format=fmt)
    rgb = read_reference(buffer.getvalue(), f"large.{fmt.lower()}")
    assert rgb.shape[0] * rgb.shape[1] <= REFERENCE_PIXELS and rgb.shape[1] / rgb.shape[0] == pytest.approx(1.5, abs=0.01)
    assert rgb.shape[0] * rgb.shape[1] > REFERENCE_PIXELS * 0.9 or fmt == "JPEG"  # a JPEG may decode at 1/2 scale
    assert read_reference(_png(astronaut), "small.png").shape == astronaut.shape  # within the limit: as it is
    assert baseline_from_images([("large", rgb)], fast, detector).frames == 1


def _png(rgb) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()
