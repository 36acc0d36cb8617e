"""Memory with a ceiling: an LRU bounded by bytes, its size from the environment, and giving freed heap back.

The app keeps every session's photo results in one such cache, so a server's memory stays
bounded however many photos its users upload (see docs on operations).
"""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Any

#: the photo cache's size in MB
PHOTO_CACHE_ENV = "FER_PHOTO_CACHE_MB"
DEFAULT_PHOTO_CACHE_MB = 64


def cache_megabytes(value: str | None, env: str = PHOTO_CACHE_ENV, default: int = DEFAULT_PHOTO_CACHE_MB) -> int:
    """A cache size in MB from the environment variable ``env``'s ``value`` (``default`` when unset or empty).

    Raises:
        ValueError: the value is not a whole number of at least 0 (0 turns the cache off).
    """
    if value is None or not value.strip():
        return default
    try:
        megabytes = int(value)
    except ValueError:
        megabytes = -1
    if megabytes < 0:
        raise ValueError(f"${env} must be a whole number of megabytes (0 turns the cache off), got {value!r}")
    return megabytes


def photo_cache_bytes() -> int:
    """The photo cache's bound in bytes, from ``$FER_PHOTO_CACHE_MB`` (read on each call: a page checks it first).

    Raises:
        ValueError: not a whole number of megabytes.
    """
    return cache_megabytes(os.environ.get(PHOTO_CACHE_ENV)) * 2**20


class ByteBoundedCache:
    """A thread-safe LRU whose entries' ``nbytes`` add up to at most ``max_bytes`` (cachetools)."""

    def __init__(self, max_bytes: int) -> None:
        from cachetools import LRUCache

        self._cache = LRUCache(maxsize=max_bytes, getsizeof=lambda r: r.nbytes)
        self._lock = threading.Lock()

    def get(self, key) -> Any:
        with self._lock:
            return self._cache.get(key)

    def put(self, key, value) -> None:
        with self._lock:
            try:
                self._cache[key] = value
            except ValueError:  # larger than the whole cache: shown, not kept
                pass

    @property
    def nbytes(self) -> int:
        with self._lock:
            return int(self._cache.currsize)


def return_freed_memory() -> None:
    """Hand the freed heap of a large image back to the OS (glibc keeps it otherwise)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
