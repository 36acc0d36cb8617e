"""LiteRT (ai-edge-litert) for the emotion networks: a thread-safe runner (the export is :mod:`fer_core.training.export`).

A ``model.tflite`` beside ``model.keras`` runs the same network 2-3x faster on these CPUs
than a traced Keras call, and without TensorFlow in the process. The batch dimension is
dynamic: the runner resizes the input once per new batch size.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from fer_core.catalog.model import file_precision

#: The environment variable that sets the LiteRT threads per interpreter.
THREADS_ENV = "FER_THREADS"


def default_threads() -> int:
    """Threads per interpreter: ``$FER_THREADS``, else every core (the machine's, not a guess)."""
    value = os.environ.get(THREADS_ENV, "")
    return max(1, int(value)) if value.strip().isdigit() else (os.cpu_count() or 1)


class LiteRTRunner:
    """``runner(batch) -> probabilities`` for a ``.tflite`` classifier; one invoke at a time.

    An interpreter is not thread-safe, and the app shares one classifier between sessions, so
    calls are serialised by a lock (the work is CPU-bound: running two at once gains nothing).
    """

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None, **options) -> None:
        """``options`` go to the Interpreter as they are (e.g. ``experimental_preserve_all_tensors``)."""
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.num_threads = num_threads or default_threads()
        self._interpreter = Interpreter(model_path=str(self.path), num_threads=self.num_threads, **options)
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"][1:])
        #: an integer network's softmax is int8: its probabilities come in steps of 1/256 and their
        #: sum can miss 1 by a step or two, so they are renormalised (float networks' are left as they are)
        self.renormalise = file_precision(self.path) == "int8"
        self.num_outputs = int(self._output["shape"][-1])
        self._batch = -1
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.shape[1:] != self.input_shape:
            raise ValueError(f"{self.path.name}: input {batch.shape[1:]} != the network's {self.input_shape}")
        if len(batch) == 0:
            return np.zeros((0, self.num_outputs), dtype=np.float32)
        out = self.run(batch, [self._output["index"]])[0]
        if self.renormalise:
            out /= np.maximum(out.sum(axis=1, keepdims=True), np.float32(1e-6))
        return out

    def run(self, batch: np.ndarray, tensors: list[int]) -> list[np.ndarray]:
        """Run a non-empty batch and copy out these tensors (by index; an intermediate one needs
        ``experimental_preserve_all_tensors``), all under the lock."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            if len(batch) != self._batch:
                self._interpreter.resize_tensor_input(self._input["index"], batch.shape)
                self._interpreter.allocate_tensors()
                self._batch = len(batch)
            self._interpreter.set_tensor(self._input["index"], batch)
            self._interpreter.invoke()
            return [self._interpreter.get_tensor(index).copy() for index in tensors]

    @property
    def interpreter(self):
        """The interpreter, for reading its graph (never to invoke outside :meth:`run`)."""
        return self._interpreter
