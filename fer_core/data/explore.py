"""Dataset statistics for the explorer: class balance, samples, mean faces, pixel intensities, data quality.

Pure functions over arrays (images ``(N, 48, 48)`` uint8, label codes, Usage strings): no
Streamlit, no model. Tables come back as pandas DataFrames, ready for :mod:`fer_core.reports.plots`.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fer_core.data.fer2013 import USAGES
from fer_core.common.labels import LABELS

#: An image whose pixel standard deviation is below this is near-blank (one flat grey).
BLANK_STD = 2.0


def distribution_from_counts(counts: Mapping[str, Mapping[str, int]]) -> pd.DataFrame:
    """Class distribution from ``{split: {label: count}}`` (``FerData.class_counts()`` or a model's
    ``metadata["data"]["class_counts"]``).

    Returns:
        one row per split and label: ``split``, ``label``, ``count`` and ``percent`` (of the split,
        0-100), splits and labels in the order given.
    """
    rows = []
    for split, per_label in counts.items():
        total = sum(int(v) for v in per_label.values())
        for label, count in per_label.items():
            rows.append({"split": split, "label": label, "count": int(count),
                         "percent": 100.0 * int(count) / total if total else 0.0})
    return pd.DataFrame(rows, columns=["split", "label", "count", "percent"])


def class_distribution(labels: np.ndarray, usage: np.ndarray, label_names: Sequence[str] = LABELS,
                       splits: Sequence[str] = USAGES) -> pd.DataFrame:
    """Rows per Usage split and class, with the percentage of the split (see :func:`distribution_from_counts`).

    Splits absent from ``usage`` are left out.
    """
    counts = {
        split: {name: int(np.sum((usage == split) & (labels == code))) for code, name in enumerate(label_names)}
        for split in splits if np.any(usage == split)
    }
    return distribution_from_counts(counts)


def sample_indices(labels: np.ndarray, usage: np.ndarray, *, classes: Iterable[int] | None = None,
                   splits: Iterable[str] | None = None, per_class: int = 8, seed: int = 0) -> dict[int, np.ndarray]:
    """A random sample of row indices per class, reproducible for a given ``seed``.

    Args:
        classes: label codes to sample (default: every code present).
        splits: Usage values to sample from (default: all rows).
        per_class: at most this many indices per class (fewer when the class is smaller).

    Returns:
        ``{code: sorted indices}``, one entry per requested class (empty when it has no rows).
    """
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    rng = np.random.default_rng(seed)
    in_split = np.ones(len(labels), dtype=bool) if splits is None else np.isin(usage, list(splits))
    codes = sorted(set(np.unique(labels).tolist())) if classes is None else list(classes)
    out = {}
    for code in codes:
        pool = np.flatnonzero(in_split & (labels == code))
        chosen = rng.choice(pool, size=min(per_class, len(pool)), replace=False) if len(pool) else pool
        out[int(code)] = np.sort(chosen)
    return out


def mean_faces(images: np.ndarray, labels: np.ndarray, label_names: Sequence[str] = LABELS) -> dict[str, np.ndarray]:
    """The pixel-wise mean image of each class present, as uint8 ``(48, 48)``."""
    out = {}
    for code, name in enumerate(label_names):
        mask = labels == code
        if np.any(mask):
            out[name] = np.round(images[mask].mean(axis=0, dtype=np.float64)).astype(np.uint8)
    return out


def intensity_histogram(images: np.ndarray, groups: np.ndarray | None = None) -> pd.DataFrame:
    """Pixel-intensity histogram (256 bins, 0-255), overall or per group (a class name or split per image).

    Returns:
        columns ``group``, ``intensity``, ``count`` and ``fraction`` (of that group's pixels);
        the group is ``"All"`` when ``groups`` is None.
    """
    flat = images.reshape(len(images), -1)
    names = ["All"] if groups is None else list(pd.unique(np.asarray(groups)))
    frames = []
    for name in names:
        rows = flat if groups is None else flat[np.asarray(groups) == name]
        counts = np.bincount(rows.ravel(), minlength=256)[:256]
        total = counts.sum()
        frames.append(pd.DataFrame({"group": name, "intensity": np.arange(256), "count": counts,
                                    "fraction": counts / total if total else np.zeros(256)}))
    return pd.concat(frames, ignore_index=True)


def near_blank(images: np.ndarray, threshold: float = BLANK_STD) -> np.ndarray:
    """Indices of near-blank images: pixel standard deviation below ``threshold``."""
    std = images.reshape(len(images), -1).std(axis=1)
    return np.flatnonzero(std < threshold)


def image_hashes(images: np.ndarray) -> np.ndarray:
    """A 128-bit BLAKE2b digest of each image's pixels (hex strings): equal images, equal hashes."""
    flat = np.ascontiguousarray(images.reshape(len(images), -1))
    return np.array([hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in flat])


def seen_in(images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per image, whether ``reference`` holds an exact pixel copy of it.

    FER2013 repeats a few hundred Training images in its test splits; a test image that
    was trained on measures memory, not recognition, so leak-free scores drop them.
    """
    return np.isin(image_hashes(images), image_hashes(reference))


@dataclass(frozen=True)
class QualityReport:
    """Data-quality findings; indices are row positions in the data set given."""

    n: int
    blank: np.ndarray  # indices of near-blank images
    groups: list[np.ndarray]  # each: indices of identical images (2 or more), largest group first
    within: dict[str, int]  # per split: images that repeat an earlier image of the same split
    across: dict[tuple[str, str], int] = field(default_factory=dict)  # split pair: images shared by both
    conflicting: int = 0  # duplicate groups whose copies carry different labels

    @property
    def duplicate_images(self) -> int:
        """Images that are a copy of another (every member of a group but one)."""
        return int(sum(len(g) - 1 for g in self.groups))

    def summary(self) -> pd.DataFrame:
        """The counts as a two-column table (finding, count)."""
        rows = [("images", self.n), ("near-blank images", len(self.blank)),
                ("duplicate groups", len(self.groups)), ("redundant copies", self.duplicate_images),
                ("groups with conflicting labels", self.conflicting)]
        rows += [(f"repeats within {split}", count) for split, count in self.within.items()]
        rows += [(f"shared by {a} and {b}", count) for (a, b), count in self.across.items()]
        return pd.DataFrame(rows, columns=["finding", "count"])


def quality_report(images: np.ndarray, labels: np.ndarray, usage: np.ndarray,
                   blank_threshold: float = BLANK_STD) -> QualityReport:
    """Near-blank images and exact duplicates (by pixel hash) within and across splits.

    ``across[(a, b)]`` counts distinct images that occur in both split ``a`` and split ``b``
    (leakage between training and test data); ``within[s]`` counts the surplus copies inside
    split ``s``.
    """
    frame = pd.DataFrame({"hash": image_hashes(images), "label": labels, "usage": usage})
    repeated = frame[frame.duplicated("hash", keep=False)]
    rows = repeated.index.to_numpy()  # positions in ``images``
    groups = [rows[pos] for pos in repeated.groupby("hash", sort=False).indices.values()]
    groups.sort(key=lambda g: (-len(g), g[0]))
    splits = [s for s in USAGES if np.any(usage == s)] + sorted(set(np.unique(usage)) - set(USAGES))
    within = {s: int(frame[frame.usage == s].duplicated("hash").sum()) for s in splits}
    per_split = {s: set(frame.hash[frame.usage == s]) for s in splits}
    across = {(a, b): len(per_split[a] & per_split[b]) for i, a in enumerate(splits) for b in splits[i + 1:]}
    conflicting = int((repeated.groupby("hash").label.nunique() > 1).sum()) if len(repeated) else 0
    return QualityReport(n=len(images), blank=near_blank(images, blank_threshold), groups=groups,
                         within=within, across=across, conflicting=conflicting)


def duplicate_groups_table(report: QualityReport, labels: np.ndarray, usage: np.ndarray,
                           label_names: Sequence[str] = LABELS) -> pd.DataFrame:
    """One row per duplicate group: its indices, size, splits and labels, and whether it crosses
    splits or has conflicting labels (the groups worth looking at first)."""
    rows = []
    for number, group in enumerate(report.groups):
        splits = sorted(set(usage[group].tolist()), key=lambda s: USAGES.index(s) if s in USAGES else len(USAGES))
        names = sorted({label_names[int(c)] for c in labels[group]})
        rows.append({"group": number, "size": len(group), "indices": group.tolist(), "splits": ", ".join(splits),
                     "labels": ", ".join(names), "cross_split": len(splits) > 1, "conflicting": len(names) > 1})
    return pd.DataFrame(rows, columns=["group", "size", "indices", "splits", "labels", "cross_split", "conflicting"])
