"""What a model expects as input, stored in its metadata: square size, channels and scale."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from fer_core.common.sizes import IMAGE_SIZE


@dataclass(frozen=True)
class InputSpec:
    """What a model expects: square size, channels (1 grey, 3 grey replicated), scale divisor."""

    size: int = IMAGE_SIZE
    channels: int = 1
    scale: float = 255.0

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.size < 8:
            raise ValueError(f"size must be at least 8, got {self.size}")
        if self.scale <= 0:
            raise ValueError(f"scale must be positive, got {self.scale}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.size, self.size, self.channels)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> InputSpec:
        return cls(size=int(data["size"]), channels=int(data["channels"]), scale=float(data["scale"]))
