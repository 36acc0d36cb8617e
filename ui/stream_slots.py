"""Fair sharing of the live webcam path: a fixed number of stream slots and a FIFO queue.

Every live stream costs the server a share of its CPU (``STREAM_CORES``, measured: see
docs/operations.md, "The stream limit from measurement"), so a server process admits at most
``FER_MAX_STREAMS`` streams at once, by default as many as its cores carry (``derived_max_streams``). Only a session that asks for a
stream (presses Start) while no slot is free for it joins the queue, in arrival order; a session
that stops, or only looks at the page, holds nothing and waits for nothing. Pure Python and
thread-safe: the page's script threads and streamlit-webrtc's worker threads
(``on_video_ended``) call it; the clock is injectable for tests.
"""
from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_STREAMS_ENV = "FER_MAX_STREAMS"
#: The server's own CPU for one live stream at 15 analysed frames/s, in cores: the higher of two
#: measurements with the browsers at a lower priority (0.27 with one stream, 0.37 per stream with
#: five), by ``scripts/load_webcam.py``; figures and commands in docs/operations.md ("The stream limit
#: from measurement").
STREAM_CORES = 0.37
#: Cores kept for everything but the streams: page runs, chart redraws, model loads, other pages.
RESERVED_CORES = 0.5


def derived_max_streams(cores: float, stream_cores: float = STREAM_CORES, reserved: float = RESERVED_CORES) -> int:
    """The streams a server can carry at the target rate: ``floor((cores - reserved) / stream_cores)``, at least 1.

    Why: each stream costs the server ``stream_cores`` of a core (analysis, WebRTC, the page's
    live loop); a limit above what the cores hold slows every stream, so it is rounded down, but
    one stream is always allowed (a slow stream beats no webcam at all).

    Raises:
        ValueError: ``stream_cores`` is not positive.
    """
    if stream_cores <= 0:
        raise ValueError(f"stream_cores must be positive, got {stream_cores}")
    return max(1, math.floor(max(0.0, cores - reserved) / stream_cores + 1e-9))


#: cgroup v2's CPU limit of this container: "<quota> <period>" in microseconds, or "max <period>"
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"


def cgroup_cpu_limit(path: str = CGROUP_CPU_MAX) -> float | None:
    """The cores a container's CPU quota allows (quota / period), or None without a quota or a cgroup v2 file."""
    try:
        quota, period = open(path).read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def available_cores(cpu_max: str = CGROUP_CPU_MAX) -> float:
    """The cores this process may use: its CPU affinity, capped by its container's CPU quota (Docker's
    ``--cpus``, Kubernetes' CPU limit), so a replica limited to 2 cores of a 16-core host counts 2.
    Several replicas on one host without quotas each see every core: set ``FER_MAX_STREAMS`` per replica."""
    try:
        cores: float = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit(cpu_max)
    return min(cores, quota) if quota else cores


#: The limit when ``FER_MAX_STREAMS`` is unset: derived from this machine's cores (2 cores: 4).
DEFAULT_MAX_STREAMS = derived_max_streams(available_cores())
#: A slot (or a place in the queue) whose session has not been heard from for this long is dropped.
DEFAULT_TTL_S = 15.0


def max_streams(value: str | None) -> int:
    """The stream limit from ``FER_MAX_STREAMS`` (``DEFAULT_MAX_STREAMS`` when unset or empty).

    Raises:
        ValueError: the value is not a whole number of at least 1.
    """
    if value is None or not value.strip():
        return DEFAULT_MAX_STREAMS
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ValueError(f"${MAX_STREAMS_ENV} must be a whole number of at least 1, got {value!r}")
    return limit


@dataclass(frozen=True)
class Admission:
    """Where one session stands: holding a slot, free to start, or waiting at ``position``."""

    granted: bool  # the session holds a slot (its stream may play)
    can_start: bool  # granted, or a slot is free for this session (nobody waits ahead of it)
    position: int  # 1-based place in the queue; 0 when the session is not queued
    active: int  # slots held now (live streams)
    limit: int
    ticket: int | None = None  # identifies this hold, so a late release of an older stream is ignored
    queued: int = 0  # sessions in the queue now

    @property
    def free(self) -> int:
        """Slots nobody holds now (they may be promised to the first in the queue)."""
        return max(0, self.limit - self.active)


class StreamSlots:
    """At most ``limit`` concurrent holders; the sessions that asked for more wait first come, first served.

    Only ``acquire`` (a pressed Start) joins the queue; ``check`` never does. Holders refresh
    their slot with ``heartbeat`` and waiters their place by asking again (``check``/``acquire``);
    either is dropped after ``ttl`` seconds of silence, so a closed tab frees its slot and its
    place on its own.
    """

    def __init__(self, limit: int = DEFAULT_MAX_STREAMS, ttl: float = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit, self.ttl, self._clock = limit, ttl, clock
        self._holders: dict[str, tuple[int, float]] = {}  # owner -> (ticket, last heard)
        self._waiters: OrderedDict[str, float] = OrderedDict()  # owner -> last heard, in arrival order
        self._tickets = itertools.count(1)
        self._lock = threading.Lock()

    def acquire(self, owner: str) -> Admission:
        """Take a slot when one is free for ``owner`` (keep it when already held), else wait in the queue."""
        with self._lock:
            now = self._expire()
            if owner in self._holders:
                self._holders[owner] = (self._holders[owner][0], now)
            elif self._free_for(owner):
                self._waiters.pop(owner, None)
                self._holders[owner] = (next(self._tickets), now)
            else:
                self._wait(owner, now)
            return self._admission(owner)

    def check(self, owner: str) -> Admission:
        """Where ``owner`` stands, refreshing its slot or its place; takes no slot and joins no queue."""
        with self._lock:
            now = self._expire()
            if owner in self._holders:
                self._holders[owner] = (self._holders[owner][0], now)
            elif owner in self._waiters:
                self._wait(owner, now)
            return self._admission(owner)

    def heartbeat(self, owner: str) -> bool:
        """Keep ``owner``'s slot alive; False when it holds none (released or expired)."""
        with self._lock:
            now = self._expire()
            if owner not in self._holders:
                return False
            self._holders[owner] = (self._holders[owner][0], now)
            return True

    def release(self, owner: str, ticket: int | None = None) -> bool:
        """Free ``owner``'s slot (only the hold ``ticket`` names, when given); True when one was freed."""
        with self._lock:
            held = self._holders.get(owner)
            if held is None or (ticket is not None and held[0] != ticket):
                return False
            del self._holders[owner]
            return True

    def turn_left(self, owner: str) -> float | None:
        """Seconds until ``owner``'s turn lapses, when a slot is free for it (first in line), else None.

        A look that refreshes nothing: a turn lasts ``ttl`` from the owner's last ``check`` or
        ``acquire``, so a page that only shows the notice never holds a slot's turn forever.
        """
        with self._lock:
            now = self._expire()
            if owner not in self._waiters or not self._free_for(owner):
                return None
            return max(0.0, self.ttl - (now - self._waiters[owner]))

    def leave(self, owner: str) -> None:
        """Take ``owner`` out of the queue (it no longer wants a slot)."""
        with self._lock:
            self._waiters.pop(owner, None)

    def active(self) -> int:
        """Slots held now."""
        with self._lock:
            self._expire()
            return len(self._holders)

    # -- under the lock -------------------------------------------------------------------
    def _expire(self) -> float:
        """Drop holders and waiters silent for longer than ``ttl``; returns the time now."""
        now = self._clock()
        for owner in [o for o, (_, seen) in self._holders.items() if now - seen > self.ttl]:
            del self._holders[owner]
        for owner in [o for o, seen in self._waiters.items() if now - seen > self.ttl]:
            del self._waiters[owner]
        return now

    def _free_for(self, owner: str) -> bool:
        """True when a slot is free once every session queued ahead of ``owner`` has had one."""
        ahead = list(self._waiters).index(owner) if owner in self._waiters else len(self._waiters)
        return ahead < self.limit - len(self._holders)

    def _wait(self, owner: str, now: float) -> None:
        """Queue ``owner`` at the back, or refresh its place when it is already queued."""
        self._waiters[owner] = now

    def _admission(self, owner: str) -> Admission:
        held = self._holders.get(owner)
        position = list(self._waiters).index(owner) + 1 if owner in self._waiters else 0
        return Admission(granted=held is not None, can_start=held is not None or self._free_for(owner),
                         position=position, active=len(self._holders), limit=self.limit,
                         ticket=held[0] if held else None, queued=len(self._waiters))
