"""Batch analysis: every face in many photos and videos, one Parquet table (``python -m fer_core batch``).

One function, :func:`analyse_file`, turns one file into rows; two engines run it over a list of
files and write the same table:

- ``local``: in this process, one file after another.
- ``ray``: Ray Data; an actor per CPU loads the model and the detector once and analyses the
  files it is given. The rows come back to this process, which writes the table, so both
  engines write one file with the same rows in the same order (rows are small: ~100 bytes a face).

Rows are the app's face rows (:meth:`fer_core.infer.Face.to_row`, :mod:`fer_core.results`) with
the columns of :data:`CONTEXT` first and ``error`` last:

- a face: one row; faces are numbered from 1, the largest first, in photos and video frames
  alike (as every table of the app); ``person`` is the face's track ID in a video (stable over
  the video, :mod:`fer_core.tracking`) and its number in a photo; ``frame`` and ``time_s`` are
  empty for photos;
- a photo, or an analysed video frame, without a face: one row with label "No face", ``face`` empty;
- a file that cannot be analysed: one row with ``file`` and ``error``, everything else empty.

Saving costs each row once while the job runs (:class:`ResultsFile`): every :data:`SAVE_EVERY_S`
seconds the rows added since the last save are written, atomically, as the next part file
``<out>.parts/part-00001.parquet``, ``part-00002.parquet``, ...; at the end, and on Ctrl-C, the
earlier table and every row are merged into the one file ``<out>`` (atomically, once) and the
parts folder is deleted. So a stopped job resumes, even one killed between saves: the next run
with the same ``--out`` reads ``<out>`` and any part files (a table or a part written with another
model is refused), skips the files already in them, and tries the files with an error row again
(their old row is replaced).
"""
from __future__ import annotations

import glob
import itertools
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_core.calibration import NeutralBaseline
from fer_core.classifier import Classifier
from fer_core.detect import DEFAULT_DETECTOR, FaceDetector, make_detector
from fer_core.images import IMAGE_TYPES
from fer_core.infer import analyse_files
from fer_core.parse_cache import atomic_write
from fer_core.results import face_columns, no_face_row
from fer_core.video import VIDEO_TYPES

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
#: the columns before the face columns of :func:`fer_core.results.face_columns`
CONTEXT = ("file", "frame", "time_s", "face")
#: the file types folders are searched for: those the studio reads (fer_core.images, fer_core.video)
IMAGE_SUFFIXES = tuple(f".{kind}" for kind in IMAGE_TYPES)
VIDEO_SUFFIXES = tuple(f".{kind}" for kind in VIDEO_TYPES)
#: the longest a killed job loses: the rows added since the last save are saved (as a part file) this often
SAVE_EVERY_S = 30.0
#: the model's name in the table's (and each part's) Parquet metadata, so a resume with another model is refused
MODEL_KEY = b"fer_core.model"
#: ``<out>`` + this: the folder of the part files a job writes between its start and its end
PARTS_SUFFIX = ".parts"
#: a part file's name in that folder, by its number (1, 2, ... in the order written, across runs)
PART_FILE = "part-{:05d}.parquet"
_PART_NAME = re.compile(r"part-(\d+)\.parquet")
#: in a part's Parquet metadata: the run that wrote it (the number of that run's first part)
RUN_KEY = b"fer_core.run"

#: ``progress(files_done, files_total)``
Progress = Callable[[int, int], None]


class BatchError(ValueError):
    """A batch that cannot start (nothing matched, an --out that is not a results table): one line."""


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


# ---------------------------------------------------------------- inputs


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


# ---------------------------------------------------------------- the per-file function


def load_worker(model: str | os.PathLike | None, threads: int | None = None) -> tuple[Classifier, FaceDetector]:
    """The classifier and the photo/video detector one worker needs (loaded once, used for every file)."""
    return Classifier.load(model, threads=threads), make_detector(DEFAULT_DETECTOR)


def analyse_file(path: str, classifier: Classifier, detector: FaceDetector, *, every: int = 1,
                 baseline: NeutralBaseline | None = None) -> list[dict]:
    """The rows of one file (see the module's docstring); a file that fails gives one error row, never an exception.

    Photos go through :func:`fer_core.infer.analyse_files`, videos through
    :func:`fer_core.video.analyse_video` with ``every``: the same code as ``predict`` and the app.
    With a ``baseline`` every face is read against that person's neutral face.
    """
    from fer_core.video import analyse_video

    try:
        if is_video(path):
            result = analyse_video(path, classifier, detector, every=every, name=path, baseline=baseline)
            if result.warning:
                log.warning("%s: %s", path, result.warning)
            return [{"file": path, **row} for row in result.rows()]
        [image] = analyse_files([path], classifier, detector, baseline=baseline)
        if image.error:
            return [error_row(path, image.error)]
        return image.rows() or [no_face_row(classifier.labels, file=path, face=None)]
    except (ValueError, OSError) as exc:  # ImageError, VideoError, an unreadable file
        return [error_row(path, str(exc))]
    except Exception as exc:  # noqa: BLE001 -- one odd file must not stop a job of thousands
        log.debug("%s failed", path, exc_info=True)
        return [error_row(path, f"{path}: unexpected {type(exc).__name__}: {exc}")]


def results_identity(model_name: str, baseline: NeutralBaseline | None) -> str:
    """What made a table's rows, as its metadata stores it: the model, and the calibration if any
    (so a resume never mixes calibrated and uncalibrated rows, or two people's baselines)."""
    return model_name if baseline is None else f"{model_name} calibrated {baseline.fingerprint}"


def error_row(path: str, message: str) -> dict:
    """The one row of a file that could not be analysed."""
    return {"file": path, "error": message}


# ---------------------------------------------------------------- the table


def columns(labels: Sequence[str]) -> list[str]:
    """The table's columns, in order: :data:`CONTEXT`, the face columns, one per label, ``error``."""
    return [*face_columns(labels, CONTEXT), "error"]


def schema(labels: Sequence[str], model_name: str):
    """The table's Arrow schema: fixed types, so that empty columns (no video, no error) keep theirs."""
    import pyarrow as pa

    types = {"file": pa.string(), "frame": pa.int64(), "time_s": pa.float64(), "face": pa.int64(), "person": pa.int64(),
             "label": pa.string(), "confidence": pa.float64(), "calibrated": pa.bool_(), "x": pa.int64(), "y": pa.int64(),
             "w": pa.int64(), "h": pa.int64(), "error": pa.string()}
    return pa.schema([(c, types.get(c, pa.float64())) for c in columns(labels)],
                     metadata={MODEL_KEY: model_name.encode()})


def to_table(rows: Sequence[dict], labels: Sequence[str], model_name: str):
    """Rows as an Arrow table of :func:`schema` (a missing key is empty)."""
    import pyarrow as pa

    return pa.Table.from_pylist(list(rows), schema=schema(labels, model_name))


def parts_dir(out: str | os.PathLike) -> Path:
    """The folder of ``out``'s part files, beside it: ``<out>.parts`` (see the module's docstring)."""
    out = Path(out)
    return out.with_name(out.name + PARTS_SUFFIX)


def part_files(out: str | os.PathLike) -> list[tuple[int, Path]]:
    """``out``'s part files as (number, path), by number; none when there is no parts folder.

    Other names in the folder (a temporary file a kill left behind) are not parts: ignored.

    Raises:
        BatchError: ``<out>.parts`` is there but is not a folder (a resume could not know what it holds).
    """
    folder = parts_dir(out)
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise BatchError(f"--out {out}: {folder} is not a folder, yet this table keeps its part files there; "
                         "move it away or give another --out")
    found = ((_PART_NAME.fullmatch(path.name), path) for path in folder.iterdir())
    return sorted((int(match[1]), path) for match, path in found if match)


def read_previous(out: str | os.PathLike, labels: Sequence[str], model_name: str):
    """The rows earlier runs left in ``out`` and its part files (None when there are none), checked to fit this run.

    A run killed between saves left its latest rows in part files only, so they count as much as
    ``out``; each file keeps the rows of the last run that analysed it (:func:`latest_rows`), so a
    retried file's new rows replace its error row.

    Raises:
        BatchError: ``out`` or a part file is not a Parquet table, has other columns, or holds another model's results.
    """
    expected = schema(labels, model_name)
    sources = [_read_checked(out, f"--out {out}", expected)] if os.path.exists(out) else []
    parts = [(number, _read_checked(path, f"--out {out}: part file {path}", expected, keep_metadata=True))
             for number, path in part_files(out)]
    # a run's parts carry its key: parts from one run form one source, even if a file's rows span two parts
    runs = itertools.groupby(parts, key=lambda item: (item[1].schema.metadata or {}).get(RUN_KEY, item[0]))
    sources += [concat([table for _, table in run], expected) for _, run in runs]
    return latest_rows(sources, expected) if sources else None


def _read_checked(path: str | os.PathLike, name: str, expected, *, keep_metadata: bool = False):
    """The table at ``path``, refused unless it has this run's columns and model (``name`` says which file in errors).

    Raises:
        BatchError: not a Parquet table, other columns, or another model's results.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise BatchError(f"{name}: not a Parquet table that can be read ({exc}); give a new file or the "
                         "results of an earlier batch") from exc
    if table.column_names != expected.names:
        raise BatchError(f"{name}: its columns ({', '.join(table.column_names)}) are not those of this "
                         "model's results; give a new file")
    model_name = expected.metadata[MODEL_KEY].decode()
    previous = (table.schema.metadata or {}).get(MODEL_KEY, b"").decode()
    if previous != model_name:
        raise BatchError(f"{name}: holds the results of model {previous or '(unknown)'!r}, not "
                         f"{model_name!r}; give a new file, or the model (and calibration) that made it")
    return table if keep_metadata else table.cast(expected)


def latest_rows(sources: Sequence, schema_):
    """One table from ``sources`` (oldest first, each the rows of one run): each file's rows from the last source holding it.

    A file is analysed once per run, so the last run that holds it has all its latest rows: a
    retried file loses its old error row, and a file no run retried keeps its rows.
    """
    import pyarrow.compute as pc

    kept, seen = [], set()
    for table in reversed(sources):
        kept.append(table.filter(pc.invert(_is_in(table["file"], seen))) if seen else table)
        seen.update(table["file"].to_pylist())
    return concat(kept[::-1], schema_)


def concat(tables: Sequence, schema_):
    """``tables`` as one table of ``schema_`` (its metadata too); an empty one when there are none."""
    import pyarrow as pa

    if not tables:
        return schema_.empty_table()
    return pa.concat_tables([table.cast(schema_) for table in tables]).replace_schema_metadata(schema_.metadata)


def done_files(table) -> set[str]:
    """The files a table holds without an error row: a resume skips them."""
    import pyarrow.compute as pc

    if table is None:
        return set()
    failed = set(table.filter(pc.is_valid(table["error"]))["file"].to_pylist())
    return set(table["file"].to_pylist()) - failed


class ResultsFile:
    """The table being written: the rows of earlier runs (``previous``, from :func:`read_previous`) and this run's.

    Rows are kept in memory; :meth:`add` saves the rows added since the last save as the next part
    file every :data:`SAVE_EVERY_S` seconds, so a save costs its new rows only; :meth:`finish`
    (at the end, and on Ctrl-C) merges everything into ``out`` once and deletes the part files.
    Every write is atomic (a reader, or a resume after a kill, never sees half a file). Rows are
    kept in the order of the input files (files of earlier runs first), then frame and face; a
    file analysed again keeps only its new rows.
    """

    def __init__(self, out: str | os.PathLike, files: Sequence[str], previous, labels: Sequence[str],
                 model_name: str) -> None:
        self.out = Path(out)
        self.parts = parts_dir(out)
        self.schema = schema(labels, model_name)
        self._order = {name: i for i, name in enumerate(files)}
        self._previous = previous
        self._new: list = []  # this run's tables, in the order they came
        self._pending = 0  # how many of the last of them are in no part file yet
        numbers = [number for number, _ in part_files(out)]
        self._next_part = max(numbers, default=0) + 1
        self._run = str(self._next_part).encode()  # in this run's parts' metadata: see read_previous
        self._merge_due = bool(numbers)  # part files wait to be merged into out, new rows or not
        self._saved_at = time.monotonic()
        self._table = None  # table(), until the next add

    def add(self, table) -> None:
        """Append a file's (or a batch of files') rows; save them as a part when the last save is old enough."""
        self._new.append(table.cast(self.schema))
        self._pending += 1
        self._table = None
        if time.monotonic() - self._saved_at >= SAVE_EVERY_S:
            self.save_part()

    def save_part(self) -> None:
        """Write the rows added since the last save, and those only, as the next part file (atomically).

        Raises:
            BatchError: the file cannot be written (the reason is logged).
        """
        rows = concat(self._new[len(self._new) - self._pending:], self.schema)
        self._pending = 0
        self._saved_at = time.monotonic()
        if not len(rows):
            return
        rows = rows.replace_schema_metadata({**self.schema.metadata, RUN_KEY: self._run})
        self._write(self.parts / PART_FILE.format(self._next_part), rows)
        self._next_part += 1
        self._merge_due = True

    def finish(self) -> None:
        """Merge every row into ``out`` once (atomically), then delete the part files; at the end and on Ctrl-C.

        When part files exist, the unsaved rows become one more part first: then ``out`` holds
        exactly what ``out`` plus the parts hold, so a kill before the parts are gone loses
        nothing and changes nothing. Nothing is written when no row was added and no part waits
        (e.g. the model failed to load): the file stays as it was.

        Raises:
            BatchError: a file cannot be written (the reason is logged).
        """
        if not self._pending and not self._merge_due:
            return
        if self._merge_due:
            self.save_part()
        self._write(self.out, self.table())
        self._pending = 0
        self._merge_due = False
        self._remove_parts()

    def table(self):
        """Every row, in order: earlier runs' (less the files analysed again) and this run's."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self._table is not None:
            return self._table
        sources = [self._previous] if self._previous is not None else []
        table = latest_rows([*sources, concat(self._new, self.schema)], self.schema)
        position = pa.array([self._order.get(name, -1) for name in table["file"].to_pylist()], pa.int64())
        keys = [("_position", "ascending", "at_start"), ("frame", "ascending", "at_start"),
                ("face", "ascending", "at_start")]  # a photo's frame, a no-face row's face: empty
        order = pc.sort_indices(table.append_column("_position", position), sort_keys=keys)  # stable
        self._table = table.take(order)
        return self._table

    def _write(self, path: Path, table) -> None:
        """``table`` into ``path`` atomically (a temporary file beside it, then renamed).

        Raises:
            BatchError: the file cannot be written.
        """
        import pyarrow.parquet as pq

        if not atomic_write(path, lambda handle: pq.write_table(table, handle)):
            raise BatchError(f"--out {self.out}: cannot write {path}; choose a path in a folder you can write to")

    def _remove_parts(self) -> None:
        """Delete the parts folder, now that ``out`` holds its rows: renamed away first, so that a kill
        midway leaves all the parts (harmless: ``out`` holds them) or none, never some of them."""
        if not self.parts.exists():
            return
        trash = self.parts.with_name(self.parts.name + ".merged")
        shutil.rmtree(trash, ignore_errors=True)  # an earlier kill's leftover
        try:
            os.replace(self.parts, trash)
            shutil.rmtree(trash)
        except OSError as exc:  # the parts, if still there, only repeat what out holds
            log.warning("%s: cannot delete %s (%s); its rows are in %s, delete it by hand", self.out,
                        trash if trash.exists() else self.parts, exc, self.out)


def _is_in(column, values: Collection[str]):
    """A mask: the rows whose ``column`` is one of ``values``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.is_in(column, pa.array(list(values), pa.string()))


# ---------------------------------------------------------------- engines


def run_local(files: Sequence[str], results: ResultsFile, *, model: str | os.PathLike | None, every: int,
              progress: Progress | None = None, baseline: NeutralBaseline | None = None) -> None:
    """Analyse ``files`` in this process, one after another (the model uses every core)."""
    classifier, detector = load_worker(model)
    for done, path in enumerate(files, 1):
        results.add(to_table(analyse_file(path, classifier, detector, every=every, baseline=baseline),
                             classifier.labels, results_identity(classifier.name, baseline)))
        if progress:
            progress(done, len(files))


class RayWorker:
    """A Ray Data actor: loads the model and the detector once, then turns batches of paths into rows.

    One LiteRT thread per actor (as ``FER_THREADS=1`` would give): the pool has an actor per CPU,
    and more threads would only make the actors take turns on the cores.
    """

    def __init__(self, model: str, every: int, threads: int = 1, baseline: dict | None = None) -> None:
        self.classifier, self.detector = load_worker(model, threads=threads)
        self.every = every
        self.baseline = None if baseline is None else NeutralBaseline.from_dict(baseline)

    def __call__(self, batch: dict[str, np.ndarray]):
        rows = [row for path in batch["file"].tolist()
                for row in analyse_file(path, self.classifier, self.detector, every=self.every, baseline=self.baseline)]
        return to_table(rows, self.classifier.labels, results_identity(self.classifier.name, self.baseline))


def start_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address``, or start a local Ray with ``num_cpus`` (default: this machine's).

    A local Ray's workers find ``fer_core`` through ``PYTHONPATH`` (the checkout need not be
    installed); the nodes of a cluster need ``fer_core``, the model and the inputs at the same paths.
    """
    import ray

    if address:
        ray.init(address=address, logging_level=logging.WARNING)
        return
    root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    ray.init(num_cpus=num_cpus or len(os.sched_getaffinity(0)), include_dashboard=False,
             logging_level=logging.WARNING, runtime_env={"env_vars": {"PYTHONPATH": path}})


def run_ray(files: Sequence[str], results: ResultsFile, *, model: str | os.PathLike | None, every: int,
            address: str | None = None, progress: Progress | None = None,
            baseline: NeutralBaseline | None = None) -> None:
    """Analyse ``files`` with Ray Data: the paths go to a pool of :class:`RayWorker` actors, one per CPU.

    Uses the Ray this process is already connected to, else starts one (:func:`start_ray`) and
    shuts it down at the end. Files go one per call (``batch_size=1``), so a long video does not
    hold up a batch of photos behind it.
    """
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise BatchError('--engine ray needs Ray Data: pip install "fer-studio[batch]" '
                         "(or requirements-dev.txt); --engine local needs nothing more") from exc
    from fer_core.model import default_model_dir

    started = not ray.is_initialized()
    if started:
        start_ray(address)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False  # ours is the one progress line
        cpus = int(ray.cluster_resources().get("CPU", 1))
        pool = max(1, min(cpus, len(files)))
        model_dir = str(Path(model or default_model_dir()).resolve())
        dataset = ray.data.from_items([{"file": path} for path in files]).map_batches(
            RayWorker, batch_size=1, compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=1,
            fn_constructor_kwargs={"model": model_dir, "every": every,
                                   "baseline": None if baseline is None else baseline.to_dict()},
        )
        done: set[str] = set()
        for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            results.add(table)
            done.update(table["file"].to_pylist())
            if progress:
                progress(len(done), len(files))
    finally:
        if started:
            ray.shutdown()


def run_batch(inputs: Sequence[str], out: str | os.PathLike, *, engine: str = "local",
              model: str | os.PathLike | None = None, every: int = 1, ray_address: str | None = None,
              progress: Progress | None = None, baseline: NeutralBaseline | None = None) -> BatchSummary:
    """Analyse every file ``inputs`` name into the Parquet table ``out``, skipping the files it already holds.

    Everything that can be refused is checked before the model is loaded. With a ``baseline``
    every face is read against that person's neutral face; a table is resumed only with the
    same model and the same calibration (or none).

    Raises:
        BatchError: nothing matched, ``out`` cannot be resumed or written, a bad engine or ``every``.
        CalibrationError: ``baseline`` was made with another model.
    """
    from fer_core.model import default_model_dir, read_metadata

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
    results = ResultsFile(out, files, previous, labels, model_name)
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
    new = table.filter(_is_in(table["file"], todo))
    return BatchSummary(str(out), len(files), len(files) - len(todo), len(todo),
                        faces=len(new) - new["face"].null_count, errors=len(new) - new["error"].null_count,
                        seconds=seconds)

