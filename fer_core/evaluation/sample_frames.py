"""Sample frames with real faces at known places, and the fake webcam: inputs of the tests, the scripts and benchmarks.

One place that ``tests/``, ``scripts/`` and ``experiments/`` import (scikit-image, a test dependency, is imported
when a frame is made).

A real head-and-shoulders photo (scikit-image's astronaut, face about 150 px wide in the
512 px original) is rescaled so that the face is a given fraction of the frame width and
pasted into a grey frame; the face's box in the frame is known exactly.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fer_core.inference.detect import Box

#: a FER2013 face is enlarged this many times before detection (BlazeFace wants faces of 30+ px)
UPSCALE = 4
#: border added on each side, as a share of the enlarged face: the detector sees a face in a frame
BORDER = 0.5

#: The astronaut's head and shoulders in the 512x512 photo, and her face box (x, y, w, h) inside that crop.
HEAD_CROP = (slice(0, 330), slice(90, 370))
FACE_IN_CROP = (83.0, 68.0, 107.0, 107.0)
FACE_WIDTH = 150.0  # the face's width in the original, as the detection notes measure it


def astronaut_frame() -> np.ndarray:
    """A 640x480 RGB frame with one real face: scikit-image's astronaut photo, letterboxed (as ``bench``'s)."""
    from skimage import data

    face = cv2.resize(data.astronaut(), (480, 480), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 40, dtype=np.uint8)
    frame[:, 80:560] = face
    return frame


def head_and_shoulders() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[HEAD_CROP])


def face_frame(head: np.ndarray, fraction: float, width: int, height: int,
               centre: tuple[float, float] = (0.5, 0.5)) -> tuple[np.ndarray, Box]:
    """A grey frame with the face ``fraction`` of its width wide, its centre at ``centre`` (relative); and its box."""
    frame = np.full((height, width, 3), 128, np.uint8)
    return frame, _paste(frame, head, fraction, centre)


def faces_frame(faces: Sequence[tuple[np.ndarray, float, tuple[float, float]] | None], width: int,
                height: int) -> tuple[np.ndarray, list[Box | None]]:
    """A grey frame with several faces, each ``(head, fraction, centre)`` as in :func:`face_frame` (None: absent).

    Only a square of :data:`PATCH_SCALE` times each face box is pasted (not the head and shoulders),
    so two faces can pass close to each other without one photo covering the other's face.
    """
    frame = np.full((height, width, 3), 128, np.uint8)
    return frame, [None if face is None else _paste(frame, *face, patch=PATCH_SCALE) for face in faces]


#: the side of the square pasted around each face by :func:`faces_frame`, in face widths
PATCH_SCALE = 1.6


def _paste(frame: np.ndarray, head: np.ndarray, fraction: float, centre: tuple[float, float],
           patch: float | None = None) -> Box:
    """Paste ``head`` scaled so its face is ``fraction`` of the frame's width, centred at ``centre``; the face's box.

    ``patch``: paste only a square that many face widths wide around the face (None: the whole photo).
    """
    height, width = frame.shape[:2]
    scale = fraction * width / FACE_WIDTH
    size = (max(1, round(head.shape[1] * scale)), max(1, round(head.shape[0] * scale)))
    photo = cv2.resize(head, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    fx, fy, fw, fh = (v * scale for v in FACE_IN_CROP)
    x0, y0 = round(centre[0] * width - fx - fw / 2), round(centre[1] * height - fy - fh / 2)
    if patch is not None:  # crop the photo to the square around the face
        side = round(fw * patch)
        px, py = max(0, round(fx + fw / 2 - side / 2)), max(0, round(fy + fh / 2 - side / 2))
        photo, x0, y0 = photo[py : py + side, px : px + side], x0 + px, y0 + py
        fx, fy = fx - px, fy - py
    dx, dy, sx, sy = max(0, x0), max(0, y0), max(0, -x0), max(0, -y0)
    w, h = min(width - dx, photo.shape[1] - sx), min(height - dy, photo.shape[0] - sy)
    frame[dy : dy + h, dx : dx + w] = photo[sy : sy + h, sx : sx + w]
    return Box(round(x0 + fx), round(y0 + fy), round(fw), round(fh))


# ------------------------------------------------------------------ two people moving: the tracking scenes
#: the frame size and rate of :func:`tracking_scene`
SCENE_SIZE, SCENE_FPS = (640, 360), 15


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def tracking_scene(name: str) -> list[tuple[np.ndarray, list[Box | None]]]:
    """Frames of two real faces (the astronaut, and her mirror image) moving, with both true boxes per frame.

    - ``crossing``: one face grows while the other shrinks, so "largest first" swaps halfway;
    - ``gap``: the first face is gone for 8 frames (0.53 s at :data:`SCENE_FPS`), then returns;
    - ``passing``: the faces move past each other, one above the other, 7 px between their photos.

    Raises:
        ValueError: an unknown name.
    """
    a = head_and_shoulders()
    shift = round(a.shape[1] - 2 * FACE_IN_CROP[0] - FACE_IN_CROP[2])  # so the mirrored face is at FACE_IN_CROP too
    b = np.ascontiguousarray(a[:, ::-1][:, shift:])
    if name == "crossing":
        n = 36
        people = [[(a, _lerp(0.12, 0.26, i / (n - 1)), (_lerp(0.30, 0.34, i / (n - 1)), 0.5)),
                   (b, _lerp(0.26, 0.12, i / (n - 1)), (_lerp(0.72, 0.68, i / (n - 1)), 0.5))] for i in range(n)]
    elif name == "gap":
        n = 36
        people = [[None if 12 <= i < 20 else (a, 0.2, (_lerp(0.28, 0.36, i / (n - 1)), 0.5)),
                   (b, 0.16, (0.75, _lerp(0.5, 0.45, i / (n - 1))))] for i in range(n)]
    elif name == "passing":
        n = 40
        people = [[(a, 0.14, (_lerp(0.15, 0.85, i / (n - 1)), 0.3)),
                   (b, 0.14, (_lerp(0.85, 0.15, i / (n - 1)), 0.72))] for i in range(n)]
    else:
        raise ValueError(f"unknown tracking scene {name!r}; expected one of {', '.join(TRACKING_SCENES)}")
    return [faces_frame(faces, *SCENE_SIZE) for faces in people]


#: the scenes :func:`tracking_scene` builds
TRACKING_SCENES = ("crossing", "gap", "passing")


# --------------------------------------------------------------------------- FER2013 faces in frames


def frame_face(face: np.ndarray, upscale: int = UPSCALE, border: float = BORDER) -> np.ndarray:
    """A grey ``(48, 48)`` face as an RGB frame: enlarged and framed by its own repeated edge."""
    big = cv2.resize(face, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    pad = round(big.shape[0] * border)
    framed = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return cv2.cvtColor(framed, cv2.COLOR_GRAY2RGB)


# --------------------------------------------------------------------------- the fake webcam (Chromium)

#: Chromium's flags for the browser tests and the load script (the fake camera's are added where it is used)
CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def astronaut_rgb() -> np.ndarray:
    """scikit-image's astronaut: a real, smiling face (512x512 RGB uint8)."""
    from skimage import data

    return data.astronaut()


def camera_frame(width: int = 640, height: int = 480) -> np.ndarray:
    """The astronaut scaled to the frame height and centred on a grey 640x480 canvas."""
    import cv2

    photo = cv2.resize(astronaut_rgb(), (height, height), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 128, dtype=np.uint8)
    left = (width - height) // 2
    canvas[:, left:left + height] = photo
    return canvas


def write_y4m(path: Path, frame_rgb: np.ndarray, fps: int = 15, seconds: float = 3.0) -> Path:
    """A YUV4MPEG2 (I420) clip of one still frame, which Chromium loops as its fake camera."""
    import cv2

    height, width = frame_rgb.shape[:2]
    yuv = cv2.cvtColor(np.ascontiguousarray(frame_rgb), cv2.COLOR_RGB2YUV_I420).tobytes()
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(int(round(fps * seconds))):
            out.write(b"FRAME\n")
            out.write(yuv)
    return path
