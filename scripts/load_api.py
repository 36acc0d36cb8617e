"""Requests per second of the HTTP API on a one-face photo, at a few concurrencies (127.0.0.1 only).

Starts ``fer-studio serve`` on a free local port (MALLOC_ARENA_MAX=2) unless ``--url`` names a
running one, sends the bundled astronaut photo (one face, 480x480 JPEG) for ``--requests`` per
concurrency or ``--seconds``, whichever ends first, and prints requests/s and latency
percentiles. Timings share the machine with whatever else runs: say what did when quoting them.

    python scripts/load_api.py                                   # the default model, concurrency 1 and 4
    python scripts/load_api.py --model models/student16 --concurrency 1 4 --requests 200
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import requests

REPO = Path(__file__).resolve().parent.parent
PHOTO = REPO / "fer_core" / "assets" / "astronaut.jpg"
#: Bounds on one run, whatever the options say.
MAX_REQUESTS, MAX_SECONDS = 5000, 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model: str | None, workers: int | None) -> tuple[str, subprocess.Popen]:
    port = _free_port()
    command = [sys.executable, "-m", "fer_core", "serve", "--port", str(port)]
    command += ["--model", model] if model else []
    command += ["--workers", str(workers)] if workers else []
    proc = subprocess.Popen(command, cwd=REPO, env={**os.environ, "MALLOC_ARENA_MAX": "2"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(url + "/healthz", timeout=2).ok:
                return url, proc
        except requests.ConnectionError:
            time.sleep(0.3)
    proc.kill()
    sys.exit("load_api.py: error: the server did not start (run `python -m fer_core serve` to see why)")


def load(url: str, photo: bytes, concurrency: int, count: int, seconds: float, headers: dict) -> dict:
    """``count`` requests from ``concurrency`` threads (or fewer, when ``seconds`` run out)."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []

    def worker(_: int) -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline and len(latencies) < count:
                began = time.perf_counter()
                reply = session.post(url + "/v1/analyze", files={"image": ("photo.jpg", photo)}, headers=headers,
                                     timeout=60)
                reply.raise_for_status()
                if len(reply.json()["faces"]) != 1:
                    raise RuntimeError(f"expected one face, got {reply.text[:200]}")
                latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    elapsed = time.perf_counter() - began
    ms = np.asarray(latencies) * 1000
    return {"concurrency": concurrency, "requests": len(ms), "seconds": elapsed, "per_s": len(ms) / elapsed,
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server on this machine (default: start one)")
    parser.add_argument("--model", help="with no --url: the model folder to serve (default: the default model)")
    parser.add_argument("--workers", type=int, help="with no --url: the server's --workers")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--requests", type=int, default=200, help=f"per concurrency (at most {MAX_REQUESTS})")
    parser.add_argument("--seconds", type=float, default=60, help=f"per concurrency (at most {MAX_SECONDS})")
    parser.add_argument("--warmup", type=int, default=10, help="requests sent first, not timed")
    args = parser.parse_args()
    if args.url and urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--url: this script loads servers on this machine only (127.0.0.1)")
    if not 1 <= args.requests <= MAX_REQUESTS or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--requests 1-{MAX_REQUESTS}, --seconds up to {MAX_SECONDS}")
    if any(not 1 <= c <= 64 for c in args.concurrency):
        parser.error("--concurrency: 1 to 64")
    token = os.environ.get("FER_API_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    photo = PHOTO.read_bytes()
    url, proc = (args.url, None) if args.url else start_server(args.model, args.workers)
    try:
        served = requests.get(url + "/v1/models", headers=headers, timeout=10).json()["served"]
        print(f"{served['name']} ({served['runtime']}, {served['workers']} workers, {served['detector']}); "
              f"{PHOTO.name}, one face; {os.cpu_count()} CPUs")
        load(url, photo, 1, args.warmup, args.seconds, headers)
        for concurrency in args.concurrency:
            r = load(url, photo, concurrency, args.requests, args.seconds, headers)
            print(f"concurrency {concurrency:2d}: {r['requests']} requests in {r['seconds']:.1f} s = "
                  f"{r['per_s']:.1f} requests/s; latency p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
