"""``fer-studio serve``: the API under uvicorn, on 127.0.0.1 unless told otherwise."""
from __future__ import annotations

import ctypes
import logging
import os

from fer_core.inference.detect import DEFAULT_DETECTOR

log = logging.getLogger("fer_core.api")

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
#: glibc's mallopt parameter for the number of heap arenas
_M_ARENA_MAX = -8


def default_workers() -> int:
    """Engines (worker threads with their own interpreters): one per core, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def limit_malloc_arenas(arenas: int = 2) -> None:
    """What ``MALLOC_ARENA_MAX=2`` does, for a server started without it: glibc otherwise gives each
    worker thread its own heap arena, and the server's memory grows with the threads that ran."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):  # not glibc
        pass


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, model: str | None = None,
          detector: str = DEFAULT_DETECTOR, workers: int | None = None) -> None:
    """Load ``workers`` engines and answer until stopped (Ctrl-C, SIGTERM)."""
    import uvicorn

    from fer_core.api.app import TOKEN_ENV, create_app
    from fer_core.api.engines import EnginePool

    limit_malloc_arenas()
    workers = workers or default_workers()
    pool = EnginePool(model, detector, workers)
    token = os.environ.get(TOKEN_ENV) or None
    if not token and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s without a token: anyone who reaches it may use it (set $%s)", host, TOKEN_ENV)
    log.info("serving %s (%s, %d workers) on http://%s:%d; OpenAPI at /docs", pool.name, pool.runtime, workers, host, port)
    # limit_concurrency: past it new connections get a 503 rather than queueing without bound
    uvicorn.run(create_app(pool, token), host=host, port=port, log_level="info", access_log=False,
                limit_concurrency=max(64, 16 * workers), timeout_graceful_shutdown=10)
