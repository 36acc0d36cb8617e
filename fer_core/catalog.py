"""The models a user chooses between, named for what they are for: "Accurate", "Fast".

A shipped model's ``metadata.json`` may hold a ``display`` entry, e.g.
``{"name": "Fast", "purpose": "live video", "tta": "none"}``: the name and purpose the app and
the README show, and the TTA of the accuracy quoted with them (the live path runs the fast model
without TTA; left out, the model's default TTA). The accuracy itself is never written there: it
is read from the model's stored PrivateTest evaluation (``evaluate --record``), by the one rule
of :func:`fer_core.evaluate.headline`. A folder without ``display`` (a user's own model) is named
by its folder.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fer_core.evaluate import Evaluation, headline, load_evaluations
from fer_core.model import ModelError, is_ensemble, list_models, member_dirs, read_metadata

#: The split a model's quoted accuracy is measured on.
HEADLINE_SPLIT = "PrivateTest"


@dataclass(frozen=True)
class Choice:
    """A model folder as the user sees it: its display name, purpose and headline accuracy."""

    folder: Path
    name: str
    purpose: str | None
    members: int  # networks averaged: 1 for a single network
    tta: str  # the TTA the accuracy was measured with
    evaluation: Evaluation | None  # the stored PrivateTest evaluation behind the figure

    @property
    def accuracy(self) -> float | None:
        return self.evaluation.accuracy if self.evaluation else None

    @property
    def label(self) -> str:
        """"Accurate (ensemble of 3, 73.1%)", "Fast (live video, 70.3%)", or "my-model (68.2%)"."""
        detail = [f"ensemble of {self.members}" if self.members > 1 else self.purpose]
        if self.accuracy is not None:
            detail.append(f"{self.accuracy:.1%}")
        inside = ", ".join(d for d in detail if d)
        return f"{self.name} ({inside})" if inside else self.name


def describe(folder: str | os.PathLike) -> Choice:
    """The :class:`Choice` of a model folder (raises ModelError when its metadata is unreadable)."""
    folder = Path(folder)
    metadata = read_metadata(folder)
    display = metadata.get("display") or {}
    tta = str(display.get("tta") or metadata.get("inference", {}).get("tta", "none"))
    return Choice(
        folder=folder, name=str(display.get("name") or folder.name), purpose=display.get("purpose"),
        members=len(member_dirs(folder, metadata)), tta=tta,
        evaluation=headline(load_evaluations(folder), HEADLINE_SPLIT, tta),
    )


def label(folder: str | os.PathLike) -> str:
    """How pickers name a model folder; the folder's name when its metadata cannot be read."""
    try:
        return describe(folder).label
    except ModelError:
        return Path(folder).name


def choices(folders: list[Path] | None = None) -> list[Path]:
    """The model folders a user picks from (default: :func:`fer_core.model.list_models`), the
    default first: every listed folder except those that are members of a listed ensemble."""
    folders = list_models() if folders is None else folders
    members: set[Path] = set()
    for folder in folders:
        try:
            metadata = read_metadata(folder)
            if is_ensemble(metadata):
                members.update(m.resolve() for m in member_dirs(folder, metadata))
        except ModelError:
            continue  # listed as it is: loading it says what is wrong
    return [f for f in folders if f.resolve() not in members]
