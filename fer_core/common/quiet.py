"""Silence native libraries' start-up chatter on stderr (TensorFlow, LiteRT).

Their C++ runtimes print oneDNN/CUDA/XNNPACK notices (and a CUDA "error" on machines without
a GPU) before any Python logging setting can apply. They hide our one-line error messages,
so the few calls that trigger them run with file descriptor 2 pointed at /dev/null.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading

_lock = threading.Lock()


@contextlib.contextmanager
def silenced_stderr():
    """Point fd 2 at /dev/null for the duration (process-wide; keep the block short)."""
    with _lock:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow_quietly():
    """Import TensorFlow and initialise its runtime without the notices; returns the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with silenced_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe happens here
        tf.constant(0) + 1  # and the oneDNN notice at the first op
    return tf
