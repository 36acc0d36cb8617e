"""Model folders as the app and the tables describe them: named for their use, figures from their stored evaluations."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from fer_core.catalog.model import MODEL_FILE, create_ensemble, list_models
from fer_core.catalog.model_info import EVAL_SPLITS, choices, describe, label
from fer_core.catalog.model_table import comparison_rows

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models"


def stored(model: str, key: str) -> dict:
    return json.loads((SHIPPED / model / "evaluation" / f"{key}.json").read_text())


def stored_accuracy(model: str, key: str) -> float:
    return stored(model, key)["accuracy"]


def test_shipped_models_are_named_for_their_use_with_their_stored_privatetest_figure():
    accurate, fast = describe(SHIPPED / "mix3c"), describe(SHIPPED / "student16")
    # the accurate ensemble is quoted with its default TTA (shift), the fast model as the live path runs it (none)
    assert accurate.label == f"Accurate (ensemble of 3, {stored_accuracy('mix3c', 'PrivateTest-shift'):.1%})"
    assert fast.label == f"Fast (live video, {stored_accuracy('student16', 'PrivateTest'):.1%})"
    assert (accurate.quoted_tta, fast.quoted_tta) == ("shift", "none") and fast.purpose == "live video"
    assert fast.tta == "shift"  # its default TTA (photos) is not the quoted one (live video)


def test_model_info_holds_what_the_pages_show():
    info = describe(SHIPPED / "mix3c")
    assert (info.name, info.display_name, info.architecture) == (
        "mix3c", "Accurate", "ensemble of vgg32b + vgg48-camera-s2 + resnet32-150")
    assert [m.name for m in info.members] == ["vgg32b", "vgg48-camera-s2", "resnet32-150"]
    assert info.size_bytes == sum((m / MODEL_FILE).stat().st_size for m in info.members)
    assert info.labels[0] == "Angry" and len(info.labels) == 7 and info.params > 1_000_000
    assert info.input_blur_sigma == 0.5 and info.training.members and info.history == ()
    assert sum(info.class_counts["Training"].values()) > 28_000
    splits = [e.split for e in info.evaluations.values()]
    assert splits == sorted(splits, key=EVAL_SPLITS.index)  # the order the evaluation page lists them in
    assert info.headline("PublicTest").accuracy == stored_accuracy("mix3c", "PublicTest-shift")


def test_comparison_rows_read_each_models_stored_evaluations(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.json").write_text("{")
    rows = comparison_rows([SHIPPED / "mix3c", SHIPPED / "student16", broken], {str(SHIPPED / "student16"): 1.5})
    mix, student, unreadable = rows
    private = stored("mix3c", "PrivateTest-shift")
    assert mix["PrivateTest accuracy"] == round(private["accuracy"], 4) and mix["PrivateTest TTA"] == "shift TTA"
    assert mix["Disgust recall"] == round(private["per_class"]["Disgust"]["recall"], 3)
    assert mix["PublicTest accuracy"] == round(stored_accuracy("mix3c", "PublicTest-shift"), 4)
    assert mix["ms per face"] is None and student["ms per face"] == 1.5
    assert unreadable["model"] == "broken" and unreadable["architecture"].startswith("unreadable:")


def test_the_script_prints_the_comparison_of_the_models_a_user_picks_from():
    out = subprocess.run([sys.executable, "scripts/evaluation_table.py", "--compare"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith("| model | architecture |") and len(out) == 2 + len(choices())
    assert out[2].startswith("| mix3c | ensemble of ") and f"| {round(stored_accuracy('mix3c', 'PrivateTest-shift'), 4)} |" in out[2]


def test_an_ensembles_members_are_not_offered_on_their_own():
    shipped = choices(list_models(SHIPPED))
    assert [p.name for p in shipped] == ["mix3c", "student16"]  # the default first
    assert {"vgg32b", "vgg48-camera-s2", "resnet32-150"} <= {p.name for p in list_models(SHIPPED)}


def test_a_users_own_folder_is_listed_under_its_folder_name(tmp_path, monkeypatch):
    """A folder of models elsewhere ($FER_MODELS_DIR): a plain copy has no display name, nor its evaluations' figure."""
    own = tmp_path / "my-model"
    shutil.copytree(SHIPPED / "student16", own, ignore=shutil.ignore_patterns("evaluation"))
    duo = create_ensemble(tmp_path / "duo", [SHIPPED / "student16", own])  # the smallest network, twice
    assert choices(list_models(tmp_path)) == [duo]  # my-model is duo's member
    meta = json.loads((own / "metadata.json").read_text())
    del meta["display"]
    (own / "metadata.json").write_text(json.dumps(meta))
    assert label(own) == "my-model" and label(duo) == "duo (ensemble of 2)"
    assert label(tmp_path / "missing") == "missing"  # unreadable: its folder name, the loader says why


def test_training_runs_are_typed_for_every_bundled_model():
    """Each bundled model's training is a TrainingRun (an ensemble's with a run per member), never a raw dict."""
    from fer_core.catalog.model import list_models
    from fer_core.catalog.training_run import TrainingRun

    for folder in list_models():
        run = describe(folder).training
        assert isinstance(run, TrainingRun) and run.recorded, folder
        for member in (run.members or {folder.name: run}).values():
            assert member.epochs_run and member.epochs_run > 0 and member.command.startswith("python -m fer_core train")
            assert member.summary().startswith(f"{member.epochs_run} epochs")
    assert TrainingRun.from_metadata({"epochs_run": True, "wall_time_s": "long"}).summary() == "epochs not recorded"
