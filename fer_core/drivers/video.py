"""Video-file analysis with PyAV: every frame or every Nth, annotated video + per-face rows.

Sources and outputs may be paths or binary file objects (``io.BytesIO``): the app decodes
uploads and encodes the annotated copy in memory, so no user video ever touches the disk.
The annotated MP4 is fragmented with its index (``moov``) first, so a browser plays it while
it loads. (``+faststart`` would do the same for files, but FFmpeg can only apply it by
re-opening a file on disk.)
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import BinaryIO
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fer_core.inference.neutral_baseline import BaselineError, NeutralBaseline
from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import FaceDetector
from fer_core.inference.draw import DEFAULT_MIN_CONFIDENCE, annotate
from fer_core.inference.faces import Face
from fer_core.inference.pipeline import make_pipeline
from fer_core.inference.stages import read_against
from fer_core.inference.rows import face_rows, no_face_row
from fer_core.inference.tracking import FaceTracker

#: the video file types the studio reads (video uploads, folders given to ``batch``)
VIDEO_TYPES = ("mp4", "webm", "avi", "mov")

#: the frame rate assumed for a video whose header gives none
FALLBACK_FPS = 25.0
#: a video that decodes to fewer than this share of the frames its header announces is reported as truncated
#: (headers' counts are estimates: a few frames short is normal)
TRUNCATED_SHARE = 0.9
MAX_SIDE = 1280  # longer videos are scaled down for speed; boxes refer to the scaled frames


class VideoError(ValueError):
    """A file that cannot be decoded as a video, with a message naming it."""


@dataclass(frozen=True)
class VideoFrameResult:
    """One analysed frame: its number, its time and its faces (``person`` set to their track IDs)."""

    index: int
    time_s: float
    faces: list[Face]


@dataclass(frozen=True)
class VideoResult:
    """Everything a video analysis produced."""

    source: str
    fps: float
    frames_total: int
    frames_analysed: int
    width: int
    height: int
    results: tuple[VideoFrameResult, ...] = ()
    output: str | None = None
    #: set when the analysis covers only part of the video (decoding broke off, or ``max_frames``)
    warning: str | None = None
    #: the neutral baseline every face was read against (given, or made from the video's first seconds)
    baseline: NeutralBaseline | None = None

    def rows(self) -> list[dict]:
        """One row per analysed frame and face, ``face`` 1 the largest, ``person`` its track ID (a frame
        with no face gets one :func:`~fer_core.inference.rows.no_face_row`)."""
        out = []
        for r in self.results:
            context = {"frame": r.index, "time_s": round(r.time_s, 3)}
            out += face_rows(r.faces, **context) or [no_face_row(**context, face=None)]
        return out


def analyse_video(
    source: str | os.PathLike | BinaryIO, classifier: Classifier, detector: FaceDetector, *,
    output: str | os.PathLike | BinaryIO | None = None, every: int = 1,
    progress: Callable[[int, int], None] | None = None, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    name: str | None = None,
    max_frames: int | None = None,
    max_seconds: float | None = None,
    baseline: NeutralBaseline | None = None,
    neutral_seconds: float | None = None,
) -> VideoResult:
    """Analyse every ``every``-th frame of a video; optionally write an annotated H.264 MP4.

    Frames between analysed ones keep the last boxes, so the output plays smoothly. Each face's
    ``person`` is its track ID (:class:`~fer_core.inference.tracking.FaceTracker`), stable over the video.
    ``progress(done, total)`` is called as frames are decoded (total is an estimate).
    ``name`` is how error messages call the file (an upload's name, or a file object's).
    A file that breaks midway gives the frames before the break, with ``warning`` set.
    ``max_frames`` bounds the work and the annotated output a server keeps (the app's ceiling);
    a longer video gives its first ``max_frames`` frames, with ``warning`` set; ``max_seconds`` does
    the same by time (at the header's frame rate). With a ``baseline`` every face is read against that person's neutral face.
    With ``neutral_seconds`` the video's first seconds are that face: their main faces make the baseline, in the same
    pass (those frames' faces are then read against it too; the annotated video draws them as the model read them).

    Raises:
        VideoError: the file is not a decodable video, or no frame of it could be decoded.
        BaselineError: ``neutral_seconds`` and no face in those seconds.
    """
    import av

    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    if neutral_seconds is not None and (baseline is not None or neutral_seconds <= 0):
        raise ValueError("neutral_seconds: more than 0 seconds, and not with a baseline given")
    name = name or (Path(source).name if isinstance(source, (str, os.PathLike)) else "video")
    container = _open(source, name)
    annotated = None
    try:
        stream = _video_stream(container, name)
        fps = _frame_rate(stream)
        total = _announced_frames(container, stream, fps)
        limit = max_frames
        if max_seconds is not None:  # the same bound by time, at the header's rate
            by_time = max(1, round(max_seconds * fps))
            limit = by_time if limit is None else min(limit, by_time)
        annotated = _AnnotatedVideo(output, fps) if output is not None else None
        decoded = _Decoded(container, stream)
        frames: list[VideoFrameResult] = []
        faces: list[Face] = []
        tracker = FaceTracker(frame_rate=fps / every)
        pipeline = make_pipeline(classifier, detector, tracker=tracker, baseline=baseline)
        collecting = neutral_seconds is not None  # the first seconds' main faces make the baseline
        count, size, warning = 0, (0, 0), None
        for index, frame in enumerate(decoded):
            if limit is not None and index >= limit:
                warning = _limit_warning(limit, fps)
                break
            rgb = _limit_size(frame.to_ndarray(format="rgb24"))
            if index % every == 0:
                time_s = _frame_time(frame, index, fps)
                if collecting and time_s >= neutral_seconds:
                    baseline, frames = _read_first_seconds(frames, classifier, neutral_seconds, name)
                    pipeline, collecting = make_pipeline(classifier, detector, tracker=tracker, baseline=baseline), False
                faces = pipeline.faces(rgb)
                frames.append(VideoFrameResult(index, time_s, faces))
            if annotated is not None:
                annotated.write(annotate(rgb, faces, min_confidence))
            count, size = index + 1, (rgb.shape[1], rgb.shape[0])
            if progress:
                progress(count, max(total, count))
        if count == 0:
            raise VideoError(f"{name}: no frames could be decoded")
        if collecting:  # the video ended within its neutral seconds
            baseline, frames = _read_first_seconds(frames, classifier, neutral_seconds, name)
        warning = warning or decoded.broken or _truncation(count, total)
    except av.FFmpegError as exc:
        raise VideoError(f"{name}: corrupt or unsupported video ({_reason(exc)})") from exc
    finally:
        if annotated is not None:
            annotated.close()
        container.close()
    return VideoResult(name, fps, count, len(frames), *size, results=tuple(frames),
                       output=str(output) if isinstance(output, (str, os.PathLike)) else None, warning=warning,
                       baseline=baseline)


def baseline_from_video(source: str | os.PathLike | BinaryIO, classifier: Classifier, detector: FaceDetector, *,
                        seconds: float, every: int = 1, name: str | None = None) -> NeutralBaseline:
    """A neutral baseline from the first ``seconds`` of a video: its largest face in every ``every``-th frame.

    For a video that starts with the person's relaxed face ("the first N seconds are neutral"). To analyse the
    video against it as well, ``analyse_video(..., neutral_seconds=seconds)`` does both in one pass.

    Raises:
        BaselineError: no face in those seconds.
        VideoError: not a decodable video.
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be more than 0, got {seconds}")
    first = analyse_video(source, classifier, detector, every=every, name=name, max_seconds=seconds,
                          neutral_seconds=seconds)
    if hasattr(source, "seek"):
        source.seek(0)
    return first.baseline


def _read_first_seconds(frames: list[VideoFrameResult], classifier: Classifier, seconds: float,
                        name: str) -> tuple[NeutralBaseline, list[VideoFrameResult]]:
    """The baseline of the main faces of the frames before ``seconds``, and every frame so far read against it.

    Raises:
        BaselineError: no face in those seconds.
    """
    main_faces = [r.faces[0] for r in frames if r.faces and r.time_s < seconds]
    if not main_faces:
        raise BaselineError(f"{name}: no face in its first {seconds:g} s to make a neutral baseline from; "
                            "choose a video that starts with the person's relaxed face, or a neutral reference photo")
    labels = classifier.labels
    baseline = NeutralBaseline.from_probabilities(np.array([[f.scores[label] for label in labels] for f in main_faces]),
                                                  classifier.name, labels)
    return baseline, [replace(r, faces=read_against(r.faces, baseline)) for r in frames]


def _open(source: str | os.PathLike | BinaryIO, name: str):
    """The source opened with PyAV.

    Raises:
        VideoError: not a video file that can be decoded.
    """
    import av

    try:
        return av.open(source if hasattr(source, "read") else str(source))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{name}: not a video file that can be decoded ({_reason(exc)})") from exc


def _video_stream(container, name: str):
    """The container's first video stream, decoded with FFmpeg's threads.

    Raises:
        VideoError: the file has none.
    """
    if not container.streams.video:
        raise VideoError(f"{name}: the file has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def _frame_rate(stream) -> float:
    """The stream's frame rate from its header, or :data:`FALLBACK_FPS` when the header gives none."""
    return float(stream.average_rate or stream.guessed_rate or FALLBACK_FPS)


def _announced_frames(container, stream, fps: float) -> int:
    """How many frames the header announces (its count, else its duration times ``fps``; 0 if neither)."""
    return stream.frames or int(float(container.duration or 0) / 1e6 * fps) or 0


def _frame_time(frame, index: int, fps: float) -> float:
    """When a frame is shown, in seconds: its timestamp, or its number over the frame rate if it has none."""
    return float(frame.time) if frame.time is not None else index / fps


def _limit_warning(max_frames: int, fps: float) -> str:
    """The warning of a video cut at ``max_frames``."""
    return (f"only the first {max_frames} frames ({max_frames / fps:.0f} s) were analysed, "
            "the limit for one video here; the results and the annotated video cover those")


def _truncation(frames: int, announced: int) -> str | None:
    """A warning when decoding ended well before the frames the header announces (under :data:`TRUNCATED_SHARE`)."""
    if announced and frames < TRUNCATED_SHARE * announced:
        return (f"the video ended at frame {frames}, before the {announced} frames its header announces "
                "(a truncated file?); the results cover those frames")
    return None


class _Decoded:
    """The decoded frames of a stream, until its end or the first decoding error after at least one frame.

    A broken tail (a truncated download, a damaged block) ends the frames early instead of losing
    those before it; :attr:`broken` then says where and why, for the result's warning.
    """

    def __init__(self, container, stream) -> None:
        self._frames = container.decode(stream)
        self.count = 0
        #: set when decoding broke off after ``count`` frames
        self.broken: str | None = None

    def __iter__(self):
        import av

        while True:
            try:
                frame = next(self._frames)
            except StopIteration:
                return
            except av.FFmpegError as exc:
                if self.count == 0:
                    raise
                self.broken = (f"the video could be decoded only up to frame {self.count} "
                               f"({_reason(exc)}); the results cover those frames")
                return
            self.count += 1
            yield frame


def _reason(exc: Exception) -> str:
    """FFmpeg's reason without the file path it appends (a temporary name, for uploads)."""
    return getattr(exc, "strerror", None) or str(exc)


def _limit_size(rgb: np.ndarray) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    scale = MAX_SIDE / max(h, w)
    if scale < 1:
        rgb = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    # H.264 with yuv420p needs even sides
    return rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]


#: MP4 muxer flags: fragments with the index first (plays while loading; works in memory)
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"


class _AnnotatedVideo:
    """The annotated H.264 MP4 being written, opened at the first frame (whose size it takes)."""

    def __init__(self, target: str | os.PathLike | BinaryIO, fps: float) -> None:
        self._target = target
        self._fps = fps
        self._container = self._stream = None

    def write(self, rgb: np.ndarray) -> None:
        """Encode one frame (``rgb``, even sides: :func:`_limit_size`)."""
        import av

        if self._container is None:
            self._open(rgb.shape[1], rgb.shape[0])
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and close the file (nothing to do when no frame came)."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def _open(self, width: int, height: int) -> None:
        import av
        from fractions import Fraction

        target = self._target
        self._container = av.open(target if hasattr(target, "write") else str(target), mode="w", format="mp4",
                                  options={"movflags": MOVFLAGS})  # a muxer option: as a stream option it had no effect
        self._stream = self._container.add_stream("libx264", rate=Fraction(self._fps).limit_denominator(1000))
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        self._stream.options = {"preset": "veryfast", "crf": "23"}
