"""Real-face clips for the study tests: FER2013 faces (the real file's first rows) and the astronaut in grey frames."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

FPS, SIZE = 10, (320, 240)
#: FER2013 rows (of the file's first 40) whose face BlazeFace finds when pasted 120 px wide
FER_HAPPY, FER_NEUTRAL, FER_HAPPY2, FER_NEUTRAL2 = 0, 8, 19, 20


def fer_face(data_path: Path, row: int) -> np.ndarray:
    """One real FER2013 face (grey 48x48 -> RGB), read from the file's first rows only."""
    pixels = pd.read_csv(data_path, nrows=row + 1)["pixels"][row]
    grey = np.array(pixels.split(), dtype=np.uint8).reshape(48, 48)
    return np.repeat(grey[..., None], 3, axis=2)


def fer_frame(face: np.ndarray) -> np.ndarray:
    frame = np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)
    frame[60:180, 100:220] = cv2.resize(face, (120, 120), interpolation=cv2.INTER_CUBIC)
    return frame


def write_clip(path: Path, schedule: list[tuple[float, np.ndarray]]) -> Path:
    """An H.264 clip of ``schedule``: (seconds, frame) segments one after another."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        for seconds, frame in schedule:
            for _ in range(round(seconds * FPS)):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path
