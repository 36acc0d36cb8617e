"""Where a LiteRT network looked, without TensorFlow: CAM for a pooled head, occlusion otherwise.

The shipped networks end in global average pooling and one dense layer (then the softmax). For
such a head the class logit is ``sum_k W[k, c] * mean(A_k) + b_c``, so Grad-CAM's weights (the
mean gradient of the logit over each feature map A_k) are ``W[k, c] / (h * w)`` and Grad-CAM is
exactly CAM (Zhou et al. 2016; Selvaraju et al. 2017): ``relu(sum_k W[k, c] * A_k)``, up to scale.

Both the feature map and ``W`` are already in ``model.tflite``: the converter writes the pooling
as a ``MEAN`` whose input is the last feature map and the dense layer as a ``FULLY_CONNECTED``
whose weights are a constant. So nothing extra is exported: a second interpreter of the same file
keeps its intermediate tensors (``experimental_preserve_all_tensors``, without the XNNPACK
delegate, which would hide them) and reads that map. A network whose graph has no such head
gets occlusion sensitivity instead: how much the class's probability drops when a patch of the
face is greyed out, from forward passes alone (Zeiler and Fergus 2014).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

#: The occluding patch's side and stride, as fractions of the network's input side (8 and 4 px of 48).
OCCLUSION_PATCH, OCCLUSION_STRIDE = 1 / 6, 1 / 12


@dataclass(frozen=True)
class _Head:
    """Where the pooled head's pieces are in the graph: the feature map's tensor and the dense weights."""

    features: int  # tensor index of the (1, h, w, k) map the MEAN pools
    kernel: np.ndarray  # (classes, k): FULLY_CONNECTED's weights, one row per class


def _find_head(interpreter) -> _Head | None:
    """The MEAN -> FULLY_CONNECTED (-> SOFTMAX) ending the graph, or None when the network ends otherwise."""
    ops = interpreter._get_ops_details()
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    output = interpreter.get_output_details()[0]["index"]
    producer = {int(o): op for op in ops for o in op["outputs"]}
    last = producer.get(int(output))
    if last is not None and last["op_name"] == "SOFTMAX":
        last = producer.get(int(last["inputs"][0]))
    if last is None or last["op_name"] != "FULLY_CONNECTED":
        return None
    pooled = producer.get(int(last["inputs"][0]))
    if pooled is None or pooled["op_name"] != "MEAN":
        return None
    features, axes = int(pooled["inputs"][0]), int(pooled["inputs"][1])
    if len(tensors[features]["shape"]) != 4 or sorted(interpreter.get_tensor(axes).tolist()) != [1, 2]:
        return None
    kernel = interpreter.get_tensor(int(last["inputs"][1]))
    if kernel.dtype != np.float32 or kernel.ndim != 2 or kernel.shape[1] != tensors[features]["shape"][3]:
        return None  # a quantised head: explained by occlusion
    return _Head(features, kernel.copy())


class CamRunner:
    """One ``.tflite`` network's class maps: :meth:`class_map` by CAM where its head allows, else occlusion."""

    def __init__(self, path: str | os.PathLike) -> None:
        from ai_edge_litert.interpreter import OpResolverType

        from fer_core.inference.litert import LiteRTRunner

        # one thread: a map is one face; no XNNPACK, which would keep the feature map to itself
        self._runner = LiteRTRunner(path, 1, experimental_preserve_all_tensors=True,
                                    experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.path = self._runner.path
        interpreter = self._runner.interpreter
        interpreter.allocate_tensors()
        self._output = interpreter.get_output_details()[0]["index"]
        self.head = _find_head(interpreter)
        self.method = "cam" if self.head is not None else "occlusion"

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities of ``batch`` and, with a pooled head, its feature maps."""
        if self.head is None:
            return self._runner(batch), None
        probabilities, maps = self._runner.run(batch, [self._output, self.head.features])
        return probabilities, maps

    def class_map(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """The map of one preprocessed input ``(1, size, size, channels)`` for a class: >= 0, at the map's own size."""
        if self.head is None:
            return self._occlusion(x, class_index)
        _, maps = self._run(x)
        return np.maximum(maps[0] @ self.head.kernel[class_index], 0.0).astype(np.float32)

    def _occlusion(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """Drop of the class's probability with a grey patch over each place, averaged over the patches covering a pixel."""
        size = x.shape[1]
        patch, stride = max(1, round(size * OCCLUSION_PATCH)), max(1, round(size * OCCLUSION_STRIDE))
        starts = list(range(0, size - patch + 1, stride))
        views = np.repeat(x, len(starts) ** 2, axis=0)
        for n, (y0, x0) in enumerate((y, x_) for y in starts for x_ in starts):
            views[n, y0 : y0 + patch, x0 : x0 + patch] = x[0].mean()
        probabilities, _ = self._run(np.concatenate([x, views]))
        drops = np.maximum(probabilities[0, class_index] - probabilities[1:, class_index], 0.0)
        total, count = np.zeros((size, size), np.float64), np.zeros((size, size), np.float64)
        for drop, (y0, x0) in zip(drops, ((y, x_) for y in starts for x_ in starts)):
            total[y0 : y0 + patch, x0 : x0 + patch] += drop
            count[y0 : y0 + patch, x0 : x0 + patch] += 1
        return (total / np.maximum(count, 1)).astype(np.float32)


_runners: dict[tuple[str, float], CamRunner] = {}
_runners_lock = threading.Lock()


def cam_runner(path: str | os.PathLike) -> CamRunner:
    """The :class:`CamRunner` of a ``.tflite`` file, made once per file version and shared."""
    key = (str(Path(path).resolve()), Path(path).stat().st_mtime)
    with _runners_lock:
        if key not in _runners:
            _runners[key] = CamRunner(path)
        return _runners[key]


def normalised(cam: np.ndarray, side: int) -> np.ndarray:
    """A map scaled to a maximum of 1 (all zeros stay zeros) and resized to ``side`` x ``side``."""
    top = float(cam.max())
    cam = cam / top if top > 0 else np.zeros_like(cam)
    return cv2.resize(cam.astype(np.float32), (side, side), interpolation=cv2.INTER_CUBIC)
