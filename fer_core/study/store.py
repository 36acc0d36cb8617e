"""The study store: one DuckDB file (``study.duckdb`` in the study's folder) with every table of the study.

Tables: ``frames`` (frames.parquet's rows), ``epochs``, ``summary``, ``summary_by`` (when ``--by`` was
given), ``exclusions``, ``participants`` (one row per recording: its analysis key, status and error),
``study`` and ``markers`` (the two design files as read) and ``manifest`` (manifest.json as one text
cell). A study is reopened from it, extended (participants whose analysis key is unchanged are read
back, not analysed again) and queried with SQL::

    duckdb DIR/study.duckdb "SELECT stimulus, emotion, mean FROM summary"

The file is written beside and renamed into place, so a reader never sees half a study.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

STORE_FILE = "study.duckdb"
#: the tables every store has (``summary_by`` only when the study was grouped)
TABLES = ("frames", "epochs", "summary", "exclusions", "participants", "study", "markers")


class StoreError(ValueError):
    """A study store that cannot be read, with a message naming it."""


def store_path(folder: str | os.PathLike) -> Path:
    return Path(folder) / STORE_FILE


def save(folder: str | os.PathLike, tables: dict[str, pd.DataFrame], manifest: dict) -> Path:
    """Write every table and the manifest into ``folder``'s store (replacing the previous one at once)."""
    import duckdb

    target = store_path(folder)
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        with duckdb.connect(str(tmp)) as db:
            for name, table in tables.items():
                db.register("incoming", table)
                db.execute(f'CREATE TABLE "{name}" AS SELECT * FROM incoming')
                db.unregister("incoming")
            db.execute("CREATE TABLE manifest (document VARCHAR)")
            db.execute("INSERT INTO manifest VALUES (?)", [json.dumps(manifest, sort_keys=True)])
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def load(folder: str | os.PathLike) -> tuple[dict[str, pd.DataFrame], dict]:
    """Every table of ``folder``'s store and its manifest.

    Raises:
        StoreError: no store there, or not a study store.
    """
    import duckdb

    path = store_path(folder)
    if not path.is_file():
        raise StoreError(f"{folder}: no study here (no {STORE_FILE})")
    try:
        with duckdb.connect(str(path), read_only=True) as db:
            names = [row[0] for row in db.execute("SELECT table_name FROM information_schema.tables").fetchall()]
            if "manifest" not in names:
                raise StoreError(f"{path}: not a study store (no manifest table)")
            tables = {name: db.execute(f'SELECT * FROM "{name}"').df() for name in names if name != "manifest"}
            manifest = json.loads(db.execute("SELECT document FROM manifest").fetchone()[0])
    except duckdb.Error as exc:
        raise StoreError(f"{path}: cannot read this study store ({str(exc).splitlines()[0]})") from exc
    return tables, manifest


def query(folder: str | os.PathLike, sql: str) -> pd.DataFrame:
    """The result of one SQL query on the store, read-only."""
    import duckdb

    with duckdb.connect(str(store_path(folder)), read_only=True) as db:
        return db.execute(sql).df()


def reusable(folder: str | os.PathLike, columns: list[str]) -> dict[str, tuple[str, pd.DataFrame, dict]]:
    """The stored analyses a new run can take over: participant -> (analysis key, their rows' ``columns``, their
    ``participants`` record).

    Empty when there is no store yet, or it cannot be read (everything is analysed again).
    """
    try:
        tables, _ = load(folder)
    except StoreError:
        return {}
    frames, records = tables.get("frames"), tables.get("participants")
    if frames is None or records is None or not set(columns) <= set(frames.columns):
        return {}
    out = {}
    for record in records[records["status"] == "analysed"].to_dict("records"):
        rows = frames.loc[frames["participant"] == record["participant"], columns].reset_index(drop=True)
        out[record["participant"]] = (record["key"], rows, record)
    return out


def list_studies(root: str | os.PathLike) -> list[Path]:
    """The study folders directly under ``root`` (those with a store), newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p.parent for p in root.glob(f"*/{STORE_FILE}")]
    return sorted(found, key=lambda p: store_path(p).stat().st_mtime, reverse=True)
