"""The live-slot notice tells the truth: with one slot and three waiting users, at most one page says
"A live slot is free for you" at any moment, and the turn passes along the queue (issue 41).

The pages are simulated on a fake clock with the page's own logic (``ui.live.admit`` on each page
run, ``ui.live.turn_left`` on each look of the notice, ``StreamSlots.check`` on each look of the
waiting room), each page looking every ``QUEUE_POLL_S`` at its own phase.
"""
from __future__ import annotations

import pytest

from ui.live import QUEUE_POLL_S, admit, turn_left
from ui.stream_slots import StreamSlots


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


class Page:
    """One browser session's webcam page: queued, then told of its turn while it lasts, then idle."""

    def __init__(self, slots: StreamSlots, owner: str, phase: float, refresh: bool) -> None:
        self.slots, self.owner, self.phase, self.refresh = slots, owner, phase, refresh
        self.offered = False  # what the page shows now: "A live slot is free for you"
        self.told: list[float] = []  # when it was told

    def run_page(self, now: float) -> None:
        """A whole page run (nobody presses Start: the users are away)."""
        admission = admit(self.slots, self.owner, requested=False)
        was = self.offered
        self.offered = bool(admission.can_start and admission.position) and turn_left(self.slots, self.owner) is not None
        if self.offered and not was:
            self.told.append(now)

    def look(self, now: float) -> None:
        """The fragment that is on the page looks again (every QUEUE_POLL_S)."""
        if self.offered:
            if not self.refresh:  # the old notice: drawn once per page run, never looked at again
                return
            if turn_left(self.slots, self.owner) is None:
                self.run_page(now)
        elif self.slots.check(self.owner).can_start and self.slots.check(self.owner).position:
            self.run_page(now)  # the waiting room reruns the page once a slot is free for it


def simulate(refresh: bool, seconds: float = 80.0, step: float = 0.1) -> tuple[int, list[Page]]:
    clock = Clock()
    slots = StreamSlots(limit=1, ttl=15.0, clock=clock)
    assert slots.acquire("holder").granted
    pages = [Page(slots, owner, phase, refresh) for owner, phase in (("A", 0.0), ("B", 0.7), ("C", 1.4))]
    for page in pages:
        assert slots.acquire(page.owner).position  # each pressed Start while the slot was held: queued
    most = 0
    for tick in range(int(seconds / step)):
        clock.now = now = tick * step
        if tick == int(3 / step):
            slots.release("holder")  # the stream stops: its slot is free
        slots.heartbeat("holder")
        for page in pages:
            if (now - page.phase) % QUEUE_POLL_S < step - 1e-9 and now >= page.phase:
                page.look(now)
        most = max(most, sum(page.offered for page in pages))
    return most, pages


def test_at_most_one_page_offers_the_slot_and_the_turn_passes_along():
    most, pages = simulate(refresh=True)
    assert most == 1
    told = [page.told for page in pages]
    assert all(len(times) == 1 for times in told), told  # each was told once, in queue order
    assert told[0][0] < told[1][0] < told[2][0]
    # each turn lasted about the time the notice promised (15 s), given up before it lapsed
    assert 15 - 2 * QUEUE_POLL_S <= told[1][0] - told[0][0] <= 15


def test_the_old_notice_drawn_once_would_offer_the_slot_to_several():
    most, _ = simulate(refresh=False)
    assert most > 1  # what the issue saw: two pages saying "A live slot is free for you"


def test_a_turn_is_given_up_before_it_lapses():
    clock = Clock()
    slots = StreamSlots(limit=1, ttl=15.0, clock=clock)
    slots.acquire("holder")
    slots.acquire("A")
    slots.acquire("B")
    slots.release("holder")
    assert turn_left(slots, "A") == pytest.approx(15.0) and turn_left(slots, "B") is None
    clock.now = 15.0 - QUEUE_POLL_S - 0.5
    assert turn_left(slots, "A") == pytest.approx(QUEUE_POLL_S + 0.5)  # a look refreshes nothing
    clock.now = 15.0 - QUEUE_POLL_S
    slots.check("B")  # B's waiting room keeps B's place
    assert turn_left(slots, "A") is None  # would lapse before the next look: given up now
    assert slots.check("A").position == 0 and turn_left(slots, "B") == pytest.approx(15.0)
