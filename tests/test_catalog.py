"""The two shipped models as the user sees them: named for their use, figures from their stored evaluations."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from fer_core import catalog
from fer_core.model import create_ensemble, list_models

SHIPPED = Path(__file__).resolve().parent.parent / "models"


def stored_accuracy(model: str, key: str) -> float:
    return json.loads((SHIPPED / model / "evaluation" / f"{key}.json").read_text())["accuracy"]


def test_shipped_models_are_named_for_their_use_with_their_stored_privatetest_figure():
    accurate, fast = catalog.describe(SHIPPED / "mix3c"), catalog.describe(SHIPPED / "student16")
    # the accurate ensemble is quoted with its default TTA (shift), the fast model as the live path runs it (none)
    assert accurate.label == f"Accurate (ensemble of 3, {stored_accuracy('mix3c', 'PrivateTest-shift'):.1%})"
    assert fast.label == f"Fast (live video, {stored_accuracy('student16', 'PrivateTest'):.1%})"
    assert (accurate.tta, fast.tta) == ("shift", "none") and fast.purpose == "live video"


def test_an_ensembles_members_are_not_offered_on_their_own():
    shipped = catalog.choices(list_models(SHIPPED))
    assert [p.name for p in shipped] == ["mix3c", "student16"]  # the default first
    assert {"vgg32b", "vgg48-camera-s2", "resnet32-150"} <= {p.name for p in list_models(SHIPPED)}


def test_a_users_own_folder_is_listed_under_its_folder_name(tmp_path, monkeypatch):
    """A folder of models elsewhere ($FER_MODELS_DIR): a plain copy has no display name, nor its evaluations' figure."""
    own = tmp_path / "my-model"
    shutil.copytree(SHIPPED / "student16", own, ignore=shutil.ignore_patterns("evaluation"))
    duo = create_ensemble(tmp_path / "duo", [SHIPPED / "student16", own])  # the smallest network, twice
    assert catalog.choices(list_models(tmp_path)) == [duo]  # my-model is duo's member
    meta = json.loads((own / "metadata.json").read_text())
    del meta["display"]
    (own / "metadata.json").write_text(json.dumps(meta))
    assert catalog.label(own) == "my-model" and catalog.label(duo) == "duo (ensemble of 2)"
    assert catalog.label(tmp_path / "missing") == "missing"  # unreadable: its folder name, the loader says why
