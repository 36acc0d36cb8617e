"""Load and validate FER2013: the classic CSV (plain or .gz) and the image-folder edition.

Everything is validated once, here, at the boundary: a bad row is reported with its file,
row number and problem, or skipped and counted when the caller asks for that. Nothing is
silently reshaped or clipped.
"""
from __future__ import annotations

import logging
import os
import re
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fer_core.common.labels import LABELS, NUM_CLASSES, label_index
from fer_core.common.paths import ROOT_DIR
from fer_core.common.sizes import IMAGE_SIZE, NUM_PIXELS

log = logging.getLogger(__name__)

USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
#: The seed's protocol: a stratified random 10% hold-out of all rows.
RANDOM_SPLITS: tuple[str, ...] = ("RandomTrain", "RandomTest")
SPLITS: tuple[str, ...] = USAGES + RANDOM_SPLITS
DATA_ENV = "FER_DATA"
DEFAULT_DATA = ROOT_DIR.parent / "shared" / "data" / "fer2013.csv.gz"
#: The ``--data`` option's help, for every command and script that reads FER2013.
DATA_HELP = f"fer2013.csv(.gz) or image-folder root (default: ${DATA_ENV}, else {DEFAULT_DATA})"
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

    def require_split(self, name: str, hint: str = "") -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`split`, but an empty split is a DataError that names it.

        Training or scoring on zero rows would otherwise fail deep inside Keras or
        scikit-learn with a message that says nothing about the data file.
        """
        images, labels = self.split(name)
        if not len(labels):
            found = ", ".join(f"{usage} {int(np.sum(self.usage == usage))}" for usage in USAGES)
            fix = hint or "use a file that has rows of this split"
            raise DataError(f"{name} has no rows in {self.source} (rows per Usage: {found}); {fix}")
        return images, labels

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


#: ``progress(done_rows, total_rows_estimate)``: called after each chunk of a CSV is parsed.
Progress = Callable[[int, int], None]


def load_fer2013(path: str | os.PathLike | None = None, *, skip_bad_rows: bool = False,
                 progress: Progress | None = None) -> FerData:
    """Load FER2013 from a CSV (``.csv`` / ``.csv.gz``) or an image-folder tree.

    Args:
        path: the file or folder; ``None`` uses :func:`resolve_data_path`.
        skip_bad_rows: drop invalid rows and count them instead of raising.
        progress: for a CSV, called as ``progress(done_rows, total_rows_estimate)`` after each
            chunk (see :func:`load_csv`); not called for an image folder.

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
    return load_csv(resolved, skip_bad_rows=skip_bad_rows, progress=progress)


#: Rows parsed at a time: each chunk's text (~9 MB) and int64 values (~19 MB) are freed
#: before the next is read, so a load peaks near the size of its uint8 images (83 MB).
CHUNK_ROWS = 1024


def load_csv(path: str | os.PathLike, *, skip_bad_rows: bool = False, source: str | None = None,
             progress: Progress | None = None) -> FerData:
    """Load the classic CSV layout (``emotion``, ``pixels``, ``Usage``), plain or gzip.

    ``path`` may also be a binary file object (an upload); give ``source`` to name it.
    Row numbers in messages count the header as line 1, as a text editor would.
    The file is read and parsed CHUNK_ROWS rows at a time, so memory stays near the
    size of the images however large the text is.

    ``progress(done_rows, total_rows_estimate)``, if given, is called after each chunk; the
    total is estimated from the text's size (a gzip file's trailer says it) and the bytes per
    row seen so far, is never below ``done_rows``, and equals it in the last call.
    """
    name = source or str(path)
    estimate = _RowEstimate(_text_size(path)) if progress is not None else None
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    usage: list[np.ndarray] = []
    problems: list[tuple[int, str]] = []
    rows = 0
    for frame in _read_csv_chunks(path, name):
        chunk_images, chunk_labels, chunk_usage, chunk_problems = _parse_chunk(frame, rows)
        keep = np.ones(len(frame), dtype=bool)
        keep[[i - rows for i, _ in chunk_problems]] = False
        if not keep.all():
            chunk_images, chunk_labels, chunk_usage = chunk_images[keep], chunk_labels[keep], chunk_usage[keep]
        images.append(chunk_images)
        labels.append(chunk_labels)
        usage.append(chunk_usage)
        problems.extend(chunk_problems)
        rows += len(frame)
        if estimate is not None:
            progress(rows, estimate.update(frame, rows))
    if rows == 0:
        raise DataError(f"{name}: the CSV has a header but no rows")

    bad_rows = sorted({i for i, _ in problems})
    if bad_rows and not skip_bad_rows:
        row, message = min(problems)
        more = f" ({len(bad_rows) - 1} more bad row(s); use skip_bad_rows / --skip-bad-rows to drop them)" if len(bad_rows) > 1 else ""
        raise DataError(f"{name}, row {row + 2}: {message}{more}")
    if bad_rows:
        log.warning("%s: skipped %d bad row(s)", name, len(bad_rows))
    if progress is not None:
        progress(rows, rows)
    return FerData(
        images=_concatenate(images),
        labels=np.concatenate(labels).astype(np.int64),
        usage=np.asarray(USAGES)[np.concatenate(usage)],
        source=name,
        skipped=len(bad_rows),
        problems=tuple(f"row {i + 2}: {m}" for i, m in sorted(problems)[:100]),
    )


def _text_size(path) -> int | None:
    """Bytes of the CSV text: the file's size, or for gzip its trailer's ISIZE (the text's size
    modulo 4 GiB); None when the file cannot be measured. Leaves a file object where it was."""
    try:
        if hasattr(path, "read") and hasattr(path, "seek"):
            position = path.tell()
            try:
                return _measure(path)
            finally:
                path.seek(position)
        with open(path, "rb") as handle:
            return _measure(handle)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _measure(handle) -> int:
    handle.seek(0)
    head = handle.read(2)
    size = handle.seek(0, os.SEEK_END)
    if head != b"\x1f\x8b" or size < 18:
        return size
    handle.seek(size - 4)
    text = int.from_bytes(handle.read(4), "little")
    while text < size:  # a text over 4 GiB wraps; text compresses, it rarely grows
        text += 1 << 32
    return text


class _RowEstimate:
    """The total rows of a CSV, from its text size and the bytes per row parsed so far."""

    def __init__(self, text_bytes: int | None):
        self.text_bytes = text_bytes
        self.seen_bytes = 0

    def update(self, frame: pd.DataFrame, rows: int) -> int:
        # Each cell's text plus one separator (a comma or the newline) per cell.
        self.seen_bytes += sum(int(frame[c].str.len().sum()) for c in frame.columns) + frame.size
        if not self.text_bytes or not self.seen_bytes:
            return rows
        return max(rows, round(self.text_bytes * rows / self.seen_bytes))


#: a corrupt gzip stream raises zlib.error, which is none of the others
_CSV_ERRORS = (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError, ValueError,
               zlib.error)


def _read_csv_chunks(path: str | os.PathLike, name: str) -> Iterator[pd.DataFrame]:
    """The CSV as frames of CHUNK_ROWS string cells, the columns checked on the first.

    pandas' errors, wherever in the file they occur, become one DataError naming the file.
    """
    compression = "infer"
    if hasattr(path, "read") and hasattr(path, "seek"):  # an upload: pandas cannot infer from a file object
        start = path.read(2)
        path.seek(0)
        compression = "gzip" if start == b"\x1f\x8b" else None
    try:
        # index_col=False: a first row with an extra field must not silently shift every column.
        reader = pd.read_csv(path, dtype=str, keep_default_na=False, compression=compression,
                             chunksize=CHUNK_ROWS, index_col=False)
    except _CSV_ERRORS as exc:
        raise DataError(f"{name}: not a readable CSV file ({exc})") from exc
    with reader:
        first = True
        while True:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", pd.errors.ParserWarning)  # pandas would drop the extra fields
                    frame = next(reader)
            except StopIteration:
                return
            except pd.errors.ParserWarning as exc:
                raise DataError(f"{name}: not a readable CSV file (a row has more fields than the header)") from exc
            except _CSV_ERRORS as exc:
                raise DataError(f"{name}: not a readable CSV file ({exc})") from exc
            if first:
                _check_columns(frame, name)
                first = False
            yield frame


def _check_columns(frame: pd.DataFrame, name: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {', '.join(missing)}; a FER2013 CSV has the columns "
            f"{', '.join(REQUIRED_COLUMNS)} (found: {', '.join(map(str, frame.columns)) or 'none'})"
        )


def _parse_chunk(frame: pd.DataFrame, offset: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, str]]]:
    """One chunk's images, emotion codes and Usage indices (into USAGES), and its bad rows.

    Problems are numbered from the file's first row: ``offset`` is this chunk's first row.
    Bad rows hold -1 codes and blank images; the caller drops them.
    """
    # A short row ("0,<pixels>") reads as empty trailing cells: pandas cannot tell absent from empty.
    empty = {column: (frame[column].str.strip() == "").to_numpy() for column in REQUIRED_COLUMNS}
    problems = [(offset + i, _missing_message([c for c in REQUIRED_COLUMNS if empty[c][i]]))
                for i in np.flatnonzero(np.logical_or.reduce(list(empty.values())))]
    codes = pd.to_numeric(frame["emotion"].str.strip(), errors="coerce")
    good_code = codes.isin(range(NUM_CLASSES)).to_numpy()
    for i in np.flatnonzero(~good_code & ~empty["emotion"]):
        problems.append((offset + i, f"unknown emotion code {frame['emotion'].iat[i]!r} (expected 0-6)"))
    labels = np.full(len(frame), -1, dtype=np.int8)
    labels[good_code] = codes.to_numpy()[good_code]
    usage = pd.Index(USAGES).get_indexer(frame["Usage"].str.strip()).astype(np.int8)  # -1: not a Usage
    for i in np.flatnonzero((usage < 0) & ~empty["Usage"]):
        problems.append((offset + i, f"unknown Usage {frame['Usage'].iat[i]!r} (expected {', '.join(USAGES)})"))
    images, pixel_problems = _parse_pixels(frame["pixels"].to_numpy())
    problems.extend((offset + i, message) for i, message in pixel_problems if not empty["pixels"][i])
    return images, labels, usage, problems


def _missing_message(columns: list[str]) -> str:
    """What a row with empty or absent fields lacks, and what a row should hold."""
    return (f"missing {'field' if len(columns) == 1 else 'fields'} {', '.join(columns)} (empty or absent; "
            f"each row needs {', '.join(REQUIRED_COLUMNS)})")


def _concatenate(parts: list[np.ndarray]) -> np.ndarray:
    """Join the chunks' images, emptying ``parts`` as it goes.

    A large new array takes memory only as it is written, and each chunk is freed once
    copied, so the join never holds two full copies of the images.
    """
    out = np.empty((sum(len(p) for p in parts), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    start = 0
    parts.reverse()
    while parts:
        part = parts.pop()
        out[start : start + len(part)] = part
        start += len(part)
        del part
    return out


def _parse_pixels(pixels: np.ndarray) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Parse pixel strings into (N, 48, 48) uint8, with the problems of each bad row.

    The fast path parses the chunk in one call; only if that finds anything odd does
    the slow per-row path run, to say exactly which row is wrong and why.
    """
    images = _parse_pixels_fast(pixels)
    if images is not None:
        return images, []
    images = np.zeros((len(pixels), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    problems = []
    for i, text in enumerate(pixels):
        values, problem = _parse_row(text)
        if problem:
            problems.append((i, problem))
        else:
            images[i] = values.reshape(IMAGE_SIZE, IMAGE_SIZE)
    return images, problems


def _parse_pixels_fast(pixels: np.ndarray) -> np.ndarray | None:
    """All rows as (N, 48, 48) uint8 if every row is 2304 plain integers in 0-255, else None.

    int64 keeps out-of-range values visible (a narrower type would wrap 70000 to 4464); the
    chunking, not the type, keeps this intermediate small.
    """
    text = "\n".join(pixels)
    if "+" in text:  # np.fromstring reads "+5" as 5; the per-row check refuses it
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            flat = np.fromstring(text, dtype=np.int64, sep=" ")
        except (ValueError, DeprecationWarning):
            return None
    del text
    if flat.size != len(pixels) * NUM_PIXELS or (flat.size and (flat.min() < 0 or flat.max() > 255)):
        return None
    # One token count per row guards against rows that compensate each other.
    if any(row.strip().count(" ") != NUM_PIXELS - 1 for row in pixels):
        return None
    return flat.astype(np.uint8).reshape(len(pixels), IMAGE_SIZE, IMAGE_SIZE)


_INT = re.compile(r"^-?\d+$")


def _parse_row(text: str) -> tuple[np.ndarray | None, str | None]:
    tokens = str(text).split()
    if len(tokens) != NUM_PIXELS:
        return None, f"pixels has {len(tokens)} values, expected {NUM_PIXELS} (48x48)"
    bad = next((t for t in tokens if not _INT.match(t)), None)
    if bad is not None:
        return None, f"pixels contains {bad!r}, which is not an integer"
    values = [int(t) for t in tokens]  # Python ints: a 30-digit value is reported, not an overflow
    low, high = min(values), max(values)
    if low < 0 or high > 255:
        return None, f"pixel value {low if low < 0 else high} is outside 0-255"
    return np.array(values, dtype=np.uint8), None


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
