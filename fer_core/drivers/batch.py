"""Batch analysis: every face in many photos and videos, one Parquet table (``python -m fer_core batch``).

Three modules, one job each, with this one running them (:func:`run_batch`):

- :mod:`fer_core.drivers.batch_inputs`: the files, folders and globs given, as one ordered list of paths.
- :mod:`fer_core.drivers.batch_engines`: :func:`~fer_core.drivers.batch_engines.analyse_file` turns one file into
  rows; two engines run it over the list and write the same table:

  - ``local``: in this process, one file after another.
  - ``ray``: Ray Data; an actor per CPU loads the model and the detector once and analyses the
    files it is given. The rows come back to this process, which writes the table, so both
    engines write one file with the same rows in the same order (rows are small: ~100 bytes a face).
- :mod:`fer_core.drivers.batch_sink`: the resumable Parquet table the rows go to.

Rows are the app's face rows (:meth:`fer_core.inference.infer.Face.to_row`, :mod:`fer_core.inference.rows`) with
the columns of :data:`~fer_core.drivers.batch_sink.CONTEXT` first and ``error`` last:

- a face: one row; faces are numbered from 1, the largest first, in photos and video frames
  alike (as every table of the app); ``person`` is the face's track ID in a video (stable over
  the video, :mod:`fer_core.inference.tracking`) and its number in a photo; ``frame`` and ``time_s`` are
  empty for photos;
- a photo, or an analysed video frame, without a face: one row with label "No face", ``face`` empty;
- a file that cannot be analysed: one row with ``file`` and ``error``, everything else empty.

The table is saved as the job runs and a stopped job resumes where it stopped, skipping the files
already in the table and retrying those with an error row: :mod:`fer_core.drivers.batch_sink` says how.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from fer_core.drivers.batch_engines import ENGINES, Progress, run_local, run_ray
from fer_core.drivers.batch_inputs import IMAGE_SUFFIXES, VIDEO_SUFFIXES, expand_inputs
from fer_core.drivers.batch_sink import BatchError, ResultsFile, done_files, is_in, read_previous, results_identity
from fer_core.inference.neutral_baseline import NeutralBaseline

__all__ = ["BatchError", "BatchSummary", "ENGINES", "run_batch"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchSummary:
    """What a run did: files found, skipped as done, analysed; faces and error rows written."""

    out: str
    files: int
    skipped: int
    analysed: int
    faces: int
    errors: int
    seconds: float

    def describe(self) -> str:
        rate = f", {self.analysed / self.seconds:.2f} files/s" if self.analysed and self.seconds > 0 else ""
        return (f"{self.analysed} file(s) analysed, {self.skipped} already in {self.out}; {self.faces} face row(s), "
                f"{self.errors} error(s); {self.seconds:.1f} s{rate}")


def run_batch(inputs: Sequence[str], out: str | os.PathLike, *, engine: str = "local",
              model: str | os.PathLike | None = None, every: int = 1, ray_address: str | None = None,
              progress: Progress | None = None, baseline: NeutralBaseline | None = None) -> BatchSummary:
    """Analyse every file ``inputs`` name into the Parquet table ``out``, skipping the files it already holds.

    Everything that can be refused is checked before the model is loaded. With a ``baseline``
    every face is read against that person's neutral face; a table is resumed only with the
    same model and the same neutral baseline (or none).

    Raises:
        BatchError: nothing matched, ``out`` cannot be resumed or written, a bad engine or ``every``.
        BaselineError: ``baseline`` was made with another model.
    """
    from fer_core.catalog.model import default_model_dir, read_metadata

    if engine not in ENGINES:
        raise BatchError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if every < 1:
        raise BatchError(f"every must be at least 1, got {every}")
    files, unmatched = expand_inputs(inputs)
    if not files:
        raise BatchError(f"no input file: {', '.join(unmatched)} matched nothing; give image or video files, "
                         f"folders holding {'/'.join(s[1:] for s in IMAGE_SUFFIXES + VIDEO_SUFFIXES)} files, or globs")
    if unmatched:
        log.warning("matched nothing: %s", ", ".join(unmatched))
    metadata = read_metadata(model or default_model_dir())
    labels, model_name = metadata["labels"], metadata["name"]
    if baseline is not None:
        baseline.check(model_name, labels)
    model_name = results_identity(model_name, baseline)
    previous = read_previous(out, labels, model_name)
    done = done_files(previous)
    todo = [path for path in files if path not in done]
    from fer_core.catalog.provenance import provenance
    from fer_core.inference.detect import DEFAULT_DETECTOR

    made_by = provenance(model or default_model_dir(), detector=DEFAULT_DETECTOR,
                         baseline_fingerprint=baseline.fingerprint if baseline else None)
    results = ResultsFile(out, files, previous, labels, model_name, made_by)
    start = time.perf_counter()
    try:
        if todo and engine == "local":
            run_local(todo, results, model=model, every=every, progress=progress, baseline=baseline)
        elif todo:
            run_ray(todo, results, model=model, every=every, address=ray_address, progress=progress,
                    baseline=baseline)
    finally:
        results.finish()  # also when stopped: what was analysed is merged into out for the resume
    seconds = time.perf_counter() - start
    table = results.table()
    new = table.filter(is_in(table["file"], todo))
    return BatchSummary(str(out), len(files), len(files) - len(todo), len(todo),
                        faces=len(new) - new["face"].null_count, errors=len(new) - new["error"].null_count,
                        seconds=seconds)

