"""Videos in memory: no user file on disk, an MP4 that plays while loading, partial results for broken files."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import av
import numpy as np
import pytest

from fer_core.evaluation.sample_frames import astronaut_frame as make_frame
from fer_core.inference.detect import make_detector
from fer_core.drivers.video import analyse_video

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _clip_bytes(frames: int = 30, fragmented: bool = False) -> bytes:
    """A real-face clip (the astronaut sliding sideways), encoded in memory, keyframe every 5 frames."""
    buffer = io.BytesIO()
    frame = make_frame()
    options = {"movflags": "frag_keyframe+empty_moov"} if fragmented else {}
    with av.open(buffer, "w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.options = {"g": "5"}
        for i in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.roll(frame, 4 * i, axis=1), format="rgb24")))
        container.mux(stream.encode())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def annotated(classifier) -> tuple[bytes, object]:
    """A clip analysed from bytes to bytes."""
    output = io.BytesIO()
    result = analyse_video(io.BytesIO(_clip_bytes()), classifier, make_detector(), output=output, every=3, name="clip.mp4")
    return output.getvalue(), result


def test_bytes_in_bytes_out(annotated):
    video, result = annotated
    assert result.source == "clip.mp4" and result.output is None and result.warning is None
    assert result.frames_total == 30 and result.frames_analysed == 10
    assert all(r.faces for r in result.results)
    with av.open(io.BytesIO(video)) as decoded:
        assert sum(1 for _ in decoded.decode(video=0)) == 30


def test_annotated_mp4_has_its_index_first(annotated):
    """The browser can start playing before the whole file has arrived."""
    video, _ = annotated
    assert video[4:8] == b"ftyp"
    assert 0 < video.find(b"moov") < video.find(b"mdat")


def test_a_video_that_breaks_midway_gives_the_frames_before(classifier):
    """A download cut in half: the frames before the cut, with a warning naming where it broke."""
    whole = _clip_bytes(40, fragmented=True)
    broken = whole[: len(whole) // 2]
    result = analyse_video(io.BytesIO(broken), classifier, make_detector(), every=1, name="broken.mp4")
    assert 0 < result.frames_total < 40 and result.frames_analysed == result.frames_total
    assert result.warning and f"frame {result.frames_total}, " in result.warning.replace(" (", ", (")
    assert all(r.faces for r in result.results)


def test_killing_an_analysis_leaves_no_user_file(tmp_path):
    """The app's path (ui.video.analyse) writes nothing: a server killed mid-analysis leaves nothing behind."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    upload = tmp_path / "upload.mp4"  # the test's own copy of the upload, outside TMPDIR
    upload.write_bytes(_clip_bytes(120))
    script = textwrap.dedent(f"""
        import streamlit_webrtc  # noqa: F401 -- before TensorFlow, as in the app
        from pathlib import Path
        from fer_core.inference.classifier import Classifier
        from fer_core.inference.detect import make_detector
        from ui import video
        data = Path({str(upload)!r}).read_bytes()
        def progress(done, total):
            if done == 5:
                print("analysing", flush=True)
        video.analyse("upload.mp4", data, Classifier.load(), make_detector(), every=1, min_confidence=0.0,
                      job=(), progress=progress)
        print("finished", flush=True)
    """)
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": REPO}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        line = ""
        while time.monotonic() < deadline and "analysing" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert "analysing" in line, "the analysis never started"
        proc.send_signal(signal.SIGKILL)  # as if the server were killed mid-analysis
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sorted(p.name for p in temp.rglob("*")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp", "upload.mp4"]
