"""The files a batch analyses: expanding files, folders and globs into one ordered list of paths."""
from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from fer_core.inference.images import IMAGE_TYPES
from fer_core.drivers.video import VIDEO_TYPES

#: the file types folders are searched for: those the studio reads (fer_core.inference.images, fer_core.drivers.video)
IMAGE_SUFFIXES = tuple(f".{kind}" for kind in IMAGE_TYPES)
VIDEO_SUFFIXES = tuple(f".{kind}" for kind in VIDEO_TYPES)


def expand_inputs(inputs: Sequence[str]) -> tuple[list[str], list[str]]:
    """The files that ``inputs`` name, as absolute paths, in order and once each; and the inputs that matched nothing.

    A file is taken whatever its name (it was asked for; a wrong one becomes an error row); a
    folder is searched recursively for :data:`IMAGE_SUFFIXES` and :data:`VIDEO_SUFFIXES`; a glob
    (``**`` recursive) may match either. Paths are absolute so that a resume from another
    working directory, or a Ray worker, names the same file.
    """
    files: list[str] = []
    unmatched: list[str] = []
    seen: set[str] = set()
    for item in inputs:
        matches = sorted(glob.glob(item, recursive=True)) if glob.has_magic(item) else [item]
        found: list[Path] = []
        for match in map(Path, matches):
            if match.is_dir():
                found += sorted(p for p in match.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES
                                and p.is_file())
            elif match.is_file():
                found.append(match)
        if not found:
            unmatched.append(item)
        for path in found:
            name = os.path.abspath(path)
            if name not in seen:
                seen.add(name)
                files.append(name)
    return files, unmatched


def is_video(path: str | os.PathLike) -> bool:
    """Decoded as a video (every ``every``-th frame) rather than as one photo: by its suffix."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES
