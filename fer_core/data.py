"""Load and validate FER2013: the classic CSV (plain or .gz) and the image-folder edition.

Everything is validated once, here, at the boundary: a bad row is reported with its file,
row number and problem, or skipped and counted when the caller asks for that. Nothing is
silently reshaped or clipped.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.labels import LABELS, NUM_CLASSES, label_index

log = logging.getLogger(__name__)

IMAGE_SIZE = 48
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
#: The seed's protocol: a stratified random 10% hold-out of all rows.
RANDOM_SPLITS: tuple[str, ...] = ("RandomTrain", "RandomTest")
SPLITS: tuple[str, ...] = USAGES + RANDOM_SPLITS
DATA_ENV = "FER_DATA"
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fer2013.csv.gz"
REQUIRED_COLUMNS = ("emotion", "pixels", "Usage")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class DataError(ValueError):
    """A data file that cannot be used as FER2013, with a message that says why."""


@dataclass(frozen=True)
class FerData:
    """FER2013 in memory: 48x48 uint8 grey images, codes 0-6 and their Usage split."""

    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64
    usage: np.ndarray  # (N,) str
    source: str
    skipped: int = 0
    problems: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of one split: a Usage value, or RandomTrain / RandomTest."""
        if name in USAGES:
            mask = self.usage == name
            return self.images[mask], self.labels[mask]
        if name in RANDOM_SPLITS:
            train_idx, test_idx = random_split_indices(self.labels)
            idx = train_idx if name == "RandomTrain" else test_idx
            return self.images[idx], self.labels[idx]
        raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Rows per Usage split and class name: the dataset card kept with every model."""
        return {
            usage: {
                LABELS[c]: int(np.sum((self.usage == usage) & (self.labels == c)))
                for c in range(NUM_CLASSES)
            }
            for usage in USAGES
        }


def random_split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The seed's protocol: stratified 90/10 split of all rows, random_state 42."""
    from sklearn.model_selection import train_test_split

    return train_test_split(
        np.arange(len(labels)), test_size=0.1, random_state=42, stratify=labels
    )


def resolve_data_path(path: str | os.PathLike | None = None) -> Path:
    """The data path: the argument, else ``$FER_DATA``, else ``../shared/data/fer2013.csv.gz``."""
    chosen = path or os.environ.get(DATA_ENV) or DEFAULT_DATA
    return Path(chosen).expanduser()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, stored in model metadata so results name the data they came from."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_fer2013(path: str | os.PathLike | None = None, *, skip_bad_rows: bool = False) -> FerData:
    """Load FER2013 from a CSV (``.csv`` / ``.csv.gz``) or an image-folder tree.

    Args:
        path: the file or folder; ``None`` uses :func:`resolve_data_path`.
        skip_bad_rows: drop invalid rows and count them instead of raising.

    Raises:
        FileNotFoundError: the path does not exist.
        DataError: the content is not FER2013 (the message names file, row and problem).
    """
    resolved = resolve_data_path(path)
    if not resolved.exists():
        raise FileNotFoundError(
            f"FER2013 not found at {resolved}; pass --data PATH or set ${DATA_ENV} "
            "to fer2013.csv(.gz) or to the image-folder edition"
        )
    if resolved.is_dir():
        return load_image_folder(resolved, skip_bad_rows=skip_bad_rows)
    return load_csv(resolved, skip_bad_rows=skip_bad_rows)


def load_csv(path: str | os.PathLike, *, skip_bad_rows: bool = False, source: str | None = None) -> FerData:
    """Load the classic CSV layout (``emotion``, ``pixels``, ``Usage``), plain or gzip.

    ``path`` may also be a binary file object (an upload); give ``source`` to name it.
    Row numbers in messages count the header as line 1, as a text editor would.
    """
    name = source or str(path)
    compression = "infer"
    if hasattr(path, "read") and hasattr(path, "seek"):  # an upload: pandas cannot infer from a file object
        start = path.read(2)
        path.seek(0)
        compression = "gzip" if start == b"\x1f\x8b" else None
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, compression=compression)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError, ValueError) as exc:
        raise DataError(f"{name}: not a readable CSV file ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {', '.join(missing)}; a FER2013 CSV has the columns "
            f"{', '.join(REQUIRED_COLUMNS)} (found: {', '.join(map(str, frame.columns)) or 'none'})"
        )
    if frame.empty:
        raise DataError(f"{name}: the CSV has a header but no rows")

    problems: list[tuple[int, str]] = []
    codes = pd.to_numeric(frame["emotion"].str.strip(), errors="coerce")
    bad_code = ~codes.isin(range(NUM_CLASSES))
    for i in np.flatnonzero(bad_code.to_numpy()):
        problems.append((i, f"unknown emotion code {frame['emotion'].iat[i]!r} (expected 0-6)"))
    usage = frame["Usage"].str.strip()
    for i in np.flatnonzero(~usage.isin(USAGES).to_numpy()):
        problems.append((i, f"unknown Usage {frame['Usage'].iat[i]!r} (expected {', '.join(USAGES)})"))

    images, pixel_problems = _parse_pixels(frame["pixels"].to_numpy())
    problems.extend(pixel_problems)
    bad_rows = sorted({i for i, _ in problems})
    if bad_rows and not skip_bad_rows:
        row, message = min(problems)
        more = f" ({len(bad_rows) - 1} more bad row(s); use skip_bad_rows / --skip-bad-rows to drop them)" if len(bad_rows) > 1 else ""
        raise DataError(f"{name}, row {row + 2}: {message}{more}")
    keep = np.ones(len(frame), dtype=bool)
    keep[bad_rows] = False
    if bad_rows:
        log.warning("%s: skipped %d bad row(s)", name, len(bad_rows))
    return FerData(
        images=images[keep],
        labels=codes.to_numpy()[keep].astype(np.int64),
        usage=usage.to_numpy()[keep].astype(str),
        source=name,
        skipped=len(bad_rows),
        problems=tuple(f"row {i + 2}: {m}" for i, m in sorted(problems)[:100]),
    )


def _parse_pixels(pixels: np.ndarray) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Parse pixel strings into (N, 48, 48) uint8, with the problems of each bad row.

    The fast path parses everything in one call; only if that finds anything odd does
    the slow per-row path run, to say exactly which row is wrong and why.
    """
    n = len(pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            flat = np.fromstring("\n".join(pixels), dtype=np.int64, sep=" ")
        except (ValueError, DeprecationWarning):
            flat = None
    if flat is not None and flat.size == n * NUM_PIXELS:
        grid = flat.reshape(n, NUM_PIXELS)
        out_of_range = np.flatnonzero((grid.min(axis=1) < 0) | (grid.max(axis=1) > 255))
        # One token per row count check guards against rows that compensate each other.
        counts = np.char.count(np.char.strip(pixels.astype(str)), " ") + 1
        if not out_of_range.size and np.all(counts == NUM_PIXELS):
            return grid.astype(np.uint8).reshape(n, IMAGE_SIZE, IMAGE_SIZE), []
    images = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    problems = []
    for i, text in enumerate(pixels):
        values, problem = _parse_row(text)
        if problem:
            problems.append((i, problem))
        else:
            images[i] = values.reshape(IMAGE_SIZE, IMAGE_SIZE)
    return images, problems


_INT = re.compile(r"^-?\d+$")


def _parse_row(text: str) -> tuple[np.ndarray | None, str | None]:
    tokens = str(text).split()
    if len(tokens) != NUM_PIXELS:
        return None, f"pixels has {len(tokens)} values, expected {NUM_PIXELS} (48x48)"
    bad = next((t for t in tokens if not _INT.match(t)), None)
    if bad is not None:
        return None, f"pixels contains {bad!r}, which is not an integer"
    values = np.array(tokens, dtype=np.int64)
    if values.min() < 0 or values.max() > 255:
        return None, f"pixel value {values.min() if values.min() < 0 else values.max()} is outside 0-255"
    return values.astype(np.uint8), None


def _usage_from_name(name: str) -> str | None:
    for usage in USAGES:
        if name.startswith(usage + "_"):
            return usage
    return None


def load_image_folder(root: str | os.PathLike, *, skip_bad_rows: bool = False) -> FerData:
    """Load the image-folder edition: ``{train,test}/<class>/{Training,PublicTest,PrivateTest}_*.jpg``.

    Class folders are matched by name (``happy`` -> 3), never by alphabetical position.
    """
    import cv2

    root = Path(root)
    files = sorted(p for p in root.glob("*/*/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{root}: no images found; expected {root}/train/<class>/*.jpg and {root}/test/<class>/*.jpg")
    images, labels, usage, problems = [], [], [], []
    for path in files:
        rel = path.relative_to(root)
        try:
            code = label_index(path.parent.name)
        except ValueError:
            problems.append(f"{rel}: class folder {path.parent.name!r} is not one of {', '.join(LABELS)}")
            continue
        split = _usage_from_name(path.name)
        if split is None:
            problems.append(f"{rel}: file name does not start with Training_, PublicTest_ or PrivateTest_")
            continue
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            problems.append(f"{rel}: not a readable image")
            continue
        if image.ndim == 3:
            problems.append(f"{rel}: expected a grey image, found {image.shape[2]} channels")
            continue
        if image.shape != (IMAGE_SIZE, IMAGE_SIZE) or image.dtype != np.uint8:
            problems.append(f"{rel}: expected 48x48 8-bit grey, found {image.shape[1]}x{image.shape[0]} {image.dtype}")
            continue
        images.append(image)
        labels.append(code)
        usage.append(split)
    if problems and not skip_bad_rows:
        more = f" ({len(problems) - 1} more; use skip_bad_rows / --skip-bad-rows to drop them)" if len(problems) > 1 else ""
        raise DataError(f"{root}/{problems[0]}{more}")
    if not images:
        raise DataError(f"{root}: no usable images ({len(problems)} skipped)")
    return FerData(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int64),
        usage=np.asarray(usage, dtype=str),
        source=str(root),
        skipped=len(problems),
        problems=tuple(problems[:100]),
    )
