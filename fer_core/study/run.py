"""``python -m fer_core study run``: a study's design in, its five files and its store out.

In ``out``: ``frames.parquet``, ``epochs.csv``, ``summary.csv`` (and ``summary_by_<column>.csv`` with
``by``), ``exclusions.csv``, ``methods.md``, ``manifest.json`` and ``study.duckdb``. A participant
already in the store with the same analysis key (same video, neutral source, model, ``every`` and
quality thresholds) is read back, not analysed again: adding a participant analyses only their video.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fer_core.catalog.model import live_model_dir
from fer_core.common.files import atomic_write
from fer_core.study import store
from fer_core.study.analyse import (FrameProgress, Outcome, Progress, analysis_key, frame_columns, run_local, run_ray,
                                    typed_rows)
from fer_core.study.design import Design, read_design
from fer_core.study.epochs import epochs, exclusions, label_frames
from fer_core.study.methods import manifest, methods_text
from fer_core.study.summary import summary, summary_by

FILES = ("frames.parquet", "epochs.csv", "summary.csv", "exclusions.csv", "methods.md", "manifest.json")
#: where the Ray engine's workers write their participants' rows
PARTS_DIR = "parts"


@dataclass(frozen=True)
class StudyRun:
    """What a run did: the tables it wrote, who was analysed, who was taken from the store, who failed."""

    out: Path
    tables: dict[str, pd.DataFrame]
    analysed: tuple[str, ...]
    reused: tuple[str, ...]
    failed: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [f"{len(self.analysed)} participant(s) analysed, {len(self.reused)} taken from the store, "
                 f"{len(self.failed)} failed; results in {self.out}"]
        lines += [f"failed: {error}" for error in self.failed.values()]
        lines += [f"warning: {pid}: {text}" for pid, text in self.warnings.items()]
        return "\n".join(lines)


def _labels(model_dir: Path) -> tuple[str, ...]:
    from fer_core.catalog.model import read_metadata

    return tuple(read_metadata(model_dir)["labels"])


def run_study(study_csv: str | os.PathLike, markers_csv: str | os.PathLike, out: str | os.PathLike, *,
              engine: str = "local", every: int = 5, by: str | None = None, model: str | os.PathLike | None = None,
              ray_address: str | None = None, progress: Progress | None = None,
              frames: FrameProgress | None = None) -> StudyRun:
    """Analyse (or reuse) every participant, cut the windows, summarise, and write everything into ``out``.

    Raises:
        StudyError: a bad study.csv or markers.csv (naming the file and the line).
        ValueError: a bad option (``every`` under 1, ``by`` not a covariate, an unknown engine).
    """
    if every < 1:
        raise ValueError(f"--every {every}: expected 1 or more (1 analyses every frame)")
    if engine not in ("local", "ray"):
        raise ValueError(f"--engine {engine}: expected local or ray")
    design = read_design(study_csv, markers_csv)
    if by is not None and by not in design.covariates:
        raise ValueError(f"--by {by}: not a covariate column of {study_csv} "
                         f"({', '.join(design.covariates) or 'it has none'})")
    model_dir = Path(model) if model else live_model_dir()
    labels = _labels(model_dir)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    outcomes = _analyse(design, out, engine=engine, every=every, model_dir=model_dir, labels=labels,
                        ray_address=ray_address, progress=progress, frames=frames)
    tables = _tables(design, [o for o, _ in outcomes], labels, by)
    record = manifest(design, [o for o, _ in outcomes], model_dir=model_dir, engine=engine, every=every, by=by)
    shares = face_shares(tables["frames"])
    for entry in record["participants"]:
        entry["face_share"] = shares.get(entry["participant"])
    _write(out, tables, record, methods_text(design, record, tables["epochs"], tables["exclusions"]), by)
    return StudyRun(out, tables,
                    analysed=tuple(o.participant for o, reused in outcomes if not reused and not o.error),
                    reused=tuple(o.participant for o, reused in outcomes if reused),
                    failed={o.participant: o.error for o, _ in outcomes if o.error},
                    warnings={o.participant: o.warning for o, _ in outcomes if o.warning})


def _analyse(design: Design, out: Path, *, engine: str, every: int, model_dir: Path, labels: tuple[str, ...],
             ray_address: str | None, progress: Progress | None,
             frames: FrameProgress | None = None) -> list[tuple[Outcome, bool]]:
    """Every participant's outcome in study.csv's order, and whether it came from the store."""
    keys = {p.id: analysis_key(p, model_dir, every) for p in design.participants}
    stored = store.reusable(out, frame_columns(labels))
    kept: dict[str, Outcome] = {}
    for pid, (key, rows, record) in stored.items():
        if keys.get(pid) == key:
            kept[pid] = Outcome(pid, key, typed_rows(rows, labels), fps=_value(record.get("fps")),
                                frames_total=_value(record.get("frames_total")), warning=_value(record.get("warning")),
                                baseline=_value(record.get("baseline")))
    todo = [p for p in design.participants if p.id not in kept]
    if engine == "ray" and todo:
        parts = out / PARTS_DIR
        fresh = run_ray(todo, [keys[p.id] for p in todo], model=model_dir, every=every, parts=parts,
                        address=ray_address, progress=progress)
        shutil.rmtree(parts, ignore_errors=True)
    else:
        fresh = run_local(todo, [keys[p.id] for p in todo], model=model_dir, every=every, progress=progress,
                          frames=frames)
    fresh_by_id = {o.participant: o for o in fresh}
    return [(kept[p.id], True) if p.id in kept else (fresh_by_id[p.id], False) for p in design.participants]


def face_shares(frames: pd.DataFrame) -> dict[str, float]:
    """Per participant, the share of their analysed frames in which their face (the ``main`` person) was found."""
    if frames.empty:
        return {}
    found = frames[frames["main"]].groupby("participant")["frame"].nunique()
    total = frames.groupby("participant")["frame"].nunique()
    return {str(pid): round(float(found.get(pid, 0) / n), 4) for pid, n in total.items()}


def _value(value):
    return None if value is None or (isinstance(value, float) and value != value) else value


def _tables(design: Design, outcomes: list[Outcome], labels: tuple[str, ...],
            by: str | None) -> dict[str, pd.DataFrame]:
    """frames, epochs, summary (and summary_by), exclusions, participants, study and markers."""
    analysed = [o.rows for o in outcomes if o.rows is not None]
    raw = (pd.concat(analysed, ignore_index=True) if analysed
           else typed_rows(pd.DataFrame(columns=frame_columns(labels)), labels))
    frames = label_frames(raw, design)
    epoch_rows = epochs(frames, design, labels)
    failed = {o.participant: o.error for o in outcomes if o.error}
    tables = {
        "frames": frames,
        "epochs": epoch_rows,
        "summary": summary(epoch_rows, labels, design.stimuli),
        "exclusions": exclusions(epoch_rows, failed),
        "participants": pd.DataFrame([{"participant": o.participant, "key": o.key,
                                       "status": "failed" if o.error else "analysed", "error": o.error,
                                       "fps": o.fps, "frames_total": o.frames_total, "warning": o.warning,
                                       "baseline": o.baseline} for o in outcomes]).astype(
            {"error": "string", "warning": "string", "baseline": "string", "fps": "float64",
             "frames_total": "Int64"}),
        "study": pd.read_csv(design.study_csv, dtype=str, keep_default_na=False),
        "markers": pd.DataFrame([vars(w) for w in design.windows],
                                columns=["participant", "stimulus", "onset", "offset"]),
    }
    if by is not None:
        tables["summary_by"] = summary_by(epoch_rows, labels, design.stimuli, by)
    return tables


def _write(out: Path, tables: dict[str, pd.DataFrame], record: dict, methods: str, by: str | None) -> None:
    def text(name: str, content: str) -> None:
        if not atomic_write(out / name, lambda handle: handle.write(content.encode())):
            raise OSError(f"{out / name}: cannot be written")

    if not atomic_write(out / "frames.parquet", lambda handle: tables["frames"].to_parquet(handle, index=False)):
        raise OSError(f"{out / 'frames.parquet'}: cannot be written")
    for name in ("epochs", "summary", "exclusions"):
        text(f"{name}.csv", tables[name].to_csv(index=False))
    if by is not None:
        text(f"summary_by_{by}.csv", tables["summary_by"].to_csv(index=False))
    text("methods.md", methods)
    text("manifest.json", json.dumps(record, indent=2) + "\n")
    store.save(out, tables, record)
