"""Writing files so that a reader never sees half of one."""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def atomic_write(target: Path, save) -> bool:
    """``save(handle)`` into a temporary file beside ``target``, then rename it into place.

    A reader never sees half a file; False (the temporary file removed) when the disk refuses."""
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=target.stem + ".", suffix=".tmp",
                                         delete=False) as handle:
            tmp = handle.name
            save(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        tmp = None
        return True
    except OSError as exc:
        log.warning("cannot write %s: %s", target, exc)
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
