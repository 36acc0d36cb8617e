"""The Study page's work, free of Streamlit: studies as folders on the server, created, run, reopened, deleted.

A study is a folder under :func:`studies_root` with ``study.csv``, ``markers.csv``, its videos (the
uploads are copied in only when the user creates the study) and, once run, the outputs of
``python -m fer_core study run`` beside them (:mod:`fer_core.study.run`), its store included. The page
lists these folders, so a study survives a server restart.
"""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fer_core.common.paths import ROOT_DIR
from fer_core.drivers.video import VIDEO_TYPES
from fer_core.study import store
from fer_core.study.curves import stimulus_curves
from fer_core.study.design import StudyError
from fer_core.study.run import FILES, StudyRun, run_study

#: where studies are kept (``$FER_STUDIES_DIR``, else ``studies/`` in the checkout)
STUDIES_ENV = "FER_STUDIES_DIR"
STUDY_CSV, MARKERS_CSV = "study.csv", "markers.csv"
#: the participant table the page edits: participant, video, neutral source, one covariate
PARTICIPANT_COLUMNS = ("participant", "video", "neutral_image", "neutral_seconds", "group")
MARKER_COLUMNS = ("participant", "stimulus", "onset", "offset")


def studies_root() -> Path:
    return Path(os.environ.get(STUDIES_ENV) or ROOT_DIR / "studies")


def safe_name(name: str) -> str:
    """A study's folder name from what the user typed (letters, digits, ``-`` and ``_``).

    Raises:
        ValueError: nothing usable left.
    """
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name.strip()).strip("-")
    if not cleaned:
        raise ValueError("give the study a name (letters, digits, - or _)")
    return cleaned


@dataclass(frozen=True)
class StudyEntry:
    """One study folder as the page lists it."""

    folder: Path
    has_results: bool

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def label(self) -> str:
        return self.name if self.has_results else f"{self.name} (not run yet)"


def list_studies(root: Path | None = None) -> list[StudyEntry]:
    """Every study folder under the root, those with results first (newest first), then the others by name."""
    root = root or studies_root()
    run = store.list_studies(root)
    others = sorted(p.parent for p in root.glob(f"*/{STUDY_CSV}") if p.parent not in run) if root.is_dir() else []
    return [StudyEntry(p, True) for p in run] + [StudyEntry(p, False) for p in others]


def video_files(folder: Path) -> list[Path]:
    """The videos in a server folder (not recursive), by name."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder on the server")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower().lstrip(".") in VIDEO_TYPES and p.is_file())
    if not found:
        raise ValueError(f"{folder}: no video ({', '.join(VIDEO_TYPES)}) in this folder")
    return found


def default_participants(videos: Sequence[str]) -> pd.DataFrame:
    """A participant table to edit: one row per video, the ID from its file name."""
    return pd.DataFrame({"participant": [Path(v).stem for v in videos], "video": list(videos),
                         "neutral_image": [""] * len(videos), "neutral_seconds": [None] * len(videos),
                         "group": [""] * len(videos)}, columns=list(PARTICIPANT_COLUMNS))


def default_markers() -> pd.DataFrame:
    return pd.DataFrame({"participant": [""], "stimulus": ["stimulus 1"], "onset": [0.0], "offset": [10.0]},
                        columns=list(MARKER_COLUMNS))


def _csv_table(table: pd.DataFrame, columns: Sequence[str]) -> str:
    table = table.reindex(columns=list(columns)).dropna(how="all")
    table = table.astype(object).where(table.notna(), "")
    return table.to_csv(index=False)


def create_study(name: str, participants: pd.DataFrame, markers: pd.DataFrame, *,
                 uploads: Sequence[tuple[str, bytes]] = (), root: Path | None = None) -> Path:
    """A new study folder: the uploaded files copied into ``videos/`` (server paths stay where they are, named by
    their full path), ``study.csv`` and ``markers.csv`` written and checked.

    Raises:
        ValueError: the name is taken or empty, or the tables are not a valid study (StudyError, naming the line);
            nothing is left behind then.
    """
    from fer_core.study.design import read_design

    folder = (root or studies_root()) / safe_name(name)
    if folder.exists():
        raise ValueError(f"a study named {folder.name!r} exists already; open it, or choose another name")
    try:
        (folder / "videos").mkdir(parents=True)
        for file_name, data in uploads:
            (folder / "videos" / Path(file_name).name).write_bytes(data)
        uploaded = {Path(n).name for n, _ in uploads}
        table = participants.copy()
        for column in ("video", "neutral_image"):
            table[column] = [f"videos/{v}" if v in uploaded else v for v in table[column].fillna("")]
        (folder / STUDY_CSV).write_text(_csv_table(table, PARTICIPANT_COLUMNS))
        (folder / MARKERS_CSV).write_text(_csv_table(markers, MARKER_COLUMNS))
        read_design(folder / STUDY_CSV, folder / MARKERS_CSV)
    except (StudyError, OSError, ValueError):
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def delete_study(folder: Path, root: Path | None = None) -> None:
    """Remove a study with its files (only a folder directly under the studies' root)."""
    root = (root or studies_root()).resolve()
    if folder.resolve().parent != root:
        raise ValueError(f"{folder}: not a study of this server")
    shutil.rmtree(folder)


def design_tables(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's study.csv and markers.csv as text tables."""
    return (pd.read_csv(folder / STUDY_CSV, dtype=str, keep_default_na=False),
            pd.read_csv(folder / MARKERS_CSV, dtype=str, keep_default_na=False))


def run(folder: Path, *, every: int, by: str | None = None, model: str | None = None,
        progress: Callable[[float, str], None] | None = None) -> StudyRun:
    """Run (or extend) the study in its own folder, with the local engine; ``progress(share_done, text)`` follows
    every video's frames (participants taken from the store are not counted)."""
    from fer_core.study.design import read_design

    # the participants to analyse are known once the first is done; until then, all of them
    state = {"done": 0, "total": len(read_design(folder / STUDY_CSV, folder / MARKERS_CSV).participants)}

    def participants(done: int, total: int) -> None:
        state.update(done=done, total=total)
        if progress:
            progress(done / max(total, 1), f"{done}/{total} participants analysed")

    def frames(pid: str, done: int, total: int) -> None:
        if progress and total:
            share = (state["done"] + min(done / total, 1.0)) / max(state["total"], 1)
            progress(min(share, 1.0), f"participant {pid}: frame {done:,} of about {total:,}")

    return run_study(folder / STUDY_CSV, folder / MARKERS_CSV, folder, every=every, by=by, model=model,
                     progress=participants, frames=frames)


@dataclass(frozen=True)
class StudyResults:
    """A run study as the page shows it, read from its store."""

    tables: dict[str, pd.DataFrame]
    manifest: dict
    labels: tuple[str, ...]

    @property
    def stimuli(self) -> list[str]:
        return list(dict.fromkeys(self.tables["summary"]["stimulus"]))

    def curves(self, bin_s: float = 0.5) -> pd.DataFrame:
        return stimulus_curves(self.tables["frames"], self.tables["markers"], self.tables["epochs"], self.labels,
                               bin_s)

    def participant_table(self) -> pd.DataFrame:
        """One row per participant x stimulus: frames, valid frames, the strongest emotion, and why excluded."""
        epochs = self.tables["epochs"]
        wide = epochs.pivot_table(index=["participant", "stimulus"], columns="emotion", values="mean", sort=False)
        counts = epochs.drop_duplicates(["participant", "stimulus"]).set_index(["participant", "stimulus"])
        table = counts[["frames", "valid_frames"]].join(wide.idxmax(axis=1).rename("strongest"))
        reasons = self.tables["exclusions"].set_index(["participant", "stimulus"])["reason"]
        table = table.join(reasons.rename("excluded because")).reset_index()
        failed = self.tables["exclusions"][self.tables["exclusions"]["stimulus"].fillna("") == ""]
        extra = failed.rename(columns={"reason": "excluded because"})[["participant", "stimulus", "excluded because"]]
        table = pd.concat([table, extra], ignore_index=True)
        table["excluded because"] = table["excluded because"].astype("string").fillna("")
        return table

    def indices(self) -> pd.DataFrame:
        """Per stimulus, the two derived indices (:mod:`fer_core.reports.indices`): each participant's mean over the
        valid frames of the window, then the mean over the participants counted there with a 95 % bootstrap
        interval."""
        from fer_core.reports.indices import FORMULAS, with_indices
        from fer_core.study.epochs import included
        from fer_core.study.summary import bootstrap_ci

        frames, windows = self.tables["frames"], self.tables["markers"]
        counted = self.tables["epochs"][included(self.tables["epochs"])]
        keep = set(zip(counted["participant"], counted["stimulus"]))
        valid = with_indices(frames[frames["valid"].astype(bool)])
        per = []
        for w in windows.itertuples():
            rows = valid[(valid["participant"] == w.participant) & (valid["time_s"] >= w.onset)
                         & (valid["time_s"] < w.offset)]
            if (w.participant, w.stimulus) in keep and len(rows):
                per.append({"stimulus": w.stimulus, **{name: rows[name].mean() for name in FORMULAS}})
        per = pd.DataFrame(per, columns=["stimulus", *FORMULAS])
        records = []
        for stimulus, group in per.groupby("stimulus", sort=False):
            for name in FORMULAS:
                low, high = bootstrap_ci(group[name].to_numpy())
                records.append({"stimulus": stimulus, "index": name, "formula": FORMULAS[name],
                                "mean": group[name].mean(), "ci_low": low, "ci_high": high,
                                "participants": len(group)})
        return pd.DataFrame(records, columns=["stimulus", "index", "formula", "mean", "ci_low", "ci_high",
                                              "participants"])

    def downloads(self, folder: Path) -> list[Path]:
        """The output files there are, in :data:`FILES` order, then the store and any grouped summary."""
        extra = sorted(folder.glob("summary_by_*.csv"))
        return [p for p in [*(folder / f for f in FILES), *extra, store.store_path(folder)] if p.is_file()]


def open_results(folder: Path) -> StudyResults:
    """A run study's tables from its store.

    Raises:
        StoreError: the study has no results yet, or its store is unreadable.
    """
    tables, manifest = store.load(folder)
    return StudyResults(tables, manifest, tuple(manifest["model"]["labels"]))
