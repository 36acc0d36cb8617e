"""A pool of analysis engines: each worker thread runs its own LiteRT interpreters.

An interpreter must not be called while it runs, and the runner's lock would serialise every
request through one set of them. So the server loads the model and the detector once per
worker (``workers`` copies, each with ``cpu_count // workers`` threads) and lends one engine to
each request for the length of its analysis: requests never share an interpreter, and the
memory is bounded by ``workers`` copies however many requests wait.
"""
from __future__ import annotations

import hashlib
import os
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fer_core.catalog.model import default_model_dir, member_dirs, weight_files
from fer_core.common.hashing import file_sha256
from fer_core.inference.classifier import Classifier
from fer_core.inference.detect import DEFAULT_DETECTOR, FaceDetector, make_detector


@dataclass(frozen=True)
class Engine:
    """One worker's own classifier and detector (their interpreters are used by one request at a time)."""

    classifier: Classifier
    detector: FaceDetector


def weights_sha256(folder: str | os.PathLike) -> str:
    """The sha256 of the weights a model folder runs: its ``model.keras`` (which its ``model.tflite``
    is checked against at load), or for an ensemble the sha256 of its members' ``name:sha256`` lines."""
    files = weight_files(folder)
    if len(files) == 1:
        return file_sha256(files[0])
    lines = "".join(f"{path.parent.name}:{file_sha256(path)}\n" for path in files)
    return hashlib.sha256(lines.encode()).hexdigest()


class EnginePool:
    """``workers`` engines for one model and detector; :meth:`engine` lends one to a request."""

    def __init__(self, model: str | os.PathLike | None = None, detector: str = DEFAULT_DETECTOR,
                 workers: int = 2, threads: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers: expected 1 or more, got {workers}")
        self.folder = Path(model) if model else default_model_dir()
        self.workers = workers
        threads = threads or max(1, (os.cpu_count() or 1) // workers)
        engines = [Engine(Classifier.load(self.folder, threads=threads), make_detector(detector)) for _ in range(workers)]
        self._free: queue.SimpleQueue[Engine] = queue.SimpleQueue()
        for engine in engines:
            self._free.put(engine)
        first = engines[0].classifier
        self.name, self.labels, self.runtime = first.name, first.labels, first.runtime_label
        self.detector = detector
        self.weights_sha256 = weights_sha256(self.folder)
        self.members = [member.name for member in member_dirs(self.folder)]

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """An engine no other request holds; blocks until one is free (callers bound themselves to ``workers``)."""
        engine = self._free.get()
        try:
            yield engine
        finally:
            self._free.put(engine)
