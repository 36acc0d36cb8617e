"""Silence native libraries' start-up chatter on stderr (TensorFlow, LiteRT).

Their C++ runtimes print oneDNN/CUDA/XNNPACK notices (and a CUDA "error" on machines without
a GPU) before any Python logging setting can apply. They hide our one-line error messages,
so the few calls that trigger them run with file descriptor 2 pointed at /dev/null.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading

_lock = threading.Lock()

#: TensorFlow modules: a ModuleNotFoundError for one of them means the install left TensorFlow out.
TENSORFLOW_MODULES = ("tensorflow", "keras")
#: The one line that says how to add TensorFlow, for training, export, the Keras runtime and bench's seed.
TENSORFLOW_HINT = ("install the [train] extra: pip install 'fer-studio[train]' "
                   "(in a checkout: .venv/bin/pip install -r requirements-train.txt)")


def tensorflow_available() -> bool:
    """Whether TensorFlow is installed (the runtime install leaves it out; the [train] extra adds it)."""
    return importlib.util.find_spec("tensorflow") is not None


def missing_tensorflow(exc: BaseException) -> bool:
    """Whether ``exc`` says that TensorFlow or Keras is not installed."""
    return isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in TENSORFLOW_MODULES


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
