"""How a model was trained, as its metadata records it: :class:`TrainingRun`, typed once for every page."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class TrainingRun:
    """A training run (an ensemble's: the sum of its members', each in ``members``); None where not recorded."""

    command: str | None = None
    epochs_run: int | None = None
    best_epoch: int | None = None
    wall_time_s: float | None = None
    hardware: str | None = None
    framework: str | None = None
    members: Mapping[str, TrainingRun] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_metadata(cls, training: Mapping[str, Any] | None) -> TrainingRun:
        """The run of a metadata's ``training`` entry (an empty run when there is none)."""
        training = training or {}

        def number(key: str, kind: type):
            value = training.get(key)
            return kind(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

        members = training.get("members") or {}
        return cls(command=training.get("command"), epochs_run=number("epochs_run", int),
                   best_epoch=number("best_epoch", int), wall_time_s=number("wall_time_s", float),
                   hardware=training.get("hardware"), framework=training.get("framework"),
                   members=MappingProxyType({str(k): cls.from_metadata(v) for k, v in members.items()
                                             if isinstance(v, Mapping)}))

    @property
    def recorded(self) -> bool:
        """Whether the metadata said anything about this run."""
        return any(v is not None for v in (self.command, self.epochs_run, self.wall_time_s)) or bool(self.members)

    @property
    def minutes(self) -> float | None:
        return None if self.wall_time_s is None else self.wall_time_s / 60

    def epochs(self) -> str:
        """"40 epochs (best 38)", or "epochs not recorded"."""
        if self.epochs_run is None:
            return "epochs not recorded"
        best = f" (best {self.best_epoch})" if self.best_epoch is not None else ""
        return f"{self.epochs_run} epochs{best}"

    def summary(self) -> str:
        """One line for people: epochs, time, hardware, framework and the command."""
        parts = [self.epochs()]
        if self.minutes is not None:
            parts.append(f"in {self.minutes:.1f} min")
        if self.hardware:
            parts.append(f"on {self.hardware}")
        text = " ".join(parts) + (f"; {self.framework}" if self.framework else "")
        return text + (f". Command: `{self.command}`" if self.command else "")
