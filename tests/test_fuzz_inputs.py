"""A fuzz pass over every input the app and the CLI accept: images, videos, FER2013 CSVs and
neutral-baseline files (issue 41).

Hypothesis makes the inputs: arbitrary bytes, and real files (made here) with bytes flipped, cut or
spliced, and baseline documents with any key set to any JSON value. Each reader must either read
the input or refuse it with its own one-line error naming the file; never another exception. Then
the CLI (in-process: exit code 1 or 2, ``error:`` lines only, no traceback) and the app's pages
(AppTest: an ``st.error``, no exception box, the page still analyses a good photo) get a table of
hostile files. ``derandomize=True``: the same examples on every run, so the suite is not flaky.
"""
from __future__ import annotations

import contextlib
import functools
import gzip
import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fer_core import cli
from fer_core.data.fer2013 import NUM_PIXELS, DataError, load_csv
from fer_core.drivers.video import VideoError, analyse_video
from fer_core.inference.baseline_file import parse_baseline
from fer_core.inference.images import ImageError, read_image
from fer_core.inference.neutral_baseline import BaselineError, NeutralBaseline
from tests.test_app import without_data  # noqa: F401 -- a fixture
from tests.test_baseline_file import GOOD

REPO = Path(__file__).resolve().parent.parent
FAST = REPO / "models" / "student16"
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _image_bytes(fmt: str) -> bytes:
    rgb = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt)
    return buffer.getvalue()


def _video_bytes() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(4):
            frame = np.full((48, 64, 3), 40 * i, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return buffer.getvalue()


def _csv_bytes() -> bytes:
    rng = np.random.default_rng(0)
    rows = [f"{i % 7},{' '.join(map(str, rng.integers(0, 256, NUM_PIXELS)))},{usage}"
            for i, usage in enumerate(["Training", "PublicTest", "PrivateTest"])]
    return ("emotion,pixels,Usage\n" + "\n".join(rows) + "\n").encode()


IMAGES = {fmt: _image_bytes(fmt) for fmt in ("PNG", "JPEG", "WEBP", "BMP", "TIFF")}
VIDEO = _video_bytes()
CSV = _csv_bytes()


@st.composite
def damaged(draw, original: bytes) -> bytes:
    """``original`` with a few bytes flipped, a slice cut out or replaced, or cut short."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "cut", "splice", "truncate"]))
        if kind == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "splice":
            data[at:at + draw(st.integers(0, 16))] = draw(st.binary(max_size=16))
        else:
            del data[at:]
    return bytes(data)


def _one_line(error: Exception, name: str) -> None:
    text = str(error)
    assert name in text and "\n" not in text and "Traceback" not in text, text


# ------------------------------------------------------------------ images


@FUZZ
@given(data=st.one_of(st.binary(max_size=300),
                      st.sampled_from(list(IMAGES.values())).flatmap(damaged)))
def test_any_image_bytes_are_read_or_refused_in_one_line(data):
    try:
        rgb = read_image(data, "fuzz.png")
    except ImageError as exc:
        _one_line(exc, "fuzz.png")
    else:
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3


# ------------------------------------------------------------------ neutral-baseline files

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


@st.composite
def baseline_documents(draw) -> bytes:
    """GOOD with some keys set to any JSON value (or a list of texts, or numbers) or removed, as a file's bytes."""
    document = dict(GOOD)
    values = JSON | st.lists(st.text(max_size=6), min_size=1, max_size=8) | st.lists(st.floats(), max_size=8)
    for key in draw(st.lists(st.sampled_from([*GOOD, "spread"]), min_size=1, max_size=3)):
        if draw(st.booleans()):
            document[key] = draw(values)
        else:
            document.pop(key, None)
    return json.dumps(document).encode()


@settings(FUZZ, max_examples=200)
@given(data=st.one_of(st.binary(max_size=200), baseline_documents(), damaged(json.dumps(GOOD).encode())))
def test_any_baseline_file_is_read_or_refused_in_one_line(data):
    try:
        baseline = parse_baseline(data, "fuzz.json")
    except BaselineError as exc:
        _one_line(exc, "fuzz.json")
        assert str(exc).startswith("fuzz.json: ")
    else:
        assert isinstance(baseline, NeutralBaseline) and baseline.frames >= 1


# ------------------------------------------------------------------ FER2013 CSVs


@FUZZ
@given(data=damaged(CSV), gz=st.booleans())
def test_any_damaged_csv_is_loaded_or_refused_in_one_line(tmp_path, data, gz):
    path = tmp_path / ("fuzz.csv.gz" if gz else "fuzz.csv")
    path.write_bytes(gzip.compress(data)[:-3] + data[:3] if gz else data)  # a gzip stream damaged too
    try:
        loaded = load_csv(path)
    except DataError as exc:
        _one_line(exc, path.name)
    else:
        assert loaded.images.shape[1:] == (48, 48) and len(loaded.images) == len(loaded.labels)


# ------------------------------------------------------------------ study and marker files

STUDY = b"participant,video,neutral_seconds,group\nP1,a.mp4,2,x\nP2,b.mp4,,y\n"
MARKERS = b"participant,stimulus,onset,offset\nP1,clip A,1,4.5\nP2,clip A,0.5,3\nP1,clip B,5,9\n"


@FUZZ
@given(study=st.one_of(damaged(STUDY), st.binary(max_size=120)), markers=st.one_of(damaged(MARKERS), st.just(MARKERS)))
def test_any_damaged_study_or_markers_file_is_read_or_refused_in_one_line(tmp_path, study, markers):
    """study.csv and markers.csv as a spreadsheet might save them, damaged: read, or one StudyError naming the file."""
    from fer_core.study.design import StudyError, read_design

    (tmp_path / "study.csv").write_bytes(study)
    (tmp_path / "markers.csv").write_bytes(markers)
    try:
        design = read_design(tmp_path / "study.csv", tmp_path / "markers.csv")
    except StudyError as exc:
        text = str(exc)
        assert ("study.csv" in text or "markers.csv" in text) and "\n" not in text and "Traceback" not in text, text
    else:
        assert design.participants and all(w.offset > w.onset for w in design.windows)


# ------------------------------------------------------------------ videos


@settings(FUZZ, max_examples=15)
@given(data=damaged(VIDEO))
def test_any_damaged_video_is_analysed_or_refused_in_one_line(classifier, data):
    try:
        result = analyse_video(io.BytesIO(data), classifier, _detector(), name="fuzz.mp4")
    except VideoError as exc:
        _one_line(exc, "fuzz.mp4")
    else:
        assert result.frames_analysed >= 1


@functools.cache
def _detector():
    from fer_core.inference.detect import make_detector

    return make_detector("blazeface")


# ------------------------------------------------------------------ the CLI with hostile files

HOSTILE = {
    "garbage.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    "truncated.jpg": IMAGES["JPEG"][: len(IMAGES["JPEG"]) // 2],
    "empty.webp": b"",
    "text.tiff": b"not an image at all\n",
}


def _main(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main([str(a) for a in args])
    return code, err.getvalue()


def test_the_cli_answers_hostile_files_in_error_lines(tmp_path):
    paths = []
    for name, data in HOSTILE.items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    code, err = _main(["predict", "--model", FAST, *paths])
    assert code == 1 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == len(HOSTILE) and all(line.startswith("error: ") for line in lines), lines
    for bad in (b"[" * 20_000, b'{"format": "fer-studio-neutral-baseline", "version": 1e999}', b"\x00" * 70_000):
        baseline = tmp_path / "bad.json"
        baseline.write_bytes(bad)
        code, err = _main(["predict", "--model", FAST, "--baseline", baseline, paths[0]])
        assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {baseline}: "), err
    data = tmp_path / "bad.csv"
    data.write_bytes(CSV[: len(CSV) // 2])
    code, err = _main(["evaluate", "--model", FAST, "--data", data])
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"error: {data}"), err


# ------------------------------------------------------------------ the app with hostile files


@pytest.mark.parametrize("uploader, files", [
    ("photo_uploads", ["garbage.png", "truncated.jpg", "empty.webp"]),
    ("photo-reference", ["garbage.png"]),
    ("photo-reference", ["deep.json"]),
])
def test_the_photo_page_answers_hostile_files_with_errors_and_goes_on(without_data, astronaut_jpeg, uploader, files):
    from tests.test_app import open_page

    hostile = {**HOSTILE, "deep.json": b"[" * 100_000}
    uploads = [(name, hostile[name], "application/octet-stream") for name in files]
    at = open_page("photo")
    if uploader == "photo_uploads":
        at.file_uploader(key=uploader).set_value([*uploads, ("astronaut.jpg", astronaut_jpeg, "image/jpeg")])
    else:
        at.file_uploader(key=uploader).set_value(uploads[0])
        at.file_uploader(key="photo_uploads").set_value(("astronaut.jpg", astronaut_jpeg, "image/jpeg"))
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == len(files) and all(name in error for name, error in zip(files, errors)), errors
    assert [m.value for m in at.metric if m.label == "Face 1"] == ["Happy"]  # the good photo is analysed


def test_the_video_page_answers_a_hostile_file_with_an_error(without_data):
    from tests.test_app import open_page

    at = open_page("video")
    at.file_uploader(key="video_upload").set_value(("broken.mp4", VIDEO[: len(VIDEO) // 3], "video/mp4"))
    at.run()
    at.button[0].click().run()  # Analyse video
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.error) == 1 and "broken.mp4" in at.error[0].value, [e.value for e in at.error]


@pytest.mark.parametrize("name, data", [
    ("broken.csv.gz", b"\x1f\x8b\x08\x00" + bytes(range(256))),
    ("binary.csv", bytes(range(256)) * 8),
])
def test_the_dataset_page_answers_a_hostile_csv_with_an_error(without_data, name, data):
    from tests.test_app import open_page

    at = open_page("dataset")
    at.radio(key="data_source").set_value("Upload a CSV").run()
    at.file_uploader(key="data_upload").set_value((name, data, "text/csv"))
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.error) == 1 and name in at.error[0].value, [e.value for e in at.error]
