"""Video files and live frames, on a clip built from a real photo."""
import av
import numpy as np
import pytest

from fer_core.bench import test_frame as make_frame
from fer_core.detect import make_detector
from fer_core.live import LiveAnalyzer
from fer_core.video import VideoError, analyse_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 2-second 640x480 clip: the astronaut sliding sideways, then 10 blank frames."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    frame = make_frame()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        frames = [np.roll(frame, 4 * i, axis=1) for i in range(20)] + [np.full_like(frame, 90)] * 10
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_video_every_second_frame(clip, classifier, tmp_path):
    seen = []
    result = analyse_video(clip, classifier, make_detector(), output=tmp_path / "out.mp4", every=2,
                           progress=lambda done, total: seen.append((done, total)))
    assert result.frames_total == 30 and result.frames_analysed == 15
    assert seen[-1][0] == 30
    labels = [r["label"] for r in result.rows()]
    assert labels[:10].count("Happy") >= 8 and labels[-5:] == ["No face"] * 5
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert out.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in out.decode(video=0)) == 30


def test_corrupt_video_is_a_clear_error(tmp_path, clip, classifier):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    with pytest.raises(VideoError, match="broken.mp4"):
        analyse_video(broken, classifier, make_detector())


def test_live_analyzer_labels_and_counts_fps(classifier):
    analyzer = LiveAnalyzer(classifier, make_detector())
    frame = av.VideoFrame.from_ndarray(make_frame(), format="rgb24")  # as the WebRTC callback receives it
    for _ in range(5):
        out, result = analyzer.process(frame.to_ndarray(format="rgb24"))
    assert out.shape == (480, 640, 3) and not np.array_equal(out, make_frame())
    assert [f.label for f in result.faces] == ["Happy"] and result.fps > 0
    _, empty = analyzer.process(np.full((480, 640, 3), 90, np.uint8))
    assert empty.faces == []
