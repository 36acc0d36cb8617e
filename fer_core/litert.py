"""LiteRT (ai-edge-litert) for the emotion networks: export from Keras, and a thread-safe runner.

A ``model.tflite`` beside ``model.keras`` runs the same network 2-3x faster on these CPUs
than a traced Keras call, and without TensorFlow in the process. The batch dimension is
dynamic: the runner resizes the input once per new batch size.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from fer_core.model import MODEL_FILE, TFLITE_FILE, is_ensemble, load_keras_model, member_dirs, read_metadata, write_metadata

#: largest |p_litert - p_keras| an export may show on its check batch
PARITY_TOLERANCE = 1e-4


#: The environment variable that sets the LiteRT threads per interpreter.
THREADS_ENV = "FER_THREADS"


def default_threads() -> int:
    """Threads per interpreter: ``$FER_THREADS``, else every core (the machine's, not a guess)."""
    value = os.environ.get(THREADS_ENV, "")
    return max(1, int(value)) if value.strip().isdigit() else (os.cpu_count() or 1)


def export_tflite(keras_model, path: str | os.PathLike) -> Path:
    """Write a float32 ``.tflite`` of a Keras model (Keras 3's own LiteRT export), atomically."""
    from fer_core.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    path = Path(path)
    tmp = path.with_name("tmp-" + path.name)
    keras_model.export(str(tmp), format="litert", verbose=False)
    os.replace(tmp, path)
    return path


def export_model_folder(folder: str | os.PathLike, check_batch: np.ndarray | None = None) -> list[Path]:
    """Export a model folder (each member of an ensemble) to ``model.tflite`` and record it in the metadata.

    Each export is checked against Keras on ``check_batch`` (default: 64 random inputs) and
    refused if any probability differs by more than :data:`PARITY_TOLERANCE`.
    """
    from fer_core.data import file_sha256

    folder = Path(folder)
    metadata = read_metadata(folder)
    written = []
    for member in member_dirs(folder, metadata):
        member_meta = read_metadata(member)
        if is_ensemble(member_meta):
            continue
        model, _ = load_keras_model(member)
        path = export_tflite(model, member / TFLITE_FILE)
        batch = check_batch if check_batch is not None else np.random.default_rng(0).random(
            (64, *model.input_shape[1:]), dtype=np.float32)
        expected = np.asarray(model(batch, training=False))
        got = LiteRTRunner(path)(batch)
        worst = float(np.max(np.abs(got - expected)))
        if worst > PARITY_TOLERANCE:
            path.unlink()
            raise RuntimeError(f"{path}: LiteRT differs from Keras by {worst:.2e} (> {PARITY_TOLERANCE:g}); not kept")
        member_meta.setdefault("runtimes", {})["litert"] = {
            "file": TFLITE_FILE, "keras_sha256": file_sha256(member / MODEL_FILE),
            "max_abs_diff_vs_keras": worst, "exported_with": _versions(),
        }
        write_metadata(member, member_meta)
        written.append(path)
    return written


def _versions() -> str:
    from importlib.metadata import version

    return f"TensorFlow {version('tensorflow')}, Keras {version('keras')}, ai-edge-litert {version('ai-edge-litert')}"


class LiteRTRunner:
    """``runner(batch) -> probabilities`` for a ``.tflite`` classifier; one invoke at a time.

    An interpreter is not thread-safe, and the app shares one classifier between sessions, so
    calls are serialised by a lock (the work is CPU-bound: running two at once gains nothing).
    """

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.num_threads = num_threads or default_threads()
        self._interpreter = Interpreter(model_path=str(self.path), num_threads=self.num_threads)
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"][1:])
        self.num_outputs = int(self._output["shape"][-1])
        self._batch = -1
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.shape[1:] != self.input_shape:
            raise ValueError(f"{self.path.name}: input {batch.shape[1:]} != the network's {self.input_shape}")
        if len(batch) == 0:
            return np.zeros((0, self.num_outputs), dtype=np.float32)
        with self._lock:
            if len(batch) != self._batch:
                self._interpreter.resize_tensor_input(self._input["index"], batch.shape)
                self._interpreter.allocate_tensors()
                self._batch = len(batch)
            self._interpreter.set_tensor(self._input["index"], batch)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output["index"]).copy()
