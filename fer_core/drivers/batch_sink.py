"""The resumable Parquet table a batch writes: its schema, part files, and reading earlier runs back.

Saving costs each row once while the job runs (:class:`ResultsFile`): every :data:`SAVE_EVERY_S`
seconds the rows added since the last save are written, atomically, as the next part file
``<out>.parts/part-00001.parquet``, ``part-00002.parquet``, ...; at the end, and on Ctrl-C, the
earlier table and every row are merged into the one file ``<out>`` (atomically, once) and the
parts folder is deleted. So a stopped job resumes, even one killed between saves: the next run
with the same ``--out`` reads ``<out>`` and any part files (:func:`read_previous`; a table or a
part written with another model, or another neutral baseline, is refused), skips the files already in
them (:func:`done_files`), and tries the files with an error row again (their old row is replaced).
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from fer_core.inference.neutral_baseline import NeutralBaseline
from fer_core.common.files import atomic_write
from fer_core.inference.rows import CONTEXT_TYPES, column_types, face_columns

log = logging.getLogger(__name__)

#: the columns before the face columns of :func:`fer_core.inference.rows.face_columns`
CONTEXT = tuple(CONTEXT_TYPES)
#: the longest a killed job loses: the rows added since the last save are saved (as a part file) this often
SAVE_EVERY_S = 30.0
#: what made the rows (:func:`results_identity`: the model, and the neutral baseline if any) in the table's (and
#: each part's) Parquet metadata, so a resume with another model or baseline is refused
MODEL_KEY = b"fer_core.model"
#: what made the rows in full (:func:`fer_core.catalog.provenance.provenance`, JSON) in the table's metadata
PROVENANCE_KEY = b"fer_core.provenance"
#: ``<out>`` + this: the folder of the part files a job writes between its start and its end
PARTS_SUFFIX = ".parts"
#: a part file's name in that folder, by its number (1, 2, ... in the order written, across runs)
PART_FILE = "part-{:05d}.parquet"
_PART_NAME = re.compile(r"part-(\d+)\.parquet")
#: in a part's Parquet metadata: the run that wrote it (the number of that run's first part)
RUN_KEY = b"fer_core.run"


class BatchError(ValueError):
    """A batch that cannot start (nothing matched, an --out that is not a results table): one line."""


def results_identity(model_name: str, baseline: NeutralBaseline | None) -> str:
    """What made a table's rows, as its metadata stores it: the model, and the neutral baseline if any (so a resume
    never mixes rows read with and without a baseline, or two people's baselines). The word "calibrated" in it is
    kept from before the rename, so tables written then still resume."""
    return model_name if baseline is None else f"{model_name} calibrated {baseline.fingerprint}"


def error_row(path: str, message: str) -> dict:
    """The one row of a file that could not be analysed."""
    return {"file": path, "error": message}


def columns(labels: Sequence[str]) -> list[str]:
    """The table's columns, in order: :data:`CONTEXT`, the face columns, one per label, ``error``."""
    return [*face_columns(labels, CONTEXT), "error"]


def schema(labels: Sequence[str], model_name: str):
    """The table's Arrow schema: fixed types, so that empty columns (no video, no error) keep theirs."""
    import pyarrow as pa

    arrow = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_()}
    types = {**column_types(labels, CONTEXT), "error": str}
    return pa.schema([(c, arrow[types[c]]) for c in columns(labels)], metadata={MODEL_KEY: model_name.encode()})


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
                         f"{model_name!r}; give a new file, or the model (and neutral baseline) that made it")
    return table if keep_metadata else table.cast(expected)


def latest_rows(sources: Sequence, schema_):
    """One table from ``sources`` (oldest first, each the rows of one run): each file's rows from the last source holding it.

    A file is analysed once per run, so the last run that holds it has all its latest rows: a
    retried file loses its old error row, and a file no run retried keeps its rows.
    """
    import pyarrow.compute as pc

    kept, seen = [], set()
    for table in reversed(sources):
        kept.append(table.filter(pc.invert(is_in(table["file"], seen))) if seen else table)
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
                 model_name: str, provenance: dict | None = None) -> None:
        self.out = Path(out)
        self.parts = parts_dir(out)
        self.schema = schema(labels, model_name)
        if provenance is not None:  # the last run's: a resume is refused unless the model is the same (MODEL_KEY)
            self.schema = self.schema.with_metadata({**self.schema.metadata,
                                                     PROVENANCE_KEY: json.dumps(provenance).encode()})
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


def is_in(column, values: Collection[str]):
    """A mask: the rows whose ``column`` is one of ``values``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.is_in(column, pa.array(list(values), pa.string()))

