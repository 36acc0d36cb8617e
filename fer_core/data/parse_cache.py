"""A parsed-FER2013 cache: each CSV is parsed once per file content, then read back as ``.npz``.

Parsing the 35,887-row CSV takes seconds; reading its arrays back takes a fraction of one.
The cache lives outside the repo, in ``$FER_CACHE_DIR`` (default ``~/.cache/fer-studio``),
so it survives server restarts. Its key is the file's sha256 and ``skip_bad_rows``: an
edited file, wherever it lives, is parsed again, and the same file under another path is not.

A cache file is written atomically (a temporary file, then ``os.replace``), so a reader
never sees half of one; one that is unreadable, or that does not match its key, is ignored
and rewritten. Failing to write the cache (a read-only home, a full disk) only costs the
next start a parse.
"""
from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from fer_core.common.files import atomic_write
from fer_core.common.hashing import file_sha256
from fer_core.common.sizes import IMAGE_SIZE
from fer_core.data.fer2013 import USAGES, FerData, Progress, load_csv, load_fer2013, resolve_data_path

log = logging.getLogger(__name__)

CACHE_ENV = "FER_CACHE_DIR"
DEFAULT_CACHE_DIR = Path("~/.cache/fer-studio")
#: Part of every key: a change to what is stored (or to how it is parsed) starts afresh.
FORMAT_VERSION = 1


def cache_dir() -> Path:
    """``$FER_CACHE_DIR``, else ``~/.cache/fer-studio``."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()


def cache_key(sha256: str, skip_bad_rows: bool) -> str:
    """The cache file's name (without ``.npz``) for a content hash and ``skip_bad_rows``."""
    return f"fer2013-{sha256}-{'skip' if skip_bad_rows else 'strict'}-v{FORMAT_VERSION}"


def cache_path(sha256: str, skip_bad_rows: bool) -> Path:
    return cache_dir() / f"{cache_key(sha256, skip_bad_rows)}.npz"


def load_fer2013_cached(path: str | os.PathLike | None = None, skip_bad_rows: bool = False,
                        progress: Progress | None = None) -> FerData:
    """Like :func:`fer_core.data.fer2013.load_fer2013`, but a CSV is parsed only once per content.

    An image folder is loaded as before (uncached). ``progress(done_rows, total_estimate)``
    is called while a CSV is parsed, i.e. only when its cache is missing. A CSV with bad rows
    and ``skip_bad_rows=False`` raises its DataError every time (errors are not cached).
    """
    resolved = resolve_data_path(path)
    if not resolved.is_file():  # missing (FileNotFoundError with the how-to) or a folder
        return load_fer2013(resolved, skip_bad_rows=skip_bad_rows, progress=progress)
    sha = file_sha256(resolved)
    target = cache_path(sha, skip_bad_rows)
    cached = read_cache(target, sha, skip_bad_rows, source=str(resolved))
    if cached is not None:
        return cached
    data = load_csv(resolved, skip_bad_rows=skip_bad_rows, progress=progress)
    write_cache(target, data, sha, skip_bad_rows)
    return data


def read_cache(target: Path, sha256: str, skip_bad_rows: bool, source: str) -> FerData | None:
    """The data stored at ``target``, or None when it is missing, unreadable or not for this key.

    ``source`` names the file it was loaded for (the same content may have been cached from
    another path)."""
    if not target.is_file():
        return None
    try:
        with np.load(target, allow_pickle=False) as stored:
            if (int(stored["format_version"]) != FORMAT_VERSION or str(stored["sha256"]) != sha256
                    or bool(stored["skip_bad_rows"]) != skip_bad_rows):
                raise ValueError("it was written for another file or setting")
            images, labels, usage = stored["images"], stored["labels"], stored["usage"]
            skipped, problems = int(stored["skipped"]), tuple(str(p) for p in stored["problems"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("ignoring the parse cache %s (%s); parsing the CSV again", target, exc)
        return None
    n = len(labels)
    if (images.dtype != np.uint8 or images.shape != (n, IMAGE_SIZE, IMAGE_SIZE) or labels.dtype != np.int64
            or usage.shape != (n,) or not set(np.unique(usage)) <= set(USAGES)):
        log.warning("ignoring the parse cache %s (its arrays do not fit together); parsing the CSV again", target)
        return None
    return FerData(images=images, labels=labels, usage=usage, source=source, skipped=skipped, problems=problems)


def write_cache(target: Path, data: FerData, sha256: str, skip_bad_rows: bool) -> bool:
    """Store ``data`` at ``target`` atomically; False (and a warning) when it cannot be written."""
    def save(handle) -> None:
        np.savez(handle, images=data.images, labels=data.labels.astype(np.int64),
                 usage=np.asarray(data.usage, dtype=str), source=np.asarray(data.source),
                 skipped=np.asarray(data.skipped), problems=np.asarray(data.problems, dtype=str),
                 sha256=np.asarray(sha256), skip_bad_rows=np.asarray(skip_bad_rows),
                 format_version=np.asarray(FORMAT_VERSION))

    if atomic_write(target, save):
        return True
    log.warning("could not write the parse cache %s; the next start parses the CSV again", target)
    return False

